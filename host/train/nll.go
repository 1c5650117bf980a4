package train

import (
	"context"
	"math"

	"github.com/prefopt/prefopt/core"
)

// NLL is the supervised fine-tuning objective, run in-process by the host:
// the pooled token-mean negative log-likelihood of the completions,
//
//	L = −Σ_i logp_i / Σ_i len_i,   ∂L/∂logp_i = −1/Σ_j len_j,
//
// with logp_i summed over the completion tokens of example i (labels are
// ignored). Losses_i = −N·logp_i/Σ_j len_j, so their mean is L. Metric
// "nll_loss" = L and "ppl" = exp(L).
type NLL struct{}

// Inputs returns the unpaired policy log-probs and their lengths.
func (NLL) Inputs() []string { return []string{core.PolicyLogps, core.Lengths} }

// Compute returns the pooled token-mean NLL and its gradient.
func (n NLL) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(n.Inputs()); err != nil {
		return nil, err
	}
	var tokens float64
	for _, l := range b.Lengths {
		tokens += float64(l)
	}
	if tokens == 0 {
		return nil, &core.InputError{Code: core.CodeOutOfRange, Field: core.Lengths, Index: -1, Msg: "no tokens to average over"}
	}
	size := float64(len(b.PolicyLogps))
	r := &core.Result{
		Losses: make([]float64, len(b.PolicyLogps)),
		Grads:  map[string][]float64{core.PolicyLogps: make([]float64, len(b.PolicyLogps))},
	}
	for i, lp := range b.PolicyLogps {
		r.Loss -= lp / tokens
		r.Losses[i] = -size * lp / tokens
		r.Grads[core.PolicyLogps][i] = -1 / tokens
	}
	r.Metrics = map[string]float64{"nll_loss": r.Loss, "ppl": math.Exp(r.Loss)}
	return r, nil
}
