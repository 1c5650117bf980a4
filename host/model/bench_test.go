package model

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// Benchmark shape of /work/shared/bench/torch_dpo_step.py: V=64, T=64,
// D=128, H=4, L=2, 16 pairs → 32 rows of 64 tokens, 63 model positions,
// the first 16 tokens a prompt (scored tokens 16..63).
var benchCfg = Config{Vocab: 64, Context: 64, Width: 128, Heads: 4, Layers: 2, MLPMult: 4}

const (
	benchRows   = 32
	benchLength = 63
)

func benchBatch() *Batch {
	rng := rand.New(rand.NewPCG(0, 0))
	b := &Batch{}
	for i := range benchRows {
		row := make([]int, benchLength+1)
		for j := range row {
			row[j] = rng.IntN(benchCfg.Vocab)
		}
		b.Rows = append(b.Rows, row)
		b.Spans = append(b.Spans, Span{Out: i, Row: i, From: 16, To: benchLength + 1})
	}
	return b
}

// cpuTime returns the process's user+system CPU time. On a shared machine
// CPU time per op is steadier than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds tokens/s (2N·(T−1) scored positions per op, wall time) and
// CPU milliseconds per op.
func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(benchRows*benchLength)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}

// BenchmarkScore is a forward-only pass (reference model, evaluation).
func BenchmarkScore(b *testing.B) {
	w, err := New(benchCfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewScorer(w, benchRows, benchRows, WithLength(benchLength))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := benchBatch()
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := s.Score(batch); err != nil {
			b.Fatal(err)
		}
	}
	report(b, cpu0)
}

// BenchmarkStep is one training step's model work: Forward, then Backward
// with a gradient for every output, then ZeroGrads.
func BenchmarkStep(b *testing.B) {
	w, err := New(benchCfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRunner(w, benchRows, benchRows, WithLength(benchLength))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	batch := benchBatch()
	g := make([]float64, benchRows)
	for i := range g {
		g[i] = 0.05 * float64(1-2*(i/(benchRows/2)))
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := r.Forward(batch); err != nil {
			b.Fatal(err)
		}
		if err := r.Backward(g); err != nil {
			b.Fatal(err)
		}
		r.ZeroGrads()
	}
	report(b, cpu0)
}

// Exact-evaluation shape: vocab 4, context 9, width 64, 4 heads, 2 layers;
// 16 prompts of 4 tokens × 4⁵ completions of 5 tokens = 16384 rows of 9
// tokens scored in float64 by ScoreAll.
var evalCfg = Config{Vocab: 4, Context: 9, Width: 64, Heads: 4, Layers: 2, MLPMult: 4}

const (
	evalPrompts    = 16
	evalPromptLen  = 4
	evalComplLen   = 5
	evalCompletion = 1024 // 4^evalComplLen
)

func evalSeqs() []Seq {
	rng := rand.New(rand.NewPCG(2, 2))
	var seqs []Seq
	for range evalPrompts {
		prompt := make([]int, evalPromptLen)
		for j := range prompt {
			prompt[j] = rng.IntN(evalCfg.Vocab)
		}
		for c := range evalCompletion {
			toks := append([]int(nil), prompt...)
			for k := evalComplLen - 1; k >= 0; k-- { // first completion token varies slowest
				x := c
				for range k {
					x /= evalCfg.Vocab
				}
				toks = append(toks, x%evalCfg.Vocab)
			}
			seqs = append(seqs, Seq{Tokens: toks, From: evalPromptLen, To: len(toks)})
		}
	}
	return seqs
}

// BenchmarkEvalScoreAll is one exact evaluation: 16 ScoreAll calls of the
// 1024 completions of a prompt, in float64, with the given rows per call.
func BenchmarkEvalScoreAll(b *testing.B) {
	for _, chunk := range []int{16, 64, 256, 1024} {
		b.Run("chunk="+itoa(chunk), func(b *testing.B) {
			w, err := New(evalCfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewScorer(w, chunk, chunk, WithFloat64())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			seqs := evalSeqs()
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				for p := range evalPrompts {
					if _, err := s.ScoreAll(seqs[p*evalCompletion : (p+1)*evalCompletion]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(seqs))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpuTime(b)-cpu0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkEvalStep is a small training step on the evaluation shape: 64
// rows of 9 tokens (32 pairs), completions scored from token 4.
func BenchmarkEvalStep(b *testing.B) {
	w, err := New(evalCfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const rows = 64
	r, err := NewRunner(w, rows, rows)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	seqs := evalSeqs()
	batch := &Batch{}
	g := make([]float64, rows)
	for i := range rows {
		q := seqs[i*97%len(seqs)]
		batch.Rows = append(batch.Rows, q.Tokens)
		batch.Spans = append(batch.Spans, Span{Out: i, Row: i, From: q.From, To: q.To})
		g[i] = 0.05 * float64(1-2*(i%2))
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := r.Forward(batch); err != nil {
			b.Fatal(err)
		}
		if err := r.Backward(g); err != nil {
			b.Fatal(err)
		}
		r.ZeroGrads()
	}
	b.ReportMetric(float64(rows*(evalCfg.Context-1))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}

// BenchmarkGemm is the float32 matrix product of the model's projections
// at the bench shape (2016 positions, D=128: qkv, MLP down, head, and the
// backward products dX and dW of qkv) and the
// large shape (4080 positions, D=512: qkv, MLP up, MLP down), with the
// transposes of the backward pass (dX = dY·Wᵀ, dW = Xᵀ·dY) for the large
// MLP up projection. GFLOP/cpu-s is per CPU second of the whole process.
func BenchmarkGemm(b *testing.B) {
	type shape struct {
		m, n, k int
		tA, tB  bool
	}
	for _, sh := range []shape{
		{2016, 384, 128, false, false}, {2016, 128, 512, false, false}, {2016, 64, 128, false, false},
		{2016, 128, 384, false, true}, {128, 384, 2016, true, false},
		{4080, 1536, 512, false, false}, {4080, 2048, 512, false, false}, {4080, 512, 2048, false, false},
		{4080, 512, 2048, false, true}, {512, 2048, 4080, true, false},
	} {
		m, n, k := sh.m, sh.n, sh.k
		rng := rand.New(rand.NewPCG(4, 4))
		x, w, y := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		lda, ldb := k, n
		if sh.tA {
			lda = m
		}
		if sh.tB {
			ldb = k
		}
		name := itoa(m) + "x" + itoa(k) + "·" + itoa(k) + "x" + itoa(n)
		if sh.tA {
			name += "/tA"
		}
		if sh.tB {
			name += "/tB"
		}
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime(b)
			for b.Loop() {
				gemm(sh.tA, sh.tB, m, n, k, 1, x, lda, w, ldb, 0, y, n)
			}
			flop := 2 * float64(m*n*k) * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			// Per CPU second: steadier than wall time on a shared machine,
			// and with -cpu 1 the speed of one core.
			b.ReportMetric(flop/(cpuTime(b)-cpu0).Seconds()/1e9, "GFLOP/cpu-s")
		})
	}
}
