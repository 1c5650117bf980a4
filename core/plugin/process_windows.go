package plugin

import (
	"os"
	"syscall"
)

// sysProcAttr adds nothing on Windows: there are no process groups to
// kill, so only the plugin process itself is killed, and the host's Cleanup
// on exit and on signals is all there is.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills process pid.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// waitExited reports false: the process is reaped first.
func waitExited(int) bool { return false }

// dieWithParent does nothing on Windows.
func dieWithParent() {}
