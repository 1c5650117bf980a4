package model

import (
	"errors"

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
// and its weight-decay group, in the weights' order.
func (t *Trainable) Params() []optim.Param {
	grads := t.runner.Grads()
	ps := make([]optim.Param, len(t.w.names))
	for i, name := range t.w.names {
		ps[i] = optim.Param{Name: name, Data: t.w.data[i], Grad: grads[name], NoDecay: t.noDec[i]}
	}
	return ps
}

// Close releases the graph and the scorer.
func (t *Trainable) Close() error {
	return errors.Join(t.runner.Close(), t.scorer.Close())
}
