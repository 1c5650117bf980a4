package plugin

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill the plugin when the host dies, even by
// SIGKILL.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
