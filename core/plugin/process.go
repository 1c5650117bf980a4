package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ownGroupEnv tells a plugin built with [Serve] that the host started it as
// the leader of its own process group, so that on the host's death it may
// kill that group (see dieWithParent).
const ownGroupEnv = "PREFOPT_PLUGIN_OWN_GROUP"

// drainDelay is how long the plugin's stdout and stderr are still read
// after it exited. A descendant that escaped the process group may hold the
// pipes open; after drainDelay they are closed so no reader waits for it.
const drainDelay = 200 * time.Millisecond

// process is one plugin process, started as the leader of a new process
// group. It implements go-plugin's runner.Runner, so that this package, not
// go-plugin, decides how the plugin is started, read from and killed:
//
//   - Kill sends SIGKILL to the whole group: helpers the plugin started,
//     and a plugin behind a wrapper script that does not exec, die with it.
//   - When the leader exits, the rest of its group is killed before the
//     leader is reaped (so the group id cannot have been reused).
//   - Stdout and stderr are pipes the host closes drainDelay after the
//     leader exited, whoever else still holds their write ends.
//   - The plugin's stdin is /dev/null: a plugin in a background process
//     group reading the terminal would be stopped by SIGTTIN.
type process struct {
	name    string
	cmd     *exec.Cmd // path, arguments and environment; Start runs a copy and keeps it here
	cleanup func()    // run once the process is reaped, e.g. to remove a pinned copy

	stdout, stderr *os.File // read ends

	done    chan struct{} // closed once the leader is reaped
	waitErr error
	once    sync.Once

	mu     sync.Mutex
	pid    int
	killed bool // kill was called: a process started later is killed at once
	reaped bool // the leader was reaped: its pid may belong to another process
}

func (p *process) Start(context.Context) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	tmpl := p.cmd
	for try := 0; ; try++ {
		// A Cmd starts once, even if it failed: take a fresh one each try.
		p.cmd = &exec.Cmd{Path: tmpl.Path, Args: tmpl.Args, Env: append(slices.Clip(tmpl.Env), ownGroupEnv+"=1"),
			Stdout: outW, Stderr: errW, SysProcAttr: sysProcAttr()}
		err = p.cmd.Start()
		// A pinned copy was just written: a fork elsewhere in this process
		// may briefly hold it open for writing (ETXTBSY).
		if !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		p.runCleanup()
		return err
	}
	p.stdout, p.stderr = outR, errR
	p.done = make(chan struct{})
	p.mu.Lock()
	p.pid = p.cmd.Process.Pid
	killed := p.killed
	p.mu.Unlock()
	if killed {
		killGroup(p.pid)
	}
	go p.reap()
	return nil
}

// reap waits for the leader, kills what is left of its group, and closes
// the pipes after drainDelay.
func (p *process) reap() {
	pid := p.cmd.Process.Pid
	if waitExited(pid) {
		// The leader is a zombie: its pid, the group id, is not reused yet.
		killGroup(pid)
		p.markReaped()
		p.waitErr = p.cmd.Wait()
	} else {
		p.waitErr = p.cmd.Wait()
		p.markReaped()
		killGroup(pid)
	}
	p.runCleanup()
	close(p.done)
	time.AfterFunc(drainDelay, func() {
		p.stdout.Close()
		p.stderr.Close()
	})
}

// markReaped stops kill from signalling a group id that may be reused.
func (p *process) markReaped() {
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
}

func (p *process) runCleanup() {
	p.once.Do(func() {
		if p.cleanup != nil {
			p.cleanup()
		}
	})
}

// kill kills the plugin's process group. It returns at once.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	if p.pid > 0 && !p.reaped {
		killGroup(p.pid)
	}
}

// PID returns the plugin's process id, 0 before it started.
func (p *process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// exited returns a channel closed once the plugin is reaped, or nil if it
// never started.
func (p *process) exited() <-chan struct{} { return p.done }

func (p *process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *process) Kill(context.Context) error {
	p.kill()
	return nil
}

func (p *process) Diagnose(context.Context) string { return "" }
func (p *process) Stdout() io.ReadCloser           { return p.stdout }
func (p *process) Stderr() io.ReadCloser           { return p.stderr }
func (p *process) Name() string                    { return p.name }

func (p *process) ID() string {
	if pid := p.PID(); pid > 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

func (p *process) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *process) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
