package plugin

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr starts the plugin as the leader of a new process group, and
// has the kernel SIGKILL it when the host dies, even by SIGKILL. The
// parent-death signal reaches the direct child only; see dieWithParent for
// the rest of the group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// waitExited blocks until process pid has exited, without reaping it, and
// reports whether it could.
func waitExited(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}

// dieWithParent makes a plugin follow its parent: when the parent dies
// (the host, or a wrapper script between the host and the plugin), the
// plugin gets SIGTERM and, if the host made it the leader of its own process
// group, kills that group — helpers included — with SIGKILL; otherwise it
// exits. A plugin whose parent died before this runs exits at once.
func dieWithParent() {
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		return
	}
	ownGroup := os.Getenv(ownGroupEnv) == "1"
	die := func() {
		if ownGroup {
			_ = syscall.Kill(-syscall.Getpgrp(), syscall.SIGKILL)
		}
		os.Exit(1)
	}
	if ppid == 1 || os.Getppid() != ppid {
		die()
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		die()
	}()
}
