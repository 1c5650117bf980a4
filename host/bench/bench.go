// Package bench measures one DPO training step of a fixed model and batch
// shape, reference log-probs precomputed, AdamW, split into forward,
// objective call, backward and optimizer. The shapes are those of the
// PyTorch yardstick (torch_dpo_step.py):
//
//	bench  vocab 64, 64 tokens per sequence (16 prompt + 48 completion),
//	       width 128, 4 heads, 2 layers, MLP 4×, 16 pairs (421,376 params)
//	large  vocab 256, 256 tokens per sequence (64 prompt + 192
//	       completion), width 512, 8 heads, 6 layers, MLP 4×, 8 pairs
//	       (19,308,544 params)
package bench

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/host/train"
)

// Shape is a model and batch shape to measure.
type Shape struct {
	Model     model.Config // Context is the sequence length
	PromptLen int          // prompt tokens shared by a pair's two rows
	Pairs     int          // pairs per batch
}

// Shapes are the measurable shapes by name, those of the PyTorch
// yardstick.
var Shapes = map[string]Shape{
	"bench": {Model: model.Config{Vocab: 64, Context: 64, Width: 128, Heads: 4, Layers: 2, MLPMult: 4}, PromptLen: 16, Pairs: 16},
	"large": {Model: model.Config{Vocab: 256, Context: 256, Width: 512, Heads: 8, Layers: 6, MLPMult: 4}, PromptLen: 64, Pairs: 8},
}

const (
	// LR is AdamW's learning rate in the benchmark.
	LR         = 1e-4
	warmupRuns = 3
)

// Options of a benchmark run.
type Options struct {
	Model     string // a key of Shapes; "" is "bench"
	Steps     int    // measured steps (median reported), after 3 warm-up steps
	InProcess bool   // run DPO in this process instead of as a plugin
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
	Model            string  `json:"model"`
	Objective        string  `json:"objective_path"`
}

// Run measures opts.Steps training steps of the trainer's own step.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Steps < 1 {
		return nil, fmt.Errorf("bench: steps must be >= 1, got %d", opts.Steps)
	}
	name := opts.Model
	if name == "" {
		name = "bench"
	}
	sh, ok := Shapes[name]
	if !ok {
		return nil, fmt.Errorf("bench: unknown model %q (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(Shapes)), ", "))
	}
	w, err := model.New(sh.Model, opts.Seed)
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
		Label: "bench", Objective: obj, Init: w, Train: train.Set{Paired: pairs(sh, opts.Seed)},
		Optimizer: train.Optimizer{LR: LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1},
		Loop:      train.Loop{Steps: warmupRuns + opts.Steps, BatchSize: sh.Pairs, Schedule: "constant"},
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
	tokens := 2 * sh.Pairs * (sh.Model.Context - 1)
	res := &Result{
		StepSeconds: median(total), ForwardSeconds: median(fwd), ObjectiveSeconds: median(call),
		BackwardSeconds: median(bwd), OptimizerSeconds: median(upd),
		PeakRSSBytes: peakRSS(), Tokens: tokens, Params: w.NumParams(), Steps: opts.Steps,
		Objective: "plugin", Model: name,
	}
	if opts.InProcess {
		res.Objective = "in-process"
	}
	res.TokensPerSecond = float64(tokens) / res.StepSeconds
	return res, nil
}

// pairs draws the batch of sh: sh.Pairs pairs of sh.Model.Context random
// tokens whose chosen and rejected rows share a sh.PromptLen-token prompt.
func pairs(sh Shape, seed uint64) *data.PairedSet {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &data.PairedSet{}
	row := func(prompt []int) []int {
		r := make([]int, sh.Model.Context)
		for j := range r {
			r[j] = rng.IntN(sh.Model.Vocab)
		}
		if prompt != nil {
			copy(r, prompt)
		}
		return r
	}
	for i := range sh.Pairs {
		c := row(nil)
		s.Chosen = append(s.Chosen, data.Row{Tokens: c, PromptLen: sh.PromptLen})
		s.Source = append(s.Source, data.Source{File: "bench", Line: i + 1})
	}
	for i := range sh.Pairs {
		s.Rejected = append(s.Rejected, data.Row{Tokens: row(s.Chosen[i].Tokens[:sh.PromptLen]), PromptLen: sh.PromptLen})
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
