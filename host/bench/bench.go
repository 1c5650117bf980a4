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

	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/host/train"
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

// Run measures opts.Steps training steps of the trainer's own step.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Steps < 1 {
		return nil, fmt.Errorf("bench: steps must be >= 1, got %d", opts.Steps)
	}
	cfg := model.Config{Vocab: Vocab, Context: SeqLen, Width: Width, Heads: Heads, Layers: Layers, MLPMult: MLPMult}
	w, err := model.New(cfg, opts.Seed)
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
	// The reference log-probs are scored once by New, as a run caches them.
	tr, err := train.New(train.Job{
		Label: "bench", Objective: obj, Init: w, Train: train.Set{Paired: pairs(opts.Seed)},
		Optimizer: train.Optimizer{LR: LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1},
		Loop:      train.Loop{Steps: warmupRuns + opts.Steps, BatchSize: Pairs, Schedule: "constant"},
		Seed:      opts.Seed,
	})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	var fwd, call, bwd, upd, total []float64
	for i := range warmupRuns + opts.Steps {
		st, err := tr.Step(ctx)
		if err != nil {
			return nil, err
		}
		if i >= warmupRuns {
			fwd = append(fwd, st.Times.Forward.Seconds())
			call = append(call, st.Times.Objective.Seconds())
			bwd = append(bwd, st.Times.Backward.Seconds())
			upd = append(upd, st.Times.Optimizer.Seconds())
			total = append(total, st.Times.Total().Seconds())
		}
	}
	// Tokens with a prediction, as the PyTorch yardstick counts them.
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

// pairs draws the bench batch: Pairs pairs of SeqLen random tokens whose
// chosen and rejected rows share a PromptLen-token prompt.
func pairs(seed uint64) *data.PairedSet {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &data.PairedSet{}
	row := func(prompt []int) []int {
		r := make([]int, SeqLen)
		for j := range r {
			r[j] = rng.IntN(Vocab)
		}
		if prompt != nil {
			copy(r, prompt)
		}
		return r
	}
	for i := range Pairs {
		c := row(nil)
		s.Chosen = append(s.Chosen, data.Row{Tokens: c, PromptLen: PromptLen})
		s.Source = append(s.Source, data.Source{File: "bench", Line: i + 1})
	}
	for i := range Pairs {
		s.Rejected = append(s.Rejected, data.Row{Tokens: row(s.Chosen[i].Tokens[:PromptLen]), PromptLen: PromptLen})
	}
	return s
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
