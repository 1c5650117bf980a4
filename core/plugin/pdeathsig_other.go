//go:build !linux

package plugin

import "os/exec"

// setPdeathsig is a no-op where the kernel has no parent-death signal; the
// host's Cleanup on exit and on signals is all there is.
func setPdeathsig(*exec.Cmd) {}
