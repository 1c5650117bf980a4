// Package chipo implements χ²-Preference Optimization (χPO).
//
// For a pair i with policy log-probs π_c, π_r and reference log-probs ref_c,
// ref_r of the chosen and rejected completions, all summed over completion
// tokens, let r = π − ref be the log density ratio of a completion and
// z = e^r = π/ref the density ratio. χPO replaces DPO's link log z with
//
//	φ(z) = z + log z = e^r + r
//
// (the link of the mixed χ²+KL regulariser) and, as Algorithm 1 of the paper
// does, clips the preference logit to [−2R_max, 2R_max]:
//
//	x_i = clip(β·(φ(z_c) − φ(z_r)), −2R_max, 2R_max)
//	ℓ_i = −log σ(x_i)
//
// with β = beta and R_max = r_max, a value to minimise; Loss = (1/N)·Σ_i ℓ_i
// and Losses[i] = ℓ_i. Inside the clip ∂Loss/∂π_c,i = −σ(−x_i)·β(e^{r_c}+1)/N
// and ∂Loss/∂π_r,i = σ(−x_i)·β(e^{r_r}+1)/N; where the clip binds the
// gradient is 0 (at the bound itself it passes, as torch.clamp's does).
// Reference log-probs are constants. e^r overflows float64 for r > 709: the
// difference of the two exponentials is then evaluated relative to the
// larger, and any difference that large lies beyond the clip.
//
// Metrics: rewards/chosen = mean β·r_c and rewards/rejected = mean β·r_r
// (DPO's implicit rewards, finite where βφ(z) overflows), rewards/margins,
// rewards/accuracies (strict), logps/chosen, logps/rejected.
//
// References: Huang, Zhan, Xie, Lee, Sun, Krishnamurthy and Foster,
// "Correcting the Mythos of KL-Regularization: Direct Alignment without
// Overoptimization via χ²-Preference Optimization", arXiv:2407.13399,
// Algorithm 1 (χPO). TRL has no χPO loss type.
package chipo

import (
	"context"
	"math"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

var inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ReferenceChosenLogps, core.ReferenceRejectedLogps}

// Definition returns the χPO objective. Parameters: beta (β=0.1, > 0, as
// TRL's DPOConfig default) and r_max (R_max=1, > 0, the bound on rewards in
// the paper's analysis, for rewards in [0, 1]; the logit is clipped to
// ±2R_max).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "chipo",
			Version: "1.0.0",
			Doc: "χ²-Preference Optimization: mean over pairs of −log σ(clip(β(φ(z_c)−φ(z_r)), ±2R_max)), " +
				"φ(z) = z + log z at the density ratio z = π/ref of summed log-probs " +
				"(Huang et al. 2024, arXiv:2407.13399, Algorithm 1). Parameters: beta (β), r_max (R_max).",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "regularisation β of the mixed χ² divergence (default 0.1, as TRL DPOConfig)"},
				{Name: "r_max", Type: core.TypeFloat, Default: 1.0, Min: core.Bound(0), MinExclusive: true,
					Doc: "reward bound R_max; the preference logit is clipped to [−2R_max, 2R_max] (default 1, rewards in [0, 1])"},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			return &chiPO{beta: p.Float("beta"), bound: 2 * p.Float("r_max")}, nil
		},
	}
}

type chiPO struct{ beta, bound float64 }

func (o *chiPO) Inputs() []string { return append([]string(nil), inputs...) }

// maxExp is the largest argument of math.Exp with a finite result, rounded
// down.
const maxExp = 709.0

// logit returns clip(β(φ(e^rc) − φ(e^rr)), ±bound) and whether the clip
// binds.
func (o *chiPO) logit(rc, rr float64) (float64, bool) {
	var x float64
	if m := math.Max(rc, rr); m <= maxExp {
		x = o.beta * ((math.Exp(rc) - math.Exp(rr)) + (rc - rr))
	} else {
		inner := math.Exp(rc-m) - math.Exp(rr-m) // e^rc − e^rr = e^m·inner
		switch {
		case inner > 0:
			x = math.Inf(1)
		case inner < 0:
			x = math.Inf(-1)
		default: // rc = rr: the φ terms cancel
			x = 0
		}
	}
	switch {
	case x > o.bound:
		return o.bound, true
	case x < -o.bound:
		return -o.bound, true
	}
	return x, false
}

func (o *chiPO) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	n := len(b.PolicyChosenLogps)
	losses, gc, gr := make([]float64, n), make([]float64, n), make([]float64, n)
	rewC, rewR := make([]float64, n), make([]float64, n)
	for i := range n {
		rc := b.PolicyChosenLogps[i] - b.ReferenceChosenLogps[i]
		rr := b.PolicyRejectedLogps[i] - b.ReferenceRejectedLogps[i]
		x, clipped := o.logit(rc, rr)
		losses[i] = -mathx.LogSigmoid(x)
		if !clipped {
			s := mathx.Sigmoid(-x) * o.beta / float64(n)
			gc[i] = -s * (math.Exp(rc) + 1)
			gr[i] = s * (math.Exp(rr) + 1)
		}
		rewC[i], rewR[i] = o.beta*rc, o.beta*rr
	}
	m := map[string]float64{}
	trl.Paired(m, rewC, rewR, b.PolicyChosenLogps, b.PolicyRejectedLogps)
	return trl.Finish(&core.Result{
		Loss:    mathx.Mean(losses),
		Losses:  losses,
		Grads:   map[string][]float64{core.PolicyChosenLogps: gc, core.PolicyRejectedLogps: gr},
		Metrics: m,
	}, core.PolicyChosenLogps)
}
