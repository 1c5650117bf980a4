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

// BenchmarkStepExtraForward is the step of a design that runs a
// forward-only pass to get the outputs and then the full forward+backward
// machine: the cost BenchmarkStep avoids.
func BenchmarkStepExtraForward(b *testing.B) {
	w, err := New(benchCfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewScorer(w, benchRows, benchRows, WithLength(benchLength))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r, err := NewRunner(w, benchRows, benchRows, WithLength(benchLength))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	batch := benchBatch()
	g := make([]float64, benchRows)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := s.Score(batch); err != nil {
			b.Fatal(err)
		}
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
