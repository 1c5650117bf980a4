package testbed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// variableTask is a small variable-length task: A = 3, L = 3, so
// 1 + 3 + 9 + 27 = 40 completions.
func variableTask(t testing.TB, edit func(*Config)) *Task {
	return newTask(t, func(c *Config) {
		c.Alphabet, c.PromptLen, c.CompletionLen = 3, 2, 3
		c.TrainPrompts, c.EvalPrompts = 4, 3
		c.VariableLength, c.DemoStop = true, 0.2
		if edit != nil {
			edit(c)
		}
	})
}

func TestVariableLengthEnumeration(t *testing.T) {
	cases := []struct{ a, l int }{{2, 1}, {3, 3}, {4, 5}, {2, 9}}
	for _, tc := range cases {
		task := newTask(t, func(c *Config) {
			c.Alphabet, c.CompletionLen, c.VariableLength, c.DemoStop = tc.a, tc.l, true, 0.2
			c.PromptLen, c.TrainPrompts, c.EvalPrompts = 3, 2, 2
		})
		// (A^{L+1} − 1)/(A − 1) strings of 0..L symbols.
		want := (int(math.Pow(float64(tc.a), float64(tc.l+1))) - 1) / (tc.a - 1)
		require.Equal(t, want, task.NumCompletions(), "A=%d L=%d", tc.a, tc.l)
		all := task.Enumerate()
		require.Len(t, all, want)
		eos := task.EOS()
		require.Equal(t, tc.a, eos)
		perLen := map[int]int{}
		lens := task.Lengths()
		for k, y := range all {
			l := len(y)
			if l <= tc.l && l > 0 && y[l-1] == eos {
				l--
			} else {
				require.Len(t, y, tc.l, "completion %d %v: no EOS, so it must have L symbols", k, y)
			}
			assert.NotContains(t, y[:l], eos, "completion %d %v: EOS only at the end", k, y)
			perLen[l]++
			assert.Equal(t, l, task.Len(y))
			assert.Equal(t, l, lens[k])
			assert.Equal(t, k, task.Index(y))
			assert.Equal(t, y, task.Completion(k))
			if k > 0 { // shortlex: shorter first, then lexicographic
				prev := all[k-1][:lens[k-1]]
				if lens[k-1] == l {
					assert.Equal(t, -1, slices.Compare(prev, y[:l]), "order at %d", k)
				} else {
					assert.Equal(t, lens[k-1]+1, l, "order at %d", k)
				}
			}
		}
		for l := 0; l <= tc.l; l++ {
			assert.Equal(t, int(math.Pow(float64(tc.a), float64(l))), perLen[l], "completions of %d symbols", l)
		}
	}
}

func TestVariableLengthRejectsMalformed(t *testing.T) {
	task := variableTask(t, nil)
	for _, y := range [][]int{{}, {0, 1}, {3, 0, 3}, {0, 3, 1}, {0, 1, 2, 3}, {0, 0, 0, 0}, {4}} {
		assert.Panics(t, func() { task.Index(y) }, "%v", y)
		assert.Panics(t, func() { task.Reward([]int{0, 1}, y) }, "%v", y)
	}
}

func TestVariableLengthReward(t *testing.T) {
	// Prompt (0, 1), L = 4, c = 4, ρ = 1, EOS = 3: the copy term divides by
	// L = 4 and the repeat term by L − 1 = 3 whatever |y| is.
	task := newTask(t, func(c *Config) {
		c.Alphabet, c.PromptLen, c.CompletionLen, c.TrainPrompts, c.EvalPrompts = 3, 2, 4, 2, 2
		c.VariableLength, c.DemoStop, c.CopyReward, c.RepeatPenalty = true, 0.3, 4, 1
	})
	x := []int{0, 1}
	cases := []struct {
		y    []int
		want float64
	}{
		{[]int{3}, 0},               // EOS alone earns nothing
		{[]int{0, 3}, 1},            // one copy: 4·1/4
		{[]int{0, 0, 3}, 1 - 1.0/3}, // one copy, one repeat
		{[]int{0, 1, 0, 3}, 3},      // three copies
		{[]int{0, 1, 0, 1}, 4},      // the full copy
		{[]int{2, 2, 2, 2}, -1},     // three repeats of three
		{[]int{1, 1, 3}, 1 - 1.0/3}, // y_1 = x_1 copies; one repeat
	}
	rewards := task.Rewards(x)
	for _, tc := range cases {
		assert.InDelta(t, tc.want, task.Reward(x, tc.y), 1e-15, "%v", tc.y)
		assert.Equal(t, task.Reward(x, tc.y), rewards[task.Index(tc.y)], "%v", tc.y)
	}
}

func TestVariableLengthDemo(t *testing.T) {
	// Prompt (0, 1), A = 3, p = 0.5, s = 0.2: a copied symbol has
	// probability 1 − p + p/A = 2/3, another one p/A = 1/6, each continuation
	// 1 − s = 0.8 and the stop 0.2.
	for _, stop := range []float64{0.2, 0.05, 0.9} {
		task := variableTask(t, func(c *Config) { c.DemoStop, c.DemoNoise = stop, 0.5 })
		demo := task.Demo()
		x := []int{0, 1}
		lp, err := demo.LogProbs(x)
		require.NoError(t, err)
		assert.InDelta(t, 1, massOf(lp), normTol, "s=%g", stop)
		cases := []struct {
			y    []int
			want float64
		}{
			{[]int{3}, stop},
			{[]int{0, 3}, (1 - stop) * 2.0 / 3 * stop},
			{[]int{2, 1, 3}, (1 - stop) * (1 - stop) / 6 * 2 / 3 * stop},
			{[]int{0, 1, 0}, math.Pow(1-stop, 3) * 8 / 27},
		}
		for _, tc := range cases {
			assert.InDelta(t, math.Log(tc.want), lp[task.Index(tc.y)], 1e-13, "s=%g y=%v", stop, tc.y)
		}
		// Sampled lengths follow P(l) = (1−s)^l·s for l < L, (1−s)^L at L.
		const n = 40000
		rng := rand.New(rand.NewPCG(5, 6))
		counts := make([]int, 4)
		for range n {
			y, lpy, err := demo.Sample(x, rng)
			require.NoError(t, err)
			assert.Equal(t, lp[task.Index(y)], lpy)
			counts[task.Len(y)]++
		}
		for l := range 4 {
			want := math.Pow(1-stop, float64(l))
			if l < 3 {
				want *= stop
			}
			se := math.Sqrt(want * (1 - want) / n)
			assert.InDelta(t, want, float64(counts[l])/n, zStat*se+1e-12, "s=%g P(|y|=%d)", stop, l)
		}
	}
}

func TestExpectedLength(t *testing.T) {
	// E[|y|] = Σ_{j=1..L} P(|y| ≥ j) = Σ_{j=1..L} (1−s)^j under the
	// demonstration generator; L at fixed length.
	task := variableTask(t, func(c *Config) { c.DemoStop = 0.3 })
	rep, err := task.Evaluate(task.Demo(), task.Demo())
	require.NoError(t, err)
	assert.InDelta(t, 0.7+0.49+0.343, rep.Mean.Length, 1e-12)
	fixed := newTask(t, nil)
	rep, err = fixed.Evaluate(fixed.Demo(), fixed.Demo())
	require.NoError(t, err)
	assert.InDelta(t, 5, rep.Mean.Length, 1e-12)
}

func TestVariableLengthOptimum(t *testing.T) {
	// π*_β sums to 1 over completions of every length, and reaches the
	// free-energy bound: its gap is 0.
	task := variableTask(t, nil)
	ref, err := task.Tabulate(task.Demo())
	require.NoError(t, err)
	opt, err := task.Optimal(ref, 0.5)
	require.NoError(t, err)
	for _, x := range task.EvalPrompts() {
		lp, err := opt.LogProbs(x)
		require.NoError(t, err)
		assert.InDelta(t, 1, massOf(lp), normTol)
	}
	rep, err := task.Evaluate(opt, ref)
	require.NoError(t, err)
	assert.InDelta(t, 0, rep.Mean.Gap, 1e-12)
	assert.InDelta(t, 0, rep.Mean.KLOpt, 1e-12)
	// A table sample is one of the task's completions.
	y, _, err := opt.Sample(task.EvalPrompts()[0], rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	assert.NotPanics(t, func() { task.Index(y) })
}

// tinyPairTask has A = 2, P = 1, L = 2: four completions, so pair laws can
// be checked cell by cell.
func tinyPairTask(t *testing.T, n int, edit func(*Config)) *Task {
	return newTask(t, func(c *Config) {
		c.Alphabet, c.PromptLen, c.CompletionLen = 2, 1, 2
		c.TrainPrompts, c.EvalPrompts, c.SamplesPerPrompt = 1, 1, n
		if edit != nil {
			edit(c)
		}
	})
}

func TestLabelFlipRate(t *testing.T) {
	// At t = 0 an unflipped label always prefers the higher reward, so the
	// pairs with distinct rewards whose chosen completion has the lower
	// reward are exactly the flipped ones: Binomial(n, f).
	for _, f := range []float64{0.1, 0.3, 0.5} {
		task := newTask(t, func(c *Config) { c.LabelTemperature, c.LabelFlip, c.SamplesPerPrompt = 0, f, 64 })
		pairs, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(91, 92)))
		require.NoError(t, err)
		n, flipped := 0, 0
		for _, p := range pairs {
			if p.RewardGap != 0 {
				n++
				if p.RewardGap < 0 {
					flipped++
				}
			}
		}
		require.Greater(t, n, 1000)
		se := math.Sqrt(f * (1 - f) / float64(n))
		assert.InDelta(t, f, float64(flipped)/float64(n), zStat*se, "f=%g over %d pairs", f, n)
	}
}

func TestLabelFlipKeepsPairs(t *testing.T) {
	// Flips and length bias change labels only: the same rng gives the
	// same unordered pairs, and the same eval pairs after them.
	base := newTask(t, nil)
	ref := base.Demo()
	rng := rand.New(rand.NewPCG(7, 8))
	want, err := base.Pairs(ref, rng)
	require.NoError(t, err)
	wantEval, err := base.EvalPairs(ref, rng)
	require.NoError(t, err)
	noisy := newTask(t, func(c *Config) { c.LabelFlip, c.LabelLengthBias = 0.25, 3 })
	rng = rand.New(rand.NewPCG(7, 8))
	got, err := noisy.Pairs(noisy.Demo(), rng)
	require.NoError(t, err)
	gotEval, err := noisy.EvalPairs(noisy.Demo(), rng)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	changed := 0
	for i := range got {
		a, b := want[i], got[i]
		same := slices.Equal(a.Chosen, b.Chosen) && slices.Equal(a.Rejected, b.Rejected)
		swapped := slices.Equal(a.Chosen, b.Rejected) && slices.Equal(a.Rejected, b.Chosen)
		require.True(t, same || swapped, "pair %d: %v vs %v", i, a, b)
		if swapped {
			changed++
		}
	}
	assert.Positive(t, changed)
	assert.Equal(t, wantEval, gotEval, "eval pairs keep π_ref and unbiased labels")
}

func TestLabelLaw(t *testing.T) {
	// With t = 1, each pair's first completion in canonical order is chosen
	// with probability q = (1−f)·σ(Δ) + f·σ(−Δ), Δ = r*(a) − r*(b) +
	// b·(|a| − |b|)/L: the count of such choices has mean Σq and variance
	// Σq(1−q).
	cases := []struct {
		name       string
		flip, bias float64
	}{
		{"bradley-terry", 0, 0},
		{"flips", 0.2, 0},
		{"length bias", 0, 2},
		{"both", 0.1, -1.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := variableTask(t, func(c *Config) { c.LabelFlip, c.LabelLengthBias, c.SamplesPerPrompt = tc.flip, tc.bias, 3000 })
			pairs, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(11, 12)))
			require.NoError(t, err)
			mean, variance, count := 0.0, 0.0, 0.0
			for _, p := range pairs {
				a, b := p.Chosen, p.Rejected
				if task.Index(a) > task.Index(b) {
					a, b = b, a
				} else {
					count++
				}
				score := func(y []int) float64 { return task.Reward(p.Prompt, y) + tc.bias*float64(task.Len(y))/3 }
				s := 1 / (1 + math.Exp(-(score(a) - score(b))))
				q := (1-tc.flip)*s + tc.flip*(1-s)
				mean += q
				variance += q * (1 - q)
			}
			assert.InDelta(t, mean, count, zStat*math.Sqrt(variance), "over %d pairs", len(pairs))
		})
	}
}

func TestLengthBiasFavoursLong(t *testing.T) {
	// A large bias makes the longer completion the chosen one nearly always.
	task := variableTask(t, func(c *Config) { c.LabelLengthBias, c.LabelTemperature, c.SamplesPerPrompt = 1000, 1, 200 })
	pairs, err := task.Pairs(task.Demo(), rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	for i, p := range pairs {
		lc, lr := task.Len(p.Chosen), task.Len(p.Rejected)
		if lc != lr {
			assert.Greater(t, lc, lr, "pair %d", i)
		}
	}
}

func TestPairSources(t *testing.T) {
	// Unordered pair {a, b} has probability 2·π(a)·π(b)/(1 − Σπ²) under the
	// source π: uniform, 1/4 each, or the copier of noise p on prompt x,
	// whose positions copy x with probability 1 − p/2 and differ with p/2.
	const n = 40000
	const noise = 0.3
	copier := func(x int) []float64 {
		hit, miss := 1-noise/2, noise/2
		p := make([]float64, 4)
		for k := range p {
			p[k] = 1
			for _, v := range []int{k >> 1, k & 1} {
				if v == x {
					p[k] *= hit
				} else {
					p[k] *= miss
				}
			}
		}
		return p
	}
	cases := []struct {
		name   string
		source string
		noise  float64
		law    func(x int) []float64
	}{
		{"uniform", PairsUniform, 0, func(int) []float64 { return []float64{0.25, 0.25, 0.25, 0.25} }},
		{"expert", PairsFromExpert, noise, copier},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := tinyPairTask(t, n, func(c *Config) { c.PairSource, c.PairNoise = tc.source, tc.noise })
			ref := NewTablePolicy(2, 2) // far from both sources
			ref.Set(task.TrainPrompts()[0], logs(0.85, 0.05, 0.05, 0.05))
			pairs, err := task.Pairs(ref, rand.New(rand.NewPCG(21, 22)))
			require.NoError(t, err)
			p := tc.law(task.TrainPrompts()[0][0])
			sq := 0.0
			for _, v := range p {
				sq += v * v
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
		})
	}
}

func TestVariantValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"stop without variable length", func(c *Config) { c.DemoStop = 0.2 }, "demo_stop needs variable_length = true, got 0.2"},
		{"variable length without stop", func(c *Config) { c.VariableLength = true }, "demo_stop must be in (0, 1) with variable_length, got 0"},
		{"stop of 1", func(c *Config) { c.VariableLength, c.DemoStop = true, 1 }, "demo_stop must be in (0, 1) with variable_length, got 1"},
		{"too many variable completions", func(c *Config) { c.VariableLength, c.DemoStop, c.CompletionLen = true, 0.2, 8 },
			"alphabet^0 + … + alphabet^completion_len must be ≤ 65536 in exact mode with variable_length, got 4^0 + … + 4^8"},
		{"negative flip", func(c *Config) { c.LabelFlip = -0.1 }, "label_flip must be in [0, 0.5], got -0.1"},
		{"flip above a half", func(c *Config) { c.LabelFlip = 0.6 }, "label_flip must be in [0, 0.5], got 0.6"},
		{"infinite bias", func(c *Config) { c.LabelLengthBias = math.Inf(1) }, "label_length_bias must be finite, got +Inf"},
		{"unknown source", func(c *Config) { c.PairSource = "policy" }, `pair_source must be one of "reference", "uniform", "expert", got "policy"`},
		{"expert without noise", func(c *Config) { c.PairSource = PairsFromExpert }, `pair_noise must be in (0, 1] with pair_source = "expert", got 0`},
		{"noise without expert", func(c *Config) { c.PairNoise = 0.1 }, `pair_noise needs pair_source = "expert", got 0.1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			tc.edit(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "testbed: "+tc.want)
		})
	}
	// 4^0 + … + 4^7 = 21845 completions fit.
	cfg := Defaults()
	cfg.VariableLength, cfg.DemoStop, cfg.CompletionLen = true, 0.2, 7
	assert.NoError(t, cfg.Validate())
	assert.Equal(t, 5, cfg.Vocab())
	assert.Equal(t, 4, Defaults().Vocab())
}

// BenchmarkEvaluatePromptVariable measures exact evaluation of one prompt
// of a variable-length task: Σ_{l≤L} 4^l completions.
func BenchmarkEvaluatePromptVariable(b *testing.B) {
	for _, l := range []int{3, 5, 7} {
		task := newTask(b, func(c *Config) { c.CompletionLen, c.EvalPrompts, c.VariableLength, c.DemoStop = l, 1, true, 0.2 })
		ref, err := task.Tabulate(task.Demo())
		if err != nil {
			b.Fatal(err)
		}
		pi, err := task.Optimal(ref, 0.5)
		if err != nil {
			b.Fatal(err)
		}
		x := task.EvalPrompts()[0]
		b.Run(fmt.Sprintf("completions=%d", task.NumCompletions()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := task.EvaluatePrompt(x, pi, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
