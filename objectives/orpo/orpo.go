// Package orpo implements Odds Ratio Preference Optimization.
//
// For a pair i let a_c = π_c/L_c and a_r = π_r/L_r be the policy log-probs of
// the chosen and rejected completions averaged over their completion tokens
// (summed log-probs divided by chosen_lengths, rejected_lengths); each must be
// < 0. The log odds ratio is
//
//	lo_i = (a_c − a_r) − (log(1 − e^{a_c}) − log(1 − e^{a_r}))
//
// The NLL term is the token mean over the chosen prompts and completions of
// the whole batch, pooled: with P_i = policy_chosen_prompt_logps (summed over
// chosen_prompt_lengths K_i tokens) and T = Σ_i (K_i + L_c,i),
//
//	NLL  = −Σ_i (P_i + π_c,i) / T
//	Loss = NLL − λ·(1/N)·Σ_i log σ(lo_i)
//
// a value to minimise, with λ = beta. Losses[i] = −λ·log σ(lo_i) −
// N·(P_i + π_c,i)/T, so that their mean is Loss. Gradients are returned for
// policy_chosen_logps, policy_rejected_logps and policy_chosen_prompt_logps:
//
//	∂Loss/∂π_c,i = −(λ/N)·σ(−lo_i)/(1 − e^{a_c})/L_c,i − 1/T
//	∂Loss/∂π_r,i =  (λ/N)·σ(−lo_i)/(1 − e^{a_r})/L_r,i
//	∂Loss/∂P_i   = −1/T
//
// Metrics: nll_loss, log_odds_ratio (mean log σ(lo)), log_odds_chosen (mean
// lo), and rewards/chosen = mean λ·a_c, rewards/rejected = mean λ·a_r,
// rewards/margins, rewards/accuracies (strict), logps/chosen, logps/rejected
// (means of a_c, a_r), as TRL's ORPO trainer logs them.
//
// References: Hong et al., "ORPO: Monolithic Preference Optimization without
// Reference Model", EMNLP 2024, arXiv:2403.07691 (github.com/xfactlab/orpo).
// Matches trl.ORPOTrainer.odds_ratio_loss with its NLL over the chosen prompt
// and completion tokens.
package orpo

import (
	"context"
	"math"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

var inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ChosenLengths, core.RejectedLengths,
	core.PolicyChosenPromptLogps, core.ChosenPromptLengths}

// Definition returns the ORPO objective. Parameter: beta (λ=0.1, TRL
// ORPOConfig default, > 0), the weight of the odds-ratio term.
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "orpo",
			Version: "1.0.0",
			Doc: "Odds Ratio Preference Optimization: pooled token-mean NLL of the chosen prompt and completion " +
				"minus λ·mean log σ(log odds(a_c) − log odds(a_r)) on per-token averaged log-probs, no reference model " +
				"(Hong et al. 2024, arXiv:2403.07691; trl.ORPOTrainer). Parameter: beta (λ).",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "weight λ of the odds-ratio term (TRL ORPOConfig default 0.1)"},
			},
		},
		New: func(p core.Params) (core.Objective, error) { return &orpo{lambda: p.Float("beta")}, nil },
	}
}

type orpo struct{ lambda float64 }

func (o *orpo) Inputs() []string { return append([]string(nil), inputs...) }

func (o *orpo) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	ac, ar, err := trl.PairedAverages(b)
	if err != nil {
		return nil, err
	}
	if err := negative(core.PolicyChosenLogps, ac); err != nil {
		return nil, err
	}
	if err := negative(core.PolicyRejectedLogps, ar); err != nil {
		return nil, err
	}
	n := len(ac)
	var tokens, logps float64
	for i := range n {
		tokens += float64(b.ChosenPromptLengths[i] + b.ChosenLengths[i])
		logps += b.PolicyChosenPromptLogps[i] + b.PolicyChosenLogps[i]
	}
	nll := -logps / tokens
	fn := float64(n)
	losses := make([]float64, n)
	lo := make([]float64, n)
	ratio := make([]float64, n)
	gc, gr, gp := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		lo[i] = (ac[i] - ar[i]) - (mathx.Log1mExp(ac[i]) - mathx.Log1mExp(ar[i]))
		ratio[i] = mathx.LogSigmoid(lo[i])
		losses[i] = -o.lambda*ratio[i] - fn*(b.PolicyChosenPromptLogps[i]+b.PolicyChosenLogps[i])/tokens
		// dlo/da_c = 1/(1−e^{a_c}) = −1/expm1(a_c); dlo/da_r = 1/expm1(a_r).
		s := o.lambda / fn * mathx.Sigmoid(-lo[i])
		gc[i] = s/math.Expm1(ac[i])/float64(b.ChosenLengths[i]) - 1/tokens
		gr[i] = -s / math.Expm1(ar[i]) / float64(b.RejectedLengths[i])
		gp[i] = -1 / tokens
	}
	m := map[string]float64{
		trl.NLLLoss:       nll,
		trl.LogOddsRatio:  mathx.Mean(ratio),
		trl.LogOddsChosen: mathx.Mean(lo),
	}
	trl.Paired(m, trl.Scale(o.lambda, ac), trl.Scale(o.lambda, ar), ac, ar)
	return trl.Finish(&core.Result{
		Loss:   nll - o.lambda*mathx.Mean(ratio),
		Losses: losses,
		Grads: map[string][]float64{
			core.PolicyChosenLogps:       gc,
			core.PolicyRejectedLogps:     gr,
			core.PolicyChosenPromptLogps: gp,
		},
		Metrics: m,
	}, core.PolicyChosenLogps)
}

// negative reports the first averaged log-prob that is not < 0: the odds
// p/(1−p) of a per-token probability p = e^a need p < 1.
func negative(field string, a []float64) error {
	for i, v := range a {
		if v >= 0 {
			return &core.InputError{Code: core.CodeOutOfRange, Field: field, Index: i, Value: v,
				Msg: "per-token average log-prob must be < 0 for the odds ratio"}
		}
	}
	return nil
}
