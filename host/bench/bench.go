// Package bench measures one DPO training step of the bench model — vocab
// 64, 64 tokens per sequence (16 prompt + 48 completion), width 128, 4
// heads, 2 layers, MLP 4×, 16 pairs per batch, reference log-probs
// precomputed, AdamW — split into forward, objective call, backward and
// optimizer. It is the same shape as the PyTorch yardstick.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/host/optim"
)

// Shape of the bench model and batch.
const (
	Vocab      = 64
	SeqLen     = 64
	PromptLen  = 16
	Width      = 128
	Heads      = 4
	Layers     = 2
	MLPMult    = 4
	Pairs      = 16
	LR         = 1e-4
	warmupRuns = 3
)

// Options of a benchmark run.
type Options struct {
	Steps     int  // measured steps (median reported), after 3 warm-up steps
	InProcess bool // run DPO in this process instead of as a plugin
	Seed      uint64
}

// Result is what `prefopt bench --json` prints. Times are medians over the
// measured steps, in seconds.
type Result struct {
	TokensPerSecond  float64 `json:"tokens_per_second"`
	StepSeconds      float64 `json:"step_seconds"`
	ForwardSeconds   float64 `json:"forward_seconds"`
	ObjectiveSeconds float64 `json:"objective_seconds"`
	BackwardSeconds  float64 `json:"backward_seconds"`
	OptimizerSeconds float64 `json:"optimizer_seconds"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	Tokens           int     `json:"tokens_per_step"`
	Params           int     `json:"params"`
	Steps            int     `json:"steps"`
	Objective        string  `json:"objective_path"`
}

// Run measures opts.Steps training steps.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Steps < 1 {
		return nil, fmt.Errorf("bench: steps must be >= 1, got %d", opts.Steps)
	}
	cfg := model.Config{Vocab: Vocab, Context: SeqLen, Width: Width, Heads: Heads, Layers: Layers, MLPMult: MLPMult}
	w, err := model.New(cfg, opts.Seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 1))
	b := &model.Batch{}
	for r := range 2 * Pairs {
		row := make([]int, SeqLen)
		for j := range row {
			row[j] = rng.IntN(Vocab)
		}
		if r >= Pairs { // a pair shares its prompt
			copy(row, b.Rows[r-Pairs][:PromptLen])
		}
		b.Rows = append(b.Rows, row)
		b.Spans = append(b.Spans, model.Span{Out: r, Row: r, From: PromptLen, To: SeqLen})
	}
	// Reference log-probs are precomputed (as the trainer caches them).
	sc, err := model.NewScorer(w, 2*Pairs, 2*Pairs)
	if err != nil {
		return nil, err
	}
	ref, err := sc.Score(b)
	sc.Close()
	if err != nil {
		return nil, err
	}
	h, err := objective.Open(ctx, objective.Source{Name: "dpo", InProcess: opts.InProcess, AutoMTLS: true, Timeout: time.Minute})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	obj, _, err := h.Configure(ctx, map[string]any{"beta": 0.1})
	if err != nil {
		return nil, err
	}
	r, err := model.NewRunner(w, 2*Pairs, 2*Pairs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	opt, err := optim.NewAdamW(optim.Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01})
	if err != nil {
		return nil, err
	}
	var fwd, call, bwd, upd, total []float64
	for i := range warmupRuns + opts.Steps {
		t0 := time.Now()
		out, err := r.Forward(b)
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		batch := &core.Batch{PolicyChosenLogps: out[:Pairs], PolicyRejectedLogps: out[Pairs:],
			ReferenceChosenLogps: ref[:Pairs], ReferenceRejectedLogps: ref[Pairs:]}
		res, err := obj.Compute(ctx, batch)
		if err != nil {
			return nil, err
		}
		if err := core.CheckResult(batch, obj.Inputs(), res); err != nil {
			return nil, err
		}
		t2 := time.Now()
		g := append(slices.Clone(res.Grads[core.PolicyChosenLogps]), res.Grads[core.PolicyRejectedLogps]...)
		r.ZeroGrads()
		if err := r.Backward(g); err != nil {
			return nil, err
		}
		t3 := time.Now()
		grads := r.Grads()
		ps := make([]optim.Param, 0, len(grads))
		for _, name := range w.Names() {
			ps = append(ps, optim.Param{Name: name, Data: w.Data(name), Grad: grads[name]})
		}
		optim.ClipGradNorm(ps, 1)
		opt.Step(ps, LR)
		t4 := time.Now()
		if i >= warmupRuns {
			fwd = append(fwd, t1.Sub(t0).Seconds())
			call = append(call, t2.Sub(t1).Seconds())
			bwd = append(bwd, t3.Sub(t2).Seconds())
			upd = append(upd, t4.Sub(t3).Seconds())
			total = append(total, t4.Sub(t0).Seconds())
		}
	}
	tokens := 2 * Pairs * (SeqLen - 1)
	res := &Result{
		StepSeconds: median(total), ForwardSeconds: median(fwd), ObjectiveSeconds: median(call),
		BackwardSeconds: median(bwd), OptimizerSeconds: median(upd),
		PeakRSSBytes: peakRSS(), Tokens: tokens, Params: w.NumParams(), Steps: opts.Steps,
		Objective: "plugin",
	}
	if opts.InProcess {
		res.Objective = "in-process"
	}
	res.TokensPerSecond = float64(tokens) / res.StepSeconds
	return res, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// peakRSS returns the peak resident set size of this process in bytes
// (getrusage ru_maxrss, KiB on Linux).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return ru.Maxrss
	}
	return ru.Maxrss * 1024
}
