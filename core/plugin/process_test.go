//go:build linux

package plugin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/internal/faultobjective"
)

// Bounds the tests below hold the host to. They are deadlines for "ends on
// its own", not speed measurements: each is several times what the step
// takes on a loaded 2-core machine.
const (
	callTimeout = 500 * time.Millisecond // Config.Timeout of tests that freeze a plugin
	endsWithin  = 15 * time.Second       // a Close, Restart or Launch that must not hang
	goneWithin  = 10 * time.Second       // killed processes are reaped
)

// procState returns the state letter of process pid and its process
// group, or ok=false if there is no such process.
func procState(pid int) (state byte, pgrp int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	rest := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(rest) < 3 {
		return 0, 0, false
	}
	pgrp, _ = strconv.Atoi(rest[2])
	return rest[0][0], pgrp, true
}

// alive reports whether pid is a process that is not a zombie (this
// machine's init may not reap orphans).
func alive(pid int) bool {
	state, _, ok := procState(pid)
	return ok && state != 'Z'
}

// groupMembers returns the live processes of process group pgid.
func groupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, pgrp, ok := procState(pid); ok && pgrp == pgid && state != 'Z' {
			pids = append(pids, pid)
		}
	}
	return pids
}

func requireNoneLeft(t *testing.T, pgid int, pids ...int) {
	t.Helper()
	require.NotZero(t, pgid)
	assert.Eventually(t, func() bool {
		if len(groupMembers(pgid)) > 0 {
			return false
		}
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	}, goneWithin, 20*time.Millisecond, "left running: group %d: %v; pids %v", pgid, groupMembers(pgid), pids)
}

// within runs f and fails the test if it has not returned after d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not end within %v", what, d)
	}
}

func helperPIDs(t *testing.T, stateDir string) []int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, faultobjective.HelperPIDs))
	require.NoError(t, err)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	return pids
}

func TestFrozenPluginIsKilledOnCallTimeoutAndRestarted(t *testing.T) {
	cfg := testConfig(t, "fault")
	cfg.Timeout, cfg.StartTimeout = callTimeout, endsWithin
	c := launch(t, cfg)
	state := t.TempDir()
	obj, _, err := c.Configure(context.Background(), map[string]any{"stop_on": int64(1), "state_dir": state})
	require.NoError(t, err)
	pgid := c.Pid()
	b := randomBatch(rand.New(rand.NewPCG(2, 3)), 4)

	within(t, endsWithin, "a call to a frozen plugin", func() {
		_, err = obj.Compute(context.Background(), b)
	})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "got %v", err)
	assert.Contains(t, err.Error(), "no reply within 500ms, killed it")
	requireNoneLeft(t, pgid)
	assert.Eventually(t, c.Exited, goneWithin, 10*time.Millisecond)

	within(t, endsWithin, "Restart", func() { err = c.Restart(context.Background()) })
	require.NoError(t, err)
	_, err = obj.Compute(context.Background(), b)
	require.NoError(t, err, "call 2 does not stop")
	newPgid := c.Pid()
	within(t, endsWithin, "Close", func() { c.Close() })
	requireNoneLeft(t, newPgid)
}

func TestCloseKillsFrozenPlugin(t *testing.T) {
	cfg := testConfig(t, "fault")
	cfg.Timeout = 0 // only the caller's context bounds the call: Close must not wait on the plugin
	c := launch(t, cfg)
	obj, _, err := c.Configure(context.Background(), map[string]any{"stop_on": int64(1)})
	require.NoError(t, err)
	pgid := c.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err = obj.Compute(ctx, randomBatch(rand.New(rand.NewPCG(4, 5)), 2))
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "got %v", err)
	state, _, _ := procState(pgid)
	assert.Equal(t, byte('T'), state, "the plugin is stopped, not killed, when the caller's context ends")

	within(t, endsWithin, "Close of a frozen plugin", func() { c.Close() })
	requireNoneLeft(t, pgid)
}

func TestHelperHoldingStdioIsKilledAndDoesNotBlock(t *testing.T) {
	for _, setsid := range []bool{false, true} {
		t.Run(fmt.Sprintf("setsid=%v", setsid), func(t *testing.T) {
			c := launch(t, testConfig(t, "fault"))
			state := t.TempDir()
			obj, _, err := c.Configure(context.Background(), map[string]any{"helper_on": int64(1), "helper_setsid": setsid, "state_dir": state})
			require.NoError(t, err)
			_, err = obj.Compute(context.Background(), randomBatch(rand.New(rand.NewPCG(6, 7)), 2))
			require.NoError(t, err)
			pgid, helpers := c.Pid(), helperPIDs(t, state)
			require.Len(t, helpers, 1)
			require.True(t, alive(helpers[0]))
			if setsid {
				// Out of the group, the helper escapes; the host must still
				// not wait for the pipes it holds.
				t.Cleanup(func() { syscall.Kill(helpers[0], syscall.SIGKILL) })
				within(t, endsWithin, "Close", func() { c.Close() })
				requireNoneLeft(t, pgid)
				return
			}
			within(t, endsWithin, "Close", func() { c.Close() })
			requireNoneLeft(t, pgid, helpers...)
		})
	}
}

func TestPluginExitKillsItsGroup(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	state := t.TempDir()
	obj, _, err := c.Configure(context.Background(), map[string]any{"helper_on": int64(1), "crash_on": int64(2), "state_dir": state})
	require.NoError(t, err)
	b := randomBatch(rand.New(rand.NewPCG(8, 9)), 2)
	_, err = obj.Compute(context.Background(), b)
	require.NoError(t, err)
	pgid, helpers := c.Pid(), helperPIDs(t, state)
	_, err = obj.Compute(context.Background(), b)
	require.Error(t, err)
	requireNoneLeft(t, pgid, helpers...)
	assert.Eventually(t, c.Exited, goneWithin, 10*time.Millisecond, "a helper holding the pipes does not hide the exit")
}

func TestWrapperWithoutExec(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	wrapper, err := faultobjective.WriteWrapper(t.TempDir(), "wrapped", exe)
	require.NoError(t, err)

	t.Run("close", func(t *testing.T) {
		cfg := testConfig(t, "fault")
		cfg.Path = wrapper
		c := launch(t, cfg)
		obj, _, err := c.Configure(context.Background(), nil)
		require.NoError(t, err)
		_, err = obj.Compute(context.Background(), randomBatch(rand.New(rand.NewPCG(1, 3)), 2))
		require.NoError(t, err)
		pgid := c.Pid()
		require.Len(t, groupMembers(pgid), 2, "the shell and the plugin it started")
		within(t, endsWithin, "Close", func() { c.Close() })
		requireNoneLeft(t, pgid)
	})

	t.Run("host killed", func(t *testing.T) {
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pgid")
		host := exec.Command(exe)
		host.Env = append(os.Environ(), serveEnv+"=host", pidFileEnv+"="+pidFile, wrapperEnv+"="+wrapper, "STATE_DIR="+dir)
		var hostErr bytes.Buffer
		host.Stderr = &hostErr
		require.NoError(t, host.Start())
		t.Cleanup(func() { host.Process.Kill(); host.Wait() })
		var pgid int
		require.Eventually(t, func() bool {
			data, err := os.ReadFile(pidFile)
			pgid, _ = strconv.Atoi(string(data))
			return err == nil
		}, endsWithin, 20*time.Millisecond, "host stderr: %s", &hostErr)
		helpers := helperPIDs(t, dir)
		require.Len(t, groupMembers(pgid), 3, "the shell, the plugin and its helper")

		require.NoError(t, host.Process.Signal(syscall.SIGKILL))
		host.Wait()
		requireNoneLeft(t, pgid, helpers...)
	})
}

func TestStartIsBounded(t *testing.T) {
	cfg := testConfig(t, "slowstart")
	pidFile := filepath.Join(t.TempDir(), "pid")
	cfg.Env = append(cfg.Env, pidFileEnv+"="+pidFile)
	cfg.StartTimeout = time.Second
	var err error
	within(t, endsWithin, "Launch of a plugin that never shakes hands", func() {
		_, err = Launch(context.Background(), cfg)
	})
	require.Error(t, err)
	assert.True(t, Retryable(err), "%v", err)
	assert.Contains(t, err.Error(), "within 1s")
	data, rerr := os.ReadFile(pidFile)
	require.NoError(t, rerr)
	pid, _ := strconv.Atoi(string(data))
	requireNoneLeft(t, pid)
}

func TestRestartReportsRetryableStartFailures(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "fail")
	require.NoError(t, os.WriteFile(counter, []byte("0"), 0o644))
	cfg := testConfig(t, "fault")
	cfg.Env = append(cfg.Env, faultobjective.FailStartEnv+"="+counter)
	c := launch(t, cfg)
	obj, _, err := c.Configure(context.Background(), map[string]any{"target": 0.5})
	require.NoError(t, err)
	b := randomBatch(rand.New(rand.NewPCG(3, 1)), 3)
	want, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(counter, []byte("2"), 0o644))
	for attempt := 1; attempt <= 2; attempt++ {
		within(t, endsWithin, "Restart", func() { err = c.Restart(context.Background()) })
		require.Error(t, err, "attempt %d", attempt)
		assert.True(t, Retryable(err), "attempt %d: %v", attempt, err)
		assert.Contains(t, err.Error(), "exited before its handshake")
	}
	require.NoError(t, c.Restart(context.Background()))
	got, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	assert.Equal(t, want, got, "configured again with the last parameters")

	cfg.SHA256 = strings.Repeat("0", 64)
	_, err = Launch(context.Background(), cfg)
	require.Error(t, err)
	assert.False(t, Retryable(err), "a checksum mismatch is no transient failure: %v", err)
}

// countingWriter keeps the lines written to it that carry the cut mark,
// and counts all bytes.
type countingWriter struct {
	mu    sync.Mutex
	bytes int
	cut   []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bytes += len(p)
	sc := bufio.NewScanner(bytes.NewReader(p))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), lineCutMark) {
			w.cut = append(w.cut, sc.Text())
		}
	}
	return len(p), nil
}

func (w *countingWriter) snapshot() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes, append([]string(nil), w.cut...)
}

func TestStderrFloodIsCut(t *testing.T) {
	const flood = 32 << 20
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			cfg := testConfig(t, "fault")
			w := &countingWriter{}
			cfg.Stderr = w
			c := launch(t, cfg)
			obj, _, err := c.Configure(context.Background(), map[string]any{"flood_on": int64(1), "flood_bytes": int64(flood), "flood_raw": raw, "say": "after"})
			require.NoError(t, err)
			b := randomBatch(rand.New(rand.NewPCG(5, 5)), 2)
			_, err = obj.Compute(context.Background(), b)
			require.NoError(t, err)
			_, err = obj.Compute(context.Background(), b) // ends the flooded line: "after\n"
			require.NoError(t, err)
			want := "[fault] " + strings.Repeat("x", maxLineBytes) + lineCutMark
			assert.Eventually(t, func() bool {
				_, cut := w.snapshot()
				return len(cut) == 1
			}, goneWithin, 10*time.Millisecond)
			n, cut := w.snapshot()
			require.Len(t, cut, 1)
			assert.Equal(t, want, cut[0])
			assert.Less(t, n, 2*maxLineBytes, "the flood is not forwarded")
		})
	}
}

func TestLinePrefixer(t *testing.T) {
	long := strings.Repeat("y", maxLineBytes)
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"lines", []string{"a\nb\n"}, "> a\n> b\n"},
		{"line split across writes", []string{"a", "b", "c\nd", "\n"}, "> abc\n> d\n"},
		{"unfinished line is held", []string{"a\nb"}, "> a\n"},
		{"exactly the limit", []string{long, "\n"}, "> " + long + "\n"},
		{"one byte over, in one write", []string{long + "z\nnext\n"}, "> " + long + lineCutMark + "\n> next\n"},
		{"over the limit across writes", []string{long[:10], long, "zzz", "zz\nnext\n"}, "> " + long + lineCutMark + "\n> next\n"},
		{"debug lines dropped", []string{`{"@level":"debug","x":1}` + "\n" + `{"@level":"info"}` + "\n"}, "> {\"@level\":\"info\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &linePrefixer{prefix: "> ", w: &out, dropDebug: true}
			for _, w := range tt.writes {
				n, err := p.Write([]byte(w))
				require.NoError(t, err)
				assert.Equal(t, len(w), n)
				assert.LessOrEqual(t, len(p.buf), maxLineBytes)
			}
			assert.Equal(t, tt.want, out.String())
		})
	}
}

func TestRepliesAreBounded(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	b := randomBatch(rand.New(rand.NewPCG(7, 7)), 4)
	tests := []struct {
		name   string
		params map[string]any
		field  string // of the *core.ReplyError
		where  string // "compute": refused before decoding; "check": by core.CheckResult
	}{
		{"200k metrics, 20 MB", map[string]any{"metric_count": int64(200000), "metric_name_bytes": int64(100)}, "size", "compute"},
		{"too many metrics", map[string]any{"metric_count": int64(core.MaxMetrics)}, "metrics", "check"}, // plus "margin"
		{"metric name too long", map[string]any{"metric_count": int64(1), "metric_name_bytes": int64(core.MaxMetricNameBytes + 1)},
			"metrics.m0000000________________________…", "check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, _, err := c.Configure(context.Background(), tt.params)
			require.NoError(t, err)
			r, err := obj.Compute(context.Background(), b)
			if tt.where == "check" {
				require.NoError(t, err)
				err = core.CheckResult(b, obj.Inputs(), r)
			}
			var re *core.ReplyError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.field, re.Field)
			assert.Equal(t, core.CodeBadReply, core.CodeOf(err))
		})
	}
	obj, _, err := c.Configure(context.Background(), map[string]any{"metric_count": int64(core.MaxMetrics - 1), "metric_name_bytes": int64(core.MaxMetricNameBytes)})
	require.NoError(t, err)
	r, err := obj.Compute(context.Background(), b)
	require.NoError(t, err, "the plugin serves on after a refused reply")
	assert.NoError(t, core.CheckResult(b, obj.Inputs(), r), "at the limits")
}

func TestObjectiveWithoutPolicyInputIsRefused(t *testing.T) {
	c := launch(t, testConfig(t, "nopolicy"))
	_, _, err := c.Configure(context.Background(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plugin nopolicy reads no policy input (it reads reference_chosen_logps, reference_rejected_logps)")
}

func TestPinnedBinaryRacingSwapNeverRunsUnpinned(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where the pinned copies go: checked empty at the end
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	good, bad, target := filepath.Join(dir, "good"), filepath.Join(dir, "bad"), filepath.Join(dir, "plugin")
	src, err := os.Open(exe)
	require.NoError(t, err)
	dst, err := os.OpenFile(good, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(dst, h), src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	src.Close()
	marker := filepath.Join(dir, "unpinned-ran")
	require.NoError(t, os.WriteFile(bad, []byte("#!/bin/sh\ntouch '"+marker+"'\nexit 1\n"), 0o755))
	require.NoError(t, os.Link(good, target))

	// The racer swaps the two files at target in a loop, atomically.
	var stop atomic.Bool
	racerDone := make(chan struct{})
	go func() {
		defer close(racerDone)
		for i := 0; !stop.Load(); i++ {
			from := []string{good, bad}[i%2]
			tmp := filepath.Join(dir, "swap")
			if os.Link(from, tmp) == nil {
				os.Rename(tmp, target)
				os.Remove(tmp) // left when target already was a link to from
			}
		}
	}()
	stopRacer := func() {
		stop.Store(true)
		<-racerDone
	}
	t.Cleanup(stopRacer)
	cfg := testConfig(t, "fault")
	cfg.Path, cfg.SHA256 = target, hex.EncodeToString(h.Sum(nil))
	var started, refused int
	var other []error
	for range 40 {
		c, err := Launch(context.Background(), cfg)
		if err != nil {
			if strings.Contains(err.Error(), "does not match the pinned") {
				refused++
			} else {
				other = append(other, err)
			}
			continue
		}
		started++
		_, _, err = c.Configure(context.Background(), nil)
		assert.NoError(t, err)
		pgid := c.Pid()
		c.Close()
		requireNoneLeft(t, pgid)
	}
	stopRacer()
	t.Logf("started %d, refused %d", started, refused)
	assert.NoFileExists(t, marker, "the unpinned binary ran")
	assert.Empty(t, other, "a start failed otherwise than by refusing the impostor")
	assert.Positive(t, started)
	assert.Positive(t, refused, "the racer never swapped in the impostor in time: the test proved nothing")
	left, err := os.ReadDir(os.Getenv("TMPDIR"))
	require.NoError(t, err)
	assert.Empty(t, left, "pinned copies are removed once their process exited")
}
