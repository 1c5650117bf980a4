package testbed

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEstimateMCMatchesExact(t *testing.T) {
	const n = 400
	cases := []struct {
		name string
		pi   func(*Task) Sampler
	}{
		{"random policy", func(t *Task) Sampler { return randomTable(t, rand.New(rand.NewPCG(101, 102)), 1) }},
		{"optimum", func(t *Task) Sampler {
			p, err := t.Optimal(t.Demo(), t.Config().Beta)
			if err != nil {
				panic(err)
			}
			return p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, func(c *Config) { c.EvalPrompts = 8 })
			ref := task.Demo()
			pi := tc.pi(task)
			est, err := task.EstimateMC(pi, ref, n, rand.New(rand.NewPCG(103, 104)))
			require.NoError(t, err)
			requireFinite(t, "estimate", est.Reward, est.RewardSE, est.KLRef, est.KLRefSE)
			assert.Equal(t, n, est.Samples)
			require.Positive(t, est.RewardSE)
			require.Positive(t, est.KLRefSE)
			exact, err := task.Evaluate(pi.(Policy), ref)
			require.NoError(t, err)
			assert.InDelta(t, exact.Mean.Reward, est.Reward, zStat*est.RewardSE)
			assert.InDelta(t, exact.Mean.KLRef, est.KLRef, zStat*est.KLRefSE)
		})
	}
}

func TestEstimateMCStandardErrorShrinks(t *testing.T) {
	// SE ∝ 1/√n: quadrupling n should halve it, up to sampling noise of the
	// variance estimate itself (±20% is ~7 standard deviations of the
	// ratio at these n).
	task := newTask(t, func(c *Config) { c.EvalPrompts = 4 })
	pi := randomTable(task, rand.New(rand.NewPCG(111, 112)), 1)
	a, err := task.EstimateMC(pi, task.Demo(), 500, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	b, err := task.EstimateMC(pi, task.Demo(), 2000, rand.New(rand.NewPCG(2, 2)))
	require.NoError(t, err)
	assert.InDelta(t, 0.5, b.RewardSE/a.RewardSE, 0.1)
	assert.InDelta(t, 0.5, b.KLRefSE/a.KLRefSE, 0.1)
}

func TestEstimateMCNotExact(t *testing.T) {
	// Completions of 40 tokens (4^40 of them) cannot be enumerated, but
	// the demonstration generator's expected reward is known: with ρ = 0,
	// E[r*] = c·(1 − p + p/A), and KL(π_demo‖π_demo) = 0 exactly.
	task := newTask(t, func(c *Config) {
		c.Exact, c.CompletionLen, c.RepeatPenalty, c.EvalPrompts = false, 40, 0, 8
	})
	cfg := task.Config()
	demo := task.Demo()
	est, err := task.EstimateMC(demo, demo, 500, rand.New(rand.NewPCG(121, 122)))
	require.NoError(t, err)
	want := cfg.CopyReward * (1 - cfg.DemoNoise + cfg.DemoNoise/float64(cfg.Alphabet))
	require.Positive(t, est.RewardSE)
	assert.InDelta(t, want, est.Reward, zStat*est.RewardSE)
	assert.Zero(t, est.KLRef)
	assert.Zero(t, est.KLRefSE)
}

func TestEstimateMCErrors(t *testing.T) {
	task := tinyTask(t)
	ref := NewTablePolicy(2, 2)
	inf := math.Inf(-1)
	for _, x := range task.allPrompts() {
		ref.Set(x, []float64{0, inf, inf, inf})
	}
	uniform := NewTablePolicy(2, 2)
	for _, x := range task.allPrompts() {
		uniform.Set(x, logs(0.25, 0.25, 0.25, 0.25))
	}
	_, err := task.EstimateMC(uniform, ref, 1, rand.New(rand.NewPCG(1, 1)))
	assert.EqualError(t, err, "testbed: EstimateMC needs n ≥ 2 samples per prompt, got 1")
	_, err = task.EstimateMC(uniform, ref, 50, rand.New(rand.NewPCG(1, 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reference log-prob -Inf")
	_, err = task.EstimateMC(NewTablePolicy(2, 2), ref, 5, rand.New(rand.NewPCG(1, 1)))
	assert.ErrorContains(t, err, "testbed: sampling for prompt")
}

func TestTablePolicySample(t *testing.T) {
	// Empirical frequencies of TablePolicy.Sample match its table.
	const n = 100000
	tab := NewTablePolicy(2, 2)
	p := []float64{0.1, 0, 0.6, 0.3}
	tab.Set([]int{5}, logs(p...))
	rng := rand.New(rand.NewPCG(131, 132))
	var counts [4]int
	for range n {
		y, lp, err := tab.Sample([]int{5}, rng)
		require.NoError(t, err)
		k := 2*y[0] + y[1]
		counts[k]++
		got, err := tab.LogProb([]int{5}, y)
		require.NoError(t, err)
		require.Equal(t, got, lp)
	}
	for k, w := range p {
		se := math.Sqrt(w * (1 - w) / n)
		assert.InDelta(t, w, float64(counts[k])/n, zStat*se, "completion %d", k)
	}
	assert.Zero(t, counts[1], "a zero-probability completion is never drawn")
}
