// Command offsetdpo is an example third-party objective plugin: DPO with a
// fixed margin ("offset"), written against prefopt's public SDK only.
//
//	L = mean_i −log σ(β·(h_i − δ)),  h_i = (π_c − π_r) − (ref_c − ref_r)
//
// on summed log-probs, with ∂L/∂π_c,i = −β·σ(−β(h_i − δ))/N = −∂L/∂π_r,i.
// δ = 0 is DPO. The reference log-probs get no gradient.
//
// Build it and use it from an experiment:
//
//	go build -o offsetdpo ./examples/plugin/offsetdpo
//	[[objective]]
//	path = "./offsetdpo"
//	[objective.params]
//	delta = 1.0
package main

import (
	"context"
	"math"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/plugin"
)

func main() { plugin.Serve(Definition()) }

// Definition returns the offset-DPO objective.
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name: "offsetdpo", Version: "0.1.0",
			Doc: "DPO with a margin δ: mean −log σ(β(h − δ)) on summed log-probs",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true, Doc: "inverse temperature β"},
				{Name: "delta", Type: core.TypeFloat, Default: 0.0, Min: core.Bound(0), Doc: "margin δ the log-ratio difference must exceed"},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			return offset{beta: p.Float("beta"), delta: p.Float("delta")}, nil
		},
	}
}

type offset struct{ beta, delta float64 }

var inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ReferenceChosenLogps, core.ReferenceRejectedLogps}

func (offset) Inputs() []string { return append([]string(nil), inputs...) }

func (o offset) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	n := len(b.PolicyChosenLogps)
	r := &core.Result{
		Losses:  make([]float64, n),
		Grads:   map[string][]float64{core.PolicyChosenLogps: make([]float64, n), core.PolicyRejectedLogps: make([]float64, n)},
		Metrics: map[string]float64{},
	}
	var acc, margin float64
	for i := range n {
		h := (b.PolicyChosenLogps[i] - b.PolicyRejectedLogps[i]) - (b.ReferenceChosenLogps[i] - b.ReferenceRejectedLogps[i])
		z := o.beta * (h - o.delta)
		r.Losses[i] = softplus(-z) // −log σ(z)
		g := -o.beta * sigmoid(-z) / float64(n)
		r.Grads[core.PolicyChosenLogps][i] = g
		r.Grads[core.PolicyRejectedLogps][i] = -g
		r.Loss += r.Losses[i] / float64(n)
		margin += o.beta * h / float64(n)
		if h > 0 {
			acc += 1 / float64(n)
		}
	}
	if math.IsInf(r.Loss, 0) {
		return nil, &core.InputError{Code: core.CodeOutOfRange, Field: core.PolicyChosenLogps, Index: -1, Msg: "log-probs too large in magnitude: the loss overflows"}
	}
	r.Metrics["rewards/margins"] = margin
	r.Metrics["rewards/accuracies"] = acc
	return r, nil
}

// softplus(x) = log(1 + eˣ), stable for large |x|.
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
