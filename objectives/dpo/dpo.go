// Package dpo implements Direct Preference Optimization.
//
// For a pair i with policy log-probs π_c, π_r and reference log-probs ref_c,
// ref_r of the chosen and rejected completions, all summed over completion
// tokens, the log-ratio margin is
//
//	h_i = (π_c − π_r) − (ref_c − ref_r)
//
// (ref_c − ref_r is taken as 0 when reference_free is set, and the reference
// inputs are then not read). With β = beta and ε = label_smoothing, the
// per-pair loss, a value to minimise, is
//
//	sigmoid: ℓ_i = −(1−ε)·log σ(βh_i) − ε·log σ(−βh_i)
//	hinge:   ℓ_i = max(0, 1 − βh_i)                       (gradient 0 at the kink)
//	robust:  ℓ_i = (−(1−ε)·log σ(βh_i) + ε·log σ(−βh_i)) / (1 − 2ε)
//
// and Loss = (1/N)·Σ_i ℓ_i, so Losses[i] = ℓ_i. Gradients are returned for
// policy_chosen_logps (∂Loss/∂π_c,i = ℓ'_i/N) and policy_rejected_logps
// (−ℓ'_i/N); reference log-probs are constants.
//
// Metrics: rewards/chosen = mean β(π_c − ref_c), rewards/rejected = mean
// β(π_r − ref_r) (β·π when reference_free), rewards/margins, rewards/accuracies
// (fraction with chosen reward strictly greater), logps/chosen, logps/rejected
// (means of the summed policy log-probs).
//
// References: Rafailov et al., "Direct Preference Optimization: Your Language
// Model is Secretly a Reward Model", NeurIPS 2023, arXiv:2305.18290; robust
// loss: Chowdhury et al., arXiv:2403.00409; hinge: Zhao et al. (SLiC),
// arXiv:2305.10425. Matches trl.DPOTrainer.dpo_loss (loss_type "sigmoid",
// "hinge", "robust") and its logged metrics.
package dpo

import (
	"context"
	"fmt"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

// Loss types.
const (
	Sigmoid = "sigmoid"
	Hinge   = "hinge"
	Robust  = "robust"
)

// Definition returns the DPO objective. Parameters, with TRL DPOConfig names
// and defaults: beta (β=0.1, > 0), loss_type (sigmoid|hinge|robust, default
// sigmoid), label_smoothing (ε=0; [0, 0.5] for sigmoid, [0, 0.5) for robust,
// must be 0 for hinge), reference_free (false).
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name:    "dpo",
			Version: "1.0.0",
			Doc: "Direct Preference Optimization: mean over pairs of −log σ(β·((π_c−π_r)−(ref_c−ref_r))) " +
				"on summed log-probs, with hinge and robust variants and label smoothing " +
				"(Rafailov et al. 2023, arXiv:2305.18290; trl.DPOTrainer).",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "inverse temperature β of the implicit reward β·log(π/ref) (TRL DPOConfig default 0.1)"},
				{Name: "loss_type", Type: core.TypeString, Default: Sigmoid, Enum: []string{Sigmoid, Hinge, Robust},
					Doc: "sigmoid (DPO), hinge (SLiC) or robust (noise-robust DPO)"},
				{Name: "label_smoothing", Type: core.TypeFloat, Default: 0.0, Min: core.Bound(0), Max: core.Bound(0.5),
					Doc: "assumed probability ε that a preference label is flipped; [0, 0.5] for sigmoid, [0, 0.5) for robust, 0 for hinge"},
				{Name: "reference_free", Type: core.TypeBool, Default: false,
					Doc: "treat the reference model as uniform: reference log-probs are not read"},
			},
		},
		New: newDPO,
	}
}

type dpo struct {
	beta, eps     float64
	lossType      string
	referenceFree bool
	inputs        []string
}

func newDPO(p core.Params) (core.Objective, error) {
	o := &dpo{
		beta:          p.Float("beta"),
		eps:           p.Float("label_smoothing"),
		lossType:      p.String("loss_type"),
		referenceFree: p.Bool("reference_free"),
	}
	switch {
	case o.lossType == Robust && o.eps >= 0.5:
		return nil, &core.ParamError{Param: "label_smoothing",
			Msg: fmt.Sprintf("must be < 0.5 with loss_type robust, got %v", o.eps)}
	case o.lossType == Hinge && o.eps != 0:
		return nil, &core.ParamError{Param: "label_smoothing",
			Msg: fmt.Sprintf("must be 0 with loss_type hinge, got %v", o.eps)}
	}
	o.inputs = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps}
	if !o.referenceFree {
		o.inputs = append(o.inputs, core.ReferenceChosenLogps, core.ReferenceRejectedLogps)
	}
	return o, nil
}

func (o *dpo) Inputs() []string { return append([]string(nil), o.inputs...) }

// loss returns ℓ(x) and dℓ/dx at x = βh.
func (o *dpo) loss(x float64) (float64, float64) {
	switch o.lossType {
	case Hinge:
		if x < 1 {
			return 1 - x, -1
		}
		return 0, 0
	case Robust:
		l, d := trl.SmoothedSigmoidLoss(x, 0)
		m, e := mathx.LogSigmoid(-x), mathx.Sigmoid(x)
		k := 1 / (1 - 2*o.eps)
		return k * ((1-o.eps)*l + o.eps*m), k * ((1-o.eps)*d - o.eps*e)
	default:
		return trl.SmoothedSigmoidLoss(x, o.eps)
	}
}

func (o *dpo) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(o.inputs); err != nil {
		return nil, err
	}
	pc, pr := b.PolicyChosenLogps, b.PolicyRejectedLogps
	n := len(pc)
	rc, rr := make([]float64, n), make([]float64, n)
	if !o.referenceFree {
		rc, rr = b.ReferenceChosenLogps, b.ReferenceRejectedLogps
	}
	losses := make([]float64, n)
	gc, gr := make([]float64, n), make([]float64, n)
	rewC, rewR := make([]float64, n), make([]float64, n)
	for i := range n {
		rewC[i] = o.beta * (pc[i] - rc[i])
		rewR[i] = o.beta * (pr[i] - rr[i])
		h := (pc[i] - pr[i]) - (rc[i] - rr[i])
		l, d := o.loss(o.beta * h)
		losses[i] = l
		gc[i] = d * o.beta / float64(n)
		gr[i] = -gc[i]
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
