package testbed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zStat bounds statistical checks at 4 standard errors: a false alarm has
// probability ≈ 6e-5 per check, and every RNG is seeded, so a passing run
// passes forever.
const zStat = 4

func TestPairsShape(t *testing.T) {
	task := newTask(t, nil)
	cfg := task.Config()
	ref := task.Demo()
	pairs, err := task.Pairs(ref, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	require.Len(t, pairs, cfg.TrainPrompts*cfg.SamplesPerPrompt)
	evalPairs, err := task.EvalPairs(ref, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	require.Len(t, evalPairs, cfg.EvalPrompts*cfg.SamplesPerPrompt)
	for set, ps := range map[string]struct {
		pairs   []Pair
		prompts [][]int
	}{"train": {pairs, task.TrainPrompts()}, "eval": {evalPairs, task.EvalPrompts()}} {
		for i, p := range ps.pairs {
			assert.Equal(t, ps.prompts[i/cfg.SamplesPerPrompt], p.Prompt, "%s pair %d: prompt order", set, i)
			assert.NotEqual(t, p.Chosen, p.Rejected, "%s pair %d: completions must differ", set, i)
			assert.Equal(t, task.Reward(p.Prompt, p.Chosen), p.ChosenReward)
			assert.Equal(t, task.Reward(p.Prompt, p.Rejected), p.RejectedReward)
			assert.Equal(t, p.ChosenReward-p.RejectedReward, p.RewardGap)
		}
	}
}

func TestPairDistribution(t *testing.T) {
	// On the tiny task (four completions) the unordered pair {a, b} must
	// appear with probability 2·π(a)·π(b)/(1 − Σ π²), the law of two
	// independent draws conditioned on being distinct.
	const n = 40000
	task := newTask(t, func(c *Config) {
		c.Alphabet, c.PromptLen, c.CompletionLen = 2, 1, 2
		c.TrainPrompts, c.EvalPrompts, c.SamplesPerPrompt = 1, 1, n
	})
	ref := NewTablePolicy(2, 2)
	ref.Set([]int{0}, logs(0.5, 0.3, 0.15, 0.05))
	ref.Set([]int{1}, logs(0.125, 0.125, 0.25, 0.5))
	pairs, err := task.Pairs(ref, rand.New(rand.NewPCG(61, 62)))
	require.NoError(t, err)
	x := task.TrainPrompts()[0]
	lp, err := ref.LogProbs(x)
	require.NoError(t, err)
	p := make([]float64, 4)
	sq := 0.0
	for k := range p {
		p[k] = math.Exp(lp[k])
		sq += p[k] * p[k]
	}
	counts := map[[2]int]int{}
	for _, pr := range pairs {
		a, b := task.Index(pr.Chosen), task.Index(pr.Rejected)
		counts[[2]int{min(a, b), max(a, b)}]++
	}
	for a := range 4 {
		for b := a + 1; b < 4; b++ {
			want := 2 * p[a] * p[b] / (1 - sq)
			se := math.Sqrt(want * (1 - want) / n)
			assert.InDelta(t, want, float64(counts[[2]int{a, b}])/n, zStat*se, "pair {%d,%d}", a, b)
		}
	}
}

func TestPairSamplerOrderedLaw(t *testing.T) {
	// The ordered pair (y1, y2) before labelling has probability
	// π(y1)·π(y2)/(1 − Σ π²); 0.5² + 0.3² + 0.15² + 0.05² = 0.365.
	const n = 200000
	s := newPairSampler(logs(0.5, 0.3, 0.15, 0.05))
	p := []float64{0.5, 0.3, 0.15, 0.05}
	rng := rand.New(rand.NewPCG(71, 72))
	var counts [4][4]int
	for range n {
		a, b := s.draw(rng.Float64(), rng.Float64())
		counts[a][b]++
	}
	for a := range 4 {
		assert.Zero(t, counts[a][a])
		for b := range 4 {
			if a == b {
				continue
			}
			want := p[a] * p[b] / (1 - 0.365)
			se := math.Sqrt(want * (1 - want) / n)
			assert.InDelta(t, want, float64(counts[a][b])/n, zStat*se, "(%d,%d)", a, b)
		}
	}
}

func TestPairSamplerEdges(t *testing.T) {
	inf := math.Inf(-1)
	cases := []struct {
		name string
		lp   []float64
		u    [2]float64
		want [2]int
	}{
		{"lowest uniforms", logs(0.25, 0.25, 0.25, 0.25), [2]float64{0, 0}, [2]int{0, 1}},
		{"highest uniforms", logs(0.25, 0.25, 0.25, 0.25), [2]float64{math.Nextafter(1, 0), math.Nextafter(1, 0)}, [2]int{3, 2}},
		{"two-point support skips zeros", []float64{inf, math.Log(0.5), inf, math.Log(0.5)}, [2]float64{0, 0.999}, [2]int{1, 3}},
		{"two-point support, high first", []float64{inf, math.Log(0.5), inf, math.Log(0.5)}, [2]float64{0.999, 0}, [2]int{3, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPairSampler(tc.lp).draw(tc.u[0], tc.u[1])
			assert.Equal(t, tc.want, [2]int{a, b})
		})
	}
}

func TestPairsNeedTwoCompletions(t *testing.T) {
	task := newTask(t, func(c *Config) { c.DemoNoise = 0 })
	_, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(1, 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "testbed: reference for prompt "+fmt.Sprint(task.TrainPrompts()[0])+" puts all its mass on one completion")
}

func TestLabelsAtZeroTemperature(t *testing.T) {
	for _, temp := range []float64{0, 1e-12} {
		task := newTask(t, func(c *Config) { c.LabelTemperature, c.SamplesPerPrompt = temp, 64 })
		pairs, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(81, 82)))
		require.NoError(t, err)
		ties := 0
		for i, p := range pairs {
			assert.GreaterOrEqual(t, p.RewardGap, 0.0, "t=%g pair %d prefers the lower reward", temp, i)
			if p.RewardGap == 0 {
				ties++
			}
		}
		// The ordered draw is exchangeable, so how ties are broken is not
		// visible here (TestPreferFirst covers it); check ties do occur.
		assert.Positive(t, ties, "t=%g: the default task has equal-reward pairs", temp)
	}
}

func TestPreferFirst(t *testing.T) {
	cases := []struct {
		name      string
		gap, temp float64
		want      float64
	}{
		{"zero temperature, higher first", 0.1, 0, 1},
		{"zero temperature, lower first", -0.1, 0, 0},
		{"zero temperature, tie", 0, 0, 0.5},
		{"finite, tie", 0, 1, 0.5},
		// σ(2) = 1/(1+e^−2), σ(−2) = e^−2/(1+e^−2).
		{"finite, positive", 1, 0.5, 1 / (1 + math.Exp(-2))},
		{"finite, negative", -1, 0.5, math.Exp(-2) / (1 + math.Exp(-2))},
		{"huge positive ratio", 4, 1e-300, 1},
		{"huge negative ratio", -4, 1e-300, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := preferFirst(tc.gap, tc.temp)
			requireFinite(t, "P", got)
			assert.InDelta(t, tc.want, got, 1e-15)
		})
	}
}

func TestLabelFrequencyMatchesSigmoid(t *testing.T) {
	// Grouping pairs by |r1 − r2| = d > 0, the higher-reward completion is
	// chosen with probability σ(d/t) whichever was drawn first.
	const minGroup = 500
	for _, temp := range []float64{1, 0.3} {
		task := newTask(t, func(c *Config) {
			c.TrainPrompts, c.SamplesPerPrompt, c.LabelTemperature = 4, 6000, temp
		})
		pairs, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(91, 92)))
		require.NoError(t, err)
		type group struct{ n, higher int }
		groups := map[int64]*group{}
		for _, p := range pairs {
			if p.RewardGap == 0 {
				continue
			}
			d := math.Round(math.Abs(p.RewardGap) * 1e6)
			g := groups[int64(d)]
			if g == nil {
				g = &group{}
				groups[int64(d)] = g
			}
			g.n++
			if p.RewardGap > 0 {
				g.higher++
			}
		}
		checked := 0
		for d, g := range groups {
			if g.n < minGroup {
				continue
			}
			want := 1 / (1 + math.Exp(-float64(d)/1e6/temp))
			se := math.Sqrt(want * (1 - want) / float64(g.n))
			assert.InDelta(t, want, float64(g.higher)/float64(g.n), zStat*se, "t=%g |gap|=%g n=%d", temp, float64(d)/1e6, g.n)
			checked++
		}
		assert.GreaterOrEqual(t, checked, 5, "t=%g: too few gap values to test", temp)
	}
}

func TestUnpaired(t *testing.T) {
	task := newTask(t, func(c *Config) { c.TrainPrompts, c.SamplesPerPrompt = 2, 3 })
	pairs, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	ex := Unpaired(pairs)
	require.Len(t, ex, 2*len(pairs))
	for i, p := range pairs {
		c, r := ex[2*i], ex[2*i+1]
		assert.Equal(t, Example{Prompt: p.Prompt, Completion: p.Chosen, Desirable: true, Reward: p.ChosenReward}, c)
		assert.Equal(t, Example{Prompt: p.Prompt, Completion: p.Rejected, Desirable: false, Reward: p.RejectedReward}, r)
	}
	ex[0].Completion[0] = 99
	assert.NotEqual(t, 99, pairs[0].Chosen[0], "examples must not alias pairs")
}

func TestReproducible(t *testing.T) {
	build := func(seed uint64) (*Task, []Pair, []Pair, []Demonstration, Report, MCEstimate) {
		task := newTask(t, func(c *Config) { c.Seed, c.EvalPrompts = seed, 6 })
		ref := task.Demo()
		pairs, err := task.Pairs(ref, rand.New(rand.NewPCG(seed, 1)))
		require.NoError(t, err)
		evalPairs, err := task.EvalPairs(ref, rand.New(rand.NewPCG(seed, 2)))
		require.NoError(t, err)
		demos := task.Demonstrations(50, rand.New(rand.NewPCG(seed, 3)))
		pi := randomTable(task, rand.New(rand.NewPCG(seed, 4)), 1)
		rep, err := task.Evaluate(pi, ref)
		require.NoError(t, err)
		mc, err := task.EstimateMC(pi, ref, 20, rand.New(rand.NewPCG(seed, 5)))
		require.NoError(t, err)
		return task, pairs, evalPairs, demos, rep, mc
	}
	t1, p1, e1, d1, r1, m1 := build(7)
	t2, p2, e2, d2, r2, m2 := build(7)
	assert.Equal(t, t1.TrainPrompts(), t2.TrainPrompts())
	assert.Equal(t, t1.EvalPrompts(), t2.EvalPrompts())
	assert.Equal(t, p1, p2)
	assert.Equal(t, e1, e2)
	assert.Equal(t, d1, d2)
	for i := range r1.PerPrompt {
		a, b := metricValues(r1.PerPrompt[i]), metricValues(r2.PerPrompt[i])
		for j := range a {
			assert.Equal(t, math.Float64bits(a[j]), math.Float64bits(b[j]), "prompt %d metric %d", i, j)
		}
	}
	assert.Equal(t, m1, m2)

	t3, p3, _, _, _, _ := build(8)
	assert.NotEqual(t, t1.TrainPrompts(), t3.TrainPrompts(), "another seed must give other prompts")
	assert.NotEqual(t, p1, p3)
}
