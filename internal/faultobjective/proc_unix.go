//go:build unix

package faultobjective

import (
	"os"
	"syscall"
)

// stopSelf sends SIGSTOP to this process.
func stopSelf() { _ = syscall.Kill(os.Getpid(), syscall.SIGSTOP) }

// newSession starts a process in a session of its own.
func newSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
