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
package faultobjective

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
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
				{Name: "panic_on", Type: core.TypeInt, Default: int64(0), Doc: "panic on this call", Min: core.Bound(0)},
				{Name: "repeat", Type: core.TypeBool, Default: false, Doc: "fire each fault on every call from its number on"},
				{Name: "say", Type: core.TypeString, Default: "", Doc: "write this line to stderr on every call"},
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
	switch {
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
	if fires("nan_on") {
		r.Grads[core.PolicyChosenLogps][0] = math.NaN()
	}
	if fires("short_on") {
		r.Grads[core.PolicyRejectedLogps] = r.Grads[core.PolicyRejectedLogps][:n-1]
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
