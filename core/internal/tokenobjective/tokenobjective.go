// Package tokenobjective is a small objective that reads per-token inputs,
// a data column and a list-valued parameter, so that the conformance suite
// and the plugin protocol can be tested on them. It is not a published
// objective.
//
// For pair i with chosen tokens c_i,t, rejected tokens r_i,t and the data
// column margin m_i:
//
//	z_i = w₀·Σ_t c_i,t − w₁·Σ_t r_i,t − m_i,   L = mean_i −log σ(z_i)
//
// so ∂L/∂c_i,t = −w₀·σ(−z_i)/N and ∂L/∂r_i,t = w₁·σ(−z_i)/N for every
// token t; the weights (w₀, w₁) are the list parameter "weights".
package tokenobjective

import (
	"context"
	"math"

	"github.com/prefopt/prefopt/core"
)

// Margin is the data column the objective reads.
const Margin = "column.margin"

var inputs = []string{core.ChosenLengths, core.RejectedLengths, core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps, Margin}

// Definition returns the objective.
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name: "tokens", Version: "0.0.1", Doc: "test objective on per-token log-probs",
			Params: []core.ParamSpec{{Name: "weights", Type: core.TypeFloatList, Default: []float64{1, 1},
				MinItems: 2, MaxItems: 2, Min: core.Bound(0), Doc: "weights of the chosen and rejected sums"}},
		},
		New: func(p core.Params) (core.Objective, error) {
			w := p.FloatList("weights")
			return obj{w[0], w[1]}, nil
		},
	}
}

type obj struct{ wc, wr float64 }

func (obj) Inputs() []string { return append([]string(nil), inputs...) }

func (o obj) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	for _, name := range []string{core.ChosenLengths, core.RejectedLengths} {
		if err := b.RequirePositive(name); err != nil {
			return nil, err
		}
	}
	n := len(b.ChosenLengths)
	margin := *b.Floats(Margin)
	r := &core.Result{Losses: make([]float64, n), Metrics: map[string]float64{},
		TokenGrads: map[string][][]float64{
			core.PolicyChosenTokenLogps:   make([][]float64, n),
			core.PolicyRejectedTokenLogps: make([][]float64, n),
		}}
	for i := range n {
		var sc, sr float64
		for _, v := range b.PolicyChosenTokenLogps[i] {
			sc += v
		}
		for _, v := range b.PolicyRejectedTokenLogps[i] {
			sr += v
		}
		z := o.wc*sc - o.wr*sr - margin[i]
		r.Losses[i] = softplus(-z)
		r.Loss += r.Losses[i] / float64(n)
		s := sigmoid(-z) / float64(n)
		r.TokenGrads[core.PolicyChosenTokenLogps][i] = fill(len(b.PolicyChosenTokenLogps[i]), -o.wc*s)
		r.TokenGrads[core.PolicyRejectedTokenLogps][i] = fill(len(b.PolicyRejectedTokenLogps[i]), o.wr*s)
	}
	return r, nil
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
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
