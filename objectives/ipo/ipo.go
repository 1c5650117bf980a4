// Package ipo implements Identity Preference Optimization.
//
// For a pair i let π_c, π_r, ref_c, ref_r be the policy and reference
// log-probs of the chosen and rejected completions, summed over completion
// tokens. With length_normalize (the default, as TRL does) each is divided by
// its completion's token count (chosen_lengths, rejected_lengths); otherwise
// the sums are used as in the paper. With β = beta,
//
//	h_i = (π_c − π_r) − (ref_c − ref_r)   (on the normalised or summed log-probs)
//	ℓ_i = (h_i − 1/(2β))²
//
// a value to minimise, and Loss = (1/N)·Σ_i ℓ_i, so Losses[i] = ℓ_i.
// Gradients: ∂Loss/∂π_c,i = 2(h_i − 1/(2β))/(N·L_c,i) and
// ∂Loss/∂π_r,i = −2(h_i − 1/(2β))/(N·L_r,i), with L = 1 when not normalising;
// reference log-probs are constants.
//
// Metrics: rewards/chosen = mean β(π_c − ref_c), rewards/rejected = mean
// β(π_r − ref_r), rewards/margins, rewards/accuracies (strict), logps/chosen,
// logps/rejected, all on the log-probs the loss uses (normalised when
// normalising).
//
// References: Azar et al., "A General Theoretical Paradigm to Understand
// Learning from Human Preferences", AISTATS 2024, arXiv:2310.12036. Matches
// trl.DPOTrainer with loss_type "ipo", which length-normalises the log-probs.
package ipo

import (
	"context"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

// Definition returns the IPO objective. Parameters: beta (β=0.1, TRL
// DPOConfig default, > 0; the target margin is 1/(2β)) and length_normalize
// (true, as TRL).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "ipo",
			Version: "1.0.0",
			Doc: "Identity Preference Optimization: mean over pairs of (h − 1/(2β))², " +
				"h = (π_c−π_r)−(ref_c−ref_r) on per-token averaged (default, as TRL) or summed log-probs " +
				"(Azar et al. 2024, arXiv:2310.12036; trl.DPOTrainer loss_type ipo). Parameters: beta (β), length_normalize.",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "regularisation β; the loss pulls the log-ratio margin towards 1/(2β) (TRL DPOConfig default 0.1)"},
				{Name: "length_normalize", Type: core.TypeBool, Default: true,
					Doc: "divide log-probs by completion token counts (TRL); false uses summed log-probs (paper)"},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			o := &ipo{beta: p.Float("beta"), normalize: p.Bool("length_normalize")}
			o.inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps,
				core.ReferenceChosenLogps, core.ReferenceRejectedLogps}
			if o.normalize {
				o.inputs = append(o.inputs, core.ChosenLengths, core.RejectedLengths)
			}
			return o, nil
		},
	}
}

type ipo struct {
	beta      float64
	normalize bool
	inputs    []string
}

func (o *ipo) Inputs() []string { return append([]string(nil), o.inputs...) }

func (o *ipo) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(o.inputs); err != nil {
		return nil, err
	}
	pc, pr := b.PolicyChosenLogps, b.PolicyRejectedLogps
	rc, rr := b.ReferenceChosenLogps, b.ReferenceRejectedLogps
	n := len(pc)
	lc, lr := ones(n), ones(n)
	if o.normalize {
		var err error
		if pc, pr, err = trl.PairedAverages(b); err != nil {
			return nil, err
		}
		lc, lr = b.ChosenLengths, b.RejectedLengths
		rc, rr = trl.Averages(rc, lc), trl.Averages(rr, lr)
	}
	target := 1 / (2 * o.beta)
	losses := make([]float64, n)
	gc, gr := make([]float64, n), make([]float64, n)
	rewC, rewR := make([]float64, n), make([]float64, n)
	for i := range n {
		rewC[i] = o.beta * (pc[i] - rc[i])
		rewR[i] = o.beta * (pr[i] - rr[i])
		d := (pc[i] - pr[i]) - (rc[i] - rr[i]) - target
		losses[i] = d * d
		gc[i] = 2 * d / (float64(n) * float64(lc[i]))
		gr[i] = -2 * d / (float64(n) * float64(lr[i]))
	}
	m := map[string]float64{}
	trl.Paired(m, rewC, rewR, pc, pr)
	return trl.Finish(&core.Result{
		Loss:    mathx.Mean(losses),
		Losses:  losses,
		Grads:   map[string][]float64{core.PolicyChosenLogps: gc, core.PolicyRejectedLogps: gr},
		Metrics: m,
	}, core.PolicyChosenLogps)
}

func ones(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}
