package sentiment

import (
	"context"
	"math"
	"slices"

	"github.com/prefopt/prefopt/host/generate"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/tokenizer"
)

// Point is a Monte-Carlo estimate of a policy's expected reward and its KL
// divergence from the reference, with standard errors.
//
// Each of P prompts gets n samples y ~ π(·|x) (temperature 1, no
// truncation). Per prompt, r̄ₓ is the mean reward and k̄ₓ the mean of
// log π(y|x) − log π_ref(y|x) (sequence log-probs of the completion, EOS
// included): an unbiased estimate of KL(π(·|x) ‖ π_ref(·|x)). Reward and
// KL are the means over prompts, and their standard errors
// sd(per-prompt means)/√P, so the prompt-to-prompt spread counts.
type Point struct {
	Reward   float64 `json:"reward"`
	RewardSE float64 `json:"reward_se"`
	KL       float64 `json:"kl"`
	KLSE     float64 `json:"kl_se"`
	Samples  int     `json:"samples"`
}

// Completion is one sampled completion and its reward.
type Completion struct {
	Prompt     string  `json:"prompt"`
	Completion string  `json:"completion"`
	Reward     float64 `json:"reward"`
}

// evaluator samples from policies and scores the samples.
type evaluator struct {
	lex       *Lexicon
	tok       tokenizer.Tokenizer
	ref       *model.Weights
	prompts   []string
	ids       [][]int
	maxTokens int
}

// sample draws n completions of every prompt from w with seed, and returns
// the samples (prompt i's at i·n … i·n+n−1) and their rewards.
func (e *evaluator) sample(ctx context.Context, w *model.Weights, n int, seed uint64) ([]model.Sample, []float64, error) {
	var rows [][]int
	for _, p := range e.ids {
		for range n {
			rows = append(rows, p)
		}
	}
	s, err := model.Generate(ctx, w, rows, model.SampleOptions{Temperature: 1, MaxTokens: e.maxTokens, EOS: e.tok.EOS(), Seed: seed})
	if err != nil {
		return nil, nil, err
	}
	r := make([]float64, len(s))
	for i := range s {
		r[i] = e.lex.Reward(generate.DecodeCompletion(e.tok, s[i]))
	}
	return s, r, nil
}

// point estimates reward and KL of policy w with n samples per prompt,
// and returns the first sample of each of the first show prompts.
func (e *evaluator) point(ctx context.Context, w *model.Weights, n int, seed uint64, show int) (Point, []Completion, error) {
	s, r, err := e.sample(ctx, w, n, seed)
	if err != nil {
		return Point{}, nil, err
	}
	refLP, err := generate.ScoreSamples(e.ref, s)
	if err != nil {
		return Point{}, nil, err
	}
	P := len(e.ids)
	rm, km := make([]float64, P), make([]float64, P)
	for i := range P {
		for j := i * n; j < (i+1)*n; j++ {
			rm[i] += r[j]
			km[i] += s[j].LogProb - refLP[j]
		}
		rm[i] /= float64(n)
		km[i] /= float64(n)
	}
	pt := Point{Samples: len(s)}
	pt.Reward, pt.RewardSE = meanSE(rm)
	pt.KL, pt.KLSE = meanSE(km)
	var shown []Completion
	for i := range min(show, P) {
		shown = append(shown, Completion{Prompt: e.prompts[i], Completion: generate.DecodeCompletion(e.tok, s[i*n]), Reward: r[i*n]})
	}
	return pt, shown, nil
}

// BestOfN is a point of the best-of-N frontier: N samples from π_ref, keep
// the one of highest reward.
type BestOfN struct {
	N int `json:"n"`
	// KL is log N − (N−1)/N, the KL of best-of-N sampling from the
	// reference (Stiennon et al. 2020, Appendix G.3; an upper bound,
	// Beirami et al. 2024, arXiv:2401.01879).
	KL       float64 `json:"kl"`
	Reward   float64 `json:"reward"`
	RewardSE float64 `json:"reward_se"`
}

// bestOfN returns the frontier for N = 1, 2, 4, … ≤ m from m samples per
// prompt of the reference. Per prompt, E[max of N draws] is estimated
// without bias from all m samples: with rewards sorted ascending
// r₍₁₎ ≤ … ≤ r₍ₘ₎, Σᵢ r₍ᵢ₎·C(i−1, N−1)/C(m, N) (the mean of the maximum
// over every N-subset); the standard error is over prompts.
func (e *evaluator) bestOfN(ctx context.Context, m int, seed uint64) ([]BestOfN, error) {
	_, r, err := e.sample(ctx, e.ref, m, seed)
	if err != nil {
		return nil, err
	}
	var out []BestOfN
	for n := 1; n <= m; n *= 2 {
		per := make([]float64, len(e.ids))
		for i := range per {
			rs := slices.Clone(r[i*m : (i+1)*m])
			slices.Sort(rs)
			for k := n; k <= m; k++ { // k is the 1-based rank i of the formula
				per[i] += rs[k-1] * math.Exp(lchoose(k-1, n-1)-lchoose(m, n))
			}
		}
		b := BestOfN{N: n, KL: math.Log(float64(n)) - float64(n-1)/float64(n)}
		b.Reward, b.RewardSE = meanSE(per)
		out = append(out, b)
	}
	return out, nil
}

// lchoose returns log C(n, k).
func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// meanSE returns the mean of x and its standard error sd/√n (sample sd,
// n−1 in the denominator; 0 for fewer than two values).
func meanSE(x []float64) (mean, se float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1) / float64(len(x)))
}
