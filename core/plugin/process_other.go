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

// waitExited returns at once: without waitid the group is killed just
// before the leader is reaped.
func waitExited(int) {}

// dieWithParent does nothing where there is no parent-death signal.
func dieWithParent() {}
