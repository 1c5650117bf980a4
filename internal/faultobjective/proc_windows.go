package faultobjective

import (
	"syscall"
	"time"
)

// stopSelf blocks for an hour: Windows has no SIGSTOP.
func stopSelf() { time.Sleep(time.Hour) }

// newSession adds nothing on Windows.
func newSession() *syscall.SysProcAttr { return nil }
