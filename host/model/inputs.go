package model

import "fmt"

// Span adds the log-probabilities of a run of tokens of one row into one
// output: for j in [From, To) it adds log p(Rows[Row][j] | Rows[Row][:j]).
type Span struct {
	Out  int // output index, in [0, outputs)
	Row  int // row index, in [0, len(Rows))
	From int // first scored token position, ≥ 1 (token 0 has no prediction)
	To   int // one past the last scored position, ≤ len(Rows[Row])
}

// Batch is the input of one call: up to `rows` token sequences and the spans
// that define the outputs
//
//	out[r] = Σ_{s ∈ Spans, s.Out = r} Σ_{j=s.From}^{s.To−1} log p(Rows[s.Row][j] | Rows[s.Row][:j])
//
// Outputs no span names are 0. Spans may overlap and several spans may feed
// one output (e.g. chosen completions in outputs 0..N−1, rejected ones in
// N..2N−1, chosen prompts in 2N..3N−1). A row of n tokens occupies model
// positions 0..n−2 as inputs; it must satisfy 1 ≤ n ≤ T+1, T the Length() of
// the runner or scorer. Positions past the end are padded and, by
// causality, change nothing.
type Batch struct {
	Rows  [][]int
	Spans []Span
}

// packed holds the graph inputs of one batch.
type packed[F float32 | float64] struct {
	ids    []int // [rows·T] model input ids
	onehot []F   // [rows·T, V] one-hot of the next-token targets
	sel    []F   // [outputs, rows·T] span selection counts
}

func newPacked[F float32 | float64](rows, length, vocab, outputs int) *packed[F] {
	n := rows * length
	return &packed[F]{ids: make([]int, n), onehot: make([]F, n*vocab), sel: make([]F, outputs*n)}
}

// fill validates b and writes it into p. On error p is left zeroed.
func (p *packed[F]) fill(b *Batch, rows, length, vocab, outputs int) error {
	clear(p.ids)
	clear(p.onehot)
	clear(p.sel)
	if err := validateBatch(b, rows, length, vocab, outputs); err != nil {
		return err
	}
	n := rows * length
	for r, row := range b.Rows {
		for t := 0; t < min(len(row), length); t++ {
			i := r*length + t
			p.ids[i] = row[t]
			if t+1 < len(row) {
				p.onehot[i*vocab+row[t+1]] = 1
			}
		}
	}
	for _, s := range b.Spans {
		for j := s.From; j < s.To; j++ {
			p.sel[s.Out*n+s.Row*length+j-1]++
		}
	}
	return nil
}

func validateBatch(b *Batch, rows, length, vocab, outputs int) error {
	if len(b.Rows) > rows {
		return fmt.Errorf("model: batch has %d rows, runner holds at most %d", len(b.Rows), rows)
	}
	for r, row := range b.Rows {
		if len(row) < 1 || len(row) > length+1 {
			return fmt.Errorf("model: rows[%d]: length must be in [1, %d], got %d", r, length+1, len(row))
		}
		for t, id := range row {
			if id < 0 || id >= vocab {
				return fmt.Errorf("model: rows[%d][%d]: token %d out of range [0, %d)", r, t, id, vocab)
			}
		}
	}
	for i, s := range b.Spans {
		switch {
		case s.Out < 0 || s.Out >= outputs:
			return fmt.Errorf("model: spans[%d]: out %d out of range [0, %d)", i, s.Out, outputs)
		case s.Row < 0 || s.Row >= len(b.Rows):
			return fmt.Errorf("model: spans[%d]: row %d out of range [0, %d)", i, s.Row, len(b.Rows))
		case s.From < 1 || s.From > s.To || s.To > len(b.Rows[s.Row]):
			return fmt.Errorf("model: spans[%d]: need 1 ≤ from ≤ to ≤ %d (row %d length), got from %d to %d",
				i, len(b.Rows[s.Row]), s.Row, s.From, s.To)
		}
	}
	return nil
}

// sumSpans adds into out the log-prob lp(row, j) of every token a span
// scores: spans in order, positions j ascending within a span, each added
// in float64 to out[span.Out]. It is the one summation order of the
// outputs of [Runner] and [Scorer].
func sumSpans(out []float64, spans []Span, lp func(row, j int) float64) {
	for _, sp := range spans {
		for j := sp.From; j < sp.To; j++ {
			out[sp.Out] += lp(sp.Row, j)
		}
	}
}
