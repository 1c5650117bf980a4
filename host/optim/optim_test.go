package optim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// f32Tol bounds the difference between a float32 parameter and a float64
// hand calculation: the parameter is rounded to float32 after every update
// (half an ulp near 1 is 6e-8), twice in a two-step test.
const f32Tol = 1e-6

// exactTol is for quantities computed in float64 from the same formula in a
// different order: a few ulps.
const exactTol = 1e-12

func TestAdamWTwoSteps(t *testing.T) {
	opt, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1})
	require.NoError(t, err)
	const lr = 0.1
	w := []float32{1.0}
	b := []float32{2.0}
	frozen := []float32{3.0}
	params := []Param{
		{Name: "w", Data: w, Grad: []float32{0.5}},
		{Name: "b", Data: b, Grad: []float32{0.5}, NoDecay: true},
		{Name: "frozen", Data: frozen}, // nil Grad: skipped, no decay
	}
	opt.Step(params, lr)

	// Step 1, param w (p=1, g=0.5):
	//   decay      p = 1·(1 − 0.1·0.1)              = 0.99
	//   m = 0.1·0.5 = 0.05;  v = 0.001·0.25          = 0.00025
	//   bc1 = 1 − 0.9 = 0.1;  bc2 = 1 − 0.999 = 0.001
	//   step size = lr/bc1 = 1
	//   denom = √0.00025/√0.001 + 1e-8 = 0.5 + 1e-8
	//   p = 0.99 − 0.05/(0.5 + 1e-8) ≈ 0.89
	want1 := 0.99 - 0.05/(0.5+1e-8)
	assert.InDelta(t, want1, float64(w[0]), f32Tol)
	// Param b: same without decay: 2 − 0.1.
	wantB1 := 2 - 0.05/(0.5+1e-8)
	assert.InDelta(t, wantB1, float64(b[0]), f32Tol)
	assert.Equal(t, float32(3), frozen[0], "a param without gradient is not decayed")

	params[0].Grad[0] = -0.25
	params[1].Grad[0] = -0.25
	opt.Step(params, lr)
	// Step 2 (g = −0.25):
	//   decay      p = 0.89·0.99
	//   m = 0.9·0.05 + 0.1·(−0.25)            = 0.02
	//   v = 0.999·0.00025 + 0.001·0.0625       = 0.00031225
	//   bc1 = 1 − 0.81 = 0.19;  bc2 = 1 − 0.998001 = 0.001999
	//   p = 0.89·0.99 − (0.1/0.19)·0.02/(√(0.00031225/0.001999) + 1e-8)
	//     ≈ 0.881100 − 0.026633 = 0.854467
	adam2 := (0.1 / 0.19) * 0.02 / (math.Sqrt(0.00031225/0.001999) + 1e-8)
	assert.InDelta(t, want1*0.99-adam2, float64(w[0]), f32Tol)
	assert.InDelta(t, wantB1-adam2, float64(b[0]), f32Tol)
	assert.InDelta(t, 0.854467, float64(w[0]), 1e-6, "rounded hand value")
	assert.Equal(t, int64(2), opt.Steps())

	st := opt.State()
	require.Len(t, st.Params, 2, "no state for the param without gradient")
	assert.Equal(t, "b", st.Params[0].Name, "sorted by name")
	assert.InDelta(t, 0.02, st.Params[1].M[0], exactTol)
	assert.InDelta(t, 0.00031225, st.Params[1].V[0], exactTol)
}

func TestAdamWZeroLRLeavesParams(t *testing.T) {
	opt, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.5})
	require.NoError(t, err)
	data := []float32{1, -2, 3}
	opt.Step([]Param{{Name: "x", Data: data, Grad: []float32{1, 1, 1}}}, 0)
	assert.Equal(t, []float32{1, -2, 3}, data, "lr 0 at the first warmup step changes nothing")
	assert.InDelta(t, 0.1, opt.State().Params[0].M[0], exactTol, "but the moments advance, as in PyTorch")
}

func TestNewAdamWBounds(t *testing.T) {
	ok := Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	cases := []struct {
		name string
		mod  func(*Hyper)
		want string
	}{
		{"beta1 one", func(h *Hyper) { h.Beta1 = 1 }, "optim: beta1 must be in [0, 1), got 1"},
		{"beta2 negative", func(h *Hyper) { h.Beta2 = -0.1 }, "optim: beta2 must be in [0, 1), got -0.1"},
		{"eps zero", func(h *Hyper) { h.Eps = 0 }, "optim: eps must be finite and > 0, got 0"},
		{"decay NaN", func(h *Hyper) { h.WeightDecay = math.NaN() }, "optim: weight_decay must be finite and >= 0, got NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := ok
			c.mod(&h)
			_, err := NewAdamW(h)
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestAdamWPanicsOnMismatch(t *testing.T) {
	opt, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	require.NoError(t, err)
	assert.Panics(t, func() { opt.Step([]Param{{Name: "x", Data: []float32{1}, Grad: []float32{1, 2}}}, 0.1) })
	assert.Panics(t, func() {
		opt.Step([]Param{{Name: "x", Data: []float32{1}, Grad: []float32{1}}, {Name: "x", Data: []float32{1}, Grad: []float32{1}}}, 0.1)
	})
}

// randomParams returns two params with values and gradients drawn from rng.
func randomParams(rng *rand.Rand) []Param {
	mk := func(name string, n int) Param {
		p := Param{Name: name, Data: make([]float32, n), Grad: make([]float32, n)}
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64())
		}
		return p
	}
	return []Param{mk("a", 7), mk("b", 3)}
}

func fillGrads(rng *rand.Rand, ps []Param) {
	for _, p := range ps {
		for i := range p.Grad {
			p.Grad[i] = float32(rng.NormFloat64())
		}
	}
}

func cloneParams(ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: p.Name, Data: slices.Clone(p.Data), Grad: slices.Clone(p.Grad), NoDecay: p.NoDecay}
	}
	return out
}

func TestStateRoundTripContinuesIdentically(t *testing.T) {
	h := Hyper{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01}
	rng := rand.New(rand.NewPCG(1, 2))
	a, err := NewAdamW(h)
	require.NoError(t, err)
	pa := randomParams(rng)
	for range 3 {
		fillGrads(rng, pa)
		a.Step(pa, 1e-3)
	}
	b, err := NewAdamW(h)
	require.NoError(t, err)
	require.NoError(t, b.SetState(a.State()))
	pb := cloneParams(pa)
	for range 2 {
		fillGrads(rng, pa)
		for i := range pa {
			copy(pb[i].Grad, pa[i].Grad)
		}
		a.Step(pa, 1e-3)
		b.Step(pb, 1e-3)
	}
	for i := range pa {
		assert.Equal(t, pa[i].Data, pb[i].Data, "param %s bit for bit", pa[i].Name)
	}
	assert.Equal(t, a.State(), b.State())

	// The exported state is a copy: changing it does not touch the optimizer.
	st := a.State()
	st.Params[0].M[0] = 1e9
	assert.NotEqual(t, 1e9, a.State().Params[0].M[0])
}

func TestSetStateRejects(t *testing.T) {
	cases := []struct {
		name string
		st   State
		want string
	}{
		{"negative step", State{Step: -1}, "optim: state step must be >= 0, got -1"},
		{"duplicate", State{Params: []ParamState{{Name: "a"}, {Name: "a"}}}, "optim: state has param a twice"},
		{"lengths", State{Params: []ParamState{{Name: "a", M: []float64{1}}}}, "optim: state of a has 1 first moments and 0 second moments"},
		{"NaN m", State{Params: []ParamState{{Name: "a", M: []float64{math.NaN()}, V: []float64{1}}}}, "optim: state a.m[0] must be finite, got NaN"},
		{"negative v", State{Params: []ParamState{{Name: "a", M: []float64{0}, V: []float64{-1}}}}, "optim: state a.v[0] must be finite and >= 0, got -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
			require.NoError(t, err)
			err = o.SetState(c.st)
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestAdamWDeterministic(t *testing.T) {
	run := func() []Param {
		rng := rand.New(rand.NewPCG(7, 7))
		o, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1})
		require.NoError(t, err)
		ps := randomParams(rng)
		for range 5 {
			fillGrads(rng, ps)
			o.Step(ps, 1e-2)
		}
		return ps
	}
	assert.Equal(t, run(), run())
}

func TestClipGradNorm(t *testing.T) {
	cases := []struct {
		name     string
		grads    [][]float32
		maxNorm  float64
		wantNorm float64
		want     [][]float64
	}{
		{
			// ‖(3, 4)‖ = 5 over two params; 1/(5 + 1e-6) scales each.
			name: "above", grads: [][]float32{{3}, {4}}, maxNorm: 1, wantNorm: 5,
			want: [][]float64{{3 / (5 + 1e-6)}, {4 / (5 + 1e-6)}},
		},
		{
			// max = norm: the coefficient 5/(5 + 1e-6) is still < 1, as in torch.
			name: "at the bound", grads: [][]float32{{3, 4}}, maxNorm: 5, wantNorm: 5,
			want: [][]float64{{3 * 5 / (5 + 1e-6), 4 * 5 / (5 + 1e-6)}},
		},
		{
			name: "below", grads: [][]float32{{0.3, 0.4}}, maxNorm: 1, wantNorm: 0.5,
			want: [][]float64{{0.3, 0.4}},
		},
		{
			name: "disabled", grads: [][]float32{{30, 40}}, maxNorm: 0, wantNorm: 50,
			want: [][]float64{{30, 40}},
		},
		{
			// √(1 + 4 + 4) = 3 with a nil gradient skipped.
			name: "nil grad skipped", grads: [][]float32{{1, 2}, nil, {2}}, maxNorm: 10, wantNorm: 3,
			want: [][]float64{{1, 2}, nil, {2}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := make([]Param, len(c.grads))
			for i, g := range c.grads {
				ps[i] = Param{Name: string(rune('a' + i)), Data: make([]float32, len(g)), Grad: slices.Clone(g)}
			}
			norm := ClipGradNorm(ps, c.maxNorm)
			assert.InDelta(t, c.wantNorm, norm, 1e-6)
			for i := range ps {
				require.Len(t, ps[i].Grad, len(c.want[i]))
				for j := range ps[i].Grad {
					assert.InDelta(t, c.want[i][j], float64(ps[i].Grad[j]), f32Tol, "param %d [%d]", i, j)
				}
			}
		})
	}
}

func TestClipGradNormNonFinite(t *testing.T) {
	ps := []Param{{Name: "a", Data: make([]float32, 2), Grad: []float32{float32(math.Inf(1)), 1}}}
	norm := ClipGradNorm(ps, 1)
	assert.True(t, math.IsInf(norm, 1))
	assert.Equal(t, float32(1), ps[0].Grad[1], "gradients untouched")
}

func TestSchedules(t *testing.T) {
	// All with PeakLR 2, Warmup 10, Total 110, so post-warmup progress is
	// (step − 10)/100.
	const lrTol = 1e-12 // float64 evaluation of the same closed forms
	cases := []struct {
		name     string
		kind     string
		minRatio float64
		step     int
		want     float64
	}{
		{"warmup start", "cosine", 0, 0, 0},                      // 0/10
		{"warmup middle", "cosine", 0, 5, 1},                     // 2·5/10
		{"warmup last", "linear", 0, 9, 1.8},                     // 2·9/10
		{"cosine peak", "cosine", 0, 10, 2},                      // ½(1 + cos 0) = 1
		{"cosine quarter", "cosine", 0, 35, 1.70710678118654752}, // 2·½(1 + cos(π/4)) = 1 + √2/2
		{"cosine half", "cosine", 0, 60, 1},                      // 2·½(1 + cos(π/2)) = 1
		{"cosine end", "cosine", 0, 110, 0},                      // ½(1 + cos π) = 0
		{"cosine half min", "cosine", 0.1, 60, 1.1},              // 2·(0.5·0.9 + 0.1)
		{"cosine end min", "cosine", 0.1, 110, 0.2},              // 2·(0·0.9 + 0.1)
		{"warmup min ignored", "cosine", 0.1, 5, 1},              // warmup is not lifted
		{"linear peak", "linear", 0, 10, 2},                      // (110 − 10)/100
		{"linear middle", "linear", 0, 60, 1},                    // 2·(110 − 60)/100
		{"linear end", "linear", 0, 110, 0},                      // 0
		{"linear beyond", "linear", 0, 200, 0},                   // max(0, −0.9)
		{"linear middle min", "linear", 0.5, 60, 1.5},            // 2·(0.5·0.5 + 0.5)
		{"constant warmup", "constant", 0, 3, 0.6},               // 2·3/10
		{"constant after", "constant", 0.5, 50, 2},               // no decay, no lift
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSchedule(c.kind, 2, 10, 110, c.minRatio)
			require.NoError(t, err)
			got := s.LR(c.step)
			require.False(t, math.IsNaN(got) || math.IsInf(got, 0))
			assert.InDelta(t, c.want, got, lrTol)
		})
	}
}

func TestScheduleNoWarmup(t *testing.T) {
	s, err := NewSchedule("cosine", 1, 0, 4, 0)
	require.NoError(t, err)
	// Step 0 uses the peak; step k uses ½(1 + cos(πk/4)).
	assert.InDelta(t, 1, s.LR(0), 1e-15)
	assert.InDelta(t, 0.5, s.LR(2), 1e-15)
}

func TestNewScheduleRejects(t *testing.T) {
	cases := []struct {
		name      string
		kind      string
		lr        float64
		w, total  int
		min       float64
		wantError string
	}{
		{"kind", "step", 1, 0, 1, 0, `optim: schedule must be one of "cosine", "linear", "constant", got "step"`},
		{"lr", "linear", 0, 0, 1, 0, "optim: peak learning rate must be finite and > 0, got 0"},
		{"warmup", "linear", 1, -1, 1, 0, "optim: warmup must be >= 0, got -1"},
		{"total", "linear", 1, 0, 0, 0, "optim: total steps must be > 0, got 0"},
		{"min", "linear", 1, 0, 1, 1.5, "optim: min_lr_ratio must be in [0, 1], got 1.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewSchedule(c.kind, c.lr, c.w, c.total, c.min)
			require.Error(t, err)
			assert.Equal(t, c.wantError, err.Error())
		})
	}
}

// TestAdamWNonFinite checks that an update that would leave a non-finite
// parameter is refused whole: no parameter, moment or step count changes.
func TestAdamWNonFinite(t *testing.T) {
	for _, c := range []struct {
		name string
		g    float32
		lr   float64
		want string
	}{
		{"infinite gradient", float32(math.Inf(1)), 1e-3, "optim: update of b[1] is not finite"},
		{"NaN gradient", float32(math.NaN()), 1e-3, "optim: update of b[1] is not finite"},
		{"beyond float32", 1, 1e39, "optim: update of a[0] is not finite"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01})
			require.NoError(t, err)
			ps := []Param{
				{Name: "a", Data: []float32{1, 2}, Grad: []float32{0.5, -0.5}},
				{Name: "b", Data: []float32{3, 4}, Grad: []float32{0.25, 0.25}},
			}
			require.NoError(t, o.Step(ps, 1e-3))
			before := o.State()
			data := [][]float32{slices.Clone(ps[0].Data), slices.Clone(ps[1].Data)}
			ps[1].Grad[1] = c.g
			err = o.Step(ps, c.lr)
			var nf *NonFiniteError
			require.ErrorAs(t, err, &nf)
			assert.Contains(t, err.Error(), c.want)
			assert.Equal(t, before, o.State(), "state unchanged")
			assert.Equal(t, data[0], ps[0].Data, "params unchanged")
			assert.Equal(t, data[1], ps[1].Data, "params unchanged")
		})
	}
}

// TestAdamWCheckedPath updates a parameter so large that the bound of the
// one-pass update cannot prove it finite: the checked path must give the
// hand-computed value.
func TestAdamWCheckedPath(t *testing.T) {
	o, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1})
	require.NoError(t, err)
	const x0, lr = 3e38, 1e-3
	ps := []Param{{Name: "big", Data: []float32{x0}, Grad: []float32{0.5}}}
	require.False(t, o.provablyFinite(ps, chunksOf(ps), lr, lr/0.1))
	require.NoError(t, o.Step(ps, lr))
	// Step 1: m̂/(√v̂+ε) = 0.5/(0.5+1e-8) ≈ 1, so x = x0·(1−lr·0.1) − lr.
	want := float64(float32(x0))*(1-lr*0.1) - lr*0.5/(0.5+1e-8)
	assert.Equal(t, float32(want), ps[0].Data[0])
}

// TestAdamWSplitIndependent updates parameters of several sizes, cut into
// chunks shared out over goroutines, and checks the result equals the
// one-goroutine result bit for bit.
func TestAdamWSplitIndependent(t *testing.T) {
	run := func(procs int) ([][]float32, State) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		rng := rand.New(rand.NewPCG(3, 3))
		var ps []Param
		for i, n := range []int{5*parChunk + 7, 7, parChunk, parChunk + 1, 3 * parChunk} {
			p := Param{Name: string(rune('a' + i)), Data: make([]float32, n), Grad: make([]float32, n), NoDecay: i == 1}
			for j := range n {
				p.Data[j] = float32(rng.NormFloat64())
			}
			ps = append(ps, p)
		}
		o, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1})
		require.NoError(t, err)
		for range 3 {
			for _, p := range ps {
				for j := range p.Grad {
					p.Grad[j] = float32(rng.NormFloat64())
				}
			}
			require.NoError(t, o.Step(ps, 1e-2))
		}
		var data [][]float32
		for _, p := range ps {
			data = append(data, p.Data)
		}
		return data, o.State()
	}
	d1, s1 := run(1)
	d4, s4 := run(4)
	assert.Equal(t, d1, d4)
	assert.Equal(t, s1, s4)
}

// BenchmarkAdamWStep is one update of 2²⁰ parameters in 4 tensors.
func BenchmarkAdamWStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	var ps []Param
	for i := range 4 {
		n := 1 << 18
		p := Param{Name: string(rune('a' + i)), Data: make([]float32, n), Grad: make([]float32, n)}
		for j := range n {
			p.Data[j], p.Grad[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		ps = append(ps, p)
	}
	o, err := NewAdamW(Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := o.Step(ps, 1e-4); err != nil {
			b.Fatal(err)
		}
	}
}
