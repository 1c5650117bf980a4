// Package train runs the training loop: policy forward, one objective call,
// validation of the reply before any weight changes, backward through the
// model with the objective's gradient, clipping and an AdamW step; with
// logging, evaluation and checkpoints.
//
// One step is one function ([Trainer.Step]), used by training and by the
// benchmark alike; evaluation runs the same plans through the model's
// forward-only scorer. Nothing non-finite is ever applied to the weights or
// written to a checkpoint: a bad reply, a gradient beyond float32 range, a
// non-finite gradient norm or update skip the step (on_bad_reply = "skip")
// or stop the run with a checkpoint of the last good state ("fail").
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/optim"
)

// Set is training or evaluation data: paired, unpaired, or both. An
// objective that reads unpaired inputs uses Unpaired if set, else the pairs
// unpaired with [data.PairedSet.Unpaired].
type Set struct {
	Paired   *data.PairedSet
	Unpaired *data.UnpairedSet
}

// Optimizer configures AdamW and gradient clipping.
type Optimizer struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// MaxGradNorm clips the global gradient norm; 0 turns clipping off.
	MaxGradNorm float64
}

// Loop configures the length of a run, its schedule and what it records.
type Loop struct {
	// Steps > 0 fixes the number of optimizer steps; otherwise Epochs passes
	// over the training data are made.
	Steps, Epochs int
	BatchSize     int
	// DropLast drops the last batch of an epoch when it is smaller than
	// BatchSize (TRL's dataloader_drop_last).
	DropLast bool
	// WarmupSteps > 0 wins over WarmupRatio (of the total steps, rounded up).
	WarmupSteps int
	WarmupRatio float64
	Schedule    string // constant, linear or cosine
	MinLRRatio  float64
	// LogEvery, EvalEvery and CheckpointEvery are in steps; 0 means only
	// at the end. KeepCheckpoints > 0 prunes all but the newest.
	LogEvery, EvalEvery, CheckpointEvery, KeepCheckpoints int
}

func (l Loop) warmup(total int) int {
	if l.WarmupSteps > 0 {
		return l.WarmupSteps
	}
	return int(math.Ceil(float64(total) * l.WarmupRatio))
}

// Job is one training run of one objective.
type Job struct {
	Label     string
	Objective core.Objective
	// Init is the starting policy; it is cloned, never modified.
	Init *model.Weights
	// Reference is the frozen reference model; nil means a copy of Init.
	Reference   *model.Weights
	Train, Eval Set
	Optimizer   Optimizer
	Loop        Loop
	Seed        uint64
	// Dir receives metrics.jsonl and checkpoints/; "" writes nothing.
	Dir string
	// CacheDir holds reference log-probs; "" disables the disk cache.
	CacheDir string
	// Config is the resolved experiment, saved in every checkpoint.
	Config []byte
	// Tokenizer is the tokenizer's spec, saved in every checkpoint.
	Tokenizer json.RawMessage
	// Resume continues from the latest checkpoint in Dir; it is an error
	// when there is none.
	Resume bool
	// ResumeFallback lets Resume skip a damaged latest checkpoint (reported
	// in the log) for the newest good one; without it a damaged latest
	// checkpoint is an error.
	ResumeFallback bool
	// OnEval, if set, adds metrics at every evaluation (step 0 included).
	// OnEvalMetrics names them: an objective metric with such a name is
	// renamed like a host metric.
	OnEval        func(step int, policy *model.Weights) (map[string]float64, error)
	OnEvalMetrics []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Progress, if set, is called after every optimizer step.
	Progress func(label string, done, total int, loss float64)
	// Retry supervises objective calls; the zero value fails at once.
	Retry Retry
}

// Record is one line of metrics.jsonl: the step and named values.
type Record struct {
	Step   int                `json:"step"`
	Values map[string]float64 `json:"-"`
}

// MarshalJSON flattens the values next to the step.
func (r Record) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(r.Values)+1)
	for k, v := range r.Values {
		m[k] = v
	}
	m[keyStep] = r.Step
	return json.Marshal(m)
}

// Outcome is what a run produced.
type Outcome struct {
	Policy  *model.Weights
	Steps   int
	History []Record // evaluations, in step order
	// Train holds the training log lines, thinned evenly to at most 2048
	// in a long run; metrics.jsonl has every one.
	Train   []Record
	Skipped int // steps skipped on bad replies or non-finite values
}

// Trainer runs one [Job]. It is not safe for concurrent use.
type Trainer struct {
	s        Job
	l        layout
	policy   *model.Weights
	ref      *model.Weights
	model    Model
	refSc    *model.Scorer // reference, forward only, for KL rows
	train    *view
	eval     *view
	opt      *optim.AdamW
	sched    optim.Schedule
	batch    int
	total    int
	perEpoch int // batches per epoch
	epochN   int // examples consumed per epoch
	metrics  *metricNames
	file     *os.File // metrics.jsonl
	out      *Outcome
	next     int // the step Step runs next
	saved    int // step of the newest checkpoint written or resumed; −1 none

	epochOf      int
	epochBatches [][]int
}

// Run trains s.Objective from s.Init and returns the trained policy.
func Run(ctx context.Context, s Job) (*Outcome, error) {
	t, err := New(s)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.Run(ctx)
}

// New prepares a run: the data views, reference log-probs, the model and
// the optimizer. It writes nothing.
func New(s Job) (*Trainer, error) {
	l, err := layoutOf(s.Objective.Inputs())
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", s.Label, err)
	}
	switch s.Retry.OnBadReply {
	case "", "fail", "skip":
	default:
		return nil, fmt.Errorf("train %s: on_bad_reply must be \"fail\" or \"skip\", got %q", s.Label, s.Retry.OnBadReply)
	}
	if s.Loop.BatchSize < 1 {
		return nil, fmt.Errorf("train %s: batch size must be >= 1, got %d", s.Label, s.Loop.BatchSize)
	}
	t := &Trainer{s: s, l: l, policy: s.Init.Clone(), batch: s.Loop.BatchSize, out: &Outcome{}, saved: -1, epochOf: -1}
	t.metrics = newMetricNames(s.OnEvalMetrics, t.logf)
	t.ref = s.Reference
	if t.ref == nil {
		t.ref = s.Init
	}
	cache := ScoreCache{Dir: s.CacheDir, Rows: 2 * t.batch}
	score := func(seqs []model.Seq) ([]float64, error) { return t.scoreSeqs(cache, seqs) }
	if t.train, err = newView(l, s.Train, score); err != nil {
		return nil, fmt.Errorf("train %s: training data: %w", s.Label, err)
	}
	if t.train == nil {
		what := "unpaired examples or pairs"
		if l.paired {
			what = "pairs"
		}
		return nil, fmt.Errorf("train %s: the objective reads %s, and the training data has none", s.Label, what)
	}
	if t.eval, err = newView(l, s.Eval, score); err != nil {
		return nil, fmt.Errorf("train %s: evaluation data: %w", s.Label, err)
	}
	n := t.train.len()
	t.perEpoch, t.epochN = (n+t.batch-1)/t.batch, n
	if s.Loop.DropLast {
		t.perEpoch = n / t.batch
		t.epochN = t.perEpoch * t.batch
		if t.perEpoch == 0 {
			return nil, fmt.Errorf("train %s: %d training examples make no full batch of %d and drop_last is set", s.Label, n, t.batch)
		}
	}
	t.total = s.Loop.Steps
	if t.total <= 0 {
		t.total = s.Loop.Epochs * t.perEpoch
	}
	if t.total <= 0 {
		return nil, fmt.Errorf("train %s: no steps to run (steps %d, epochs %d)", s.Label, s.Loop.Steps, s.Loop.Epochs)
	}
	if t.sched, err = optim.NewSchedule(s.Loop.Schedule, s.Optimizer.LR, s.Loop.warmup(t.total), t.total, s.Loop.MinLRRatio); err != nil {
		return nil, fmt.Errorf("train %s: %w", s.Label, err)
	}
	o := s.Optimizer
	if t.opt, err = optim.NewAdamW(optim.Hyper{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay}); err != nil {
		return nil, fmt.Errorf("train %s: %w", s.Label, err)
	}
	rows, outs := l.rowsPer(t.batch), l.capacity(t.batch, t.policy.Config().Context)
	if t.model, err = model.NewTrainable(t.policy, rows, outs); err != nil {
		return nil, fmt.Errorf("train %s: %w", s.Label, err)
	}
	if !l.paired && l.kl && l.reference {
		if t.refSc, err = model.NewScorer(t.ref, t.batch, t.batch); err != nil {
			t.model.Close()
			return nil, fmt.Errorf("train %s: %w", s.Label, err)
		}
		for _, v := range []*view{t.train, t.eval} {
			if v != nil {
				v.refKL = t.refSc.ScoreAll
			}
		}
	}
	return t, nil
}

// Close releases the model and closes metrics.jsonl.
func (t *Trainer) Close() error {
	var errs []error
	if t.model != nil {
		errs = append(errs, t.model.Close())
	}
	if t.refSc != nil {
		errs = append(errs, t.refSc.Close())
	}
	if t.file != nil {
		errs = append(errs, t.file.Close())
		t.file = nil
	}
	return errors.Join(errs...)
}

// Policy returns the live policy weights.
func (t *Trainer) Policy() *model.Weights { return t.policy }

// Steps returns the number of steps of the run.
func (t *Trainer) Steps() int { return t.total }

// Step runs the next step of the run's data order (from the first, or from
// where a resumed run stands) and advances. It writes nothing.
func (t *Trainer) Step(ctx context.Context) (StepResult, error) {
	p, err := t.planAt(t.next)
	if err != nil {
		return StepResult{}, err
	}
	st, err := t.step(ctx, p, t.next)
	if err != nil {
		return st, err
	}
	t.next++
	return st, nil
}

func (t *Trainer) scoreSeqs(cache ScoreCache, seqs []model.Seq) ([]float64, error) {
	scores, hit, err := cache.Score(t.ref, seqs)
	if err != nil {
		return nil, fmt.Errorf("reference log-probs: %w", err)
	}
	if hit {
		t.logf("reference log-probs of %d sequences read from the cache\n", len(seqs))
	}
	return scores, nil
}

func (t *Trainer) logf(format string, a ...any) {
	if t.s.Log != nil {
		fmt.Fprintf(t.s.Log, "["+t.s.Label+"] "+format, a...)
	}
}

// planAt lays out the batch of step (0-based) in the run's data order.
func (t *Trainer) planAt(step int) (*plan, error) {
	epoch, k := step/t.perEpoch, step%t.perEpoch
	if epoch != t.epochOf {
		b, err := batchesOf(t.train.len(), epoch, t.batch, t.s.Seed, false, t.s.Loop.DropLast)
		if err != nil {
			return nil, err
		}
		t.epochBatches, t.epochOf = b, epoch
	}
	return t.train.plan(t.epochBatches[k])
}

func batchesOf(n, epoch, size int, seed uint64, sequential, dropLast bool) ([][]int, error) {
	return data.Batches(n, epoch, data.BatchOptions{Size: size, Seed: seed, Sequential: sequential, DropLast: dropLast})
}

// examplesSeen returns the training examples consumed by done steps.
func (t *Trainer) examplesSeen(done int) int {
	return done/t.perEpoch*t.epochN + min(done%t.perEpoch*t.batch, t.epochN)
}

// Run trains to the end, logging, evaluating and saving checkpoints as the
// loop asks. An interrupt (ctx cancelled) ends the run with a checkpoint and
// an error wrapping ctx's error that says at which step it stopped.
func (t *Trainer) Run(ctx context.Context) (*Outcome, error) {
	start, pendingEval, err := t.open()
	if err != nil {
		return nil, err
	}
	t.next = start
	t.logf("%d steps of %d examples (%d training examples, %.2f epochs), objective inputs %v\n",
		t.total, t.batch, t.train.len(), float64(t.total)/float64(t.perEpoch), t.l.inputs)
	if start == 0 || pendingEval {
		if err := t.evaluateAt(ctx, start); err != nil {
			return nil, t.stop(ctx, start, true, err)
		}
	}
	var w window
	for t.next < t.total {
		step := t.next
		if ctx.Err() != nil {
			return nil, t.stop(ctx, step, false, ctx.Err())
		}
		st, err := t.Step(ctx)
		if err != nil {
			return nil, t.stop(ctx, step, false, fmt.Errorf("step %d: %w", step+1, err))
		}
		done := step + 1
		if st.Skipped {
			t.out.Skipped++
			t.logf("step %d skipped: %v\n", done, st.Reason)
		} else if t.s.Progress != nil {
			t.s.Progress(t.s.Label, done, t.total, st.Loss)
		}
		w.add(st)
		if every(done, t.s.Loop.LogEvery) || done == t.total {
			if err := t.logWindow(done, &w); err != nil {
				return nil, t.stop(ctx, done, false, err)
			}
		}
		if every(done, t.s.Loop.EvalEvery) || done == t.total {
			if err := t.evaluateAt(ctx, done); err != nil {
				return nil, t.stop(ctx, done, true, err)
			}
		}
		if t.s.Dir != "" && (every(done, t.s.Loop.CheckpointEvery) || done == t.total) {
			if err := t.save(done, nil); err != nil {
				return nil, fmt.Errorf("train %s: %w", t.s.Label, err)
			}
		}
	}
	t.out.Policy, t.out.Steps = t.policy, t.total
	return t.out, nil
}

func every(done, n int) bool { return n > 0 && done%n == 0 }

// stop ends a run that cannot go on after done steps: it saves a checkpoint
// of the state after done steps (the last good one: nothing bad is ever
// applied), marked so that a resumed run repeats an unfinished evaluation,
// and returns the error. When ctx was cancelled the error says where the
// run stopped and wraps ctx's error, whatever failed on the way.
func (t *Trainer) stop(ctx context.Context, done int, inEval bool, cause error) error {
	interrupted := ctx.Err() != nil
	var err error
	if interrupted {
		err = fmt.Errorf("train %s: stopped at step %d: %w", t.s.Label, done, ctx.Err())
	} else {
		err = fmt.Errorf("train %s: %w", t.s.Label, cause)
	}
	if t.s.Dir == "" || done == t.saved && !inEval {
		return err
	}
	extra := map[string]string{"reason": "after error"}
	if interrupted {
		extra["reason"] = "interrupted"
	}
	if inEval {
		extra["pending"] = "eval"
	}
	if serr := t.save(done, extra); serr != nil {
		return errors.Join(err, fmt.Errorf("train %s: %w", t.s.Label, serr))
	}
	return err
}

// logWindow writes the training record of the window ending at done.
func (t *Trainer) logWindow(done int, w *window) error {
	defer w.reset()
	vals := w.values()
	if vals == nil {
		if w.skipped == 0 {
			return nil
		}
		vals = map[string]float64{keySkipped: float64(w.skipped)}
	}
	vals[keyEpoch] = float64(done) / float64(t.perEpoch)
	vals[metric.ExamplesSeen] = float64(t.examplesSeen(done))
	r := Record{Step: done, Values: vals}
	t.out.Train = keepThinned(t.out.Train, r)
	if loss, ok := vals[keyLoss]; ok {
		t.logf("step %d/%d loss %.4f grad_norm %.3f lr %.2e\n", done, t.total, loss, vals[keyGradNorm], vals[keyLR])
	}
	return t.write(r)
}

// write appends r to metrics.jsonl.
func (t *Trainer) write(r Record) error {
	if t.file == nil {
		return nil
	}
	line, err := recordLine(r)
	if err == nil {
		_, err = t.file.Write(line)
	}
	if err != nil {
		return fmt.Errorf("metrics.jsonl: %w", err)
	}
	return nil
}

// evaluateAt records the evaluation after step steps: the objective's loss
// and metrics on the evaluation data (prefixed eval_) and OnEval's metrics.
// A metric that is not finite is an error naming it.
func (t *Trainer) evaluateAt(ctx context.Context, step int) error {
	vals := map[string]float64{}
	if t.eval != nil {
		ev, err := t.evaluate(ctx, t.eval)
		if err != nil {
			return fmt.Errorf("evaluate at step %d: %w", step, err)
		}
		vals = ev.values
		if ev.skipped > 0 {
			vals[metric.EvalSkippedBatches] = float64(ev.skipped)
		}
	}
	if t.s.OnEval != nil {
		extra, err := t.s.OnEval(step, t.policy)
		if err != nil {
			return fmt.Errorf("evaluate at step %d: %w", step, err)
		}
		for k, v := range extra {
			vals[k] = v
		}
	}
	if len(vals) == 0 {
		return nil
	}
	vals[metric.ExamplesSeen] = float64(t.examplesSeen(step))
	for _, k := range sortedKeys(vals) {
		if v := vals[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			t.logf("evaluation at step %d: metric %q is not finite (%v): left out of the record\n", step, k, v)
			delete(vals, k)
		}
	}
	r := Record{Step: step, Values: vals}
	t.out.History = append(t.out.History, r)
	return t.write(r)
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// open prepares the run directory: with Resume it restores the latest
// checkpoint and cuts metrics.jsonl back to it. It returns the step to
// continue from and whether that checkpoint's evaluation is unfinished.
func (t *Trainer) open() (start int, pendingEval bool, err error) {
	if t.s.Dir == "" {
		if t.s.Resume {
			return 0, false, fmt.Errorf("train %s: resume needs a run directory", t.s.Label)
		}
		return 0, false, nil
	}
	if err := os.MkdirAll(t.s.Dir, 0o755); err != nil {
		return 0, false, fmt.Errorf("train %s: %w", t.s.Label, err)
	}
	path := filepath.Join(t.s.Dir, "metrics.jsonl")
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if t.s.Resume {
		if start, pendingEval, err = t.resume(); err != nil {
			return 0, false, err
		}
		if err := truncateRecords(path, start); err != nil {
			return 0, false, fmt.Errorf("train %s: resume: %w", t.s.Label, err)
		}
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	if t.file, err = os.OpenFile(path, flags, 0o644); err != nil {
		return 0, false, fmt.Errorf("train %s: %w", t.s.Label, err)
	}
	return start, pendingEval, nil
}

// save writes a checkpoint of the state after done steps and prunes old
// ones. extra is recorded in it (reason, pending evaluation).
func (t *Trainer) save(done int, extra map[string]string) error {
	c := &checkpoint.Checkpoint{
		Step:      int64(done),
		Config:    t.s.Config,
		Tokenizer: t.s.Tokenizer,
		Extra:     map[string]string{"objective": t.s.Label},
		Epoch:     done / t.perEpoch,
		Position:  done % t.perEpoch * t.batch,
	}
	for k, v := range extra {
		c.Extra[k] = v
	}
	for _, name := range t.policy.Names() {
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: name, Shape: t.policy.Shape(name), Data: slices.Clone(t.policy.Data(name))})
	}
	st := t.opt.State()
	c.Optim = &st
	root := filepath.Join(t.s.Dir, "checkpoints")
	if _, err := checkpoint.Save(root, c); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	t.saved = done
	if k := t.s.Loop.KeepCheckpoints; k > 0 {
		if _, err := checkpoint.Prune(root, k); err != nil {
			return fmt.Errorf("prune checkpoints: %w", err)
		}
	}
	return nil
}

// resume loads the latest checkpoint of this run and returns the step to
// continue from. The checkpoint's objective label, epoch and position must
// agree with this run's data and batch size.
func (t *Trainer) resume() (int, bool, error) {
	root := filepath.Join(t.s.Dir, "checkpoints")
	c, skipped, err := checkpoint.LoadLatest(root, t.s.ResumeFallback)
	for _, e := range skipped {
		t.logf("skipped checkpoint: %v\n", e)
	}
	if errors.Is(err, checkpoint.ErrNotFound) {
		return 0, false, fmt.Errorf("train %s: resume: no checkpoint in %s to resume from", t.s.Label, root)
	}
	if err != nil {
		return 0, false, fmt.Errorf("train %s: resume: %w", t.s.Label, err)
	}
	fail := func(err error) (int, bool, error) {
		return 0, false, fmt.Errorf("train %s: resume from %s: %w", t.s.Label, c.Dir, err)
	}
	step := int(c.Step)
	if label := c.Extra["objective"]; label != t.s.Label {
		return fail(fmt.Errorf("the checkpoint belongs to objective %q", label))
	}
	if step > t.total {
		return fail(fmt.Errorf("the checkpoint is at step %d, past the run's %d steps", step, t.total))
	}
	if c.Epoch != step/t.perEpoch || c.Position != step%t.perEpoch*t.batch {
		return fail(fmt.Errorf("the checkpoint stands at epoch %d, example %d; this run would be at epoch %d, example %d: the data or the batch size changed",
			c.Epoch, c.Position, step/t.perEpoch, step%t.perEpoch*t.batch))
	}
	if err := loadWeights(t.policy, c.Weights); err != nil {
		return fail(err)
	}
	if c.Optim == nil {
		return fail(errors.New("the checkpoint has no optimizer state"))
	}
	if err := t.opt.SetState(*c.Optim); err != nil {
		return fail(err)
	}
	if t.opt.Steps() != c.Step {
		return fail(fmt.Errorf("the optimizer state has %d updates for step %d", t.opt.Steps(), c.Step))
	}
	t.saved = step
	t.logf("resumed from %s (step %d)\n", c.Dir, step)
	return step, c.Extra["pending"] == "eval", nil
}

func loadWeights(w *model.Weights, ts []checkpoint.Tensor) error {
	byName := map[string]checkpoint.Tensor{}
	for _, x := range ts {
		byName[x.Name] = x
	}
	for _, name := range w.Names() {
		x, ok := byName[name]
		if !ok {
			return fmt.Errorf("checkpoint lacks weight %q: the model shape changed", name)
		}
		if !slices.Equal(x.Shape, w.Shape(name)) {
			return fmt.Errorf("weight %q has shape %v in the checkpoint but %v in the model: the model shape changed", name, x.Shape, w.Shape(name))
		}
		copy(w.Data(name), x.Data)
	}
	if len(byName) != len(w.Names()) {
		return fmt.Errorf("checkpoint has %d weights, the model %d: the model shape changed", len(byName), len(w.Names()))
	}
	return nil
}
