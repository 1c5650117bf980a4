package testbed

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tolerances.
const (
	// handTol: the hand-derived values are exact rationals and logs of
	// them; the package sums four terms in float64, so rounding is a few ε.
	handTol = 1e-13
	// identityTol: J_β(π*) = β·log Z and β·log Z − J = β·KL(π‖π*) are exact
	// identities; both sides sum ≤ 65536 terms of size up to max r/β in
	// float64, leaving errors far below the 1e-9 the specification demands.
	identityTol = 1e-9
)

// tinyTask is the hand-checkable task: A = 2, P = 1, L = 2, so the two
// prompts are (0) and (1) and the four completions, in canonical order, are
// 00, 01, 10, 11. With c = 2 and ρ = 2,
//
//	r = 2·copies/2 − 2·[y_0 = y_1]
//	x = (0): r(00) = 2−2 = 0, r(01) = 1, r(10) = 1, r(11) = 0−2 = −2
//	x = (1): r(00) = −2,      r(01) = 1, r(10) = 1, r(11) = 2−2 = 0
//
// β = 1/ln 2 makes exp(r/β) = 2^r.
func tinyTask(t *testing.T) *Task {
	return newTask(t, func(c *Config) {
		c.Alphabet, c.PromptLen, c.CompletionLen = 2, 1, 2
		c.TrainPrompts, c.EvalPrompts = 1, 1
		c.CopyReward, c.RepeatPenalty = 2, 2
		c.Beta = 1 / math.Ln2
	})
}

// tinyRef is uniform for x = (0) and (1/8, 1/8, 1/4, 1/2) for x = (1).
func tinyRef() *TablePolicy {
	ref := NewTablePolicy(2, 2)
	ref.Set([]int{0}, logs(0.25, 0.25, 0.25, 0.25))
	ref.Set([]int{1}, logs(0.125, 0.125, 0.25, 0.5))
	return ref
}

func TestTinyRewards(t *testing.T) {
	task := tinyTask(t)
	assert.Equal(t, []float64{0, 1, 1, -2}, task.Rewards([]int{0}))
	assert.Equal(t, []float64{-2, 1, 1, 0}, task.Rewards([]int{1}))
}

func TestTinyOptimal(t *testing.T) {
	// x = (0): π_ref·2^r = (1, 2, 2, 1/4)/4, Z = 21/16, π* = (4, 8, 8, 1)/21.
	// x = (1): π_ref·2^r = (1/32, 8/32, 16/32, 16/32), Z = 41/32,
	//          π* = (1, 8, 16, 16)/41.
	task := tinyTask(t)
	opt, err := task.Optimal(tinyRef(), task.Config().Beta)
	require.NoError(t, err)
	want := map[int][]float64{
		0: {4.0 / 21, 8.0 / 21, 8.0 / 21, 1.0 / 21},
		1: {1.0 / 41, 8.0 / 41, 16.0 / 41, 16.0 / 41},
	}
	for x, w := range want {
		lp, err := opt.LogProbs([]int{x})
		require.NoError(t, err)
		for k := range w {
			assert.InDelta(t, w[k], math.Exp(lp[k]), handTol, "x=%d k=%d", x, k)
		}
	}
}

func TestTinyEvaluate(t *testing.T) {
	task := tinyTask(t)
	beta := task.Config().Beta
	uniform := NewTablePolicy(2, 2)
	uniform.Set([]int{0}, logs(0.25, 0.25, 0.25, 0.25))
	uniform.Set([]int{1}, logs(0.25, 0.25, 0.25, 0.25))
	ln := math.Log
	cases := []struct {
		name   string
		prompt []int
		want   Metrics
	}{
		{
			// π = π_ref = uniform.
			// E[r] = (0+1+1−2)/4 = 0, KL(π‖π_ref) = 0, H = ln 4,
			// log Z = ln(21/16),
			// KL(π‖π*) = Σ ¼·ln(¼ / π*_k) = −ln 4 − ¼·ln(4·8·8·1/21⁴)
			//          = −2 ln 2 − 2 ln 2 + ln 21 = ln(21/16),
			// J = 0, gap = β·ln(21/16) − 0.
			"x=0 uniform against uniform", []int{0},
			Metrics{Reward: 0, KLRef: 0, Entropy: ln(4), LogZ: ln(21.0 / 16), KLOpt: ln(21.0 / 16), J: 0, Gap: beta * ln(21.0/16)},
		},
		{
			// π uniform, π_ref = (1/8, 1/8, 1/4, 1/2).
			// E[r] = (−2+1+1+0)/4 = 0,
			// KL(π‖π_ref) = ¼(ln 2 + ln 2 + 0 − ln 2) = ¼ ln 2, H = ln 4,
			// log Z = ln(41/32),
			// KL(π‖π*) = −ln 4 − ¼·ln(1·8·16·16/41⁴) = ln 41 − 2 ln 2 − (11/4) ln 2
			//          = ln 41 − (19/4) ln 2,
			// J = 0 − β·¼ ln 2 = −¼ (β ln 2 = 1),
			// gap = β·ln(41/32) + ¼ = log₂ 41 − 5 + ¼ = log₂ 41 − 19/4 = β·KL(π‖π*).
			"x=1 uniform against skewed reference", []int{1},
			Metrics{Reward: 0, KLRef: ln(2) / 4, Entropy: ln(4), LogZ: ln(41.0 / 32), KLOpt: ln(41) - 19.0/4*ln(2), J: -0.25, Gap: math.Log2(41) - 19.0/4},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := task.EvaluatePrompt(tc.prompt, uniform, tinyRef())
			require.NoError(t, err)
			requireFinite(t, "metrics", metricValues(got)...)
			w, g := metricValues(tc.want), metricValues(got)
			names := []string{"Reward", "KLRef", "Entropy", "LogZ", "KLOpt", "J", "Gap"}
			for i := range w {
				assert.InDelta(t, w[i], g[i], handTol, names[i])
			}
			assert.InDelta(t, beta*got.KLOpt, got.Gap, handTol, "free-energy gap both ways")
		})
	}
}

func TestKLNonNegativeAndZeroIffEqual(t *testing.T) {
	task := newTask(t, func(c *Config) { c.EvalPrompts = 4 })
	rng := rand.New(rand.NewPCG(21, 22))
	demo := task.Demo()
	cases := []struct {
		name     string
		pi, ref  Policy
		wantZero bool
	}{
		{"demo against itself", demo, demo, true},
		{"random against itself", func() Policy { p := randomTable(task, rng, 2); return p }(), nil, true},
		{"random against demo", randomTable(task, rng, 2), demo, false},
		{"near-uniform against demo", randomTable(task, rng, 0.01), demo, false},
		{"demo against sharp random", demo, randomTable(task, rng, 5), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref
			if ref == nil {
				ref = tc.pi
			}
			rep, err := task.Evaluate(tc.pi, ref)
			require.NoError(t, err)
			for i, m := range rep.PerPrompt {
				requireFinite(t, "metrics", metricValues(m)...)
				if tc.wantZero {
					// Identical inputs give lp − lr = 0 term by term.
					assert.Zero(t, m.KLRef, "prompt %d", i)
				} else {
					assert.Greater(t, m.KLRef, 1e-6, "prompt %d", i)
				}
				// KL(π‖π*) is ≥ 0 in exact arithmetic; rounding may dip below.
				assert.GreaterOrEqual(t, m.KLOpt, -identityTol, "prompt %d", i)
			}
		})
	}
}

func TestOptimalIdentities(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		beta float64
	}{
		{"default beta", nil, 0.5},
		{"large beta", nil, 50},
		{"tiny beta, r/β up to 4000", nil, 1e-3},
		{"binary alphabet, long completions", func(c *Config) { c.Alphabet, c.CompletionLen, c.TrainPrompts, c.EvalPrompts = 2, 12, 2, 2 }, 0.2},
		{"noiseless reference with zeros", func(c *Config) { c.DemoNoise = 0 }, 0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, func(c *Config) {
				c.EvalPrompts = 4
				if tc.edit != nil {
					tc.edit(c)
				}
				c.Beta = tc.beta
			})
			ref := task.Demo()
			opt, err := task.Optimal(ref, tc.beta)
			require.NoError(t, err)
			rep, err := task.Evaluate(opt, ref)
			require.NoError(t, err)
			for i, m := range rep.PerPrompt {
				requireFinite(t, "metrics", metricValues(m)...)
				assert.InDelta(t, tc.beta*m.LogZ, m.J, identityTol*math.Max(1, math.Abs(m.J)), "prompt %d: J(π*) = β log Z", i)
				assert.InDelta(t, 0, m.KLOpt, identityTol, "prompt %d: KL(π*‖π*)", i)
				assert.InDelta(t, 0, m.Gap, identityTol*math.Max(1, math.Abs(m.J)), "prompt %d: gap of π*", i)
			}
		})
	}
}

func TestOptimalBeatsOtherPolicies(t *testing.T) {
	task := newTask(t, func(c *Config) { c.EvalPrompts = 4 })
	ref := task.Demo()
	opt, err := task.Optimal(ref, task.Config().Beta)
	require.NoError(t, err)
	best, err := task.Evaluate(opt, ref)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, scale := range []float64{0.1, 1, 4} {
		rep, err := task.Evaluate(randomTable(task, rng, scale), ref)
		require.NoError(t, err)
		for i := range rep.PerPrompt {
			assert.Less(t, rep.PerPrompt[i].J, best.PerPrompt[i].J, "scale %g prompt %d", scale, i)
		}
	}
	refRep, err := task.Evaluate(ref, ref)
	require.NoError(t, err)
	assert.Less(t, refRep.Mean.J, best.Mean.J)
}

func TestGapBothWays(t *testing.T) {
	cases := []struct {
		name  string
		beta  float64
		scale float64
	}{
		{"default beta, mild policy", 0.5, 0.5},
		{"default beta, sharp policy", 0.5, 6},
		{"small beta", 0.01, 2},
		{"large beta", 20, 2},
	}
	rng := rand.New(rand.NewPCG(41, 42))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, func(c *Config) { c.EvalPrompts, c.Beta = 6, tc.beta })
			rep, err := task.Evaluate(randomTable(task, rng, tc.scale), task.Demo())
			require.NoError(t, err)
			for i, m := range rep.PerPrompt {
				requireFinite(t, "metrics", metricValues(m)...)
				assert.Greater(t, m.Gap, 0.0)
				assert.InDelta(t, tc.beta*m.KLOpt, m.Gap, identityTol*math.Max(1, tc.beta*m.LogZ), "prompt %d", i)
			}
			assert.InDelta(t, tc.beta*rep.Mean.KLOpt, rep.Mean.Gap, identityTol*math.Max(1, tc.beta*rep.Mean.LogZ), "mean")
		})
	}
}

func TestReportMeanAndPrompts(t *testing.T) {
	task := newTask(t, func(c *Config) { c.EvalPrompts = 3 })
	rep, err := task.Evaluate(randomTable(task, rand.New(rand.NewPCG(1, 2)), 1), task.Demo())
	require.NoError(t, err)
	assert.Equal(t, task.EvalPrompts(), rep.Prompts)
	assert.Equal(t, task.Config().Beta, rep.Beta)
	require.Len(t, rep.PerPrompt, 3)
	p := rep.PerPrompt
	// Mean is the field-wise arithmetic mean; 1e-15 covers summation order.
	assert.InDelta(t, (p[0].Reward+p[1].Reward+p[2].Reward)/3, rep.Mean.Reward, 1e-15)
	assert.InDelta(t, (p[0].KLOpt+p[1].KLOpt+p[2].KLOpt)/3, rep.Mean.KLOpt, 1e-15)
	assert.InDelta(t, (p[0].Entropy+p[1].Entropy+p[2].Entropy)/3, rep.Mean.Entropy, 1e-15)
}

func TestZeroProbabilities(t *testing.T) {
	task := tinyTask(t)
	inf := math.Inf(-1)
	ref := NewTablePolicy(2, 2)
	ref.Set([]int{0}, []float64{math.Log(0.5), math.Log(0.5), inf, inf})
	t.Run("policy zero where reference positive", func(t *testing.T) {
		// π = (1, 0, 0, 0) against π_ref = (½, ½, 0, 0):
		// KL(π‖π_ref) = ln 2, H = 0, E[r] = r(00) = 0,
		// Z = ½·2⁰ + ½·2¹ = 3/2, π* = (1/3, 2/3, 0, 0), KL(π‖π*) = ln 3.
		pi := NewTablePolicy(2, 2)
		pi.Set([]int{0}, []float64{0, inf, inf, inf})
		m, err := task.EvaluatePrompt([]int{0}, pi, ref)
		require.NoError(t, err)
		requireFinite(t, "metrics", metricValues(m)...)
		assert.InDelta(t, math.Ln2, m.KLRef, handTol)
		assert.InDelta(t, 0, m.Entropy, handTol)
		assert.InDelta(t, math.Log(1.5), m.LogZ, handTol)
		assert.InDelta(t, math.Log(3), m.KLOpt, handTol)
	})
	t.Run("policy mass where reference is zero", func(t *testing.T) {
		pi := NewTablePolicy(2, 2)
		pi.Set([]int{0}, logs(0.25, 0.25, 0.25, 0.25))
		m, err := task.EvaluatePrompt([]int{0}, pi, ref)
		require.NoError(t, err)
		assert.True(t, math.IsInf(m.KLRef, 1), "KL(π‖π_ref) = %g, want +Inf", m.KLRef)
		assert.True(t, math.IsInf(m.KLOpt, 1), "KL(π‖π*) = %g, want +Inf", m.KLOpt)
		assert.False(t, math.IsNaN(m.Reward) || math.IsNaN(m.Entropy) || math.IsNaN(m.LogZ))
	})
}

func TestNormalisationErrors(t *testing.T) {
	task := tinyTask(t)
	ref := tinyRef()
	cases := []struct {
		name string
		lp   []float64
		want string
	}{
		{"mass 0.9", logs(0.25, 0.25, 0.25, 0.15), "policy probabilities for prompt [1] sum to 0.90000000000000002, want 1 within 1e-09"},
		{"mass just above tolerance", logs(0.25, 0.25, 0.25, 0.25+3e-9), "policy probabilities for prompt [1] sum to"},
		{"NaN", []float64{math.NaN(), 0, 0, 0}, "policy log-prob of completion 0 [0 0] for prompt [1] is NaN"},
		{"+Inf", []float64{0, 0, math.Inf(1), 0}, "policy log-prob of completion 2 [1 0] for prompt [1] is +Inf"},
		{"wrong length", logs(0.5, 0.5), "policy log-probs for prompt [1]: got 2 values, want 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pi := &rawPolicy{tc.lp}
			_, err := task.EvaluatePrompt([]int{1}, pi, ref)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "testbed: "))
			_, err = task.EvaluatePrompt([]int{1}, ref, pi)
			require.Error(t, err)
			assert.Contains(t, err.Error(), strings.Replace(tc.want, "policy", "reference", 1))
		})
	}
	t.Run("missing table names the prompt", func(t *testing.T) {
		empty := NewTablePolicy(2, 2)
		_, err := task.EvaluatePrompt([]int{1}, empty, ref)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "testbed: policy log-probs for prompt [1]: testbed: no log-prob table for prompt [1]")
	})
	t.Run("bad prompt", func(t *testing.T) {
		_, err := task.EvaluatePrompt([]int{2}, ref, ref)
		assert.ErrorContains(t, err, "testbed: prompt [2]: token 2 at position 0 outside [0, 2)")
	})
}

// rawPolicy returns the same log-probs for every prompt.
type rawPolicy struct{ lp []float64 }

func (p *rawPolicy) LogProbs([]int) ([]float64, error) { return p.lp, nil }

func TestRenormalisationWithinTolerance(t *testing.T) {
	// A float32-like policy whose mass is off by 1e-6 is accepted once the
	// tolerance allows it, and evaluates as its normalised version.
	task := newTask(t, func(c *Config) {
		c.Alphabet, c.PromptLen, c.CompletionLen = 2, 1, 2
		c.TrainPrompts, c.EvalPrompts = 1, 1
		c.NormTolerance = 1e-5
	})
	ref := tinyRef()
	off := &rawPolicy{logs(0.1, 0.2, 0.3, 0.4+1e-6)}
	exact := &rawPolicy{logs(0.1/(1+1e-6), 0.2/(1+1e-6), 0.3/(1+1e-6), (0.4+1e-6)/(1+1e-6))}
	a, err := task.EvaluatePrompt([]int{1}, off, ref)
	require.NoError(t, err)
	b, err := task.EvaluatePrompt([]int{1}, exact, ref)
	require.NoError(t, err)
	// Both are the same distribution after renormalisation: agreement to
	// rounding of the log-sum-exp.
	for i, v := range metricValues(a) {
		assert.InDelta(t, metricValues(b)[i], v, 1e-14)
	}
}

func TestFrontierMonotone(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		ref  func(*Task) Policy
	}{
		{"demo reference", nil, func(t *Task) Policy { return t.Demo() }},
		{"no repeat penalty", func(c *Config) { c.RepeatPenalty = 0 }, func(t *Task) Policy { return t.Demo() }},
		{"random reference", nil, func(t *Task) Policy { return randomTable(t, rand.New(rand.NewPCG(51, 52)), 1) }},
	}
	betas := []float64{100, 10, 2, 1, 0.5, 0.25, 0.1, 0.03, 0.01}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := newTask(t, func(c *Config) {
				c.EvalPrompts = 8
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			ref := tc.ref(task)
			pts, err := task.Frontier(ref, betas)
			require.NoError(t, err)
			require.Len(t, pts, len(betas))
			for i, p := range pts {
				requireFinite(t, "point", p.KLRef, p.Reward)
				assert.Equal(t, betas[i], p.Beta)
				if i > 0 {
					assert.Greater(t, p.KLRef, pts[i-1].KLRef, "KL must grow as β′ falls to %g", p.Beta)
					assert.Greater(t, p.Reward, pts[i-1].Reward, "reward must grow as β′ falls to %g", p.Beta)
				}
			}
			// The point at the task's β is the optimum's own evaluation.
			opt, err := task.Optimal(ref, 0.5)
			require.NoError(t, err)
			rep, err := task.Evaluate(opt, ref)
			require.NoError(t, err)
			assert.InDelta(t, rep.Mean.KLRef, pts[4].KLRef, identityTol)
			assert.InDelta(t, rep.Mean.Reward, pts[4].Reward, identityTol)
		})
	}
}

func TestFrontierRejectsBadBeta(t *testing.T) {
	task := newTask(t, nil)
	_, err := task.Frontier(task.Demo(), []float64{1, 0})
	assert.EqualError(t, err, "testbed: Frontier: betas:1 must be finite and > 0, got 0")
	_, err = task.Optimal(task.Demo(), math.NaN())
	assert.EqualError(t, err, "testbed: Optimal: beta must be finite and > 0, got NaN")
}

func TestTabulate(t *testing.T) {
	task := newTask(t, nil)
	demo := task.Demo()
	tab, err := task.Tabulate(demo)
	require.NoError(t, err)
	for _, x := range task.allPrompts() {
		want, err := demo.LogProbs(x)
		require.NoError(t, err)
		got, err := tab.LogProbs(x)
		require.NoError(t, err)
		// Renormalisation shifts by a log-sum-exp of 1024 terms that is 0 up
		// to summation rounding, ≲ n·ε ≈ 2e-13.
		assert.InDeltaSlice(t, want, got, 1e-12)
	}
	a, err := task.Evaluate(demo, demo)
	require.NoError(t, err)
	b, err := task.Evaluate(tab, tab)
	require.NoError(t, err)
	assert.InDelta(t, a.Mean.KLOpt, b.Mean.KLOpt, 1e-12)
}
