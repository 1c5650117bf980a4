package model

import (
	"errors"
	"slices"

	"github.com/prefopt/prefopt/host/optim"
)

// Trainable is a policy being trained: its weights, a training graph and a
// forward-only scorer over the same weights, built once for batches of up to
// rows sequences and outputs selected sums. It is not safe for concurrent
// use.
type Trainable struct {
	w      *Weights
	runner *Runner
	scorer *Scorer
	noDec  []bool
	ps     []optim.Param
	g32    [][]float32 // float32 gradients of a float64 runner
	zero   []float32   // gradient of a parameter with none yet
}

// NewTrainable builds the training graph and scorer for w, which it updates
// in place through [Trainable.Params]. The options apply to both.
func NewTrainable(w *Weights, rows, outputs int, opts ...Option) (*Trainable, error) {
	r, err := NewRunner(w, rows, outputs, opts...)
	if err != nil {
		return nil, err
	}
	s, err := NewScorer(w, rows, outputs, opts...)
	if err != nil {
		r.Close()
		return nil, err
	}
	t := &Trainable{w: w, runner: r, scorer: s}
	for _, name := range w.names {
		t.noDec = append(t.noDec, NoDecay(w, name))
	}
	return t, nil
}

// NoDecay reports whether parameter name of w is excluded from weight decay:
// biases and LayerNorm parameters (1-D) and the embeddings, as transformers'
// Trainer and nanoGPT group them.
func NoDecay(w *Weights, name string) bool {
	return len(w.Shape(name)) < 2 || name == "tok.weight" || name == "pos.weight"
}

// Weights returns the live weights.
func (t *Trainable) Weights() *Weights { return t.w }

// Forward returns the outputs of b and keeps the run for [Trainable.Backward].
func (t *Trainable) Forward(b *Batch) ([]float64, error) { return t.runner.Forward(b) }

// Backward sets the gradients to ∂(Σ_i g[i]·out[i])/∂θ for the outputs of the
// last Forward.
func (t *Trainable) Backward(g []float64) error {
	t.runner.ZeroGrads()
	return t.runner.Backward(g)
}

// Score returns the outputs of b without keeping anything for a backward
// pass, for evaluation.
func (t *Trainable) Score(b *Batch) ([]float64, error) { return t.scorer.Score(b) }

// ScoreWPO returns WPO's per-output sums of log p(y_t) − log Σ_v p(v)²
// (see [Scorer.ScoreWPO]) without gradient.
func (t *Trainable) ScoreWPO(b *Batch) ([]float64, error) { return t.scorer.ScoreWPO(b) }

// Params returns every parameter with the gradients of the last Backward
// and its weight-decay group, in the weights' order. With float32
// arithmetic Grad is the runner's live gradient array, not a copy:
// scaling it (gradient clipping) scales the gradient the next
// [Runner.Grads] reports, until the next Backward resets it; with
// [WithFloat64] it is a float32 rounding, rewritten by every call.
func (t *Trainable) Params() []optim.Param {
	if t.ps == nil {
		t.ps = make([]optim.Param, len(t.w.names))
	}
	for i, name := range t.w.names {
		var g []float32
		switch d := t.runner.gradData(i).(type) {
		case []float32:
			g = d
		case []float64:
			if len(t.g32) != len(t.w.names) {
				t.g32 = make([][]float32, len(t.w.names))
			}
			g = grow(&t.g32[i], len(d))
			for j, x := range d {
				g[j] = float32(x)
			}
		default:
			g = grow(&t.zero, len(t.w.data[i]))
			clear(g)
		}
		t.ps[i] = optim.Param{Name: name, Data: t.w.data[i], Grad: g, NoDecay: t.noDec[i]}
	}
	return slices.Clone(t.ps)
}

// Close releases the graph and the scorer.
func (t *Trainable) Close() error {
	return errors.Join(t.runner.Close(), t.scorer.Close())
}
