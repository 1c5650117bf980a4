// Package caldpo implements Calibrated Direct Preference Optimization.
//
// For a pair i with policy log-probs π_c, π_r and reference log-probs ref_c,
// ref_r of the chosen and rejected completions, all summed over completion
// tokens, the implicit log-ratio rewards are h_c = π_c − ref_c and
// h_r = π_r − ref_r. With β = beta the per-pair loss, a value to minimise, is
//
//	ℓ_i = −log σ(h_c − h_r) + (h_c − 1/(2β))² + (h_r + 1/(2β))²
//
// DPO's contrastive term (without β, as in the paper and the authors' code)
// plus two calibration terms that pull β·h_c towards ½ and β·h_r towards −½,
// the scale of the rewards the Bradley-Terry model implies, so that the
// chosen likelihood cannot fall while the margin grows. Loss = (1/N)·Σ_i ℓ_i
// and Losses[i] = ℓ_i. Gradients:
//
//	∂Loss/∂π_c,i = (−σ(h_r − h_c) + 2(h_c − 1/(2β)))/N
//	∂Loss/∂π_r,i = ( σ(h_r − h_c) + 2(h_r + 1/(2β)))/N
//
// reference log-probs are constants.
//
// Metrics: rewards/chosen = mean β·h_c, rewards/rejected = mean β·h_r,
// rewards/margins, rewards/accuracies (strict), logps/chosen, logps/rejected,
// as TRL's DPOTrainer logs them.
//
// References: Xiao, Yuan, Zhu, Li and Honavar, "Cal-DPO: Calibrated Direct
// Preference Optimization for Language Model Alignment", NeurIPS 2024,
// arXiv:2412.14516. Matches preference_loss with shift 0.5 (the paper's
// targets ±1/(2β)) in Pythia-2.8b-exp/trainers.py of github.com/Cal-DPO/Cal-DPO
// at commit 378427bba2ca9b9ded6cc86e4094238e464e8aa2.
package caldpo

import (
	"context"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

var inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ReferenceChosenLogps, core.ReferenceRejectedLogps}

// Definition returns the Cal-DPO objective. Parameter: beta (β=0.1, > 0, the
// paper's and the authors' configuration default; the calibration targets
// are ±1/(2β)).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "caldpo",
			Version: "1.0.0",
			Doc: "Calibrated DPO: mean over pairs of −log σ(h_c−h_r) + (h_c−1/(2β))² + (h_r+1/(2β))², " +
				"h = π−ref summed (Xiao et al. 2024, arXiv:2412.14516; github.com/Cal-DPO/Cal-DPO). Parameter: beta (β).",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "β: the calibration targets of the log-ratios are ±1/(2β) (Cal-DPO default 0.1)"},
			},
		},
		New: func(p core.Params) (core.Objective, error) { return &calDPO{beta: p.Float("beta")}, nil },
	}
}

type calDPO struct{ beta float64 }

func (o *calDPO) Inputs() []string { return append([]string(nil), inputs...) }

func (o *calDPO) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	n := len(b.PolicyChosenLogps)
	target := 1 / (2 * o.beta)
	losses, gc, gr := make([]float64, n), make([]float64, n), make([]float64, n)
	rewC, rewR := make([]float64, n), make([]float64, n)
	for i := range n {
		hc := b.PolicyChosenLogps[i] - b.ReferenceChosenLogps[i]
		hr := b.PolicyRejectedLogps[i] - b.ReferenceRejectedLogps[i]
		u, v := hc-target, hr+target
		losses[i] = -mathx.LogSigmoid(hc-hr) + u*u + v*v
		s := mathx.Sigmoid(hr - hc)
		gc[i] = (-s + 2*u) / float64(n)
		gr[i] = (s + 2*v) / float64(n)
		rewC[i], rewR[i] = o.beta*hc, o.beta*hr
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
