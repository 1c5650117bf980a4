// Package trl computes the batch metrics TRL's preference trainers log, under
// TRL's names, so every objective reports them the same way.
package trl

import (
	"math"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
)

// Metric names as TRL logs them.
const (
	RewardsChosen   = "rewards/chosen"
	RewardsRejected = "rewards/rejected"
	RewardsAccuracy = "rewards/accuracies"
	RewardsMargins  = "rewards/margins"
	LogpsChosen     = "logps/chosen"
	LogpsRejected   = "logps/rejected"
	CountChosen     = "count/chosen"
	CountRejected   = "count/rejected"
	KL              = "kl"
	NLLLoss         = "nll_loss"
	LogOddsRatio    = "log_odds_ratio"
	LogOddsChosen   = "log_odds_chosen"
)

// Paired stores the paired-preference metrics in m: batch means of the
// implicit rewards of chosen and rejected completions, of their difference
// (margins), of the policy log-probs the objective uses, and the fraction of
// pairs whose chosen reward is strictly greater. It panics if the slices
// differ in length or are empty.
func Paired(m map[string]float64, rewardsChosen, rewardsRejected, logpsChosen, logpsRejected []float64) {
	n := len(rewardsChosen)
	if n == 0 || len(rewardsRejected) != n || len(logpsChosen) != n || len(logpsRejected) != n {
		panic("trl: Paired: slices must be non-empty and of equal length")
	}
	var acc, margin float64
	for i := range n {
		if rewardsChosen[i] > rewardsRejected[i] {
			acc++
		}
		margin += rewardsChosen[i] - rewardsRejected[i]
	}
	m[RewardsChosen] = mathx.Mean(rewardsChosen)
	m[RewardsRejected] = mathx.Mean(rewardsRejected)
	m[RewardsAccuracy] = acc / float64(n)
	m[RewardsMargins] = margin / float64(n)
	m[LogpsChosen] = mathx.Mean(logpsChosen)
	m[LogpsRejected] = mathx.Mean(logpsRejected)
}

// Unpaired stores the unpaired (KTO) metrics in m: count/chosen and
// count/rejected (examples labelled desirable and undesirable), and for each
// non-empty group the means of its rewards and policy log-probs
// (rewards/chosen, logps/chosen for desirable; …/rejected for undesirable).
// rewards/margins, the difference of the two reward means, is stored only
// when both groups are non-empty; no metric is ever NaN. It panics if the
// slices differ in length.
func Unpaired(m map[string]float64, labels []bool, rewards, logps []float64) {
	if len(rewards) != len(labels) || len(logps) != len(labels) {
		panic("trl: Unpaired: slices must have equal length")
	}
	var nc, nr, rc, rr, lc, lr float64
	for i, desirable := range labels {
		if desirable {
			nc++
			rc += rewards[i]
			lc += logps[i]
		} else {
			nr++
			rr += rewards[i]
			lr += logps[i]
		}
	}
	m[CountChosen] = nc
	m[CountRejected] = nr
	if nc > 0 {
		m[RewardsChosen] = rc / nc
		m[LogpsChosen] = lc / nc
	}
	if nr > 0 {
		m[RewardsRejected] = rr / nr
		m[LogpsRejected] = lr / nr
	}
	if nc > 0 && nr > 0 {
		m[RewardsMargins] = rc/nc - rr/nr
	}
}

// Averages returns logps[i]/lengths[i] for every i. Callers have checked that
// lengths are positive and of the same length as logps.
func Averages(logps []float64, lengths []int64) []float64 {
	a := make([]float64, len(logps))
	for i, v := range logps {
		a[i] = v / float64(lengths[i])
	}
	return a
}

// Scale returns c·xs[i] for every i.
func Scale(c float64, xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = c * x
	}
	return out
}

// SmoothedSigmoidLoss returns the label-smoothed logistic loss
// ℓ(x) = −(1−ε)·log σ(x) − ε·log σ(−x) and its derivative
// dℓ/dx = −(1−ε)·σ(−x) + ε·σ(x), both finite for every finite x.
func SmoothedSigmoidLoss(x, eps float64) (loss, dx float64) {
	loss = -(1-eps)*mathx.LogSigmoid(x) - eps*mathx.LogSigmoid(-x)
	dx = -(1-eps)*mathx.Sigmoid(-x) + eps*mathx.Sigmoid(x)
	return loss, dx
}

// Finish returns r, or a *core.InputError (CodeOutOfRange, naming field) when
// finite inputs of extreme magnitude made the loss, a per-example loss, a
// gradient (per-example or per-token) or a metric overflow float64: the contract promises a finite
// result or a typed error.
func Finish(r *core.Result, field string) (*core.Result, error) {
	bad := !finite(r.Loss) || !allFinite(r.Losses)
	for _, g := range r.Grads {
		bad = bad || !allFinite(g)
	}
	for _, rows := range r.TokenGrads {
		for _, g := range rows {
			bad = bad || !allFinite(g)
		}
	}
	for _, v := range r.Metrics {
		bad = bad || !finite(v)
	}
	if bad {
		return nil, &core.InputError{Code: core.CodeOutOfRange, Field: field, Index: -1,
			Msg: "log-probs too large in magnitude: the loss or its gradient overflows float64"}
	}
	return r, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allFinite(xs []float64) bool {
	for _, v := range xs {
		if !finite(v) {
			return false
		}
	}
	return true
}

// PairedAverages returns the per-token averages of the chosen and rejected
// policy log-probs, after checking that every completion length is
// positive (a *core.InputError naming the length field and index if not).
func PairedAverages(b *core.Batch) (chosen, rejected []float64, err error) {
	for _, name := range []string{core.ChosenLengths, core.RejectedLengths} {
		if err := b.RequirePositive(name); err != nil {
			return nil, nil, err
		}
	}
	return Averages(b.PolicyChosenLogps, b.ChosenLengths), Averages(b.PolicyRejectedLogps, b.RejectedLengths), nil
}
