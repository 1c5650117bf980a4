// Package conformance is the test suite every objective runs, local or behind
// a plugin. It uses only the public contract of package core: a Provider, the
// Objective it configures, Batch, Result and the typed errors.
package conformance

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
)

const (
	// lossMeanTol bounds |Loss − mean(Losses)| relative to 1 + mean|Losses_i|:
	// the two differ only by summation order and by computing a pooled term
	// once instead of per example, a few ulps per example for batches of ≤ 17.
	lossMeanTol = 1e-12

	// fdRelStep sets the central-difference step h = fdRelStep·max(1, |x|).
	// Truncation error is h²|f'''|/6 and rounding error about ε·|f|/h with
	// ε ≈ 1.1e-16; for generated inputs (|x| ≤ 200 nats, losses ≲ 10) a step
	// of 1e-5 relative keeps both below ~1e-9. Scaling with |x| keeps the step
	// well above the spacing of floats near x.
	fdRelStep = 1e-5
	// gradAbsTol and gradRelTol bound |analytic − numeric| ≤ gradAbsTol +
	// gradRelTol·max(|analytic|, |numeric|). The absolute part covers
	// gradients that are zero or tiny (rounding error ~1e-10 above); the
	// relative part covers truncation error at curved points, e.g. ORPO's
	// log(1−eᵃ) near a = −0.1.
	gradAbsTol = 1e-8
	gradRelTol = 1e-5
	// maxKinkFraction is the largest fraction of gradient checks that may be
	// skipped for lying within a step of a kink; generated inputs put a kink
	// inside a step only by rare chance, so more means a discontinuous
	// gradient.
	maxKinkFraction = 0.1
)

// sizes are the batch sizes every check runs at.
var sizes = []int{1, 3, 17}

// detachable lists policy inputs an objective may treat as constants (the
// core package documentation's example is KTO's KL reference point built
// from policy_kl_logps): where their true derivative is non-zero the suite
// accepts either that derivative or an all-zero gradient.
var detachable = []string{core.PolicyKLLogps}

// completionLengths are count inputs an objective reads only to average over
// completion tokens (core package documentation): zero there is bad input.
var completionLengths = []string{core.ChosenLengths, core.RejectedLengths, core.Lengths}

type namedBatch struct {
	name string
	b    *core.Batch
	opt  genOptions
}

// Run checks the objective p configures from params against the contract:
// Inputs in canonical order, valid results on random batches of sizes 1, 3
// and 17, Loss = mean(Losses), gradients against central finite differences,
// no mutation of the batch, bit-for-bit determinism, finite results at
// extreme inputs, and a typed *core.InputError with the right code, field and
// index for non-finite, missing, mis-sized, negative and zero-length inputs.
func Run(t *testing.T, p core.Provider, params map[string]any) {
	t.Helper()
	obj, _, err := p.Configure(t.Context(), params)
	require.NoError(t, err, "configure %s with %v", p.Spec().Name, params)
	inputs := obj.Inputs()

	t.Run("inputs", func(t *testing.T) { checkInputs(t, inputs) })
	if t.Failed() {
		return
	}
	batches := randomBatches(inputs)

	t.Run("valid_result", func(t *testing.T) {
		for _, nb := range batches {
			r, err := obj.Compute(t.Context(), nb.b)
			require.NoError(t, err, nb.name)
			assert.NoError(t, core.CheckResult(nb.b, inputs, r), nb.name)
		}
	})
	t.Run("loss_is_mean_of_losses", func(t *testing.T) {
		for _, nb := range batches {
			checkLossMean(t, nb.name, compute(t, obj, nb.b))
		}
	})
	t.Run("gradient", func(t *testing.T) { checkGradients(t, obj, inputs, batches) })
	t.Run("not_mutated", func(t *testing.T) {
		for _, nb := range batches {
			before := nb.b.Clone()
			compute(t, obj, nb.b)
			assert.Equal(t, before, nb.b, "%s: Compute modified the batch", nb.name)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		again, _, err := p.Configure(t.Context(), params)
		require.NoError(t, err)
		for _, nb := range batches {
			want := compute(t, obj, nb.b)
			assertIdentical(t, nb.name+"/same_objective", want, compute(t, obj, nb.b))
			assertIdentical(t, nb.name+"/reconfigured", want, compute(t, again, nb.b))
		}
	})
	t.Run("extreme_inputs", func(t *testing.T) {
		ext := extremeBatches(inputs)
		for _, name := range slices.Sorted(maps.Keys(ext)) {
			b := ext[name]
			r, err := obj.Compute(t.Context(), b)
			require.NoError(t, err, name)
			assert.NoError(t, core.CheckResult(b, inputs, r), name)
			checkLossMean(t, name, r)
		}
	})
	t.Run("bad_input", func(t *testing.T) { checkBadInput(t, obj, inputs) })
}

func checkInputs(t *testing.T, inputs []string) {
	require.NotEmpty(t, inputs, "Inputs() is empty")
	policy := 0
	var layout core.Layout
	for k, name := range inputs {
		f, ok := core.LookupField(name)
		require.True(t, ok, "Inputs() names unknown input %q", name)
		if k > 0 {
			assert.True(t, core.InputLess(inputs[k-1], name), "Inputs() must follow core.Fields order, then data columns by name, without repeats: %v", inputs)
		}
		if f.Kind == core.TokenFloat {
			assert.Contains(t, inputs, f.Lengths, "Inputs() reads %s and must read its lengths", name)
		}
		if f.Policy {
			policy++
			if layout == 0 {
				layout = f.Layout
			}
			assert.Equal(t, layout, f.Layout, "policy inputs of one objective share a layout: %v", inputs)
		}
	}
	assert.Positive(t, policy, "Inputs() names no policy input: %v", inputs)
}

// randomBatches returns the seeded batches the value checks run on: for each
// size, mixed labels with positive and negative KL estimates and, for sizes
// above 1, all-desirable and all-undesirable batches.
func randomBatches(inputs []string) []namedBatch {
	var out []namedBatch
	for _, n := range sizes {
		opts := []genOptions{
			{labels: labelsMixed, klPositive: false},
			{labels: labelsMixed, klPositive: true},
			{labels: labelsAllDesirable, klPositive: true},
			{labels: labelsAllUndesirable, klPositive: false},
		}
		for k, opt := range opts {
			rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
			out = append(out, namedBatch{
				name: fmt.Sprintf("n=%d/batch=%d", n, k),
				b:    generate(rng, inputs, n, opt),
				opt:  opt,
			})
		}
	}
	return out
}

func compute(t *testing.T, obj core.Objective, b *core.Batch) *core.Result {
	t.Helper()
	r, err := obj.Compute(t.Context(), b)
	require.NoError(t, err)
	require.NotNil(t, r)
	return r
}

func checkLossMean(t *testing.T, name string, r *core.Result) {
	t.Helper()
	require.NotEmpty(t, r.Losses, name)
	var sum, abs float64
	for _, l := range r.Losses {
		sum += l
		abs += math.Abs(l)
	}
	n := float64(len(r.Losses))
	require.True(t, isFinite(r.Loss), "%s: loss %v", name, r.Loss)
	assert.InDelta(t, sum/n, r.Loss, lossMeanTol*(1+abs/n), "%s: Loss must equal mean(Losses)", name)
}

// checkGradients compares every element of every policy gradient with a
// central difference of Loss. Points where the analytic gradient itself is
// not locally linear across [x−h, x+h] (second difference above the
// tolerance) lie within a step of a kink, such as hinge's relu or a clamp;
// they are skipped and counted. It returns the number of skipped points.
func checkGradients(t *testing.T, obj core.Objective, inputs []string, batches []namedBatch) int {
	var checked, kinks int
	for _, nb := range batches {
		base := compute(t, obj, nb.b)
		for _, name := range inputs {
			if f, _ := core.LookupField(name); !f.Policy {
				continue
			}
			if f, _ := core.LookupField(name); f.Kind == core.TokenFloat {
				c, k := checkTokenGradients(t, obj, nb, name, base)
				checked, kinks = checked+c, kinks+k
				continue
			}
			g := base.Grads[name]
			require.Len(t, g, nb.b.Len(name), "%s: grads.%s", nb.name, name)
			if slices.Contains(detachable, name) && nb.opt.klPositive && allZero(g) {
				t.Logf("%s: %s: all-zero gradient at a positive KL estimate, treated as detached", nb.name, name)
				continue
			}
			for i := range g {
				checked++
				at := func(x float64) *core.Result {
					b := nb.b.Clone()
					(*b.Floats(name))[i] = x
					return compute(t, obj, b)
				}
				x := (*nb.b.Floats(name))[i]
				h := fdRelStep * math.Max(1, math.Abs(x))
				plus, minus := at(x+h), at(x-h)
				// (x+h) − (x−h) is the step actually taken after rounding.
				numeric := (plus.Loss - minus.Loss) / ((x + h) - (x - h))
				tol := gradAbsTol + gradRelTol*math.Max(math.Abs(g[i]), math.Abs(numeric))
				second := plus.Grads[name][i] - 2*g[i] + minus.Grads[name][i]
				if math.Abs(second) > gradAbsTol+gradRelTol*maxAbs(plus.Grads[name][i], g[i], minus.Grads[name][i]) {
					kinks++
					t.Logf("%s: skip %s[%d] = %v: kink within a step (gradients %v, %v, %v at x−h, x, x+h)",
						nb.name, name, i, x, minus.Grads[name][i], g[i], plus.Grads[name][i])
					continue
				}
				require.True(t, isFinite(numeric), "%s: %s[%d]: finite difference %v", nb.name, name, i, numeric)
				assert.InDelta(t, numeric, g[i], tol, "%s: grads.%s[%d] at x=%v", nb.name, name, i, x)
			}
		}
	}
	assert.LessOrEqual(t, float64(kinks), maxKinkFraction*float64(checked),
		"%d of %d gradient checks skipped near kinks", kinks, checked)
	return kinks
}

// checkTokenGradients is checkGradients for every token of the per-token
// policy input name; it returns the points checked and skipped at kinks.
func checkTokenGradients(t *testing.T, obj core.Objective, nb namedBatch, name string, base *core.Result) (checked, kinks int) {
	rows := *nb.b.Tokens(name)
	g := base.TokenGrads[name]
	require.Len(t, g, len(rows), "%s: token_grads.%s", nb.name, name)
	for i, row := range rows {
		require.Len(t, g[i], len(row), "%s: token_grads.%s[%d]", nb.name, name, i)
		for k, x := range row {
			checked++
			at := func(x float64) *core.Result {
				b := nb.b.Clone()
				(*b.Tokens(name))[i][k] = x
				return compute(t, obj, b)
			}
			h := fdRelStep * math.Max(1, math.Abs(x))
			plus, minus := at(x+h), at(x-h)
			numeric := (plus.Loss - minus.Loss) / ((x + h) - (x - h))
			gp, gm := plus.TokenGrads[name][i][k], minus.TokenGrads[name][i][k]
			if second := gp - 2*g[i][k] + gm; math.Abs(second) > gradAbsTol+gradRelTol*maxAbs(gp, g[i][k], gm) {
				kinks++
				t.Logf("%s: skip %s[%d][%d] = %v: kink within a step", nb.name, name, i, k, x)
				continue
			}
			require.True(t, isFinite(numeric), "%s: %s[%d][%d]: finite difference %v", nb.name, name, i, k, numeric)
			tol := gradAbsTol + gradRelTol*math.Max(math.Abs(g[i][k]), math.Abs(numeric))
			assert.InDelta(t, numeric, g[i][k], tol, "%s: token_grads.%s[%d][%d] at x=%v", nb.name, name, i, k, x)
		}
	}
	return checked, kinks
}

func assertIdentical(t *testing.T, name string, want, got *core.Result) {
	t.Helper()
	assert.Equal(t, math.Float64bits(want.Loss), math.Float64bits(got.Loss), "%s: loss", name)
	assert.Equal(t, bits(want.Losses), bits(got.Losses), "%s: losses", name)
	require.Equal(t, slices.Sorted(maps.Keys(want.Grads)), slices.Sorted(maps.Keys(got.Grads)), "%s: grad keys", name)
	for k, g := range want.Grads {
		assert.Equal(t, bits(g), bits(got.Grads[k]), "%s: grads.%s", name, k)
	}
	require.Equal(t, slices.Sorted(maps.Keys(want.TokenGrads)), slices.Sorted(maps.Keys(got.TokenGrads)), "%s: token grad keys", name)
	for k, rows := range want.TokenGrads {
		for i, g := range rows {
			assert.Equal(t, bits(g), bits(got.TokenGrads[k][i]), "%s: token_grads.%s[%d]", name, k, i)
		}
	}
	require.Equal(t, slices.Sorted(maps.Keys(want.Metrics)), slices.Sorted(maps.Keys(got.Metrics)), "%s: metric names", name)
	for k, v := range want.Metrics {
		assert.Equal(t, math.Float64bits(v), math.Float64bits(got.Metrics[k]), "%s: metrics.%s", name, k)
	}
}

// checkBadInput plants one problem at a time in a valid batch of 5 and
// expects the matching *core.InputError.
func checkBadInput(t *testing.T, obj core.Objective, inputs []string) {
	const n = 5
	base := generate(rand.New(rand.NewPCG(5, 5)), inputs, n, genOptions{labels: labelsMixed})
	type badCase struct {
		name  string
		edit  func(b *core.Batch)
		code  core.Code
		field string
		index int
	}
	var cases []badCase
	firstOfLayout := map[core.Layout]bool{}
	for _, name := range inputs {
		f, _ := core.LookupField(name)
		cases = append(cases, badCase{"missing/" + name, func(b *core.Batch) { setNil(b, name) },
			core.CodeMissingInput, name, -1})
		if firstOfLayout[f.Layout] {
			cases = append(cases, badCase{"length_mismatch/" + name, func(b *core.Batch) { truncate(b, name) },
				core.CodeLengthMismatch, name, -1})
		}
		firstOfLayout[f.Layout] = true
		switch f.Kind {
		case core.Float:
			for k, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				idx := (2 + k) % n
				cases = append(cases, badCase{fmt.Sprintf("non_finite/%s/%v", name, v),
					func(b *core.Batch) { (*b.Floats(name))[idx] = v }, core.CodeNonFinite, name, idx})
			}
		case core.TokenFloat:
			cases = append(cases, badCase{"non_finite/" + name, func(b *core.Batch) { (*b.Tokens(name))[2][0] = math.NaN() },
				core.CodeNonFinite, name, 2})
			cases = append(cases, badCase{"token_count/" + name, func(b *core.Batch) {
				(*b.Tokens(name))[1] = append((*b.Tokens(name))[1], -1)
			}, core.CodeLengthMismatch, name, 1})
		case core.Count:
			cases = append(cases, badCase{"negative/" + name, func(b *core.Batch) { (*b.Counts(name))[1] = -1 },
				core.CodeOutOfRange, name, 1})
			if slices.Contains(completionLengths, name) {
				cases = append(cases, badCase{"zero_length/" + name, func(b *core.Batch) { zeroLength(b, inputs, name, 3) },
					core.CodeOutOfRange, name, 3})
			}
		}
	}
	cases = append(cases, badCase{"empty", func(b *core.Batch) {
		for _, name := range inputs {
			truncateTo(b, name, 0)
		}
	}, core.CodeEmptyBatch, inputs[0], -1})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := base.Clone()
			tc.edit(b)
			r, err := obj.Compute(t.Context(), b)
			require.Error(t, err, "got result %+v", r)
			var ie *core.InputError
			require.True(t, errors.As(err, &ie), "want *core.InputError, got %T: %v", err, err)
			assert.Equal(t, tc.code, ie.Code, "code: %v", err)
			assert.Equal(t, tc.field, ie.Field, "field: %v", err)
			assert.Equal(t, tc.index, ie.Index, "index: %v", err)
		})
	}

	// A zero count that is not a completion length (a prompt with no scored
	// tokens, with log-prob 0) is either accepted or refused as out of range.
	for _, name := range inputs {
		if f, _ := core.LookupField(name); f.Kind != core.Count || slices.Contains(completionLengths, name) {
			continue
		}
		t.Run("zero_count/"+name, func(t *testing.T) {
			b := base.Clone()
			zeroLength(b, inputs, name, 3)
			if name == core.ChosenPromptLengths && b.Has(core.PolicyChosenPromptLogps) {
				b.PolicyChosenPromptLogps[3] = 0
			}
			r, err := obj.Compute(t.Context(), b)
			if err == nil {
				assert.NoError(t, core.CheckResult(b, inputs, r))
				return
			}
			var ie *core.InputError
			require.True(t, errors.As(err, &ie), "want *core.InputError, got %T: %v", err, err)
			assert.Equal(t, core.CodeOutOfRange, ie.Code, "code: %v", err)
			assert.Equal(t, name, ie.Field, "field: %v", err)
			assert.Equal(t, 3, ie.Index, "index: %v", err)
		})
	}
}

// zeroLength sets count input name to 0 at example i, and empties the
// per-token arrays it gives the length of, so shapes stay consistent.
func zeroLength(b *core.Batch, inputs []string, name string, i int) {
	(*b.Counts(name))[i] = 0
	for _, in := range inputs {
		if f, _ := core.LookupField(in); f.Kind == core.TokenFloat && f.Lengths == name {
			(*b.Tokens(in))[i] = []float64{}
		}
	}
}

func setNil(b *core.Batch, name string) {
	if p := b.Floats(name); p != nil {
		*p = nil
	}
	if p := b.Tokens(name); p != nil {
		*p = nil
	}
	if p := b.Counts(name); p != nil {
		*p = nil
	}
	if p := b.Bools(name); p != nil {
		*p = nil
	}
}

func truncate(b *core.Batch, name string) { truncateTo(b, name, b.Len(name)-1) }

// truncateTo keeps the first k elements of the named input, non-nil.
func truncateTo(b *core.Batch, name string, k int) {
	if p := b.Floats(name); p != nil {
		*p = append([]float64{}, (*p)[:k]...)
	}
	if p := b.Tokens(name); p != nil {
		*p = append([][]float64{}, (*p)[:k]...)
	}
	if p := b.Counts(name); p != nil {
		*p = append([]int64{}, (*p)[:k]...)
	}
	if p := b.Bools(name); p != nil {
		*p = append([]bool{}, (*p)[:k]...)
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allZero(xs []float64) bool {
	for _, x := range xs {
		if x != 0 {
			return false
		}
	}
	return true
}

func maxAbs(xs ...float64) float64 {
	var m float64
	for _, x := range xs {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

func bits(xs []float64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = math.Float64bits(x)
	}
	return out
}
