package model

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Runner computes selected log-prob sums and the gradient of any linear
// combination of them with respect to every parameter. It is built once
// for (weights, rows, outputs, dtype) and reused every step; it is not safe
// for concurrent use.
//
// Forward runs the graph up to the outputs and pauses there; Backward
// supplies g = ∂L/∂out and resumes the same run through the backward pass,
// adding d(Σ_r g_r·out_r)/dθ into the gradients. The forward pass is never
// recomputed: a graph node between the outputs and the backward pass hands
// the outputs to Forward's caller and waits for g.
type Runner struct {
	w      *Weights
	nt     *net
	m      G.VM
	p32    *packed[float32]
	p64    *packed[float64]
	h      *hook
	done   chan error
	active bool // a run is paused at the hook
}

// hook connects a paused machine run to Forward and Backward.
type hook struct {
	ready chan struct{}  // the forward pass is done, from the machine to Forward
	g     chan []float64 // g from Backward to the machine; nil aborts the run
}

var errAborted = errors.New("model: run aborted")

// NewRunner builds the forward and backward graph for batches of up to rows
// sequences and outputs selected sums.
func NewRunner(w *Weights, rows, outputs int, opts ...Option) (*Runner, error) {
	o := resolve(w.cfg, opts)
	nt, err := buildNet(w, rows, o.length, outputs, o.dt)
	if err != nil {
		return nil, err
	}
	h := &hook{ready: make(chan struct{}), g: make(chan []float64)}
	gNode, err := G.ApplyOp(&hookOp{h: h, dt: o.dt}, nt.out)
	if err != nil {
		return nil, fmt.Errorf("model: build gradient hook: %w", err)
	}
	grads, err := G.Backpropagate(G.Nodes{nt.out}, G.Nodes{gNode}, nt.params)
	if err != nil {
		return nil, fmt.Errorf("model: build backward graph: %w", err)
	}
	// Compile only what the parameter gradients need: Backpropagate also
	// builds gradients of constants and data inputs (one-hot, selection,
	// mask, scalar factors), which would otherwise run every step.
	sub := nt.g.SubgraphRoots(grads...)
	r := &Runner{w: w, nt: nt, h: h, done: make(chan error, 1),
		m: G.NewTapeMachine(sub, G.BindDualValues(nt.params...), G.WithEngine(engine{}))}
	r.p32, r.p64 = newPackers(nt)
	return r, nil
}

// Rows returns the number of rows per call.
func (r *Runner) Rows() int { return r.nt.rows }

// Length returns the number of model positions per row.
func (r *Runner) Length() int { return r.nt.length }

// Weights returns the live weights. Updating their Data in place between
// steps is seen by the next Forward; updating them between Forward and
// Backward makes the gradient inconsistent.
func (r *Runner) Weights() *Weights { return r.w }

// Forward returns the outputs defined by b (see [Batch]) and leaves the run
// paused for [Runner.Backward]. A Forward while a run is paused discards
// that run without touching the gradients.
//
// The outputs are float64 sums of float64 per-token log-probs,
// bit-identical to [Scorer.Score] of the same batch at the same weights and
// dtype; a sequence's sums do not depend on the other rows of b, its row
// index or [WithLength] (see the package documentation).
func (r *Runner) Forward(b *Batch) ([]float64, error) {
	r.abort()
	if err := prepare(r.nt, r.w, r.p32, r.p64, b); err != nil {
		return nil, err
	}
	r.m.Reset()
	go func() { r.done <- r.m.RunAll() }()
	select {
	case <-r.h.ready:
		r.active = true
		t := r.nt.length
		out := make([]float64, r.nt.outs)
		sumSpans(out, b.Spans, func(row, j int) float64 { return r.nt.lp[row*t+j-1] })
		return out, nil
	case err := <-r.done:
		return nil, fmt.Errorf("model: forward: %w", err)
	}
}

// Backward adds d(Σ_r g[r]·out[r])/dθ, for the outputs of the last Forward,
// into the gradients. It errors if no Forward is pending, if len(g) differs
// from the number of outputs, or if g holds a non-finite value (the run then
// stays pending).
func (r *Runner) Backward(g []float64) error {
	if !r.active {
		return errors.New("model: backward without a pending forward")
	}
	if len(g) != r.nt.outs {
		return fmt.Errorf("model: backward: g has %d values, want %d", len(g), r.nt.outs)
	}
	for i, v := range g {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("model: backward: g[%d] is %v", i, v)
		}
	}
	r.active = false
	r.h.g <- append([]float64(nil), g...)
	if err := <-r.done; err != nil {
		return fmt.Errorf("model: backward: %w", err)
	}
	return nil
}

// abort ends a paused run before it reaches the backward pass.
func (r *Runner) abort() {
	if !r.active {
		return
	}
	r.active = false
	r.h.g <- nil
	<-r.done
}

// ZeroGrads sets every gradient to 0.
func (r *Runner) ZeroGrads() {
	for _, n := range r.nt.params {
		if v, err := n.Grad(); err == nil && v != nil {
			if t, ok := v.(tensor.Tensor); ok {
				t.Zero()
			}
		}
	}
}

// Grads returns a copy of the accumulated gradients by parameter name,
// converted to float32. Before the first Backward they are all 0.
func (r *Runner) Grads() map[string][]float32 {
	out := make(map[string][]float32, len(r.nt.params))
	for i, name := range r.w.names {
		g := make([]float32, len(r.w.data[i]))
		switch d := r.gradData(i).(type) {
		case []float32:
			copy(g, d)
		case []float64:
			for j, x := range d {
				g[j] = float32(x)
			}
		}
		out[name] = g
	}
	return out
}

// gradData returns the live gradient array of parameter i, or nil.
func (r *Runner) gradData(i int) any {
	v, err := r.nt.params[i].Grad()
	if err != nil || v == nil {
		return nil
	}
	return v.Data()
}

// Close ends a paused run and releases the machine. A runner left with a
// paused run keeps one goroutine blocked until Close or the next Forward.
func (r *Runner) Close() error {
	r.abort()
	return r.m.Close()
}

// hookOp tells Forward's caller that the forward pass is done (the outputs
// are read from net.lp) and returns the gradient that Backward supplies. It is the seed of the backward pass and is
// itself not differentiated.
type hookOp struct {
	h  *hook
	dt tensor.Dtype
}

func (op *hookOp) Arity() int { return 1 }

func (op *hookOp) Type() hm.Type {
	t := G.TensorType{Dims: 1, Of: op.dt}
	return hm.NewFnType(t, t)
}

func (op *hookOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("model: hook: input shape is %T", in[0])
	}
	return s.Clone(), nil
}

func (op *hookOp) Do(in ...G.Value) (G.Value, error) {
	op.h.ready <- struct{}{}
	g := <-op.h.g
	if g == nil {
		return nil, errAborted
	}
	if op.dt == tensor.Float32 {
		f := make([]float32, len(g))
		for i, x := range g {
			f[i] = float32(x)
		}
		return tensor.New(tensor.WithBacking(f)), nil
	}
	return tensor.New(tensor.WithBacking(g)), nil
}

func (op *hookOp) ReturnsPtr() bool      { return false }
func (op *hookOp) CallsExtern() bool     { return false }
func (op *hookOp) OverwritesInput() int  { return -1 }
func (op *hookOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "hook%p", op.h) }
func (op *hookOp) String() string        { return "externalGradient" }
func (op *hookOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// DiffWRT marks the input as not differentiated: the hook only seeds the
// backward pass.
func (op *hookOp) DiffWRT(int) []bool { return []bool{false} }

func (op *hookOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errors.New("model: the gradient hook is not differentiable")
}
