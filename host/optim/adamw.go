// Package optim updates named float32 parameters in place: AdamW with
// decoupled weight decay, global gradient-norm clipping, and learning-rate
// schedules with linear warmup.
package optim

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Param is one named parameter tensor, flattened. Data is updated in place;
// Grad holds ∂cost/∂Data and has the same length. A Param with a nil Grad is
// skipped by Step, as PyTorch skips parameters whose .grad is None.
type Param struct {
	Name string
	Data []float32
	Grad []float32
	// NoDecay excludes the parameter from weight decay, as transformers'
	// Trainer excludes biases and LayerNorm weights.
	NoDecay bool
}

// Hyper holds AdamW's hyper-parameters. LR is the peak learning rate: Step
// takes the scheduled rate for each update.
type Hyper struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
}

// AdamW implements torch.optim.AdamW (amsgrad=False, maximize=False). For
// parameter p with gradient g at update t = 1, 2, … with learning rate lr:
//
//	p ← p − lr·λ·p                        (decoupled weight decay, first)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + ε)
//
// in the order of PyTorch's _single_tensor_adamw: weight decay multiplies
// the parameter before the moment update and before the Adam step, using
// the parameter value from before the step. m and v are kept in float64 and
// each element's arithmetic is done in float64, rounded once to float32 when
// written back to Data; each element's update is independent of the
// others, so results are deterministic however the work is split over
// cores. PyTorch keeps float32 moments for float32 parameters, so
// values agree with it to float32 rounding, not bit for bit.
//
// References: Loshchilov & Hutter, "Decoupled Weight Decay Regularization"
// (ICLR 2019); torch/optim/adamw.py and torch/optim/adam.py.
type AdamW struct {
	Hyper
	step  int64
	state map[string]*moments
}

type moments struct {
	m, v []float64
	mMax float64 // max |m_i|
}

// NewAdamW returns an optimizer with no state. It returns an error if a
// hyper-parameter is out of its domain.
func NewAdamW(h Hyper) (*AdamW, error) {
	switch {
	case !(h.Beta1 >= 0 && h.Beta1 < 1):
		return nil, fmt.Errorf("optim: beta1 must be in [0, 1), got %v", h.Beta1)
	case !(h.Beta2 >= 0 && h.Beta2 < 1):
		return nil, fmt.Errorf("optim: beta2 must be in [0, 1), got %v", h.Beta2)
	case !(h.Eps > 0) || math.IsInf(h.Eps, 0):
		return nil, fmt.Errorf("optim: eps must be finite and > 0, got %v", h.Eps)
	case !(h.WeightDecay >= 0) || math.IsInf(h.WeightDecay, 0):
		return nil, fmt.Errorf("optim: weight_decay must be finite and >= 0, got %v", h.WeightDecay)
	}
	return &AdamW{Hyper: h, state: map[string]*moments{}}, nil
}

// Steps returns the number of updates made (PyTorch's state["step"]).
func (o *AdamW) Steps() int64 { return o.step }

// NonFiniteError reports an update that would make a parameter non-finite.
type NonFiniteError struct {
	Param string
	Index int
	Value float64 // the value the parameter would have taken
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("optim: update of %s[%d] is not finite (%v)", e.Param, e.Index, e.Value)
}

// Step applies one update with learning rate lr to every param with a
// gradient. If any updated value would be non-finite in float32 (a
// non-finite gradient, or a value beyond float32's range), it returns a
// *NonFiniteError and changes nothing: neither the params nor the state. It
// panics if a Grad's length differs from its Data's, or if two params share
// a name, or a param's length differs from its state's: these are
// programmer errors.
func (o *AdamW) Step(params []Param, lr float64) error {
	t := float64(o.step + 1)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2Sqrt := math.Sqrt(1 - math.Pow(o.Beta2, t))
	stepSize := lr / bc1
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if seen[p.Name] {
			panic("optim: AdamW.Step: duplicate param " + p.Name)
		}
		seen[p.Name] = true
		if p.Grad == nil {
			continue
		}
		if len(p.Grad) != len(p.Data) {
			panic(fmt.Sprintf("optim: AdamW.Step: param %s has %d values and %d gradients", p.Name, len(p.Data), len(p.Grad)))
		}
		if s := o.state[p.Name]; s != nil && len(s.m) != len(p.Data) {
			panic(fmt.Sprintf("optim: AdamW.Step: param %s has %d values but its state has %d", p.Name, len(p.Data), len(s.m)))
		}
	}
	// One pass computes and applies the update when a cheap scan proves
	// that no value can become non-finite; otherwise a full check pass
	// runs first. Either way a bad update is never half applied.
	chunks := chunksOf(params)
	if !o.provablyFinite(params, chunks, lr, stepSize) {
		for _, p := range params {
			if p.Grad == nil {
				continue
			}
			if err := o.check(p, lr, stepSize, bc2Sqrt); err != nil {
				return err
			}
		}
	}
	states := make([]*moments, len(params))
	decays := make([]float64, len(params))
	for i, p := range params {
		if p.Grad == nil {
			continue
		}
		s := o.state[p.Name]
		if s == nil {
			s = &moments{m: make([]float64, len(p.Data)), v: make([]float64, len(p.Data))}
			o.state[p.Name] = s
		}
		states[i], decays[i] = s, o.decay(p, lr)
	}
	mMax := make([]float64, len(chunks))
	forChunks(chunks, func(ci int, c chunk) {
		p, s, lo, hi := params[c.param], states[c.param], c.lo, c.hi
		mMax[ci] = adamwApply(p.Data[lo:hi], p.Grad[lo:hi], s.m[lo:hi], s.v[lo:hi], o.Beta1, o.Beta2, o.Eps, decays[c.param], stepSize, bc2Sqrt)
	})
	for _, s := range states {
		if s != nil {
			s.mMax = 0
		}
	}
	for ci, c := range chunks {
		s := states[c.param]
		s.mMax = max(s.mMax, mMax[ci])
	}
	o.step++
	return nil
}

// State is AdamW's state, for checkpoints.
type State struct {
	Step   int64        // updates made
	Params []ParamState // sorted by name
}

// ParamState holds the first and second moments of one parameter.
type ParamState struct {
	Name string
	M, V []float64
}

// State returns a deep copy of the optimizer state.
func (o *AdamW) State() State {
	st := State{Step: o.step}
	for _, name := range sortedNames(o.state) {
		s := o.state[name]
		st.Params = append(st.Params, ParamState{
			Name: name,
			M:    append([]float64(nil), s.m...),
			V:    append([]float64(nil), s.v...),
		})
	}
	return st
}

// SetState replaces the optimizer state with a deep copy of st. It returns
// an error if st is malformed: a negative step, duplicate names, M and V of
// different lengths, or non-finite or negative second moments.
func (o *AdamW) SetState(st State) error {
	if st.Step < 0 {
		return fmt.Errorf("optim: state step must be >= 0, got %d", st.Step)
	}
	state := make(map[string]*moments, len(st.Params))
	for _, p := range st.Params {
		if _, dup := state[p.Name]; dup {
			return fmt.Errorf("optim: state has param %s twice", p.Name)
		}
		if len(p.M) != len(p.V) {
			return fmt.Errorf("optim: state of %s has %d first moments and %d second moments", p.Name, len(p.M), len(p.V))
		}
		for i := range p.M {
			if math.IsNaN(p.M[i]) || math.IsInf(p.M[i], 0) {
				return fmt.Errorf("optim: state %s.m[%d] must be finite, got %v", p.Name, i, p.M[i])
			}
			if !(p.V[i] >= 0) || math.IsInf(p.V[i], 0) {
				return fmt.Errorf("optim: state %s.v[%d] must be finite and >= 0, got %v", p.Name, i, p.V[i])
			}
		}
		mx := 0.0
		for _, m := range p.M {
			mx = max(mx, math.Abs(m))
		}
		state[p.Name] = &moments{m: append([]float64(nil), p.M...), v: append([]float64(nil), p.V...), mMax: mx}
	}
	o.step, o.state = st.Step, state
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (o *AdamW) decay(p Param, lr float64) float64 {
	if p.NoDecay {
		return 1
	}
	return 1 - lr*o.WeightDecay
}

// provablyFinite reports whether the update of every param is finite in
// float32, from bounds alone: with every gradient finite and |g| ≤ G,
// every |x| ≤ X and every old |m| ≤ M0, the new moments are finite
// (v ≤ β2·v0 + (1−β2)·G² with G² < 1.2e77) and
// |x'| ≤ X·decay + stepSize·(β1·M0 + (1−β1)·G)/ε, since the Adam
// denominator is ≥ ε. The scan costs two comparisons per value, split
// over the cores by chunks; a false answer only means the full check
// must run.
func (o *AdamW) provablyFinite(params []Param, chunks []chunk, lr, stepSize float64) bool {
	gx := make([][2]float32, len(chunks)) // max |g|, max |x| of each chunk
	forChunks(chunks, func(ci int, c chunk) {
		p := params[c.param]
		gx[ci] = maxAbs2(p.Grad[c.lo:c.hi], p.Data[c.lo:c.hi])
	})
	perParam := make([][2]float32, len(params))
	for ci, c := range chunks {
		m := &perParam[c.param]
		// max propagates a NaN, which then fails finite32.
		m[0], m[1] = max(m[0], gx[ci][0]), max(m[1], gx[ci][1])
	}
	bound := 0.0
	for i, p := range params {
		if p.Grad == nil {
			continue
		}
		g, x := perParam[i][0], perParam[i][1]
		if !finite32(g) || !finite32(x) {
			return false
		}
		m0 := 0.0
		if s := o.state[p.Name]; s != nil {
			m0 = s.mMax
		}
		d := math.Abs(o.decay(p, lr))
		bound = max(bound, float64(x)*d+math.Abs(stepSize)*(o.Beta1*m0+(1-o.Beta1)*float64(g))/o.Eps)
	}
	// Half the range covers the rounding of the bound's own arithmetic.
	return bound < math.MaxFloat32/2
}

// maxAbs2 returns max |g_i| and max |x_i|, NaN if any value is NaN.
func maxAbs2(grad, data []float32) [2]float32 {
	var g, x float32
	data = data[:len(grad)]
	for i, gv := range grad {
		g = max(g, abs32(gv))
		x = max(x, abs32(data[i]))
	}
	return [2]float32{g, x}
}

// check returns the error of the first value of p whose update is not
// finite, computing the update exactly as adamwApply does, without
// writing.
func (o *AdamW) check(p Param, lr, stepSize, bc2Sqrt float64) error {
	s := o.state[p.Name]
	decay := o.decay(p, lr)
	for i, g32 := range p.Grad {
		g := float64(g32)
		var m0, v0 float64
		if s != nil {
			m0, v0 = s.m[i], s.v[i]
		}
		x := float64(p.Data[i]) * decay
		m := o.Beta1*m0 + (1-o.Beta1)*g
		v := o.Beta2*v0 + (1-o.Beta2)*g*g
		x -= stepSize * m / (math.Sqrt(v)/bc2Sqrt + o.Eps)
		if x32 := float64(float32(x)); math.IsNaN(x32) || math.IsInf(x32, 0) || math.IsNaN(m) || math.IsInf(v, 0) {
			return &NonFiniteError{Param: p.Name, Index: i, Value: x}
		}
	}
	return nil
}

// adamwApply updates one range of a parameter in place and returns the
// largest |m| it wrote.
// With AVX-512 it runs eight values at a time (adamwApply8), the same
// operations.
func adamwApply(data, grad []float32, ms, vs []float64, beta1, beta2, eps, decay, stepSize, bc2Sqrt float64) float64 {
	mMax := 0.0
	grad, ms, vs = grad[:len(data)], ms[:len(data)], vs[:len(data)]
	if n8 := len(data) &^ 7; haveAdamW8 && n8 > 0 {
		h := adamwConsts{beta1, 1 - beta1, beta2, 1 - beta2, eps, decay, stepSize, bc2Sqrt}
		mMax = adamwApply8(&data[0], &grad[0], &ms[0], &vs[0], n8, &h)
		data, grad, ms, vs = data[n8:], grad[n8:], ms[n8:], vs[n8:]
	}
	for i, g32 := range grad {
		g := float64(g32)
		x := float64(data[i]) * decay
		m := beta1*ms[i] + (1-beta1)*g
		v := beta2*vs[i] + (1-beta2)*g*g
		x -= stepSize * m / (math.Sqrt(v)/bc2Sqrt + eps)
		ms[i], vs[i] = m, v
		data[i] = float32(x)
		mMax = max(mMax, math.Abs(m))
	}
	return mMax
}

// parChunk is the most values of one chunk of forChunks.
const parChunk = 1 << 15

// chunk is the values lo..hi−1 of param number param.
type chunk struct{ param, lo, hi int }

// chunksOf cuts every param with a gradient into chunks of at most
// parChunk values, in order.
func chunksOf(params []Param) []chunk {
	var cs []chunk
	for i, p := range params {
		if p.Grad == nil {
			continue
		}
		for lo := 0; lo < len(p.Data); lo += parChunk {
			cs = append(cs, chunk{i, lo, min(lo+parChunk, len(p.Data))})
		}
	}
	return cs
}

// forChunks calls f once for every chunk, the chunks shared out over the
// cores when there are many values. Each value belongs to exactly one
// chunk, so elementwise results do not depend on the split.
func forChunks(cs []chunk, f func(i int, c chunk)) {
	total := 0
	for _, c := range cs {
		total += c.hi - c.lo
	}
	workers := min(runtime.GOMAXPROCS(0), len(cs), total/parChunk)
	if workers < 2 {
		for i, c := range cs {
			f(i, c)
		}
		return
	}
	var next atomic.Int64
	run := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(cs) {
				return
			}
			f(i, cs[i])
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(run)
	}
	run()
	wg.Wait()
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func finite32(x float32) bool { return x <= math.MaxFloat32 }
