// Package simpo implements Simple Preference Optimization, a reference-free
// objective on length-averaged log-probs.
//
// For a pair i let a_c = π_c/L_c and a_r = π_r/L_r be the policy log-probs of
// the chosen and rejected completions averaged over their completion tokens
// (summed log-probs divided by chosen_lengths, rejected_lengths). With β =
// beta, margin γ (gamma if set, else β·gamma_beta_ratio), ε =
// label_smoothing and w = sft_weight,
//
//	x_i  = β(a_c − a_r) − γ
//	NLL  = −Σ_i π_c,i / Σ_i L_c,i            (pooled token mean over chosen completions)
//	Loss = (1/N)·Σ_i [−(1−ε)·log σ(x_i) − ε·log σ(−x_i)] + w·NLL
//
// a value to minimise. Losses[i] = −(1−ε)·log σ(x_i) − ε·log σ(−x_i) −
// w·N·π_c,i/Σ_j L_c,j, so that their mean is Loss. With ℓ'_i = −(1−ε)σ(−x_i) +
// εσ(x_i), the gradients are ∂Loss/∂π_c,i = ℓ'_i·β/(N·L_c,i) − w/Σ_j L_c,j and
// ∂Loss/∂π_r,i = −ℓ'_i·β/(N·L_r,i). There is no reference model.
//
// Metrics: rewards/chosen = mean β·a_c, rewards/rejected = mean β·a_r,
// rewards/margins, rewards/accuracies (strict), logps/chosen, logps/rejected
// (means of a_c, a_r), and nll_loss when w > 0.
//
// References: Meng et al., "SimPO: Simple Preference Optimization with a
// Reference-Free Reward", NeurIPS 2024, arXiv:2405.14734
// (github.com/princeton-nlp/SimPO, SimPOTrainer.simpo_loss with sft_weight).
// Matches trl.CPOTrainer with loss_type "simpo" (cpo_alpha playing the role of
// sft_weight).
package simpo

import (
	"context"
	"fmt"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

var inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ChosenLengths, core.RejectedLengths}

// Definition returns the SimPO objective. Parameters, with the SimPO
// reference implementation's names and defaults: beta (β=2.0, > 0),
// gamma_beta_ratio (0.5, ≥ 0), gamma (absolute margin γ ≥ 0, unset by
// default; excludes gamma_beta_ratio), label_smoothing (ε=0, in [0, 0.5)),
// sft_weight (w=0, ≥ 0).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "simpo",
			Version: "1.0.0",
			Doc: "Simple Preference Optimization: mean over pairs of −log σ(β(a_c−a_r) − γ) on per-token " +
				"averaged log-probs with optional label smoothing and SFT term, no reference model " +
				"(Meng et al. 2024, arXiv:2405.14734; trl.CPOTrainer loss_type simpo). " +
				"Parameters: beta (β), gamma_beta_ratio (γ/β), gamma (γ), label_smoothing (ε), sft_weight.",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 2.0, Min: core.Bound(0), MinExclusive: true,
					Doc: "reward scale β (SimPO default 2.0)"},
				{Name: "gamma_beta_ratio", Type: core.TypeFloat, Default: 0.5, Min: core.Bound(0),
					Doc: "target margin as a fraction of β: γ = β·ratio (SimPO default 0.5)"},
				{Name: "gamma", Type: core.TypeFloat, Min: core.Bound(0),
					Doc: "absolute target reward margin γ; when set, gamma_beta_ratio must not be"},
				{Name: "label_smoothing", Type: core.TypeFloat, Default: 0.0, Min: core.Bound(0), Max: core.Bound(0.5), MaxExclusive: true,
					Doc: "assumed probability ε that a preference label is flipped"},
				{Name: "sft_weight", Type: core.TypeFloat, Default: 0.0, Min: core.Bound(0),
					Doc: "weight w of the pooled token-mean NLL of the chosen completions"},
			},
		},
		New: newSimPO,
	}
}

type simpo struct{ beta, gamma, eps, sft float64 }

func newSimPO(p core.Params) (core.Objective, error) {
	o := &simpo{beta: p.Float("beta"), eps: p.Float("label_smoothing"), sft: p.Float("sft_weight")}
	switch {
	case p.IsSet("gamma") && p.IsSet("gamma_beta_ratio"):
		return nil, &core.ParamError{Param: "gamma",
			Msg: fmt.Sprintf("set either gamma (%v) or gamma_beta_ratio (%v), not both",
				p.Float("gamma"), p.Float("gamma_beta_ratio"))}
	case p.IsSet("gamma"):
		o.gamma = p.Float("gamma")
	default:
		o.gamma = o.beta * p.Float("gamma_beta_ratio")
	}
	return o, nil
}

func (o *simpo) Inputs() []string { return append([]string(nil), inputs...) }

func (o *simpo) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	ac, ar, err := trl.PairedAverages(b)
	if err != nil {
		return nil, err
	}
	n := len(ac)
	fn := float64(n)
	var tokens, logps float64
	for i := range n {
		tokens += float64(b.ChosenLengths[i])
		logps += b.PolicyChosenLogps[i]
	}
	nll := -logps / tokens
	losses, pref := make([]float64, n), make([]float64, n)
	gc, gr := make([]float64, n), make([]float64, n)
	for i := range n {
		l, d := trl.SmoothedSigmoidLoss(o.beta*(ac[i]-ar[i])-o.gamma, o.eps)
		pref[i] = l
		losses[i] = l - o.sft*fn*b.PolicyChosenLogps[i]/tokens
		gc[i] = d*o.beta/(fn*float64(b.ChosenLengths[i])) - o.sft/tokens
		gr[i] = -d * o.beta / (fn * float64(b.RejectedLengths[i]))
	}
	m := map[string]float64{}
	if o.sft > 0 {
		m[trl.NLLLoss] = nll
	}
	trl.Paired(m, trl.Scale(o.beta, ac), trl.Scale(o.beta, ar), ac, ar)
	return trl.Finish(&core.Result{
		Loss:    mathx.Mean(pref) + o.sft*nll,
		Losses:  losses,
		Grads:   map[string][]float64{core.PolicyChosenLogps: gc, core.PolicyRejectedLogps: gr},
		Metrics: m,
	}, core.PolicyChosenLogps)
}
