package model

import (
	"fmt"

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
//
// It does not run a graph: the rows of a call are merged into a trie of
// their distinct token prefixes and each distinct prefix is run once
// (causal attention makes a position's states a function of its prefix),
// so rows that share a prompt, or completions that share a start, cost
// only their distinct positions. Each position runs the arithmetic of the
// training graph (see the package documentation), so scores equal
// [Runner.Forward]'s bit for bit.
type Scorer struct {
	w      *Weights
	dt     tensor.Dtype
	rows   int
	length int
	outs   int
	tr     *prefixTrie
	ids    []int
	w64    fwdWeights[float64]
	b32    fwdBuffers[float32]
	b64    fwdBuffers[float64]
}

// NewScorer builds a scorer for batches of up to rows sequences and
// outputs selected sums.
func NewScorer(w *Weights, rows, outputs int, opts ...Option) (*Scorer, error) {
	o := resolve(w.cfg, opts)
	if err := checkShape(w.cfg, rows, o.length, outputs); err != nil {
		return nil, err
	}
	return &Scorer{w: w, dt: o.dt, rows: rows, length: o.length, outs: outputs, tr: newPrefixTrie(w.cfg.Vocab)}, nil
}

// checkShape validates the per-call shape of a runner or scorer.
func checkShape(cfg Config, rows, length, outputs int) error {
	if rows < 1 {
		return fmt.Errorf("model: rows must be ≥ 1, got %d", rows)
	}
	if outputs < 1 {
		return fmt.Errorf("model: outputs must be ≥ 1, got %d", outputs)
	}
	if length < 1 || length > cfg.Context {
		return fmt.Errorf("model: length must be in [1, %d] (context), got %d", cfg.Context, length)
	}
	return nil
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
func (s *Scorer) Rows() int { return s.rows }

// Length returns the number of model positions per row.
func (s *Scorer) Length() int { return s.length }

// Weights returns the weights the scorer reads at every call.
func (s *Scorer) Weights() *Weights { return s.w }

// Score returns the outputs defined by b (see [Batch]).
func (s *Scorer) Score(b *Batch) ([]float64, error) { return s.score(b, false) }

// ScoreWPO returns, for each output of b, the sum over its positions t of
// log p(y_t) − log Σ_v p(v)², the per-token term of WPO's weight (Zhou et
// al. 2024, "WPO: Enhancing RLHF with Weighted Preference Optimization",
// arXiv:2406.11827, Eq. 2; TRL's use_weighting). No gradient is kept.
func (s *Scorer) ScoreWPO(b *Batch) ([]float64, error) { return s.score(b, true) }

func (s *Scorer) score(b *Batch, wpo bool) ([]float64, error) {
	if err := validateBatch(b, s.rows, s.length, s.w.cfg.Vocab, s.outs); err != nil {
		return nil, err
	}
	s.tr.wpo = wpo
	defer func() { s.tr.wpo = false }()
	s.tr.reset()
	first := make([]int, len(b.Rows)) // offset of each row's node ids in s.ids
	s.ids = s.ids[:0]
	for r, row := range b.Rows {
		first[r] = len(s.ids)
		s.ids = append(s.ids, make([]int, len(row))...)
		s.tr.insert(row, s.ids[first[r]:])
	}
	s.forward()
	lp := s.tr.lp
	if wpo {
		lp = s.tr.lpw
	}
	out := make([]float64, s.outs)
	sumSpans(out, b.Spans, func(row, j int) float64 { return lp[s.ids[first[row]+j]] })
	return out, nil
}

func (s *Scorer) forward() {
	if s.dt == tensor.Float32 {
		trieForward(s.w, weightsAs[float32](s.w, nil), s.tr, &s.b32)
		return
	}
	s.w64 = weightsAs(s.w, s.w64)
	trieForward(s.w, s.w64, s.tr, &s.b64)
}

// Seq is one sequence for [Scorer.ScoreAll]: its score is
// Σ_{j=From}^{To−1} log p(Tokens[j] | Tokens[:j]).
type Seq struct {
	Tokens   []int
	From, To int
}

// ScoreAll scores any number of sequences. They are checked Rows() at a
// time and run together in groups of consecutive sequences holding up to
// Rows()·Length() distinct prefixes, so shared prefixes anywhere in a group
// are computed once. It needs a scorer with outputs ≥ rows.
func (s *Scorer) ScoreAll(seqs []Seq) ([]float64, error) {
	rows := s.rows
	if s.outs < rows {
		return nil, fmt.Errorf("model: score all needs outputs ≥ rows, scorer has %d outputs and %d rows", s.outs, rows)
	}
	res := make([]float64, len(seqs))
	budget := rows * s.length
	s.tr.reset()
	s.ids = s.ids[:0]
	first := make([]int, 0, rows)
	group := 0 // first sequence of the pending group
	flush := func(end int) {
		if group == end {
			return
		}
		s.forward()
		for i, q := range seqs[group:end] {
			ids := s.ids[first[i]:]
			for j := q.From; j < q.To; j++ {
				res[group+i] += s.tr.lp[ids[j]]
			}
		}
		s.tr.reset()
		s.ids = s.ids[:0]
		first = first[:0]
		group = end
	}
	for start := 0; start < len(seqs); start += rows {
		chunk := seqs[start:min(start+rows, len(seqs))]
		b := &Batch{Rows: make([][]int, len(chunk)), Spans: make([]Span, len(chunk))}
		for i, q := range chunk {
			b.Rows[i] = q.Tokens
			b.Spans[i] = Span{Out: i, Row: i, From: q.From, To: q.To}
		}
		if err := validateBatch(b, rows, s.length, s.w.cfg.Vocab, s.outs); err != nil {
			return nil, fmt.Errorf("model: sequences %d..%d: %w", start, start+len(chunk)-1, err)
		}
		for _, q := range chunk {
			first = append(first, len(s.ids))
			s.ids = append(s.ids, make([]int, len(q.Tokens))...)
			s.tr.insert(q.Tokens, s.ids[first[len(first)-1]:])
		}
		if s.tr.nInner >= budget {
			flush(start + len(chunk))
		}
	}
	flush(len(seqs))
	return res, nil
}

// Close releases the scorer's buffers; the scorer stays usable. It always
// returns nil.
func (s *Scorer) Close() error {
	s.tr.reset()
	s.ids, s.w64 = nil, nil
	s.b32, s.b64 = fwdBuffers[float32]{}, fwdBuffers[float64]{}
	return nil
}
