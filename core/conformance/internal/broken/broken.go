// Package broken holds deliberately faulty objectives that the conformance
// suite must fail: each is sigmoid DPO on summed log-probs with one defect.
// Mode selects the defect:
//
//   - "" (none): correct; the control case.
//   - "sign": the gradient has the wrong sign.
//   - "mutate": Compute writes into the batch it is given and keeps a running
//     baseline of the margins it has seen, so replies depend on earlier calls.
//   - "nondeterministic": the loss carries noise from an unseeded source.
//   - "hang": Compute never returns and ignores its context.
//
// The stdout-noise defect ("stdout") lives in the plugin command, since it
// happens before serving.
package broken

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/prefopt/prefopt/core"
)

// Modes lists the defects Definition knows, "" first.
var Modes = []string{"", "sign", "mutate", "nondeterministic", "hang"}

// Definition returns the objective with the given defect. It panics on an
// unknown mode.
func Definition(mode string) core.Definition {
	known := false
	for _, m := range Modes {
		known = known || m == mode
	}
	if !known {
		panic("broken: unknown mode " + mode)
	}
	return core.Definition{
		Spec: core.Spec{
			Name: "broken", Version: "0.0.1",
			Doc: "sigmoid DPO with a deliberate defect",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true, Doc: "inverse temperature β"},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			return &objective{mode: mode, beta: p.Float("beta")}, nil
		},
	}
}

var inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ReferenceChosenLogps, core.ReferenceRejectedLogps}

type objective struct {
	mode string
	beta float64

	mu       sync.Mutex
	baseline float64 // "mutate": running mean of margins seen so far
}

func (*objective) Inputs() []string { return append([]string(nil), inputs...) }

// Compute is L = mean −log σ(β(h − δ)) with h the log-ratio margin and δ = 0
// except in mode "mutate".
func (o *objective) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	if o.mode == "hang" {
		select {} // ignores ctx on purpose
	}
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	n := len(b.PolicyChosenLogps)
	o.mu.Lock()
	delta := o.baseline
	o.mu.Unlock()
	r := &core.Result{
		Losses:  make([]float64, n),
		Grads:   map[string][]float64{core.PolicyChosenLogps: make([]float64, n), core.PolicyRejectedLogps: make([]float64, n)},
		Metrics: map[string]float64{},
	}
	var margin float64
	for i := range n {
		h := (b.PolicyChosenLogps[i] - b.PolicyRejectedLogps[i]) - (b.ReferenceChosenLogps[i] - b.ReferenceRejectedLogps[i])
		z := o.beta * (h - delta)
		r.Losses[i] = softplus(-z)
		g := -o.beta * sigmoid(-z) / float64(n)
		if o.mode == "sign" {
			g = -g
		}
		r.Grads[core.PolicyChosenLogps][i] = g
		r.Grads[core.PolicyRejectedLogps][i] = -g
		r.Loss += r.Losses[i] / float64(n)
		margin += h / float64(n)
	}
	if o.mode == "nondeterministic" {
		r.Loss += 1e-13 * rand.Float64()
	}
	if o.mode == "mutate" {
		for i := range b.PolicyChosenLogps {
			b.PolicyChosenLogps[i] -= b.ReferenceChosenLogps[i] // "normalises" in place
		}
		o.mu.Lock()
		o.baseline = 0.9*o.baseline + 0.1*margin
		o.mu.Unlock()
	}
	r.Metrics["rewards/margins"] = o.beta * margin
	return r, nil
}

func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
