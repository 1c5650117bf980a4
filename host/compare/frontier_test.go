package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/testbed"
)

// shortfallTol is the tolerance of a shortfall that is 0 exactly: the
// bisection pins β′ to ~1e-13 relative, so the reward is known to rounding
// of sums over a few hundred completions.
const shortfallTol = 1e-9

// TestFrontierShortfallByHand: two completions per prompt (alphabet 2,
// completion length 1), rewards 4 for copying the prompt's token and 0
// otherwise, π_ref uniform. A policy that gives the copy 0.2 has reward 0.8
// and KL(π‖π_ref) = 0.2·ln 0.4 + 0.8·ln 1.6; KL to the uniform is symmetric
// under swapping the two probabilities, so the frontier policy at that KL
// gives the copy 0.8 — π*_β′ with exp(4/β′) = 0.8/0.2, β′ = 4/ln 4 — and
// has reward 3.2. The shortfall is 3.2 − 0.8 = 2.4.
func TestFrontierShortfallByHand(t *testing.T) {
	cfg := testbed.Defaults()
	cfg.Alphabet, cfg.PromptLen, cfg.CompletionLen = 2, 1, 1
	cfg.TrainPrompts, cfg.EvalPrompts = 1, 1
	cfg.CopyReward = 4
	task, err := testbed.New(cfg)
	require.NoError(t, err)
	x := task.EvalPrompts()[0]
	require.Equal(t, 4.0, task.Reward(x, []int{x[0]}), "the copy's reward")
	require.Equal(t, 0.0, task.Reward(x, []int{1 - x[0]}), "the other's reward")

	ref := testbed.NewTablePolicy(2, 1)
	pi := testbed.NewTablePolicy(2, 1)
	for _, p := range append(task.TrainPrompts(), task.EvalPrompts()...) {
		ref.Set(p, []float64{math.Log(0.5), math.Log(0.5)})
		lp := []float64{math.Log(0.8), math.Log(0.8)}
		lp[task.Index([]int{p[0]})] = math.Log(0.2)
		pi.Set(p, lp)
	}
	rep, err := task.Evaluate(pi, ref)
	require.NoError(t, err)
	kl := 0.2*math.Log(0.4) + 0.8*math.Log(1.6)
	require.InDelta(t, kl, rep.Mean.KLRef, 1e-15)
	require.InDelta(t, 0.8, rep.Mean.Reward, 1e-15)

	r, beta, err := FrontierReward(task, ref, kl)
	require.NoError(t, err)
	assert.InDelta(t, 3.2, r, shortfallTol)
	assert.InDelta(t, 4/math.Log(4), beta, 1e-9)
	sf, err := FrontierShortfall(task, ref, rep.Mean.KLRef, rep.Mean.Reward)
	require.NoError(t, err)
	assert.InDelta(t, 2.4, sf, shortfallTol)

	// Beyond the largest KL of the frontier (ln 2, all mass on the copy):
	// the best reward, 4.
	r, beta, err = FrontierReward(task, ref, 5)
	require.NoError(t, err)
	assert.InDelta(t, 4, r, shortfallTol)
	assert.Equal(t, 0.0, beta)
}

// TestFrontierShortfallOnAndInside checks, on a task with 27 completions
// per prompt and a random π_ref: π_ref and every π*_β′ have shortfall 0; a
// mixture of π*_β′ with π_ref, strictly inside the frontier (KL is convex,
// the frontier's reward concave in KL), has a positive one.
func TestFrontierShortfallOnAndInside(t *testing.T) {
	cfg := testbed.Defaults()
	cfg.Alphabet, cfg.PromptLen, cfg.CompletionLen = 3, 2, 3
	cfg.TrainPrompts, cfg.EvalPrompts = 2, 3
	task, err := testbed.New(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 4))
	ref := testbed.NewTablePolicy(3, 3)
	for _, p := range append(task.TrainPrompts(), task.EvalPrompts()...) {
		lp := make([]float64, task.NumCompletions())
		z := 0.0
		for k := range lp {
			lp[k] = rng.NormFloat64()
			z += math.Exp(lp[k])
		}
		for k := range lp {
			lp[k] -= math.Log(z)
		}
		ref.Set(p, lp)
	}
	shortfall := func(pi testbed.Policy) float64 {
		t.Helper()
		rep, err := task.Evaluate(pi, ref)
		require.NoError(t, err)
		sf, err := FrontierShortfall(task, ref, rep.Mean.KLRef, rep.Mean.Reward)
		require.NoError(t, err)
		require.False(t, math.IsNaN(sf) || math.IsInf(sf, 0), "shortfall %g", sf)
		return sf
	}
	assert.InDelta(t, 0, shortfall(ref), shortfallTol, "π_ref")
	for _, b := range []float64{0.05, 0.3, 1, 7} {
		opt, err := task.Optimal(ref, b)
		require.NoError(t, err)
		assert.InDelta(t, 0, shortfall(opt), shortfallTol, "π*(β′=%g)", b)

		mix := testbed.NewTablePolicy(3, 3)
		for _, p := range append(task.TrainPrompts(), task.EvalPrompts()...) {
			a, err := opt.LogProbs(p)
			require.NoError(t, err)
			r, err := ref.LogProbs(p)
			require.NoError(t, err)
			lp := make([]float64, len(a))
			for k := range a {
				lp[k] = math.Log(0.5*math.Exp(a[k]) + 0.5*math.Exp(r[k]))
			}
			mix.Set(p, lp)
		}
		assert.Greater(t, shortfall(mix), 1e-6, "½π*(β′=%g) + ½π_ref is inside the frontier", b)
	}
}
