package model

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// genWeights returns weights whose next-token distributions are far from
// uniform: the init is scaled up so samples depend on the model.
func genWeights(t testing.TB, cfg Config, seed uint64) *Weights {
	w, err := New(cfg, seed)
	require.NoError(t, err)
	for _, name := range w.Names() {
		for i := range w.Data(name) {
			if w.Shape(name)[0] > 1 && len(w.Shape(name)) == 2 {
				w.Data(name)[i] *= 8 // 0.02·8: peaked softmaxes, still finite
			}
		}
	}
	return w
}

func genPrompts(cfg Config, n int, rng *rand.Rand) [][]int {
	ps := make([][]int, n)
	for i := range ps {
		ps[i] = make([]int, 1+rng.IntN(5))
		for j := range ps[i] {
			ps[i][j] = rng.IntN(cfg.Vocab)
		}
	}
	return ps
}

var genCfg = Config{Vocab: 23, Context: 16, Width: 16, Heads: 2, Layers: 2, MLPMult: 2}

// TestGenerateMatchesScorer checks the contract that makes sampled
// log-probs usable as scores: for each dtype, every sample's log-prob and
// per-token log-probs equal the scorer's bit for bit.
func TestGenerateMatchesScorer(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"float32", nil}, {"float64", []Option{WithFloat64()}}} {
		t.Run(tc.name, func(t *testing.T) {
			w := genWeights(t, genCfg, 3)
			prompts := genPrompts(genCfg, 9, rand.New(rand.NewPCG(1, 2)))
			so := SampleOptions{Temperature: 1, MaxTokens: 12, EOS: 0, Seed: 7, Batch: 4}
			got, err := Generate(context.Background(), w, prompts, so, tc.opts...)
			require.NoError(t, err)
			sc, err := NewScorer(w, 4, 4, tc.opts...)
			require.NoError(t, err)
			var seqs, tokSeqs []Seq
			for _, s := range got {
				seqs = append(seqs, Seq{Tokens: s.Tokens, From: s.PromptLen, To: len(s.Tokens)})
				for j := s.PromptLen; j < len(s.Tokens); j++ {
					tokSeqs = append(tokSeqs, Seq{Tokens: s.Tokens, From: j, To: j + 1})
				}
			}
			want, err := sc.ScoreAll(seqs)
			require.NoError(t, err)
			wantTok, err := sc.ScoreAll(tokSeqs)
			require.NoError(t, err)
			k := 0
			for i, s := range got {
				require.NotEmpty(t, s.TokenLogProbs, "sample %d", i)
				assert.Equal(t, math.Float64bits(want[i]), math.Float64bits(s.LogProb), "sample %d: generate %v, scorer %v", i, s.LogProb, want[i])
				for j, lp := range s.TokenLogProbs {
					assert.Equal(t, math.Float64bits(wantTok[k]), math.Float64bits(lp), "sample %d token %d", i, j)
					k++
				}
			}
		})
	}
}

// TestGenerateReproducible checks that a sample depends on the seed and its
// row only: the batch size and the other prompts change nothing.
func TestGenerateReproducible(t *testing.T) {
	w := genWeights(t, genCfg, 4)
	prompts := genPrompts(genCfg, 7, rand.New(rand.NewPCG(3, 4)))
	so := SampleOptions{Temperature: 0.9, TopK: 10, TopP: 0.95, MaxTokens: 10, EOS: -1, Seed: 11, Batch: 7}
	a, err := Generate(context.Background(), w, prompts, so)
	require.NoError(t, err)
	so.Batch = 2
	b, err := Generate(context.Background(), w, prompts, so)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	so.Seed = 12
	c, err := Generate(context.Background(), w, prompts, so)
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another seed draws other samples")
}

// TestGenerateStops checks the three stop reasons.
func TestGenerateStops(t *testing.T) {
	w := genWeights(t, genCfg, 5)
	ctx := context.Background()
	prompt := [][]int{{1, 2, 3}}

	t.Run("length", func(t *testing.T) {
		s, err := Generate(ctx, w, prompt, SampleOptions{Temperature: 1, MaxTokens: 4, EOS: -1})
		require.NoError(t, err)
		assert.Equal(t, StopLength, s[0].Stop)
		assert.Len(t, s[0].Completion(), 4)
	})
	t.Run("context", func(t *testing.T) {
		s, err := Generate(ctx, w, prompt, SampleOptions{Temperature: 1, MaxTokens: 100, EOS: -1})
		require.NoError(t, err)
		assert.Equal(t, StopContext, s[0].Stop)
		assert.Len(t, s[0].Tokens, genCfg.Context+1)
	})
	t.Run("context prompt", func(t *testing.T) {
		full := make([]int, genCfg.Context)
		s, err := Generate(ctx, w, [][]int{full}, SampleOptions{Temperature: 1, MaxTokens: 100, EOS: -1})
		require.NoError(t, err)
		assert.Equal(t, StopContext, s[0].Stop)
		assert.Len(t, s[0].Completion(), 1)
	})
	t.Run("eos", func(t *testing.T) {
		// The greedy second token becomes EOS: decoding stops right there.
		g, err := Generate(ctx, w, prompt, SampleOptions{MaxTokens: 3, EOS: -1})
		require.NoError(t, err)
		eos := g[0].Completion()[1]
		require.NotEqual(t, eos, g[0].Completion()[0], "pick weights whose first two greedy tokens differ")
		s, err := Generate(ctx, w, prompt, SampleOptions{MaxTokens: 3, EOS: eos})
		require.NoError(t, err)
		assert.Equal(t, StopEOS, s[0].Stop)
		assert.Equal(t, g[0].Completion()[:2], s[0].Completion())
	})
}

// TestGenerateTruncation checks that top-k 1 and a tiny top-p are greedy,
// and that greedy picks the highest log-prob.
func TestGenerateTruncation(t *testing.T) {
	w := genWeights(t, genCfg, 6)
	prompts := genPrompts(genCfg, 5, rand.New(rand.NewPCG(5, 6)))
	ctx := context.Background()
	greedy, err := Generate(ctx, w, prompts, SampleOptions{MaxTokens: 8, EOS: -1})
	require.NoError(t, err)
	k1, err := Generate(ctx, w, prompts, SampleOptions{Temperature: 1.5, TopK: 1, MaxTokens: 8, EOS: -1, Seed: 1})
	require.NoError(t, err)
	p0, err := Generate(ctx, w, prompts, SampleOptions{Temperature: 1.5, TopP: 1e-9, MaxTokens: 8, EOS: -1, Seed: 2})
	require.NoError(t, err)
	assert.Equal(t, greedy, k1)
	assert.Equal(t, greedy, p0)
	for i, s := range greedy {
		for j, lp := range s.TokenLogProbs {
			assert.GreaterOrEqual(t, lp, math.Log(1/float64(genCfg.Vocab)), "greedy sample %d token %d is at least as likely as uniform", i, j)
		}
	}
}

func TestGenerateBadInput(t *testing.T) {
	w := genWeights(t, genCfg, 7)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prompts [][]int
		so      SampleOptions
		want    string
	}{
		{"empty prompt", [][]int{{1}, {}}, SampleOptions{}, "model: prompt 1 is empty"},
		{"long prompt", [][]int{make([]int, genCfg.Context+1)}, SampleOptions{}, "model: prompt 0 has 17 tokens, more than the context 16"},
		{"bad id", [][]int{{1, 23}}, SampleOptions{}, "model: prompt 0 token 1: id 23 outside [0, 23)"},
		{"temperature", [][]int{{1}}, SampleOptions{Temperature: -1}, "model: temperature must be finite and ≥ 0, got -1"},
		{"top-p", [][]int{{1}}, SampleOptions{TopP: 2}, "model: top-p must be in [0, 1], got 2"},
		{"top-k", [][]int{{1}}, SampleOptions{TopK: -1}, "model: top-k must be ≥ 0, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(ctx, w, tc.prompts, tc.so)
			assert.EqualError(t, err, tc.want)
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := Generate(cctx, w, [][]int{{1}}, SampleOptions{})
	assert.ErrorIs(t, err, context.Canceled)
}

// BenchmarkGenerate reports sampled tokens per second for a batch of rows
// of a small and a mid-size model.
func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
		rows int
	}{
		{"w64l2/rows1", Config{Vocab: 259, Context: 128, Width: 64, Heads: 4, Layers: 2, MLPMult: 4}, 1},
		{"w64l2/rows32", Config{Vocab: 259, Context: 128, Width: 64, Heads: 4, Layers: 2, MLPMult: 4}, 32},
		{"w128l4/rows32", Config{Vocab: 259, Context: 128, Width: 128, Heads: 4, Layers: 4, MLPMult: 4}, 32},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := New(bc.cfg, 1)
			require.NoError(b, err)
			prompts := make([][]int, bc.rows)
			for i := range prompts {
				prompts[i] = []int{257, 'T', 'h', 'e'}
			}
			so := SampleOptions{Temperature: 1, MaxTokens: 96, EOS: -1, Batch: bc.rows}
			toks := 0
			for b.Loop() {
				s, err := Generate(context.Background(), w, prompts, so)
				require.NoError(b, err)
				for _, x := range s {
					toks += len(x.Completion())
				}
			}
			b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
