package testbed

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normTol bounds |Σ π − 1| for distributions built in float64 from at most
// 65536 terms: summation error is ~n·ε ≈ 1e-11, well inside the 1e-9 the
// package requires.
const normTol = 1e-9

func TestPrompts(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"defaults", nil},
		{"every prompt used", func(c *Config) { c.Alphabet, c.PromptLen, c.TrainPrompts, c.EvalPrompts = 2, 3, 5, 3 }},
		{"large prompt space", func(c *Config) { c.Alphabet, c.PromptLen, c.TrainPrompts, c.EvalPrompts = 7, 20, 30, 30 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, tc.edit)
			cfg := task.Config()
			train, eval := task.TrainPrompts(), task.EvalPrompts()
			require.Len(t, train, cfg.TrainPrompts)
			require.Len(t, eval, cfg.EvalPrompts)
			seen := map[string]string{}
			for set, ps := range map[string][][]int{"train": train, "eval": eval} {
				for i, p := range ps {
					require.Len(t, p, cfg.PromptLen)
					for _, v := range p {
						assert.True(t, v >= 0 && v < cfg.Alphabet, "%s prompt %d = %v has an id outside the alphabet", set, i, p)
					}
					prev, dup := seen[key(p)]
					assert.False(t, dup, "%s prompt %v already used by the %s set", set, p, prev)
					seen[key(p)] = set
				}
			}
		})
	}
}

func TestPromptsAreUniform(t *testing.T) {
	// Over many seeds, each of the 2^3 = 8 prompts should be drawn with
	// probability 3/8 when 3 are drawn; the count is Binomial(seeds, 3/8).
	const seeds = 4000
	counts := map[string]int{}
	for s := range seeds {
		task := newTask(t, func(c *Config) {
			c.Alphabet, c.PromptLen, c.TrainPrompts, c.EvalPrompts, c.Seed = 2, 3, 2, 1, uint64(s)
		})
		for _, p := range task.allPrompts() {
			counts[key(p)]++
		}
	}
	require.Len(t, counts, 8)
	p := 3.0 / 8
	sd := math.Sqrt(seeds * p * (1 - p))
	for k, c := range counts {
		// 4 standard deviations: a false alarm over 8 cells has
		// probability below 1e-3.
		assert.InDelta(t, seeds*p, float64(c), 4*sd, "prompt %q", k)
	}
}

func TestEnumerate(t *testing.T) {
	cases := []struct {
		name       string
		alphabet   int
		length     int
		wantLength int
	}{
		{"binary pairs", 2, 2, 4},
		{"defaults", 4, 5, 1024},
		{"single token", 7, 1, 7},
		{"largest", 2, 16, 65536},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, func(c *Config) {
				c.Alphabet, c.CompletionLen, c.TrainPrompts, c.EvalPrompts = tc.alphabet, tc.length, 1, 1
			})
			all := task.Enumerate()
			require.Len(t, all, tc.wantLength)
			assert.Equal(t, tc.wantLength, task.NumCompletions())
			for k, y := range all {
				require.Len(t, y, tc.length)
				assert.Equal(t, k, task.Index(y))
				assert.Equal(t, y, task.Completion(k))
				if k > 0 {
					assert.Equal(t, -1, slices.Compare(all[k-1], y), "canonical order is lexicographic")
				}
			}
		})
	}
}

func TestEnumerateBinaryPairsByHand(t *testing.T) {
	task := newTask(t, func(c *Config) { c.Alphabet, c.CompletionLen, c.TrainPrompts, c.EvalPrompts = 2, 2, 1, 1 })
	assert.Equal(t, [][]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, task.Enumerate())
}

func TestIndexPanics(t *testing.T) {
	task := newTask(t, nil)
	assert.Panics(t, func() { task.Index([]int{0, 1}) }, "wrong length")
	assert.Panics(t, func() { task.Index([]int{0, 1, 4, 0, 0}) }, "id outside alphabet")
	assert.Panics(t, func() { task.Completion(1024) })
}

func TestReward(t *testing.T) {
	// Defaults: c = 4, ρ = 1, P = 4, L = 5. Position 4 copies x_0.
	// r = 4·copies/5 − 1·repeats/4.
	cases := []struct {
		name       string
		edit       func(*Config)
		prompt, y  []int
		want       float64
		whyNumbers string
	}{
		{"perfect copy", nil, []int{0, 1, 2, 3}, []int{0, 1, 2, 3, 0}, 4, "5 copies, no repeats: 4·5/5"},
		{"no copy", nil, []int{0, 1, 2, 3}, []int{1, 2, 3, 0, 1}, 0, "0 copies, no repeats"},
		{"all repeats", nil, []int{0, 1, 2, 3}, []int{0, 0, 0, 0, 0}, 4*2.0/5 - 1, "copies at 0 and 4, 4 repeats: 1.6 − 1"},
		{"copy of a repeating prompt", nil, []int{2, 2, 1, 1}, []int{2, 2, 1, 1, 2}, 4 - 2.0/4, "5 copies, repeats at 1 and 3: 4 − 0.5"},
		{"penalty off", func(c *Config) { c.RepeatPenalty = 0 }, []int{2, 2, 1, 1}, []int{2, 2, 1, 1, 2}, 4, "5 copies"},
		{"single token has no repeat term", func(c *Config) { c.CompletionLen = 1 }, []int{3, 0, 0, 0}, []int{3}, 4, "1 copy of 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, tc.edit)
			// Exact equality would do for most cases; 1e-15 allows the
			// differently ordered float operations of the derivation.
			assert.InDelta(t, tc.want, task.Reward(tc.prompt, tc.y), 1e-15, tc.whyNumbers)
			r := task.Rewards(tc.prompt)
			assert.Equal(t, task.Reward(tc.prompt, tc.y), r[task.Index(tc.y)])
		})
	}
}

func TestEnumerationIsDistribution(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name string
		edit func(*Config)
		pol  func(*Task) Policy
	}{
		{"demo defaults", nil, func(t *Task) Policy { return t.Demo() }},
		{"demo noiseless", func(c *Config) { c.DemoNoise = 0 }, func(t *Task) Policy { return t.Demo() }},
		{"demo uniform", func(c *Config) { c.DemoNoise = 1 }, func(t *Task) Policy { return t.Demo() }},
		{"demo largest space", func(c *Config) { c.CompletionLen, c.EvalPrompts = 8, 2 }, func(t *Task) Policy { return t.Demo() }},
		{"demo binary", func(c *Config) { c.Alphabet, c.CompletionLen, c.TrainPrompts, c.EvalPrompts = 2, 16, 2, 2 }, func(t *Task) Policy { return t.Demo() }},
		{"random table", nil, func(t *Task) Policy { return randomTable(t, rng, 3) }},
		{"optimum of demo", nil, func(t *Task) Policy {
			p, err := t.Optimal(t.Demo(), 0.5)
			if err != nil {
				panic(err)
			}
			return p
		}},
		{"optimum at tiny beta", nil, func(t *Task) Policy {
			p, err := t.Optimal(t.Demo(), 1e-4)
			if err != nil {
				panic(err)
			}
			return p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, tc.edit)
			pol := tc.pol(task)
			for _, x := range task.EvalPrompts() {
				lp, err := pol.LogProbs(x)
				require.NoError(t, err)
				require.Len(t, lp, task.NumCompletions())
				for k, v := range lp {
					require.False(t, math.IsNaN(v) || math.IsInf(v, 1), "log-prob %d = %g", k, v)
				}
				assert.InDelta(t, 1, massOf(lp), normTol, "prompt %v", x)
			}
		})
	}
}

func TestDemoSampleMatchesLogProb(t *testing.T) {
	task := newTask(t, nil)
	demo := task.Demo()
	rng := rand.New(rand.NewPCG(3, 4))
	x := task.EvalPrompts()[0]
	table, err := demo.LogProbs(x)
	require.NoError(t, err)
	for range 200 {
		y, lp, err := demo.Sample(x, rng)
		require.NoError(t, err)
		single, err := demo.LogProb(x, y)
		require.NoError(t, err)
		assert.Equal(t, single, lp)
		assert.Equal(t, table[task.Index(y)], lp)
	}
}

func TestDemonstrations(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"defaults", nil},
		{"low noise, small prompt space", func(c *Config) { c.Alphabet, c.PromptLen, c.TrainPrompts, c.EvalPrompts, c.DemoNoise = 3, 2, 2, 6, 0.1 }},
		{"not exact", func(c *Config) { c.Exact, c.CompletionLen, c.DemoNoise = false, 40, 0.3 }},
	}
	const n = 20000
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, tc.edit)
			cfg := task.Config()
			eval := map[string]bool{}
			for _, x := range task.EvalPrompts() {
				eval[key(x)] = true
			}
			rows := task.Demonstrations(n, rand.New(rand.NewPCG(5, 6)))
			require.Len(t, rows, n)
			copies, positions := 0, 0
			for i, r := range rows {
				require.Len(t, r.Prompt, cfg.PromptLen)
				require.Len(t, r.Completion, cfg.CompletionLen)
				assert.False(t, eval[key(r.Prompt)], "row %d uses eval prompt %v", i, r.Prompt)
				for j, v := range r.Completion {
					if v == r.Prompt[j%cfg.PromptLen] {
						copies++
					}
					positions++
				}
			}
			// Each position copies with probability 1 − p + p/A
			// independently; 4 binomial standard errors.
			q := 1 - cfg.DemoNoise + cfg.DemoNoise/float64(cfg.Alphabet)
			se := math.Sqrt(q * (1 - q) / float64(positions))
			assert.InDelta(t, q, float64(copies)/float64(positions), 4*se)
		})
	}
}

func TestNotExact(t *testing.T) {
	task := newTask(t, func(c *Config) { c.Exact, c.CompletionLen = false, 30 })
	demo := task.Demo()
	assert.Panics(t, func() { task.Enumerate() })
	assert.Panics(t, func() { task.NumCompletions() })
	_, err := task.Evaluate(demo, demo)
	assert.ErrorIs(t, err, ErrNotExact)
	_, err = task.Optimal(demo, 1)
	assert.ErrorIs(t, err, ErrNotExact)
	_, err = task.Frontier(demo, []float64{1})
	assert.ErrorIs(t, err, ErrNotExact)
	_, err = task.Pairs(demo, rand.New(rand.NewPCG(1, 1)))
	assert.ErrorIs(t, err, ErrNotExact)
	_, err = task.Tabulate(demo)
	assert.ErrorIs(t, err, ErrNotExact)
	_, err = demo.LogProbs(task.EvalPrompts()[0])
	assert.ErrorIs(t, err, ErrNotExact)
}
