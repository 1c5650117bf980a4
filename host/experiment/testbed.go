package experiment

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/testbed"
	"github.com/prefopt/prefopt/host/tokenizer"
	"github.com/prefopt/prefopt/host/train"
)

// retryBackoff is the wait before the first retry of a failed plugin call.
const retryBackoff = 100 * time.Millisecond

// TaskConfig is the [task] table: the synthetic task, plus how its
// reference model is made.
type TaskConfig = config.Task

// Testbed is the built-in task with its reference, for exact evaluation.
type Testbed struct {
	Task      *testbed.Task
	Config    TaskConfig
	Reference *testbed.TablePolicy // π_ref tabulated
	Optimal   *testbed.TablePolicy // π*_β tabulated
	RefReport testbed.Report
	Frontier  []testbed.FrontierPoint
	Pairs     []testbed.Pair
	EvalPairs []testbed.Pair
	cfg       model.Config
}

// scoreChunk is the number of completions scored per model call during
// exact evaluation.
const scoreChunk = 256

// modelPolicy is a model's exact distribution over the task's completions:
// completions are scored in float64 so their probabilities sum to 1 within
// rounding.
type modelPolicy struct {
	task   *testbed.Task
	scorer *model.Scorer
	all    [][]int
}

func (p *modelPolicy) LogProbs(prompt []int) ([]float64, error) {
	seqs := make([]model.Seq, len(p.all))
	pl := len(prompt)
	for i, y := range p.all {
		toks := make([]int, 0, pl+len(y))
		toks = append(append(toks, prompt...), y...)
		seqs[i] = model.Seq{Tokens: toks, From: pl, To: pl + len(y)}
	}
	return p.scorer.ScoreAll(seqs)
}

// policy returns the exact distribution of w, scored by a new scorer the
// caller must close.
func (tb *Testbed) policy(w *model.Weights) (*modelPolicy, error) {
	sc, err := model.NewScorer(w, scoreChunk, scoreChunk, model.WithFloat64())
	if err != nil {
		return nil, err
	}
	return &modelPolicy{task: tb.Task, scorer: sc, all: tb.Task.Enumerate()}, nil
}

// Exact evaluates w on the eval prompts.
func (tb *Testbed) Exact(w *model.Weights) (testbed.Report, error) {
	p, err := tb.policy(w)
	if err != nil {
		return testbed.Report{}, err
	}
	defer p.scorer.Close()
	return tb.Task.Evaluate(p, tb.Reference)
}

// ExactValues are the names under which exact metrics are logged.
func ExactValues(m testbed.Metrics) map[string]float64 {
	return map[string]float64{
		metric.ExpectedReward:       m.Reward,
		metric.KLToReference:        m.KLRef,
		metric.KLToOptimal:          m.KLOpt,
		metric.FreeEnergyGap:        m.Gap,
		metric.Entropy:              m.Entropy,
		metric.RegularizedObjective: m.J,
		metric.ExpectedLength:       m.Length,
	}
}

// exactNames are the metric names ExactValues produces.
var exactNames = slices.Sorted(maps.Keys(ExactValues(testbed.Metrics{})))

// evaluator returns an OnEval hook for one training run. It keeps one
// scorer for the run's policy, so runs may evaluate concurrently.
func (tb *Testbed) evaluator() (func(int, *model.Weights) (map[string]float64, error), func()) {
	var p *modelPolicy
	eval := func(_ int, w *model.Weights) (map[string]float64, error) {
		if p == nil || p.scorer.Weights() != w {
			if p != nil {
				p.scorer.Close()
			}
			var err error
			if p, err = tb.policy(w); err != nil {
				return nil, err
			}
		}
		rep, err := tb.Task.Evaluate(p, tb.Reference)
		if err != nil {
			return nil, err
		}
		return ExactValues(rep.Mean), nil
	}
	done := func() {
		if p != nil {
			p.scorer.Close()
		}
	}
	return eval, done
}

func prepareTestbed(ctx context.Context, exp *config.Experiment, opts Options) (*Material, error) {
	tc := *exp.Task // validated by config
	task, err := testbed.New(tc.Config)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", exp.Path(), err)
	}
	tok, err := taskTokenizer(tc)
	if err != nil {
		return nil, err
	}
	mcfg := modelConfig(exp.Model, tok.Size())
	logf := func(format string, a ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format, a...)
		}
	}
	seed := uint64(exp.Run.Seed)
	init, err := initWeights(exp.Model.Init, mcfg, seed)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: model.init: %w", exp.Path(), err)
	}
	tb := &Testbed{Task: task, Config: tc, cfg: mcfg}
	ref := init
	switch {
	case exp.Reference.Checkpoint != "":
		if ref, err = loadWeights(exp.Reference.Checkpoint, mcfg); err != nil {
			return nil, fmt.Errorf("experiment %s: reference.checkpoint: %w", exp.Path(), err)
		}
	case tc.SFTSteps > 0:
		start := time.Now()
		if ref, err = sftReference(ctx, task, tc, init, seed); err != nil {
			return nil, fmt.Errorf("experiment %s: reference SFT: %w", exp.Path(), err)
		}
		logf("reference: %d SFT steps on %d demonstrations in %.1fs\n", tc.SFTSteps, tc.Demonstrations, time.Since(start).Seconds())
	}
	refPolicy, err := tb.policy(ref)
	if err != nil {
		return nil, err
	}
	tb.Reference, err = task.Tabulate(refPolicy)
	refPolicy.scorer.Close()
	if err != nil {
		return nil, fmt.Errorf("experiment %s: reference: %w", exp.Path(), err)
	}
	if tb.Optimal, err = task.Optimal(tb.Reference, tc.Beta); err != nil {
		return nil, err
	}
	if tb.RefReport, err = task.Evaluate(tb.Reference, tb.Reference); err != nil {
		return nil, err
	}
	if tb.Frontier, err = task.Frontier(tb.Reference, tc.FrontierBetas); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x70616972)) // "pair"
	if tb.Pairs, err = task.Pairs(tb.Reference, rng); err != nil {
		return nil, err
	}
	if tb.EvalPairs, err = task.EvalPairs(tb.Reference, rng); err != nil {
		return nil, err
	}
	m := &Material{Tokenizer: tok, Model: mcfg, Init: ref, Reference: ref, Testbed: tb,
		Truncation: data.Truncation{}}
	m.Train.Paired = pairedSet(tb.Pairs)
	m.Eval.Paired = pairedSet(tb.EvalPairs)
	if tc.DesirableKeep < 1 {
		u, err := m.Train.Paired.Unpaired()
		if err != nil {
			return nil, err
		}
		m.Train.Unpaired = keepDesirable(u, tc.DesirableKeep, rand.New(rand.NewPCG(seed, 0x6b656570))) // "keep"
		nd := 0
		for _, d := range m.Train.Unpaired.Labels {
			if d {
				nd++
			}
		}
		logf("task: unpaired objectives see %d of %d desirable and all %d undesirable examples (desirable_keep %g)\n",
			nd, len(tb.Pairs), len(tb.Pairs), tc.DesirableKeep)
	}
	r := tb.RefReport.Mean
	logf("task: %d train pairs, %d eval pairs, %d completions per prompt; reference E[r*] %.3f, KL(π_ref‖π*) %.3f, free-energy gap %.3f\n",
		len(tb.Pairs), len(tb.EvalPairs), task.NumCompletions(), r.Reward, r.KLOpt, r.Gap)
	return m, nil
}

// taskTokenizer returns the task's tokenizer: one letter per symbol, then
// <eos> (id alphabet) when completions have variable lengths.
func taskTokenizer(tc TaskConfig) (*tokenizer.Symbols, error) {
	var specials []tokenizer.Special
	if tc.VariableLength {
		specials = append(specials, tokenizer.EOS)
	}
	return tokenizer.NewSymbols(config.TaskSymbols[:tc.Alphabet], specials...)
}

// keepDesirable returns u without some of its desirable examples: it keeps
// round(keep·n_D) of the n_D desirable ones (at least one), drawn uniformly
// without replacement with rng, and every undesirable one, all in their
// order in u.
func keepDesirable(u *data.UnpairedSet, keep float64, rng *rand.Rand) *data.UnpairedSet {
	var desirable []int
	for i, d := range u.Labels {
		if d {
			desirable = append(desirable, i)
		}
	}
	k := max(1, int(math.Round(keep*float64(len(desirable)))))
	kept := map[int]bool{}
	for _, j := range rng.Perm(len(desirable))[:min(k, len(desirable))] {
		kept[desirable[j]] = true
	}
	idx := make([]int, 0, len(u.Labels)-len(desirable)+k)
	for i, d := range u.Labels {
		if !d || kept[i] {
			idx = append(idx, i)
		}
	}
	return u.Subset(idx)
}

// pairedSet turns task pairs into token rows: prompt then completion, the
// prompt unscored.
func pairedSet(pairs []testbed.Pair) *data.PairedSet {
	s := &data.PairedSet{}
	for i, p := range pairs {
		s.Chosen = append(s.Chosen, data.Row{Tokens: join(p.Prompt, p.Chosen), PromptLen: len(p.Prompt)})
		s.Rejected = append(s.Rejected, data.Row{Tokens: join(p.Prompt, p.Rejected), PromptLen: len(p.Prompt)})
		s.Source = append(s.Source, data.Source{File: "task", Line: i + 1})
	}
	return s
}

func join(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// sftReference trains init on the task's demonstrations with the NLL of the
// completions and returns the result: the reference model.
func sftReference(ctx context.Context, task *testbed.Task, tc TaskConfig, init *model.Weights, seed uint64) (*model.Weights, error) {
	demos := task.Demonstrations(tc.Demonstrations, rand.New(rand.NewPCG(seed, 0x736674))) // "sft"
	set := &data.UnpairedSet{}
	for i, d := range demos {
		set.Rows = append(set.Rows, data.Row{Tokens: join(d.Prompt, d.Completion), PromptLen: len(d.Prompt)})
		set.Labels = append(set.Labels, true)
		set.Source = append(set.Source, data.Source{File: "demonstrations", Line: i + 1})
	}
	out, err := train.Run(ctx, train.Job{
		Label: "reference-sft", Objective: train.NLL{}, Init: init, Train: train.Set{Unpaired: set},
		Optimizer: train.Optimizer{LR: tc.SFTLR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1},
		Loop:      train.Loop{Steps: tc.SFTSteps, BatchSize: tc.SFTBatch, Schedule: "constant", LogEvery: tc.SFTSteps},
		Seed:      seed,
	})
	if err != nil {
		return nil, err
	}
	return out.Policy, nil
}
