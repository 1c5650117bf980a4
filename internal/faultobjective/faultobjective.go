// Package faultobjective is an objective for testing the plugin boundary:
// simple exact math plus faults injected on chosen calls.
//
// Math: paired, no reference. With m_i = π_c,i − π_r,i,
// loss_i = (m_i − target)²/2, Loss = mean_i loss_i,
// ∂Loss/∂π_c,i = (m_i − target)/N = −∂Loss/∂π_r,i. Metric "margin" = mean m.
//
// Faults fire on the n-th Compute call counted across restarts of the
// plugin process, in a file under the state_dir parameter, so a test can
// make a plugin crash once and then recover.
//
// huge_on returns finite gradients of magnitude huge (default 1e300).
//
// Process faults, for testing what the host does to a plugin process:
// stop_on (the plugin SIGSTOPs itself), helper_on (it starts a helper that
// holds its stdout and stderr; helper_setsid puts the helper in a session
// of its own, out of the plugin's process group), flood_on (it writes
// flood_bytes to stderr without a newline), metric_count and
// metric_name_bytes (oversized metrics replies), [FailStartIfAsked] (the
// next starts fail), and [WriteWrapper] (a launcher script that does not
// exec the plugin).
package faultobjective

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prefopt/prefopt/core"
)

// Definition returns the "fault" objective.
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name: "fault", Version: "1.0.0",
			Doc: "test objective: loss mean((π_c−π_r−target)²/2) with injected faults",
			Params: []core.ParamSpec{
				{Name: "target", Type: core.TypeFloat, Default: 1.0, Doc: "margin the loss pulls towards"},
				{Name: "state_dir", Type: core.TypeString, Default: "", Doc: "directory holding the call counter; empty counts per process"},
				{Name: "crash_on", Type: core.TypeInt, Default: int64(0), Doc: "exit the process on this call (0 never)", Min: core.Bound(0)},
				{Name: "hang_on", Type: core.TypeInt, Default: int64(0), Doc: "sleep an hour on this call", Min: core.Bound(0)},
				{Name: "nan_on", Type: core.TypeInt, Default: int64(0), Doc: "return a NaN gradient on this call", Min: core.Bound(0)},
				{Name: "short_on", Type: core.TypeInt, Default: int64(0), Doc: "return a gradient one element short on this call", Min: core.Bound(0)},
				{Name: "huge_on", Type: core.TypeInt, Default: int64(0), Doc: "return finite gradients of magnitude huge on this call", Min: core.Bound(0)},
				{Name: "huge", Type: core.TypeFloat, Default: 1e300, Doc: "magnitude of the gradients huge_on returns"},
				{Name: "panic_on", Type: core.TypeInt, Default: int64(0), Doc: "panic on this call", Min: core.Bound(0)},
				{Name: "repeat", Type: core.TypeBool, Default: false, Doc: "fire each fault on every call from its number on"},
				{Name: "say", Type: core.TypeString, Default: "", Doc: "write this line to stderr on every call"},
				{Name: "stop_on", Type: core.TypeInt, Default: int64(0), Doc: "SIGSTOP the plugin process on this call, and again whenever it is continued", Min: core.Bound(0)},
				{Name: "helper_on", Type: core.TypeInt, Default: int64(0), Doc: "start a helper process (sleep 3600) holding the plugin's raw stdout and stderr on this call; its pid is appended to state_dir/" + HelperPIDs, Min: core.Bound(0)},
				{Name: "helper_setsid", Type: core.TypeBool, Default: false, Doc: "start the helper in a new session, out of the plugin's process group"},
				{Name: "flood_on", Type: core.TypeInt, Default: int64(0), Doc: "write flood_bytes of 'x' to stderr, without a newline, on this call", Min: core.Bound(0)},
				{Name: "flood_bytes", Type: core.TypeInt, Default: int64(16 << 20), Doc: "size of the stderr flood", Min: core.Bound(1)},
				{Name: "flood_raw", Type: core.TypeBool, Default: false, Doc: "flood the raw stderr pipe (file descriptor 2) instead of the SDK's forwarded os.Stderr"},
				{Name: "metric_count", Type: core.TypeInt, Default: int64(0), Doc: "add this many metrics to every reply", Min: core.Bound(0)},
				{Name: "metric_name_bytes", Type: core.TypeInt, Default: int64(8), Doc: "length of the names of the added metrics", Min: core.Bound(8)},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			return &objective{p: p}, nil
		},
	}
}

type objective struct {
	p     core.Params
	calls int64 // used when state_dir is empty
}

func (o *objective) Inputs() []string {
	return []string{core.PolicyChosenLogps, core.PolicyRejectedLogps}
}

func (o *objective) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(o.Inputs()); err != nil {
		return nil, err
	}
	call, err := o.nextCall()
	if err != nil {
		return nil, &core.InternalError{Msg: err.Error()}
	}
	fires := func(name string) bool {
		n := o.p.Int(name)
		return n > 0 && (call == n || o.p.Bool("repeat") && call >= n)
	}
	if say := o.p.String("say"); say != "" {
		fmt.Fprintln(os.Stderr, say)
	}
	if fires("helper_on") {
		if err := o.startHelper(); err != nil {
			return nil, &core.InternalError{Msg: err.Error()}
		}
	}
	if fires("flood_on") {
		w := os.Stderr
		if o.p.Bool("flood_raw") {
			w = os.NewFile(2, "stderr")
		}
		flood(w, o.p.Int("flood_bytes"))
	}
	switch {
	case fires("stop_on"):
		fmt.Fprintf(os.Stderr, "fault: stopping on call %d\n", call)
		// The kernel continues a stopped process group that it deems
		// orphaned (e.g. when the host thread that started it exits): stop
		// again, so the plugin never answers.
		for {
			stopSelf()
			time.Sleep(10 * time.Millisecond)
		}
	case fires("crash_on"):
		fmt.Fprintf(os.Stderr, "fault: crashing on call %d\n", call)
		os.Exit(3)
	case fires("hang_on"):
		time.Sleep(time.Hour)
	case fires("panic_on"):
		panic(fmt.Sprintf("fault: panic on call %d", call))
	}
	n := len(b.PolicyChosenLogps)
	r := &core.Result{
		Losses:  make([]float64, n),
		Grads:   map[string][]float64{core.PolicyChosenLogps: make([]float64, n), core.PolicyRejectedLogps: make([]float64, n)},
		Metrics: map[string]float64{},
	}
	target := o.p.Float("target")
	var margin float64
	for i := range n {
		m := b.PolicyChosenLogps[i] - b.PolicyRejectedLogps[i]
		d := m - target
		r.Losses[i] = d * d / 2
		r.Loss += r.Losses[i] / float64(n)
		r.Grads[core.PolicyChosenLogps][i] = d / float64(n)
		r.Grads[core.PolicyRejectedLogps][i] = -d / float64(n)
		margin += m / float64(n)
	}
	r.Metrics["margin"] = margin
	for i := range o.p.Int("metric_count") {
		name := fmt.Sprintf("m%07d", i)
		r.Metrics[name+strings.Repeat("_", int(o.p.Int("metric_name_bytes"))-len(name))] = float64(i)
	}
	if fires("nan_on") {
		r.Grads[core.PolicyChosenLogps][0] = math.NaN()
	}
	if fires("short_on") {
		r.Grads[core.PolicyRejectedLogps] = r.Grads[core.PolicyRejectedLogps][:n-1]
	}
	if fires("huge_on") {
		for _, g := range r.Grads {
			for i := range g {
				g[i] = math.Copysign(o.p.Float("huge"), g[i])
			}
		}
	}
	return r, nil
}

func (o *objective) nextCall() (int64, error) {
	dir := o.p.String("state_dir")
	if dir == "" {
		o.calls++
		return o.calls, nil
	}
	path := filepath.Join(dir, "calls")
	var n int64
	if data, err := os.ReadFile(path); err == nil {
		n, _ = strconv.ParseInt(string(data), 10, 64)
	}
	n++
	return n, os.WriteFile(path, []byte(strconv.FormatInt(n, 10)), 0o644)
}

// HelperPIDs is the file under state_dir listing the pids of the helpers
// started by helper_on, one a line.
const HelperPIDs = "helpers"

// startHelper starts "sleep 3600" with the plugin's raw stdout and stderr,
// so that the pipes to the host stay open while it runs.
func (o *objective) startHelper() error {
	cmd := exec.Command("sleep", "3600")
	cmd.Stdout, cmd.Stderr = os.NewFile(1, "stdout"), os.NewFile(2, "stderr")
	if o.p.Bool("helper_setsid") {
		cmd.SysProcAttr = newSession()
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("fault: start helper: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reaps the helper if it ends first
	dir := o.p.String("state_dir")
	if dir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, HelperPIDs), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, cmd.Process.Pid)
	return f.Close()
}

func flood(w *os.File, n int64) {
	chunk := []byte(strings.Repeat("x", 64<<10))
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
	}
}

// FailStartEnv names a file holding a count N: while N > 0, a plugin main
// that calls [FailStartIfAsked] decrements it and exits before its
// handshake.
const FailStartEnv = "PREFOPT_FAULT_FAIL_STARTS"

// FailStartIfAsked makes this start fail, as FailStartEnv asks. Call it
// first thing in a plugin main, before plugin.Serve.
func FailStartIfAsked() {
	path := os.Getenv(FailStartEnv)
	if path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		os.Exit(4)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(n-1)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
	}
	fmt.Fprintf(os.Stderr, "fault: failing this start (%d more to fail)\n", n-1)
	os.Exit(4)
}

// WriteWrapper writes an executable launcher script dir/name that runs exe
// with its arguments as a child — without exec — and exits with its
// status, and returns the script's path.
func WriteWrapper(dir, name, exe string) (string, error) {
	path := filepath.Join(dir, name)
	script := fmt.Sprintf("#!/bin/sh\n%s \"$@\"\nexit $?\n", shellQuote(exe))
	return path, os.WriteFile(path, []byte(script), 0o755)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
