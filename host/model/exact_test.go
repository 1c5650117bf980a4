package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exactSeq is a sequence of the exactness test: a prompt of promptLen
// tokens and a completion.
type exactSeq struct {
	toks      []int
	promptLen int
}

// exactPool returns sequences of different lengths that share prompts, share
// completion starts, include one that is a prefix of another, and one of a
// single completion token.
func exactPool(cfg Config, rng *rand.Rand) []exactSeq {
	var pool []exactSeq
	for range 3 {
		prompt := make([]int, 2+rng.IntN(3))
		for j := range prompt {
			prompt[j] = rng.IntN(cfg.Vocab)
		}
		start := rng.IntN(cfg.Vocab)
		for k := range 4 {
			n := 1 // the first completion of a prompt has one token
			if k > 0 {
				n += rng.IntN(cfg.Context + 1 - len(prompt))
			}
			toks := append([]int(nil), prompt...)
			toks = append(toks, start)
			for len(toks) < len(prompt)+n {
				toks = append(toks, rng.IntN(cfg.Vocab))
			}
			pool = append(pool, exactSeq{toks: toks, promptLen: len(prompt)})
		}
	}
	long := pool[0]
	for len(long.toks) < cfg.Context+1 {
		long.toks = append(long.toks, rng.IntN(cfg.Vocab))
	}
	return append(pool, long)
}

// exactBatch puts the sequences in rows 0..len−1: output 2r is the
// completion sum of row r, output 2r+1 its prompt sum.
func exactBatch(seqs []exactSeq) *Batch {
	b := &Batch{}
	for r, q := range seqs {
		b.Rows = append(b.Rows, q.toks)
		b.Spans = append(b.Spans,
			Span{Out: 2 * r, Row: r, From: q.promptLen, To: len(q.toks)},
			Span{Out: 2*r + 1, Row: r, From: 1, To: q.promptLen})
	}
	return b
}

// exactCase is a model for the exactness tests.
type exactCase struct {
	name    string
	cfg     Config
	std     float64
	f64     bool // also in float64
	random  int  // random batch compositions
	singles bool // also every sequence alone through every runner
}

var exactCases = []exactCase{
	// Every product has n·k < gemmMinWork: gonum's Gemm.
	{"small products", tinyCfg, 0.5, true, 12, true},
	// qkv, MLP and head products on the packed kernels.
	{"kernel products", Config{Vocab: 40, Context: 12, Width: 32, Heads: 4, Layers: 2, MLPMult: 3}, 0.3, true, 12, true},
	// MLP down-projection k = 576 > gemmKC: sums over two k blocks.
	{"two k blocks", Config{Vocab: 17, Context: 10, Width: 48, Heads: 3, Layers: 1, MLPMult: 12}, 0.2, true, 12, true},
	// The benchmark's model (products split over the cores); float32
	// and fewer batches keep the test short.
	{"bench shape", benchCfg, 0.05, false, 3, false},
}

// TestRunnerScorerBitIdentical: at equal weights the training forward and
// the scorer give every sequence the same float64 sums, bit for bit,
// whatever else is in the batch, at which row, with which padded length.
// So the policy's first-step log-probs equal the frozen reference's exactly.
func TestRunnerScorerBitIdentical(t *testing.T) {
	for ci, c := range exactCases {
		t.Run(c.name+"/float32", func(t *testing.T) { checkBitIdentical(t, uint64(ci), c, nil) })
		if c.f64 {
			t.Run(c.name+"/float64", func(t *testing.T) { checkBitIdentical(t, uint64(ci), c, []Option{WithFloat64()}) })
		}
	}
}

// checkBitIdentical scores a pool of sequences alone, then in many batch
// compositions through runners and scorers of two lengths, and requires
// every sum to equal the sequence's own, bit for bit.
func checkBitIdentical(t *testing.T, seed uint64, c exactCase, opts []Option) {
	// refRelTol checks the common value against the float64 reference
	// forward; float32 through the network stays below 1e-5 relative.
	const refRelTol = 1e-5
	const maxRows = 6
	w, err := New(c.cfg, seed)
	require.NoError(t, err)
	randomizeWeights(w, seed+100, c.std)
	rng := rand.New(rand.NewPCG(seed, 21))
	pool := exactPool(c.cfg, rng)
	minLen := 0
	for _, q := range pool {
		minLen = max(minLen, len(q.toks)-1)
	}

	// The value of each sequence: scored alone by a one-row scorer.
	alone, err := NewScorer(w, 1, 2, opts...)
	require.NoError(t, err)
	want := make([][2]float64, len(pool))
	for i, q := range pool {
		out, err := alone.Score(exactBatch([]exactSeq{q}))
		require.NoError(t, err)
		want[i] = [2]float64{out[0], out[1]}
		for k := range 2 {
			require.True(t, isFinite(out[k]), "sequence %d output %d", i, k)
		}
		if i < 3 { // the reference forward is slow at the bench shape
			ref := refOutputs(w, exactBatch([]exactSeq{q}), 2)
			for k := range 2 {
				require.InDelta(t, ref[k], out[k], refRelTol*math.Max(1, math.Abs(ref[k])), "sequence %d output %d", i, k)
			}
		}
	}
	distinct := map[float64]bool{}
	for _, v := range want {
		distinct[v[0]] = true
	}
	require.Greater(t, len(distinct), len(pool)/2, "sequences must differ for the test to mean anything")

	var runners []*Runner
	var scorers []*Scorer
	for _, length := range []int{c.cfg.Context, minLen} {
		r, err := NewRunner(w, maxRows, 2*maxRows, append([]Option{WithLength(length)}, opts...)...)
		require.NoError(t, err)
		s, err := NewScorer(w, maxRows, 2*maxRows, append([]Option{WithLength(length)}, opts...)...)
		require.NoError(t, err)
		runners, scorers = append(runners, r), append(scorers, s)
	}
	defer func() {
		for i := range runners {
			require.NoError(t, runners[i].Close())
			require.NoError(t, scorers[i].Close())
		}
	}()

	// Batch compositions: every sequence at several rows, next to
	// different neighbours, duplicated, alone and in full batches.
	var comps [][]int
	for i := range pool {
		if c.singles {
			comps = append(comps, []int{i})
		}
	}
	for range c.random {
		n := 1 + rng.IntN(maxRows)
		comp := make([]int, n)
		for k := range comp {
			comp[k] = rng.IntN(len(pool))
		}
		comps = append(comps, comp)
	}
	comps = append(comps, []int{3, 3, 3, 3, 3, 3}, []int{len(pool) - 1, 0, 1, 2, 3, 4})
	for _, comp := range comps {
		seqs := make([]exactSeq, len(comp))
		for k, i := range comp {
			seqs[k] = pool[i]
		}
		b := exactBatch(seqs)
		for li := range runners {
			got, err := runners[li].Forward(b)
			require.NoError(t, err)
			sc, err := scorers[li].Score(b)
			require.NoError(t, err)
			for k, i := range comp {
				for o := range 2 {
					assert.Equal(t, want[i][o], got[2*k+o], "runner length %d, batch %v, row %d output %d", runners[li].Length(), comp, k, o)
					assert.Equal(t, want[i][o], sc[2*k+o], "scorer length %d, batch %v, row %d output %d", scorers[li].Length(), comp, k, o)
				}
			}
		}
	}

	seqs := make([]Seq, len(pool))
	for i, q := range pool {
		seqs[i] = Seq{Tokens: q.toks, From: q.promptLen, To: len(q.toks)}
	}
	all, err := scorers[0].ScoreAll(seqs)
	require.NoError(t, err)
	for i := range pool {
		assert.Equal(t, want[i][0], all[i], "score all, sequence %d", i)
	}
}
