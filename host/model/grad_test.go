package model

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grad64 returns a copy of the float64 gradient of parameter i.
func (r *Runner) grad64(i int) []float64 {
	switch d := r.gradData(i).(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		return f64(d)
	}
	return make([]float64, len(r.w.data[i]))
}

// TestModelGradientFD checks d(Σ g_r·out_r)/dθ from Forward+Backward
// against central finite differences of the forward on a sample of entries
// of every parameter tensor, in float64.
func TestModelGradientFD(t *testing.T) {
	const (
		// fdStep is the perturbation of a float32 weight of magnitude ≲ 1.
		// The FD quotient uses the exact float32 points reached, so the
		// float32 rounding of w±h adds no error; truncation error is
		// O(h²·f'''), measured below 1e-6 relative.
		fdStep = 2.5e-4
		// gradTol bounds |analytic − FD| / max(1, |FD|): 20× the truncation
		// error, while a dropped or doubled term moves a gradient by O(1).
		gradTol = 2e-5
		// samples per tensor (all entries when the tensor is smaller).
		samples = 6
	)
	w, err := New(tinyCfg, 21)
	require.NoError(t, err)
	randomizeWeights(w, 21, 0.4)
	b, outs := tinyBatch()
	rng := rand.New(rand.NewPCG(21, 22))
	g := make([]float64, outs)
	for i := range g {
		g[i] = rng.NormFloat64()
	}

	r, err := NewRunner(w, 3, outs, WithFloat64())
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Forward(b)
	require.NoError(t, err)
	require.NoError(t, r.Backward(g))

	s, err := NewScorer(w, 3, outs, WithFloat64())
	require.NoError(t, err)
	defer s.Close()
	f := func() float64 {
		out, err := s.Score(b)
		require.NoError(t, err)
		v := 0.0
		for i := range out {
			v += g[i] * out[i]
		}
		return v
	}

	for pi, name := range w.Names() {
		t.Run(name, func(t *testing.T) {
			an := r.grad64(pi)
			data := w.Data(name)
			idx := rng.Perm(len(data))[:min(samples, len(data))]
			nonzero := false
			for _, j := range idx {
				orig := data[j]
				data[j] = float32(float64(orig) + fdStep)
				hi, fp := float64(data[j]), f()
				data[j] = float32(float64(orig) - fdStep)
				lo, fm := float64(data[j]), f()
				data[j] = orig
				fd := (fp - fm) / (hi - lo)
				require.True(t, isFinite(an[j]) && isFinite(fd), "[%d]: analytic %v fd %v", j, an[j], fd)
				assert.InDelta(t, fd, an[j], gradTol*math.Max(1, math.Abs(fd)), "[%d]", j)
				nonzero = nonzero || math.Abs(fd) > 1e-6
			}
			if name != "pos.weight" { // unused positions are sampled too
				assert.True(t, nonzero, "every sampled gradient is ~0: the check would be vacuous")
			}
		})
	}
}

// TestGradientLifecycle: repeated Forward does not double the gradient,
// Backward accumulates, ZeroGrads clears, and results are deterministic.
func TestGradientLifecycle(t *testing.T) {
	w, err := New(tinyCfg, 31)
	require.NoError(t, err)
	randomizeWeights(w, 31, 0.4)
	b, outs := tinyBatch()
	g := []float64{0.3, -1.2, 0.5, 0.8, -0.1, 2}

	run := func(r *Runner, forwards int) []float64 {
		var out []float64
		for range forwards {
			o, err := r.Forward(b)
			require.NoError(t, err)
			if out != nil {
				require.Equal(t, out, o, "Forward twice gives identical outputs")
			}
			out = o
		}
		require.NoError(t, r.Backward(g))
		return out
	}
	grads := func(r *Runner) [][]float64 {
		var all [][]float64
		for i := range w.Names() {
			all = append(all, r.grad64(i))
		}
		return all
	}

	r1, err := NewRunner(w, 3, outs, WithFloat64())
	require.NoError(t, err)
	defer r1.Close()
	for _, gr := range grads(r1) {
		for _, x := range gr {
			require.Equal(t, 0.0, x, "gradients start at 0")
		}
	}
	out1 := run(r1, 1)
	once := grads(r1)

	r2, err := NewRunner(w, 3, outs, WithFloat64())
	require.NoError(t, err)
	defer r2.Close()
	out2 := run(r2, 3)
	assert.Equal(t, out1, out2, "same weights, same outputs, bit for bit")
	assert.Equal(t, once, grads(r2), "extra Forward calls leave the gradient unchanged")

	run(r1, 1)
	twice := grads(r1)
	for i := range once {
		for j := range once[i] {
			require.Equal(t, 2*once[i][j], twice[i][j], "Backward accumulates: %s[%d]", w.Names()[i], j)
		}
	}
	r1.ZeroGrads()
	run(r1, 2)
	assert.Equal(t, once, grads(r1), "ZeroGrads clears")
	r1.ZeroGrads()
	run(r1, 1)
	assert.Equal(t, once, grads(r1), "repeatable over many runs")

	// Errors leave the runner usable.
	assert.ErrorContains(t, r1.Backward(g), "backward without a pending forward")
	_, err = r1.Forward(b)
	require.NoError(t, err)
	assert.ErrorContains(t, r1.Backward(g[:2]), "g has 2 values, want 6")
	bad := append([]float64(nil), g...)
	bad[4] = math.NaN()
	assert.ErrorContains(t, r1.Backward(bad), "g[4] is NaN")
	r1.ZeroGrads()
	require.NoError(t, r1.Backward(g))
	assert.Equal(t, once, grads(r1), "the pending run survives rejected Backward calls")
	_, err = r1.Forward(&Batch{Rows: [][]int{{99}}})
	assert.ErrorContains(t, err, "rows[0][0]: token 99")
	assert.ErrorContains(t, r1.Backward(g), "backward without a pending forward")
}

// TestSameSeedSameResults builds everything twice from one seed.
func TestSameSeedSameResults(t *testing.T) {
	cfg := Config{Vocab: 11, Context: 8, Width: 16, Heads: 4, Layers: 2, MLPMult: 4}
	b := &Batch{Rows: [][]int{{1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 0, 3}}, Spans: []Span{{0, 0, 2, 9}, {1, 1, 1, 3}}}
	g := []float64{1, -1}
	type result struct {
		out   []float64
		grads map[string][]float32
	}
	do := func() result {
		w, err := New(cfg, 77)
		require.NoError(t, err)
		r, err := NewRunner(w, 2, 2)
		require.NoError(t, err)
		defer r.Close()
		out, err := r.Forward(b)
		require.NoError(t, err)
		require.NoError(t, r.Backward(g))
		return result{out, r.Grads()}
	}
	a, c := do(), do()
	assert.Equal(t, a.out, c.out)
	for name, ga := range a.grads {
		gc := c.grads[name]
		for i := range ga {
			require.Equal(t, math.Float32bits(ga[i]), math.Float32bits(gc[i]), "%s[%d]", name, i)
		}
	}
}

// TestFloat32MatchesFloat64 compares outputs and gradients across dtypes.
func TestFloat32MatchesFloat64(t *testing.T) {
	const (
		// outRelTol: float32 rounding through the network, ~1e-6 relative.
		outRelTol = 1e-4
		// gradRelTol is relative to the largest gradient entry of the tensor:
		// float32 backprop accumulates rounding over ~100 terms per entry.
		gradRelTol = 1e-3
	)
	cfg := Config{Vocab: 13, Context: 10, Width: 16, Heads: 2, Layers: 2, MLPMult: 4}
	w, err := New(cfg, 5)
	require.NoError(t, err)
	randomizeWeights(w, 5, 0.2)
	rng := rand.New(rand.NewPCG(5, 5))
	b := &Batch{}
	for i := range 4 {
		row := make([]int, 11)
		for j := range row {
			row[j] = rng.IntN(cfg.Vocab)
		}
		b.Rows = append(b.Rows, row)
		b.Spans = append(b.Spans, Span{Out: i, Row: i, From: 4, To: 11})
	}
	g := []float64{0.5, -0.5, 0.25, -0.25}
	r32, err := NewRunner(w, 4, 4)
	require.NoError(t, err)
	r64, err := NewRunner(w, 4, 4, WithFloat64())
	require.NoError(t, err)
	o32, err := r32.Forward(b)
	require.NoError(t, err)
	o64, err := r64.Forward(b)
	require.NoError(t, err)
	for i := range o64 {
		assert.InDelta(t, o64[i], o32[i], outRelTol*math.Abs(o64[i]), "output %d", i)
	}
	require.NoError(t, r32.Backward(g))
	require.NoError(t, r64.Backward(g))
	g32 := r32.Grads()
	for i, name := range w.Names() {
		ref := r64.grad64(i)
		scale := 0.0
		for _, x := range ref {
			scale = math.Max(scale, math.Abs(x))
		}
		require.Greater(t, scale, 0.0, name)
		for j, x := range ref {
			require.True(t, isFinite(float64(g32[name][j])))
			assert.InDelta(t, x, float64(g32[name][j]), gradRelTol*scale, "%s[%d]", name, j)
		}
	}
}

// TestInPlaceUpdatesSeen: an optimizer writing into Weights.Data between
// steps changes the next Forward, for both dtypes.
func TestInPlaceUpdatesSeen(t *testing.T) {
	// tol: float32 model vs float64 reference, outputs O(10).
	const tol = 1e-4
	w, err := New(tinyCfg, 8)
	require.NoError(t, err)
	b, outs := tinyBatch()
	for _, o := range [][]Option{nil, {WithFloat64()}} {
		w := w.Clone()
		r, err := NewRunner(w, 3, outs, o...)
		require.NoError(t, err)
		before, err := r.Forward(b)
		require.NoError(t, err)
		require.NoError(t, r.Backward(make([]float64, outs)))
		randomizeWeights(r.Weights(), 8, 0.5)
		after, err := r.Forward(b)
		require.NoError(t, err)
		want := refOutputs(w, b, outs)
		assert.NotEqual(t, before[0], after[0])
		for i := range want {
			assert.InDelta(t, want[i], after[i], tol*math.Max(1, math.Abs(want[i])), "output %d", i)
		}
		require.NoError(t, r.Close())
	}
}

// TestRunnersInSeparateGoroutines: graphs are independent, so a policy
// runner and a reference scorer may run in two goroutines (run with -race).
func TestRunnersInSeparateGoroutines(t *testing.T) {
	// tol: float32 model vs float64 reference, outputs O(10).
	const tol = 1e-4
	w, err := New(tinyCfg, 4)
	require.NoError(t, err)
	b, outs := tinyBatch()
	want := refOutputs(w, b, outs)
	results := make([][]float64, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if i == 0 {
				r, err := NewRunner(w.Clone(), 3, outs)
				if err != nil {
					errs[i] = err
					return
				}
				defer r.Close()
				for range 3 {
					if results[i], err = r.Forward(b); err != nil {
						errs[i] = err
						return
					}
					if err = r.Backward(make([]float64, outs)); err != nil {
						errs[i] = err
						return
					}
				}
				return
			}
			s, err := NewScorer(w.Clone(), 3, outs)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			for range 3 {
				if results[i], err = s.Score(b); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range 2 {
		require.NoError(t, errs[i])
		for j := range want {
			assert.InDelta(t, want[j], results[i][j], tol*math.Max(1, math.Abs(want[j])), "goroutine %d output %d", i, j)
		}
	}
}
