package train

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/internal/faultobjective"
)

// roleEnv makes the test binary serve the fault objective as a plugin
// ("plugin") or act as a host that launches one and waits ("host"),
// instead of running tests (go-plugin's helper-process pattern).
const (
	roleEnv    = "PREFOPT_TRAIN_TEST_ROLE"
	pidFileEnv = "PREFOPT_TRAIN_TEST_PIDFILE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "plugin":
		faultobjective.FailStartIfAsked()
		plugin.Serve(faultobjective.Definition())
		os.Exit(0)
	case "host":
		os.Exit(hostAndWait(os.Getenv(pidFileEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown test role", os.Getenv(roleEnv))
		os.Exit(2)
	}
}

// hostAndWait launches a plugin, writes its pid to pidFile and sleeps until
// killed.
func hostAndWait(pidFile string) int {
	// go-plugin appends the host's environment after Config.Env, so the
	// host's own role would win over the plugin's.
	os.Unsetenv(roleEnv)
	os.Unsetenv(pidFileEnv)
	c, err := plugin.Launch(context.Background(), pluginConfig(10*time.Second, os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp := pidFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(c.Pid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(tmp, pidFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(time.Hour)
	return 0
}

func pluginConfig(timeout time.Duration, stderr io.Writer) plugin.Config {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return plugin.Config{Path: exe, Env: []string{roleEnv + "=plugin"}, Label: "fault",
		Timeout: timeout, Stderr: stderr}
}

// faultRun is the observed result of one run under a fault.
type faultRun struct {
	stateDir  string
	pids      []int // plugin processes and helpers the run started
	seconds   float64
	err       error
	completed int // optimizer updates in the final or after-error state
	lost      int // steps without an update
	restarts  int
	calls     int // Compute calls the plugin counted
	identical bool
}

func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("launches plugin processes")
	}
	const (
		steps  = 6
		faultN = 3 // the fault fires on the 3rd Compute call, i.e. step 3
		// hangTimeout bounds each call for the hang case; a normal call
		// takes about a millisecond.
		hangTimeout = 300 * time.Millisecond
		callTimeout = 20 * time.Second
	)
	ctx := context.Background()
	set := pairedData(1, 12, tinyCfg.Vocab)
	init := newWeights(t, tinyCfg, 2)

	run := func(t *testing.T, params map[string]any, policy string, timeout time.Duration, dir string, every int, failStarts int) (*Outcome, faultRun) {
		var stderr bytes.Buffer
		stateDir := t.TempDir()
		cfg := pluginConfig(timeout, &stderr)
		cfg.StartTimeout = callTimeout
		counter := filepath.Join(stateDir, "fail-starts")
		require.NoError(t, os.WriteFile(counter, []byte("0"), 0o644))
		cfg.Env = append(cfg.Env, faultobjective.FailStartEnv+"="+counter)
		began := time.Now()
		c, err := plugin.Launch(ctx, cfg)
		require.NoError(t, err)
		// Starts after this first one fail failStarts times.
		require.NoError(t, os.WriteFile(counter, []byte(strconv.Itoa(failStarts)), 0o644))
		pids := []int{c.Pid()}
		restart := func(ctx context.Context) error {
			err := c.Restart(ctx)
			pids = append(pids, c.Pid())
			return err
		}
		p := map[string]any{"state_dir": stateDir}
		for k, v := range params {
			p[k] = v
		}
		obj, _, err := c.Configure(ctx, p)
		require.NoError(t, err)
		var log bytes.Buffer
		s := testJob(obj, init, set, steps)
		s.Label, s.Dir, s.Log = "fault", dir, &log
		s.Loop.CheckpointEvery = every
		s.Retry = Retry{OnBadReply: policy, Attempts: 3, Restart: restart, Backoff: 10 * time.Millisecond}
		out, err := Run(ctx, s)
		c.Close()
		calls, _ := os.ReadFile(filepath.Join(stateDir, "calls"))
		r := faultRun{err: err, restarts: strings.Count(log.String(), "restarting the plugin"), stateDir: stateDir,
			seconds: time.Since(began).Seconds()}
		r.calls, _ = strconv.Atoi(string(calls))
		helpers, _ := os.ReadFile(filepath.Join(stateDir, faultobjective.HelperPIDs))
		for _, f := range strings.Fields(string(helpers)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
		r.pids = pids
		return out, r
	}

	// The undisturbed run, checkpointed after every step.
	refDir := t.TempDir()
	undisturbed, _ := run(t, nil, "fail", callTimeout, refDir, 1, 0)
	require.NotNil(t, undisturbed)
	refAt := func(step int) *checkpoint.Checkpoint {
		c, err := checkpoint.Load(filepath.Join(refDir, "checkpoints", checkpoint.DirName(int64(step))))
		require.NoError(t, err)
		return c
	}

	cases := []struct {
		fault   string
		params  map[string]any
		policy  string
		timeout time.Duration
		// expectations
		wantErr       string // "" if the run completes
		wantLost      int
		wantIdentical bool // weights (final, or saved on the error) equal the undisturbed run's at that step
		wantRestarts  bool
		failStarts    int // starts after the first that fail
	}{
		{"crash", map[string]any{"crash_on": faultN}, "fail", callTimeout, "", 0, true, true, 0},
		{"hang", map[string]any{"hang_on": faultN}, "fail", hangTimeout, "", 0, true, true, 0},
		{"crash every call", map[string]any{"crash_on": faultN, "repeat": true}, "fail", callTimeout, "after 3 attempts", steps - faultN + 1, true, true, 0},
		{"nan reply", map[string]any{"nan_on": faultN}, "fail", callTimeout, "reply grads.policy_chosen_logps[0]: not finite (got NaN)", steps - faultN + 1, true, false, 0},
		{"nan reply", map[string]any{"nan_on": faultN}, "skip", callTimeout, "", 1, false, false, 0},
		{"short reply", map[string]any{"short_on": faultN}, "fail", callTimeout, "reply grads.policy_rejected_logps: has 3 values for 4 inputs", steps - faultN + 1, true, false, 0},
		{"short reply", map[string]any{"short_on": faultN}, "skip", callTimeout, "", 1, false, false, 0},
		{"panic", map[string]any{"panic_on": faultN}, "fail", callTimeout, "objective internal error: panic: fault: panic on call 3", steps - faultN + 1, true, false, 0},
		{"panic", map[string]any{"panic_on": faultN}, "skip", callTimeout, "objective internal error: panic", steps - faultN + 1, true, false, 0},
		{"freeze (SIGSTOP)", map[string]any{"stop_on": faultN}, "fail", hangTimeout, "", 0, true, true, 0},
		{"helper on stderr", map[string]any{"helper_on": faultN}, "fail", callTimeout, "", 0, true, false, 0},
		{"stderr flood", map[string]any{"flood_on": faultN, "flood_bytes": int64(64 << 20)}, "fail", callTimeout, "", 0, true, false, 0},
		{"crash, restart fails", map[string]any{"crash_on": faultN}, "fail", callTimeout, "", 0, true, true, 1},
		{"huge gradient", map[string]any{"huge_on": faultN}, "fail", callTimeout, "exceeds the float32 range", steps - faultN + 1, true, false, 0},
		{"huge gradient", map[string]any{"huge_on": faultN}, "skip", callTimeout, "", 1, false, false, 0},
		{"300 metrics", map[string]any{"metric_count": int64(300)}, "fail", callTimeout, "reply metrics: has 301 metrics, more than the 256 allowed", steps, true, false, 0},
	}
	var table []string
	for _, c := range cases {
		t.Run(c.fault+"/"+c.policy, func(t *testing.T) {
			dir := t.TempDir()
			out, r := run(t, c.params, c.policy, c.timeout, dir, 0, c.failStarts)
			for _, pid := range r.pids {
				st, _ := procState(pid)
				assert.False(t, running(st), "process %d the run started is still running", pid)
			}
			assert.Less(t, r.seconds, 60.0, "the run ends on its own")
			what := "completed"
			if r.err == nil {
				r.completed = steps - out.Skipped
				r.lost = out.Skipped
				r.identical, _ = sameBits(undisturbed.Policy, out.Policy)
				if out.Skipped > 0 {
					what = fmt.Sprintf("completed, %d step skipped", out.Skipped)
				}
			} else {
				saved, skipped, err := checkpoint.LoadLatest(filepath.Join(dir, "checkpoints"), false)
				require.NoError(t, err, "a checkpoint is written on the error")
				require.Empty(t, skipped)
				assert.Equal(t, "after error", saved.Extra["reason"])
				r.completed = int(saved.Step)
				r.lost = steps - r.completed
				if r.completed == 0 {
					r.identical = sameCheckpoint(&checkpoint.Checkpoint{Weights: tensors(init)}, saved)
				} else {
					r.identical = sameCheckpoint(refAt(r.completed), saved)
				}
				what = "failed: " + shortErr(r.err)
			}
			if r.restarts > 0 {
				what += fmt.Sprintf(" (%d restart(s))", r.restarts)
			}
			table = append(table, fmt.Sprintf("| %-16s | %-6s | %-96s | %d | %-5v | %d |",
				c.fault, c.policy, what, r.lost, r.identical, r.calls))

			if c.wantErr == "" {
				require.NoError(t, r.err)
			} else {
				require.Error(t, r.err)
				assert.Contains(t, r.err.Error(), c.wantErr)
				if c.wantLost < steps {
					assert.Contains(t, r.err.Error(), fmt.Sprintf("step %d", faultN))
				}
			}
			assert.Equal(t, c.wantLost, r.lost, "steps lost")
			assert.Equal(t, c.wantIdentical, r.identical, "weights identical to the undisturbed run")
			if c.wantRestarts {
				assert.GreaterOrEqual(t, r.restarts, 1)
			} else {
				assert.Zero(t, r.restarts, "a bad reply or an internal error is not a transport failure")
			}
		})
	}
	t.Logf("fault matrix: %d steps, fault on call %d, Retry{Attempts: 3, Backoff: 10ms}\n"+
		"| fault            | policy | what happened %s | steps lost | weights identical* | plugin calls |\n%s\n"+
		"* completed runs: final weights vs the undisturbed run's; failed runs: the checkpoint written on the error vs the undisturbed run's at that step",
		steps, faultN, strings.Repeat(" ", 82), strings.Join(table, "\n"))
}

// shortErr drops the stack trace a recovered panic carries.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// tensors returns w as checkpoint tensors, sorted by name as Load returns
// them.
func tensors(w *model.Weights) []checkpoint.Tensor {
	var ts []checkpoint.Tensor
	for _, name := range slices.Sorted(slices.Values(w.Names())) {
		ts = append(ts, checkpoint.Tensor{Name: name, Shape: w.Shape(name), Data: w.Data(name)})
	}
	return ts
}

func sameCheckpoint(a, b *checkpoint.Checkpoint) bool {
	if len(a.Weights) != len(b.Weights) {
		return false
	}
	for i, x := range a.Weights {
		y := b.Weights[i]
		if x.Name != y.Name || len(x.Data) != len(y.Data) {
			return false
		}
		for j := range x.Data {
			if x.Data[j] != y.Data[j] {
				return false
			}
		}
	}
	return true
}

// TestPluginDiesWithKilledHost kills a host process with SIGKILL and checks
// that its plugin goes too (Pdeathsig), leaving no orphan.
func TestPluginDiesWithKilledHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	pidFile := filepath.Join(t.TempDir(), "plugin.pid")
	var stderr bytes.Buffer
	host := exec.Command(exe, "-test.run=^$")
	host.Env = append(os.Environ(), roleEnv+"=host", pidFileEnv+"="+pidFile)
	host.Stderr = &stderr
	require.NoError(t, host.Start())
	waited := false
	t.Cleanup(func() {
		if !waited {
			host.Process.Kill()
			host.Wait()
		}
	})

	var pid int
	deadline := time.Now().Add(60 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, err = strconv.Atoi(string(b))
			require.NoError(t, err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		// stderr is written by the host's copier until the host is gone.
		host.Process.Kill()
		host.Wait()
		waited = true
		t.Fatalf("the host never reported its plugin's pid; its stderr:\n%s", stderr.String())
	}
	state, ppid := procState(pid)
	require.True(t, running(state), "plugin %d not running before the kill (state %q)", pid, state)
	require.Equal(t, host.Process.Pid, ppid, "pid %d is the host's child", pid)
	t.Cleanup(func() {
		if st, pp := procState(pid); running(st) && pp != 1 && pp == host.Process.Pid {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	require.NoError(t, host.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	host.Wait()
	waited = true
	gone := time.Now().Add(10 * time.Second)
	for time.Now().Before(gone) {
		if st, _ := procState(pid); !running(st) {
			t.Logf("plugin %d gone %v after SIGKILL of its host %d", pid, time.Since(killed).Round(time.Millisecond), host.Process.Pid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, pp := procState(pid)
	t.Fatalf("plugin %d still running 10s after its host was killed (state %q, parent %d)", pid, st, pp)
}

// procState returns the state letter and parent pid of pid from
// /proc/pid/stat, or "" if there is no such process.
func procState(pid int) (string, int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return "", 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return f[0], ppid
}

// running: a zombie (Z) or dead (X) process has exited.
func running(state string) bool { return state != "" && state != "Z" && state != "X" }
