// Package kto implements Kahneman-Tversky Optimization on unpaired data.
//
// Each example i has policy and reference log-probs π_i, ref_i of its
// completion, summed over completion tokens, and a label (desirable or not).
// The KL reference point is estimated from mismatched completions:
//
//	z0 = max(0, (1/N)·Σ_j (policy_kl_j − reference_kl_j))
//
// and is a constant: it receives no gradient, so the gradient returned for
// policy_kl_logps is all zeros. With r_i = π_i − ref_i, β = beta and weights
// λ_D = desirable_weight, λ_U = undesirable_weight, the per-example loss, a
// value to minimise, is
//
//	desirable:   ℓ_i = λ_D·(1 − σ(β(r_i − z0)))
//	undesirable: ℓ_i = λ_U·(1 − σ(β(z0 − r_i)))
//
// and Loss = (1/N)·Σ_i ℓ_i over all examples, so Losses[i] = ℓ_i.
// ∂Loss/∂π_i = −λ_D·β·σ(x)σ(−x)/N with x = β(r_i − z0) for desirable examples
// and +λ_U·β·σ(x)σ(−x)/N with x = β(z0 − r_i) for undesirable ones.
// z0 couples the batch: it is a mean over every example's KL completion,
// though it carries no gradient.
//
// With loss_type apo_zero_unpaired (the unpaired APO-zero loss of
// D'Oosterlinck et al., arXiv:2408.06266) there is no reference point: the
// KL inputs are not read, z0 = 0 and
//
//	desirable:   ℓ_i = λ_D·(1 − σ(βr_i))
//	undesirable: ℓ_i = λ_U·σ(βr_i)
//
// (the kto loss at z0 = 0), which raises desirable and lowers undesirable
// likelihoods; only policy_logps receives a gradient, and the kl metric is 0
// as TRL logs it.
//
// Metrics: kl = z0; count/chosen, count/rejected (examples per label);
// rewards/chosen, logps/chosen (means of β·r_i and π_i over desirable
// examples) and rewards/rejected, logps/rejected (over undesirable ones), each
// omitted when its group is empty; rewards/margins when both groups exist.
//
// References: Ethayarajh et al., "KTO: Model Alignment as Prospect Theoretic
// Optimization", ICML 2024, arXiv:2402.01306. Matches trl.KTOTrainer.kto_loss
// (loss_type "kto" and "apo_zero_unpaired") on one process, whose loss is the
// mean over the concatenated weighted desirable and undesirable losses:
// trl/trainer/kto_trainer.py at huggingface/trl commit
// f2cd57710ae345ea6428ae95363267fcf38a3dc8.
package kto

import (
	"context"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

// Loss types, with TRL's names.
const (
	KTO             = "kto"
	APOZeroUnpaired = "apo_zero_unpaired"
)

// Definition returns the KTO objective. Parameters, with TRL KTOConfig names
// and defaults: beta (β=0.1, > 0), desirable_weight (λ_D=1, > 0),
// undesirable_weight (λ_U=1, > 0), loss_type (kto | apo_zero_unpaired,
// default kto).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "kto",
			Version: "1.1.0",
			Doc: "Kahneman-Tversky Optimization on unpaired labelled completions: mean of λ_D(1−σ(β(r−z0))) " +
				"over desirable and λ_U(1−σ(β(z0−r))) over undesirable examples, r = π−ref summed, " +
				"z0 = max(0, mean KL estimate), detached (Ethayarajh et al. 2024, arXiv:2402.01306; trl.KTOTrainer). " +
				"Loss types: kto; apo_zero_unpaired λ_D(1−σ(βr)) and λ_U·σ(βr) without KL inputs " +
				"(D'Oosterlinck et al. 2024, arXiv:2408.06266). " +
				"Parameters: beta (β), desirable_weight (λ_D), undesirable_weight (λ_U), loss_type.",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "inverse temperature β of the implicit reward (TRL KTOConfig default 0.1)"},
				{Name: "desirable_weight", Type: core.TypeFloat, Default: 1.0, Min: core.Bound(0), MinExclusive: true,
					Doc: "weight λ_D of desirable examples' losses (TRL KTOConfig default 1.0)"},
				{Name: "undesirable_weight", Type: core.TypeFloat, Default: 1.0, Min: core.Bound(0), MinExclusive: true,
					Doc: "weight λ_U of undesirable examples' losses (TRL KTOConfig default 1.0)"},
				{Name: "loss_type", Type: core.TypeString, Default: KTO, Enum: []string{KTO, APOZeroUnpaired},
					Doc: "kto, or apo_zero_unpaired (no KL reference point; the KL inputs are not read) (TRL KTOConfig default kto)"},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			o := &kto{beta: p.Float("beta"), wd: p.Float("desirable_weight"), wu: p.Float("undesirable_weight"),
				apo: p.String("loss_type") == APOZeroUnpaired}
			o.inputs = []string{core.PolicyLogps, core.ReferenceLogps, core.Labels}
			if !o.apo {
				o.inputs = append(o.inputs, core.PolicyKLLogps, core.ReferenceKLLogps)
			}
			return o, nil
		},
	}
}

type kto struct {
	beta, wd, wu float64
	apo          bool // loss_type apo_zero_unpaired
	inputs       []string
}

func (o *kto) Inputs() []string { return append([]string(nil), o.inputs...) }

func (o *kto) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(o.inputs); err != nil {
		return nil, err
	}
	p, ref, labels := b.PolicyLogps, b.ReferenceLogps, b.Labels
	n := len(p)
	var z0 float64
	if !o.apo {
		diff := make([]float64, n)
		for j := range n {
			diff[j] = b.PolicyKLLogps[j] - b.ReferenceKLLogps[j]
		}
		z0 = mathx.Relu(mathx.Mean(diff))
	}
	losses := make([]float64, n)
	grad := make([]float64, n)
	rewards := make([]float64, n)
	for i := range n {
		r := p[i] - ref[i]
		rewards[i] = o.beta * r
		// apo_zero_unpaired is this with z0 = 0: λ_U·σ(βr) = λ_U·(1 − σ(β(0 − r))).
		if labels[i] {
			x := o.beta * (r - z0)
			losses[i] = o.wd * mathx.Sigmoid(-x)
			grad[i] = -o.wd * o.beta * mathx.Sigmoid(x) * mathx.Sigmoid(-x) / float64(n)
		} else {
			x := o.beta * (z0 - r)
			losses[i] = o.wu * mathx.Sigmoid(-x)
			grad[i] = o.wu * o.beta * mathx.Sigmoid(x) * mathx.Sigmoid(-x) / float64(n)
		}
	}
	m := map[string]float64{trl.KL: z0}
	trl.Unpaired(m, labels, rewards, p)
	grads := map[string][]float64{core.PolicyLogps: grad}
	if !o.apo {
		grads[core.PolicyKLLogps] = make([]float64, n)
	}
	return trl.Finish(&core.Result{Loss: mathx.Mean(losses), Losses: losses, Grads: grads, Metrics: m}, core.PolicyLogps)
}
