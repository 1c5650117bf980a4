//go:build !linux && !windows

package plugin

import "syscall"

// sysProcAttr starts the plugin as the leader of a new process group. There
// is no parent-death signal here: the host's Cleanup on exit and on signals
// is all there is.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// waitExited reports false: without waitid the leader is reaped first,
// and its group killed just after (a reused group id is unlikely in that
// window, not impossible).
func waitExited(int) bool { return false }

// dieWithParent does nothing where there is no parent-death signal.
func dieWithParent() {}
