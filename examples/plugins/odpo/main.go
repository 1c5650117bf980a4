// Command odpo is an objective plugin for DPO with an offset (ODPO), which
// reads the preference strength of every pair from data columns:
//
//	L = mean_i −log σ(β·h_i − Δ_i),  h_i = (π_c − π_r) − (ref_c − ref_r)
//	Δ_i = α·log(s_c,i − s_r,i)        (ratio = false, the default)
//	Δ_i = α·log(s_c,i / s_r,i)        (ratio = true)
//
// on summed log-probs, where s_c and s_r are the data columns score_chosen
// and score_rejected (the inputs column.score_chosen, column.score_rejected).
// The offset is subtracted outside β, as in the reference implementation.
// ∂L/∂π_c,i = −β·σ(−(β·h_i − Δ_i))/N = −∂L/∂π_r,i; the reference log-probs
// and the scores get no gradient. α = 0 is DPO. Scores must satisfy
// s_c > s_r (difference) or both be > 0 (ratio); otherwise the offset is
// undefined and the batch is refused with an out-of-range input error.
//
// Defaults: α = 1 (rycolab/odpo config/loss/odpo.yaml), β = 0.1 (TRL
// DPOConfig default; the reference leaves β to the user).
//
// References: Amini, Vieira, Cotterell, "Direct Preference Optimization with
// an Offset", Findings of ACL 2024 (arXiv:2402.10571), with the offset
// Δ_r = α·log(score difference) of its experiments; github.com/rycolab/odpo
// trainers.py preference_loss (offset=True, and its ratio option), which
// this matches.
//
// Build it and use it from an experiment (see examples/odpo.toml):
//
//	go build -o odpo ./examples/plugins/odpo
//
// scored.jsonl, a small scored data set in TRL's paired format, is written
// by gen_scored.go:
//
//go:generate go run gen_scored.go
package main

import (
	"context"
	"fmt"
	"math"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/plugin"
)

func main() { plugin.Serve(Definition()) }

// Data columns the objective reads.
const (
	ScoreChosen   = "score_chosen"
	ScoreRejected = "score_rejected"
)

var (
	scoreChosen   = core.ColumnInput(ScoreChosen)
	scoreRejected = core.ColumnInput(ScoreRejected)
	inputs        = []string{core.PolicyChosenLogps, core.PolicyRejectedLogps, core.ReferenceChosenLogps,
		core.ReferenceRejectedLogps, scoreChosen, scoreRejected}
)

// Definition returns the ODPO objective.
func Definition() core.Definition {
	return core.Definition{
		Spec: core.Spec{
			Name: "odpo", Version: "0.1.0",
			Doc: "DPO with an offset (Amini et al. 2024): mean −log σ(β·h − α·log(s_c − s_r)) on summed log-probs, " +
				"scores from the data columns score_chosen and score_rejected",
			Params: []core.ParamSpec{
				{Name: "beta", Type: core.TypeFloat, Default: 0.1, Min: core.Bound(0), MinExclusive: true,
					Doc: "inverse temperature β (TRL DPOConfig default)"},
				{Name: "alpha", Type: core.TypeFloat, Default: 1.0, Min: core.Bound(0),
					Doc: "offset scale α (rycolab/odpo default); 0 is DPO"},
				{Name: "ratio", Type: core.TypeBool, Default: false,
					Doc: "offset α·log(s_c/s_r) instead of α·log(s_c − s_r)"},
			},
		},
		New: func(p core.Params) (core.Objective, error) {
			return odpo{beta: p.Float("beta"), alpha: p.Float("alpha"), ratio: p.Bool("ratio")}, nil
		},
	}
}

type odpo struct {
	beta, alpha float64
	ratio       bool
}

func (odpo) Inputs() []string { return append([]string(nil), inputs...) }

// offset returns Δ_i, or an input error when the scores leave it undefined.
func (o odpo) offset(b *core.Batch, i int) (float64, error) {
	sc, sr := (*b.Floats(scoreChosen))[i], (*b.Floats(scoreRejected))[i]
	if o.ratio {
		if sc <= 0 {
			return 0, &core.InputError{Code: core.CodeOutOfRange, Field: scoreChosen, Index: i, Value: sc,
				Msg: "must be > 0: the offset is the log of the score ratio"}
		}
		if sr <= 0 {
			return 0, &core.InputError{Code: core.CodeOutOfRange, Field: scoreRejected, Index: i, Value: sr,
				Msg: "must be > 0: the offset is the log of the score ratio"}
		}
		return o.alpha * math.Log(sc/sr), nil
	}
	if !(sc > sr) {
		return 0, &core.InputError{Code: core.CodeOutOfRange, Field: scoreChosen, Index: i, Value: sc,
			Msg: fmt.Sprintf("must exceed %s[%d] = %v: the offset is the log of the score difference", scoreRejected, i, sr)}
	}
	return o.alpha * math.Log(sc-sr), nil
}

func (o odpo) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(inputs); err != nil {
		return nil, err
	}
	n := len(b.PolicyChosenLogps)
	r := &core.Result{
		Losses:  make([]float64, n),
		Grads:   map[string][]float64{core.PolicyChosenLogps: make([]float64, n), core.PolicyRejectedLogps: make([]float64, n)},
		Metrics: map[string]float64{},
	}
	var acc, margin, offset, chosen, rejected float64
	for i := range n {
		delta, err := o.offset(b, i)
		if err != nil {
			return nil, err
		}
		rc := b.PolicyChosenLogps[i] - b.ReferenceChosenLogps[i]
		rr := b.PolicyRejectedLogps[i] - b.ReferenceRejectedLogps[i]
		h := rc - rr
		z := o.beta*h - delta
		r.Losses[i] = softplus(-z) // −log σ(z)
		g := -o.beta * sigmoid(-z) / float64(n)
		r.Grads[core.PolicyChosenLogps][i] = g
		r.Grads[core.PolicyRejectedLogps][i] = -g
		r.Loss += r.Losses[i] / float64(n)
		chosen += o.beta * rc / float64(n)
		rejected += o.beta * rr / float64(n)
		margin += o.beta * h / float64(n)
		offset += delta / float64(n)
		if h > 0 {
			acc += 1 / float64(n)
		}
	}
	if math.IsInf(r.Loss, 0) {
		return nil, &core.InputError{Code: core.CodeOutOfRange, Field: core.PolicyChosenLogps, Index: -1,
			Msg: "log-probs too large in magnitude: the loss overflows"}
	}
	r.Metrics["rewards/chosen"] = chosen
	r.Metrics["rewards/rejected"] = rejected
	r.Metrics["rewards/margins"] = margin
	r.Metrics["rewards/accuracies"] = acc
	r.Metrics["offset"] = offset
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
