package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Option configures a [Runner] or [Scorer].
type Option func(*options)

type options struct {
	dt     tensor.Dtype
	length int
}

// WithFloat64 computes in float64 instead of float32. Weights stay float32
// and are converted at every call; use it for gradient checks.
func WithFloat64() Option { return func(o *options) { o.dt = tensor.Float64 } }

// WithLength sets the number of model positions T per row (default
// Config.Context). Rows may then hold up to T+1 tokens.
func WithLength(t int) Option { return func(o *options) { o.length = t } }

func resolve(cfg Config, opts []Option) options {
	o := options{dt: tensor.Float32, length: cfg.Context}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Scorer computes selected log-prob sums without gradients, for a frozen
// reference model and for evaluation. It is built once for (weights, rows,
// outputs) and reused; it is not safe for concurrent use.
type Scorer struct {
	w    *Weights
	nt   *net
	m    G.VM
	p32  *packed[float32]
	p64  *packed[float64]
	outs int
}

// NewScorer builds the forward graph for batches of up to rows sequences and
// outputs selected sums.
func NewScorer(w *Weights, rows, outputs int, opts ...Option) (*Scorer, error) {
	o := resolve(w.cfg, opts)
	nt, err := buildNet(w, rows, o.length, outputs, o.dt)
	if err != nil {
		return nil, err
	}
	s := &Scorer{w: w, nt: nt, outs: outputs, m: G.NewTapeMachine(nt.g)}
	s.p32, s.p64 = newPackers(nt)
	return s, nil
}

func newPackers(nt *net) (*packed[float32], *packed[float64]) {
	if nt.dt == tensor.Float32 {
		return newPacked[float32](nt.rows, nt.length, nt.cfg.Vocab, nt.outs), nil
	}
	return nil, newPacked[float64](nt.rows, nt.length, nt.cfg.Vocab, nt.outs)
}

// prepare validates b and loads it and the current weights into the graph.
func prepare(nt *net, w *Weights, p32 *packed[float32], p64 *packed[float64], b *Batch) error {
	if p32 != nil {
		if err := p32.fill(b, nt.rows, nt.length, nt.cfg.Vocab, nt.outs); err != nil {
			return err
		}
		load(nt, p32)
	} else {
		if err := p64.fill(b, nt.rows, nt.length, nt.cfg.Vocab, nt.outs); err != nil {
			return err
		}
		load(nt, p64)
	}
	nt.syncParams(w)
	return nil
}

// Rows returns the number of rows per call.
func (s *Scorer) Rows() int { return s.nt.rows }

// Length returns the number of model positions per row.
func (s *Scorer) Length() int { return s.nt.length }

// Weights returns the weights the scorer reads at every call.
func (s *Scorer) Weights() *Weights { return s.w }

// Score returns the outputs defined by b (see [Batch]).
func (s *Scorer) Score(b *Batch) ([]float64, error) {
	if err := prepare(s.nt, s.w, s.p32, s.p64, b); err != nil {
		return nil, err
	}
	s.m.Reset()
	if err := s.m.RunAll(); err != nil {
		return nil, fmt.Errorf("model: forward: %w", err)
	}
	return toFloat64(s.nt.out.Value()), nil
}

// Seq is one sequence for [Scorer.ScoreAll]: its score is
// Σ_{j=From}^{To−1} log p(Tokens[j] | Tokens[:j]).
type Seq struct {
	Tokens   []int
	From, To int
}

// ScoreAll scores any number of sequences, Rows() at a time. It needs a
// scorer with outputs ≥ rows.
func (s *Scorer) ScoreAll(seqs []Seq) ([]float64, error) {
	rows := s.nt.rows
	if s.outs < rows {
		return nil, fmt.Errorf("model: score all needs outputs ≥ rows, scorer has %d outputs and %d rows", s.outs, rows)
	}
	res := make([]float64, 0, len(seqs))
	for start := 0; start < len(seqs); start += rows {
		chunk := seqs[start:min(start+rows, len(seqs))]
		b := &Batch{Rows: make([][]int, len(chunk)), Spans: make([]Span, len(chunk))}
		for i, q := range chunk {
			b.Rows[i] = q.Tokens
			b.Spans[i] = Span{Out: i, Row: i, From: q.From, To: q.To}
		}
		out, err := s.Score(b)
		if err != nil {
			return nil, fmt.Errorf("model: sequences %d..%d: %w", start, start+len(chunk)-1, err)
		}
		res = append(res, out[:len(chunk)]...)
	}
	return res, nil
}

// Close releases the machine.
func (s *Scorer) Close() error { return s.m.Close() }

func toFloat64(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	case float32:
		return []float64{float64(d)}
	case float64:
		return []float64{d}
	}
	panic(fmt.Sprintf("model: unexpected value type %T", v.Data()))
}
