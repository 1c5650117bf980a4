package testbed

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// MCEstimate is a Monte-Carlo estimate of E_π[r*] and KL(π‖π_ref), each the
// mean over eval prompts of a per-prompt sample mean, with its standard
// error sqrt(Σ_x s²_x/n)/|X| (s²_x the unbiased sample variance at prompt x).
type MCEstimate struct {
	Samples  int // completions drawn per eval prompt
	Reward   float64
	RewardSE float64
	KLRef    float64 // mean of log π(y|x) − log π_ref(y|x) over y ~ π
	KLRefSE  float64
}

// EstimateMC estimates E_π[r*] and KL(π‖π_ref) on the eval prompts from n
// completions per prompt drawn from pi; it works in both modes and is meant
// for tasks too large to enumerate (exact evaluation, [Task.Evaluate], is the
// default). It needs n ≥ 2; a sample the reference gives probability 0 is an
// error (the KL is infinite).
func (t *Task) EstimateMC(pi Sampler, ref Scorer, n int, rng *rand.Rand) (MCEstimate, error) {
	if n < 2 {
		return MCEstimate{}, fmt.Errorf("testbed: EstimateMC needs n ≥ 2 samples per prompt, got %d", n)
	}
	est := MCEstimate{Samples: n}
	var varR, varKL float64
	for _, x := range t.eval {
		var r, kl welford
		for range n {
			y, lp, err := pi.Sample(x, rng)
			if err != nil {
				return MCEstimate{}, fmt.Errorf("testbed: sampling for prompt %v: %w", x, err)
			}
			if err := t.checkCompletion(y); err != nil {
				return MCEstimate{}, fmt.Errorf("testbed: sampling for prompt %v: %w", x, err)
			}
			lr, err := ref.LogProb(x, y)
			if err != nil {
				return MCEstimate{}, fmt.Errorf("testbed: reference log-prob for prompt %v: %w", x, err)
			}
			d := lp - lr
			if math.IsNaN(d) || math.IsInf(d, 0) {
				return MCEstimate{}, fmt.Errorf("testbed: sample %v for prompt %v has policy log-prob %g and reference log-prob %g", y, x, lp, lr)
			}
			r.add(t.Reward(x, y))
			kl.add(d)
		}
		est.Reward += r.mean
		est.KLRef += kl.mean
		varR += r.variance() / float64(n)
		varKL += kl.variance() / float64(n)
	}
	m := float64(len(t.eval))
	est.Reward /= m
	est.KLRef /= m
	est.RewardSE = math.Sqrt(varR) / m
	est.KLRefSE = math.Sqrt(varKL) / m
	return est, nil
}

// welford accumulates a running mean and sum of squared deviations.
type welford struct {
	n        int
	mean, m2 float64
}

func (w *welford) add(v float64) {
	w.n++
	d := v - w.mean
	w.mean += d / float64(w.n)
	w.m2 += d * (v - w.mean)
}

// variance returns the unbiased sample variance (n ≥ 2).
func (w *welford) variance() float64 { return w.m2 / float64(w.n-1) }
