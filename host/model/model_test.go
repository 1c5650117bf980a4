package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tinyCfg = Config{Vocab: 7, Context: 6, Width: 8, Heads: 2, Layers: 2, MLPMult: 2}

// randomizeWeights replaces w's values with N(0, std²) draws (gains
// 1+N(0, std²)), so every parameter matters and no symmetry hides a bug.
func randomizeWeights(w *Weights, seed uint64, std float64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	for _, n := range w.Names() {
		d := w.Data(n)
		for i := range d {
			v := rng.NormFloat64() * std
			if strings.HasSuffix(n, ".gain") {
				v++
			}
			d[i] = float32(v)
		}
	}
}

// tinyBatch has rows of different lengths (one full: Context+1 tokens),
// repeated tokens, overlapping spans, several spans per output, an output no
// span names, and more outputs than rows.
func tinyBatch() (*Batch, int) {
	return &Batch{
		Rows: [][]int{{1, 2, 3, 4, 5, 6, 1}, {3, 1, 4, 1}, {0, 6, 6}},
		Spans: []Span{
			{Out: 0, Row: 0, From: 3, To: 7},
			{Out: 1, Row: 1, From: 2, To: 4},
			{Out: 2, Row: 2, From: 1, To: 3},
			{Out: 3, Row: 0, From: 1, To: 3}, // prompt part of row 0
			{Out: 4, Row: 1, From: 1, To: 4},
			{Out: 4, Row: 0, From: 2, To: 5}, // second span into output 4
		},
	}, 6 // output 5 is unnamed
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"vocab too small", func(c *Config) { c.Vocab = 1 }, "vocab must be in [2, 1048576], got 1"},
		{"context zero", func(c *Config) { c.Context = 0 }, "context must be in [1, 65536], got 0"},
		{"width negative", func(c *Config) { c.Width = -3 }, "width must be in [1, 16384], got -3"},
		{"heads zero", func(c *Config) { c.Heads = 0 }, "heads must be in"},
		{"layers zero", func(c *Config) { c.Layers = 0 }, "layers must be in"},
		{"mlp mult too large", func(c *Config) { c.MLPMult = 65 }, "mlp_mult must be in [1, 64], got 65"},
		{"width not divisible", func(c *Config) { c.Heads = 3 }, "width must be divisible by heads, got width 8 and heads 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyCfg
			c.mutate(&cfg)
			err := cfg.Validate()
			if c.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "model: "))
		})
	}
}

func TestNewWeights(t *testing.T) {
	cfg := Config{Vocab: 64, Context: 16, Width: 32, Heads: 4, Layers: 2, MLPMult: 4}
	w1, err := New(cfg, 42)
	require.NoError(t, err)
	w2, err := New(cfg, 42)
	require.NoError(t, err)
	w3, err := New(cfg, 43)
	require.NoError(t, err)

	names := w1.Names()
	require.Equal(t, names, w2.Names())
	assert.Equal(t, "tok.weight", names[0])
	assert.Equal(t, "head.weight", names[len(names)-1])
	assert.Len(t, names, 2+12*cfg.Layers+3)
	total := 0
	for _, n := range names {
		size := 1
		for _, s := range w1.Shape(n) {
			size *= s
		}
		require.Len(t, w1.Data(n), size, n)
		total += size
		for i, v := range w1.Data(n) {
			require.Equal(t, math.Float32bits(v), math.Float32bits(w2.Data(n)[i]), "%s[%d] differs for the same seed", n, i)
		}
		switch {
		case strings.HasSuffix(n, ".gain"):
			for _, v := range w1.Data(n) {
				require.Equal(t, float32(1), v, n)
			}
		case strings.HasSuffix(n, ".bias"):
			for _, v := range w1.Data(n) {
				require.Equal(t, float32(0), v, n)
			}
		}
	}
	assert.Equal(t, total, w1.NumParams())
	assert.Equal(t, []int{cfg.Width, 3 * cfg.Width}, w1.Shape("blocks.1.attn.qkv.weight"))

	// The sample std of the largest tensor estimates InitStd; with n = 8192
	// draws its relative standard error is 1/√(2n) ≈ 0.8%, so 5% is > 6σ.
	const stdTol = 0.05
	d := w1.Data("blocks.0.mlp.fc.weight")
	var ss float64
	for _, v := range d {
		ss += float64(v) * float64(v)
	}
	assert.InEpsilon(t, InitStd, math.Sqrt(ss/float64(len(d))), stdTol)
	assert.NotEqual(t, w1.Data("tok.weight")[0], w3.Data("tok.weight")[0], "different seeds give different weights")

	c := w1.Clone()
	c.Data("tok.weight")[0] = 5
	assert.NotEqual(t, float32(5), w1.Data("tok.weight")[0], "clone is deep")
	require.NoError(t, c.CopyFrom(w1))
	assert.Equal(t, w1.Data("tok.weight")[0], c.Data("tok.weight")[0])

	_, err = New(Config{}, 1)
	assert.Error(t, err)
	assert.Panics(t, func() { w1.Data("nope") })
}

// TestOutputsMatchReference compares the graph with refOutputs, a plain Go
// float64 forward written separately.
func TestOutputsMatchReference(t *testing.T) {
	const (
		// f64Tol: both sides are float64 with different summation orders;
		// the outputs are O(10), so 1e-10 leaves ~5 orders over rounding.
		f64Tol = 1e-10
		// f32RelTol: float32 has 6e-8 relative precision; errors through
		// two blocks and the log-softmax sums stay below 1e-5 relative.
		f32RelTol = 1e-5
	)
	cases := []struct {
		name string
		cfg  Config
		std  float64
	}{
		{"tiny 2 layers", tinyCfg, 0.5},
		{"one head one layer", Config{Vocab: 5, Context: 6, Width: 6, Heads: 1, Layers: 1, MLPMult: 1}, 0.7},
		{"four heads", Config{Vocab: 9, Context: 8, Width: 8, Heads: 4, Layers: 3, MLPMult: 3}, 0.4},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := New(c.cfg, uint64(ci))
			require.NoError(t, err)
			randomizeWeights(w, uint64(ci), c.std)
			b, outs := tinyBatch()
			for _, row := range b.Rows {
				for i := range row {
					row[i] %= c.cfg.Vocab
				}
			}
			want := refOutputs(w, b, outs)
			assert.Equal(t, 0.0, want[outs-1], "unnamed output")

			s64, err := NewScorer(w, 4, outs, WithFloat64())
			require.NoError(t, err)
			got, err := s64.Score(b)
			require.NoError(t, err)
			r64, err := NewRunner(w, 4, outs, WithFloat64())
			require.NoError(t, err)
			gotR, err := r64.Forward(b)
			require.NoError(t, err)
			s32, err := NewScorer(w, 4, outs)
			require.NoError(t, err)
			got32, err := s32.Score(b)
			require.NoError(t, err)
			r32, err := NewRunner(w, 4, outs)
			require.NoError(t, err)
			got32R, err := r32.Forward(b)
			require.NoError(t, err)

			for i := range want {
				require.True(t, isFinite(got[i]) && isFinite(got32[i]), "output %d: %v %v", i, got[i], got32[i])
				assert.InDelta(t, want[i], got[i], f64Tol, "f64 scorer output %d", i)
				assert.InDelta(t, want[i], gotR[i], f64Tol, "f64 runner output %d", i)
				assert.InDelta(t, want[i], got32[i], f32RelTol*math.Max(1, math.Abs(want[i])), "f32 scorer output %d", i)
				assert.InDelta(t, want[i], got32R[i], f32RelTol*math.Max(1, math.Abs(want[i])), "f32 runner output %d", i)
			}
			for _, x := range []interface{ Close() error }{s64, r64, s32, r32} {
				require.NoError(t, x.Close())
			}
		})
	}
}

// TestDistributionAndCausality checks properties that need no reference:
// each position's distribution sums to 1, a later token never changes an
// earlier log-prob, and padding rows change nothing.
func TestDistributionAndCausality(t *testing.T) {
	// probTol: Σ_v exp(log p_v) over 7 float64 terms, rounding ≈ 1e-16.
	const probTol = 1e-12
	w, err := New(tinyCfg, 3)
	require.NoError(t, err)
	randomizeWeights(w, 3, 0.5)
	V := tinyCfg.Vocab
	s, err := NewScorer(w, V, V, WithFloat64())
	require.NoError(t, err)
	defer s.Close()

	prefix := []int{2, 5, 5, 0}
	seqs := make([]Seq, V)
	for v := range V {
		seqs[v] = Seq{Tokens: append(append([]int(nil), prefix...), v), From: len(prefix), To: len(prefix) + 1}
	}
	lp, err := s.ScoreAll(seqs)
	require.NoError(t, err)
	total := 0.0
	for _, x := range lp {
		require.True(t, isFinite(x))
		assert.Less(t, x, 0.0)
		total += math.Exp(x)
	}
	assert.InDelta(t, 1, total, probTol)

	// Causality: score positions 1..3 of a row, then change every token
	// after position 3 (and the row length). Exact equality: masked
	// attention weights are exactly 0, so the earlier values are computed
	// from identical numbers.
	base := []int{1, 2, 3, 4, 5, 6, 0}
	b1 := &Batch{Rows: [][]int{base}, Spans: []Span{{Out: 0, Row: 0, From: 1, To: 4}, {Out: 1, Row: 0, From: 2, To: 3}}}
	alt := []int{1, 2, 3, 4, 0, 1}
	b2 := &Batch{Rows: [][]int{alt, {6, 6, 6, 6, 6, 6, 6}}, Spans: b1.Spans}
	o1, err := s.Score(b1)
	require.NoError(t, err)
	o2, err := s.Score(b2)
	require.NoError(t, err)
	assert.Equal(t, o1[:2], o2[:2])
	for _, x := range o1[2:] {
		assert.Equal(t, 0.0, x, "outputs without spans are 0")
	}

	// Span additivity: a span's sum equals the sum of its one-token spans.
	parts := &Batch{Rows: [][]int{base}, Spans: []Span{{0, 0, 1, 2}, {1, 0, 2, 3}, {2, 0, 3, 4}}}
	op, err := s.Score(parts)
	require.NoError(t, err)
	assert.InDelta(t, o1[0], op[0]+op[1]+op[2], probTol)
}

// TestLargeLogitsStable scales the head and the attention projections so
// logits and attention scores reach the thousands (the regime where
// gorgonia's SoftMax overflows) and checks finiteness and agreement with the
// reference.
func TestLargeLogitsStable(t *testing.T) {
	// relTol: outputs are O(1e4); float32 keeps ~7 digits.
	const relTol = 1e-4
	w, err := New(tinyCfg, 5)
	require.NoError(t, err)
	randomizeWeights(w, 5, 0.5)
	for _, n := range []string{"head.weight", "blocks.0.attn.qkv.weight", "blocks.1.attn.qkv.weight"} {
		for i := range w.Data(n) {
			w.Data(n)[i] *= 300
		}
	}
	b, outs := tinyBatch()
	want := refOutputs(w, b, outs)
	maxAbs := 0.0
	for _, x := range want {
		maxAbs = math.Max(maxAbs, math.Abs(x))
	}
	require.Greater(t, maxAbs, 1000.0, "the scaled model must produce large log-probs")
	for _, o := range [][]Option{nil, {WithFloat64()}} {
		s, err := NewScorer(w, 3, outs, o...)
		require.NoError(t, err)
		got, err := s.Score(b)
		require.NoError(t, err)
		for i := range want {
			require.True(t, isFinite(got[i]), "output %d = %v", i, got[i])
			assert.InDelta(t, want[i], got[i], relTol*math.Max(1, math.Abs(want[i])), "output %d", i)
		}
		require.NoError(t, s.Close())
	}
}

func TestBatchErrors(t *testing.T) {
	w, err := New(tinyCfg, 1)
	require.NoError(t, err)
	s, err := NewScorer(w, 2, 2)
	require.NoError(t, err)
	defer s.Close()
	ok := []int{1, 2, 3}
	cases := []struct {
		name string
		b    Batch
		want string
	}{
		{"too many rows", Batch{Rows: [][]int{ok, ok, ok}}, "batch has 3 rows, runner holds at most 2"},
		{"empty row", Batch{Rows: [][]int{ok, {}}}, "rows[1]: length must be in [1, 7], got 0"},
		{"row too long", Batch{Rows: [][]int{{1, 2, 3, 4, 5, 6, 0, 1}}}, "rows[0]: length must be in [1, 7], got 8"},
		{"token out of range", Batch{Rows: [][]int{ok, {1, 7}}}, "rows[1][1]: token 7 out of range [0, 7)"},
		{"negative token", Batch{Rows: [][]int{{-1}}}, "rows[0][0]: token -1 out of range [0, 7)"},
		{"span output", Batch{Rows: [][]int{ok}, Spans: []Span{{Out: 2, Row: 0, From: 1, To: 2}}}, "spans[0]: out 2 out of range [0, 2)"},
		{"span row", Batch{Rows: [][]int{ok}, Spans: []Span{{0, 0, 1, 2}, {Out: 0, Row: 1, From: 1, To: 2}}}, "spans[1]: row 1 out of range [0, 1)"},
		{"span from 0", Batch{Rows: [][]int{ok}, Spans: []Span{{Out: 0, Row: 0, From: 0, To: 2}}}, "spans[0]: need 1 ≤ from ≤ to ≤ 3 (row 0 length), got from 0 to 2"},
		{"span past end", Batch{Rows: [][]int{ok}, Spans: []Span{{Out: 0, Row: 0, From: 1, To: 4}}}, "got from 1 to 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Score(&c.b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "model: "))
		})
	}
	_, err = NewScorer(w, 0, 1)
	assert.ErrorContains(t, err, "rows must be ≥ 1, got 0")
	_, err = NewRunner(w, 1, 0)
	assert.ErrorContains(t, err, "outputs must be ≥ 1, got 0")
	_, err = NewRunner(w, 1, 1, WithLength(7))
	assert.ErrorContains(t, err, "length must be in [1, 6] (context), got 7")
}

func TestScoreAllChunks(t *testing.T) {
	// tol: the same float64 numbers summed in a different order.
	const tol = 1e-10
	w, err := New(tinyCfg, 9)
	require.NoError(t, err)
	randomizeWeights(w, 9, 0.5)
	s, err := NewScorer(w, 3, 3, WithFloat64())
	require.NoError(t, err)
	defer s.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	seqs := make([]Seq, 8) // not a multiple of the 3 rows
	for i := range seqs {
		n := 2 + rng.IntN(tinyCfg.Context)
		toks := make([]int, n)
		for j := range toks {
			toks[j] = rng.IntN(tinyCfg.Vocab)
		}
		from := 1 + rng.IntN(n-1)
		seqs[i] = Seq{Tokens: toks, From: from, To: n}
	}
	got, err := s.ScoreAll(seqs)
	require.NoError(t, err)
	require.Len(t, got, len(seqs))
	for i, q := range seqs {
		want := refOutputs(w, &Batch{Rows: [][]int{q.Tokens}, Spans: []Span{{0, 0, q.From, q.To}}}, 1)
		assert.InDelta(t, want[0], got[i], tol, "sequence %d", i)
	}
	small, err := NewScorer(w, 3, 2)
	require.NoError(t, err)
	_, err = small.ScoreAll(seqs)
	assert.ErrorContains(t, err, "score all needs outputs ≥ rows")
	seqs[4].Tokens = append(seqs[4].Tokens, 99)
	_, err = s.ScoreAll(seqs)
	assert.ErrorContains(t, err, "sequences 3..5")
}

// TestScoreAllSharedPrefixes scores every completion of two prompts, as
// exact evaluation does, so rows share prompts and completion starts within
// and across the scorer's groups; each sequence must equal the reference
// forward of that sequence alone. Duplicated rows and a batch whose rows
// are prefixes of one another go through Score.
func TestScoreAllSharedPrefixes(t *testing.T) {
	const (
		// f64Tol: float64 on both sides, different summation orders.
		f64Tol = 1e-10
		// f32RelTol: float32 through two blocks, as in TestOutputsMatchReference.
		f32RelTol = 1e-5
	)
	w, err := New(tinyCfg, 13)
	require.NoError(t, err)
	randomizeWeights(w, 13, 0.5)
	var seqs []Seq
	for _, prompt := range [][]int{{4, 0}, {2, 2, 5}} {
		for c := range 7 * 7 {
			toks := append(append([]int(nil), prompt...), c/7, c%7)
			seqs = append(seqs, Seq{Tokens: toks, From: len(prompt), To: len(toks)})
		}
	}
	seqs = append(seqs, seqs[3], Seq{Tokens: []int{4}, From: 1, To: 1}) // a repeat, a row without positions
	for _, c := range []struct {
		name string
		opts []Option
		tol  func(float64) float64
	}{
		{"float64", []Option{WithFloat64()}, func(float64) float64 { return f64Tol }},
		{"float32", nil, func(v float64) float64 { return f32RelTol * math.Max(1, math.Abs(v)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewScorer(w, 5, 5, c.opts...) // groups of ≤ 5·6 prefixes: many groups
			require.NoError(t, err)
			got, err := s.ScoreAll(seqs)
			require.NoError(t, err)
			require.Len(t, got, len(seqs))
			for i, q := range seqs {
				want := refOutputs(w, &Batch{Rows: [][]int{q.Tokens}, Spans: []Span{{0, 0, q.From, q.To}}}, 1)[0]
				require.True(t, isFinite(got[i]), "sequence %d", i)
				assert.InDelta(t, want, got[i], c.tol(want), "sequence %d", i)
			}
			nested := &Batch{Rows: [][]int{{1, 2, 3, 4}, {1, 2}, {1, 2, 3, 4}, {1, 2, 3}},
				Spans: []Span{{0, 0, 1, 4}, {1, 1, 1, 2}, {2, 2, 2, 4}, {3, 3, 1, 3}}}
			want := refOutputs(w, nested, 4)
			out, err := s.Score(nested)
			require.NoError(t, err)
			for i := range want {
				assert.InDelta(t, want[i], out[i], c.tol(want[i]), "nested output %d", i)
			}
		})
	}
}
