// Package train runs the training loop: policy forward, one objective call,
// validation of the reply before any weight changes, backward through the
// model with the objective's gradient, clipping and an AdamW step; with
// logging, evaluation and checkpoints.
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
	"time"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/optim"
)

// Set is training or evaluation data: paired, unpaired, or both. An
// objective that reads unpaired inputs uses Unpaired if set, else the pairs
// unpaired (chosen desirable, rejected undesirable).
type Set struct {
	Paired   *data.PairedSet
	Unpaired *data.UnpairedSet
}

// Spec is one training run of one objective.
type Spec struct {
	Label     string
	Objective core.Objective
	// Init is the starting policy; it is cloned, never modified.
	Init *model.Weights
	// Reference is the frozen reference model; nil means a copy of Init.
	Reference   *model.Weights
	Train, Eval Set
	Optimizer   config.Optimizer
	Loop        config.Train
	Seed        uint64
	// Truncation applies to the KL rows built for unpaired objectives.
	Truncation data.Truncation
	// Dir receives metrics.jsonl and checkpoints/; "" writes nothing.
	Dir string
	// CacheDir holds reference log-probs; "" disables the disk cache.
	CacheDir string
	// Config is the resolved experiment, saved in every checkpoint.
	Config []byte
	// Tokenizer is the tokenizer's spec, saved in every checkpoint.
	Tokenizer json.RawMessage
	// Resume continues from the latest checkpoint in Dir, if any.
	Resume bool
	// ResumeFallback lets Resume skip a damaged latest checkpoint (reported
	// in the log) for the newest good one; without it a damaged latest
	// checkpoint is an error.
	ResumeFallback bool
	// OnEval, if set, adds metrics at every evaluation (step 0 included).
	OnEval func(step int, policy *model.Weights) (map[string]float64, error)
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
	m["step"] = r.Step
	return json.Marshal(m)
}

// Outcome is what a run produced.
type Outcome struct {
	Policy  *model.Weights
	Steps   int
	History []Record // evaluations, in step order
	Train   []Record // training log lines
	Skipped int      // steps skipped on bad replies
}

type trainer struct {
	s       Spec
	l       layout
	policy  *model.Weights
	ref     *model.Weights
	runner  *model.Runner
	scorer  *model.Scorer // policy, forward only, for evaluation
	refSc   *model.Scorer // reference, forward only, for KL rows
	opt     *optim.AdamW
	sched   optim.Schedule
	batch   int
	total   int
	trainN  int
	refC    []float64 // reference scores of train examples (paired: chosen)
	refR    []float64 // paired: rejected
	evalRef [2][]float64
	rows    []data.Row // unpaired train rows
	labels  []bool
	eRows   []data.Row
	eLabels []bool
	metrics *os.File
	out     *Outcome
}

// Run trains s.Objective from s.Init and returns the trained policy.
func Run(ctx context.Context, s Spec) (*Outcome, error) {
	t, err := newTrainer(s)
	if err != nil {
		return nil, err
	}
	defer t.close()
	return t.run(ctx)
}

func newTrainer(s Spec) (*trainer, error) {
	l, err := layoutOf(s.Objective.Inputs())
	if err != nil {
		return nil, err
	}
	switch s.Retry.OnBadReply {
	case "", "fail", "skip":
	default:
		return nil, fmt.Errorf("train %s: on_bad_reply must be \"fail\" or \"skip\", got %q", s.Label, s.Retry.OnBadReply)
	}
	t := &trainer{s: s, l: l, policy: s.Init.Clone(), batch: s.Loop.BatchSize, out: &Outcome{}}
	t.ref = s.Reference
	if t.ref == nil {
		t.ref = s.Init
	}
	if err := t.prepareData(); err != nil {
		return nil, err
	}
	per := (t.trainN + t.batch - 1) / t.batch
	t.total = s.Loop.Steps
	if t.total <= 0 {
		t.total = s.Loop.Epochs * per
	}
	if t.total <= 0 {
		return nil, fmt.Errorf("train %s: no steps to run (train.steps %d, train.epochs %d)", s.Label, s.Loop.Steps, s.Loop.Epochs)
	}
	t.sched, err = optim.NewSchedule(s.Loop.Schedule, s.Optimizer.LR, s.Loop.WarmupFor(t.total), t.total, s.Loop.MinLRRatio)
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", s.Label, err)
	}
	t.opt, err = optim.NewAdamW(optim.Hyper{Beta1: s.Optimizer.Beta1, Beta2: s.Optimizer.Beta2, Eps: s.Optimizer.Eps, WeightDecay: s.Optimizer.WeightDecay})
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", s.Label, err)
	}
	outs := l.outputs(t.batch)
	rows := 2 * t.batch
	if !l.paired && !l.kl {
		rows = t.batch
	}
	if t.runner, err = model.NewRunner(t.policy, rows, outs); err != nil {
		return nil, err
	}
	if t.scorer, err = model.NewScorer(t.policy, rows, outs); err != nil {
		return nil, err
	}
	if !l.paired && l.kl && l.reference {
		if t.refSc, err = model.NewScorer(t.ref, t.batch, t.batch); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *trainer) close() {
	if t.runner != nil {
		t.runner.Close()
	}
	if t.scorer != nil {
		t.scorer.Close()
	}
	if t.refSc != nil {
		t.refSc.Close()
	}
	if t.metrics != nil {
		t.metrics.Close()
	}
}

// prepareData picks the view of the data the objective reads and scores
// the reference once.
func (t *trainer) prepareData() error {
	s := t.s
	cache := ScoreCache{Dir: s.CacheDir, Rows: 2 * t.batch}
	if t.l.paired {
		if s.Train.Paired == nil || s.Train.Paired.Len() == 0 {
			return fmt.Errorf("train %s: the objective needs paired data, and the training data has no pairs", s.Label)
		}
		t.trainN = s.Train.Paired.Len()
		if t.l.reference {
			var err error
			if t.refC, t.refR, err = t.pairedRef(cache, s.Train.Paired); err != nil {
				return err
			}
			if s.Eval.Paired != nil && s.Eval.Paired.Len() > 0 {
				if t.evalRef[0], t.evalRef[1], err = t.pairedRef(cache, s.Eval.Paired); err != nil {
					return err
				}
			}
		}
		return nil
	}
	t.rows, t.labels = unpairedView(s.Train)
	t.eRows, t.eLabels = unpairedView(s.Eval)
	t.trainN = len(t.rows)
	if t.trainN == 0 {
		return fmt.Errorf("train %s: no training examples", s.Label)
	}
	if t.l.reference {
		var err error
		if t.refC, err = t.scoreRows(cache, t.rows); err != nil {
			return err
		}
		if len(t.eRows) > 0 {
			if t.evalRef[0], err = t.scoreRows(cache, t.eRows); err != nil {
				return err
			}
		}
	}
	return nil
}

func unpairedView(s Set) ([]data.Row, []bool) {
	if s.Unpaired != nil {
		return s.Unpaired.Rows, s.Unpaired.Labels
	}
	if s.Paired != nil {
		return unpair(s.Paired)
	}
	return nil, nil
}

func (t *trainer) pairedRef(cache ScoreCache, set *data.PairedSet) (c, r []float64, err error) {
	rows := append(slices.Clone(set.Chosen), set.Rejected...)
	scores, err := t.scoreRows(cache, rows)
	if err != nil {
		return nil, nil, err
	}
	return scores[:set.Len()], scores[set.Len():], nil
}

func (t *trainer) scoreRows(cache ScoreCache, rows []data.Row) ([]float64, error) {
	seqs := make([]model.Seq, len(rows))
	for i, r := range rows {
		seqs[i] = completionSeq(r)
	}
	scores, hit, err := cache.Score(t.ref, seqs)
	if err != nil {
		return nil, fmt.Errorf("train %s: reference log-probs: %w", t.s.Label, err)
	}
	if hit {
		t.logf("reference log-probs of %d sequences read from the cache\n", len(seqs))
	}
	return scores, nil
}

func (t *trainer) logf(format string, a ...any) {
	if t.s.Log != nil {
		fmt.Fprintf(t.s.Log, "[%s] "+format, append([]any{t.s.Label}, a...)...)
	}
}

// params pairs the live weights with gradients for the optimizer.
func (t *trainer) params(grads map[string][]float32) []optim.Param {
	names := t.policy.Names()
	ps := make([]optim.Param, len(names))
	for i, name := range names {
		shape := t.policy.Shape(name)
		ps[i] = optim.Param{Name: name, Data: t.policy.Data(name), Grad: grads[name],
			// Biases, LayerNorm parameters (1-D) and embeddings are not decayed,
			// as in transformers' Trainer and nanoGPT.
			NoDecay: len(shape) < 2 || isEmbedding(name)}
	}
	return ps
}

func isEmbedding(name string) bool { return name == "tok.weight" || name == "pos.weight" }

func (t *trainer) run(ctx context.Context) (*Outcome, error) {
	start := 0
	if t.s.Dir != "" {
		if err := os.MkdirAll(t.s.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("train %s: %w", t.s.Label, err)
		}
		if t.s.Resume {
			var err error
			if start, err = t.resume(); err != nil {
				return nil, err
			}
		}
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if start > 0 {
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(filepath.Join(t.s.Dir, "metrics.jsonl"), flags, 0o644)
		if err != nil {
			return nil, fmt.Errorf("train %s: %w", t.s.Label, err)
		}
		t.metrics = f
	}
	t.logf("%d steps of %d examples (%d train examples, %.2f epochs), objective inputs %v\n",
		t.total, t.batch, t.trainN, float64(t.total*t.batch)/float64(t.trainN), t.l.inputs)
	if start == 0 {
		if err := t.evaluate(ctx, 0); err != nil {
			return nil, err
		}
	}
	per := (t.trainN + t.batch - 1) / t.batch
	var epochBatches [][]int
	epochOf := -1
	for step := start; step < t.total; step++ {
		if err := ctx.Err(); err != nil {
			if t.s.Dir != "" && step > start {
				if _, cerr := t.save(step, "interrupted"); cerr != nil {
					err = errors.Join(err, cerr)
				}
			}
			return nil, fmt.Errorf("train %s: stopped at step %d: %w", t.s.Label, step, err)
		}
		epoch, k := step/per, step%per
		if epoch != epochOf {
			var err error
			epochBatches, err = data.Batches(t.trainN, epoch, data.BatchOptions{Size: t.batch, Seed: t.s.Seed})
			if err != nil {
				return nil, err
			}
			epochOf = epoch
		}
		began := time.Now()
		vals, err := t.step(ctx, step, epochBatches[k])
		if err != nil {
			if t.s.Dir != "" {
				if _, cerr := t.save(step, "after error"); cerr != nil {
					err = errors.Join(err, cerr)
				}
			}
			return nil, err
		}
		if vals == nil {
			t.out.Skipped++
		}
		done := step + 1
		if t.s.Progress != nil && vals != nil {
			t.s.Progress(t.s.Label, done, t.total, vals["loss"])
		}
		if vals != nil && (done%max(1, t.s.Loop.LogEvery) == 0 || done == t.total) {
			vals["epoch"] = float64(step)/float64(per) + 1/float64(per)
			vals["tokens_per_second"] = vals["tokens"] / time.Since(began).Seconds()
			delete(vals, "tokens")
			t.record(done, vals)
			t.logf("step %d/%d loss %.4f grad_norm %.3f lr %.2e\n", done, t.total, vals["loss"], vals["grad_norm"], vals["learning_rate"])
		}
		if (t.s.Loop.EvalEvery > 0 && done%t.s.Loop.EvalEvery == 0) || done == t.total {
			if err := t.evaluate(ctx, done); err != nil {
				return nil, err
			}
		}
		if t.s.Dir != "" && ((t.s.Loop.CheckpointEvery > 0 && done%t.s.Loop.CheckpointEvery == 0) || done == t.total) {
			if _, err := t.save(done, ""); err != nil {
				return nil, err
			}
		}
	}
	t.out.Policy, t.out.Steps = t.policy, t.total
	return t.out, nil
}

// step runs one optimizer step on the examples idx. It returns nil values
// when the step was skipped on a bad reply (policy "skip").
func (t *trainer) step(ctx context.Context, step int, idx []int) (map[string]float64, error) {
	res, tokens, err := t.gradients(ctx, step, idx)
	if err != nil || res == nil {
		return nil, err
	}
	ps := t.params(t.runner.Grads())
	var norm float64
	if t.s.Optimizer.MaxGradNorm > 0 {
		norm = optim.ClipGradNorm(ps, t.s.Optimizer.MaxGradNorm)
	} else {
		norm = optim.GradNorm(ps)
	}
	lr := t.sched.LR(step)
	t.opt.Step(ps, lr)
	vals := map[string]float64{"loss": res.Loss, "grad_norm": norm, "learning_rate": lr, "tokens": float64(tokens)}
	for k, v := range res.Metrics {
		vals[k] = v
	}
	return vals, nil
}

// gradients runs the policy forward on the examples idx, one objective
// call whose reply is validated, and the backward pass with the reply's
// gradient, leaving Σ_i g_i·∂logp_i/∂θ in the runner's gradients. The
// weights are not touched. It returns a nil result when the reply was bad
// and the policy is "skip"; tokens counts the model batch's tokens.
func (t *trainer) gradients(ctx context.Context, step int, idx []int) (res *core.Result, tokens int, err error) {
	_, b, tokens, err := t.assemble(idx, t.runner.Forward)
	if err != nil {
		return nil, 0, fmt.Errorf("train %s: step %d: %w", t.s.Label, step+1, err)
	}
	res, err = t.call(ctx, b)
	if err != nil {
		var re *core.ReplyError
		if errors.As(err, &re) && t.s.Retry.OnBadReply == "skip" {
			t.logf("step %d skipped: %v\n", step+1, err)
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("train %s: step %d: %w", t.s.Label, step+1, err)
	}
	g := gradVector(t.l, b, res, t.l.outputs(t.batch))
	t.runner.ZeroGrads()
	if err := t.runner.Backward(g); err != nil {
		return nil, 0, fmt.Errorf("train %s: step %d: %w", t.s.Label, step+1, err)
	}
	return res, tokens, nil
}

// assemble builds the model batch for the examples idx, runs fwd on it, and
// builds the objective's batch from the outputs.
func (t *trainer) assemble(idx []int, fwd func(*model.Batch) ([]float64, error)) (*model.Batch, *core.Batch, int, error) {
	return t.assembleFrom(idx, false, fwd)
}

func (t *trainer) assembleFrom(idx []int, eval bool, fwd func(*model.Batch) ([]float64, error)) (*model.Batch, *core.Batch, int, error) {
	n := len(idx)
	if t.l.paired {
		set := t.s.Train.Paired
		refC, refR := t.refC, t.refR
		if eval {
			set, refC, refR = t.s.Eval.Paired, t.evalRef[0], t.evalRef[1]
		}
		sub := set.Subset(idx)
		mb, seqs := pairedStep(sub, t.l)
		out, err := fwd(mb)
		if err != nil {
			return nil, nil, 0, err
		}
		var rc, rr []float64
		if t.l.reference {
			rc, rr = pick(refC, idx), pick(refR, idx)
		}
		return mb, pairedBatch(t.l, n, seqs, out, rc, rr), countTokens(mb), nil
	}
	rowsAll, labelsAll, ref := t.rows, t.labels, t.refC
	if eval {
		rowsAll, labelsAll, ref = t.eRows, t.eLabels, t.evalRef[0]
	}
	rows := make([]data.Row, n)
	labels := make([]bool, n)
	for i, j := range idx {
		rows[i], labels[i] = rowsAll[j], labelsAll[j]
	}
	var kl []data.Row
	var refKL []float64
	if t.l.kl {
		var err error
		if kl, err = klRows(rows, t.s.Truncation); err != nil {
			return nil, nil, 0, err
		}
		if t.l.reference {
			seqs := make([]model.Seq, len(kl))
			for i, r := range kl {
				seqs[i] = completionSeq(r)
			}
			if refKL, err = t.refSc.ScoreAll(seqs); err != nil {
				return nil, nil, 0, err
			}
		}
	}
	mb, seqs := unpairedStep(rows, kl)
	out, err := fwd(mb)
	if err != nil {
		return nil, nil, 0, err
	}
	var r []float64
	if t.l.reference {
		r = pick(ref, idx)
	}
	return mb, unpairedBatch(t.l, seqs, out, labels, r, refKL), countTokens(mb), nil
}

func pick(xs []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

func countTokens(b *model.Batch) int {
	n := 0
	for _, r := range b.Rows {
		n += len(r)
	}
	return n
}

func (t *trainer) record(step int, vals map[string]float64) {
	r := Record{Step: step, Values: vals}
	t.out.Train = append(t.out.Train, r)
	if t.metrics != nil {
		line, _ := json.Marshal(r)
		t.metrics.Write(append(line, '\n'))
	}
}

// evaluate computes the objective's loss and metrics on the evaluation set
// (prefixed eval_) plus OnEval's metrics, and records them.
func (t *trainer) evaluate(ctx context.Context, step int) error {
	vals := map[string]float64{}
	n := 0
	if t.l.paired && t.s.Eval.Paired != nil {
		n = t.s.Eval.Paired.Len()
	} else if !t.l.paired {
		n = len(t.eRows)
	}
	if n > 0 {
		batches, err := data.Batches(n, 0, data.BatchOptions{Size: t.batch, Sequential: true})
		if err != nil {
			return err
		}
		sums := map[string]float64{}
		for _, idx := range batches {
			_, b, _, err := t.assembleFrom(idx, true, t.scorer.Score)
			if err != nil {
				return fmt.Errorf("train %s: evaluate: %w", t.s.Label, err)
			}
			res, err := t.call(ctx, b)
			if err != nil {
				return fmt.Errorf("train %s: evaluate: %w", t.s.Label, err)
			}
			w := float64(len(idx))
			sums["loss"] += w * res.Loss
			for k, v := range res.Metrics {
				sums[k] += w * v
			}
		}
		for k, v := range sums {
			vals["eval_"+k] = v / float64(n)
		}
	}
	if t.s.OnEval != nil {
		extra, err := t.s.OnEval(step, t.policy)
		if err != nil {
			return fmt.Errorf("train %s: evaluate: %w", t.s.Label, err)
		}
		for k, v := range extra {
			vals[k] = v
		}
	}
	if len(vals) == 0 {
		return nil
	}
	for k, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(vals, k)
		}
	}
	t.out.History = append(t.out.History, Record{Step: step, Values: vals})
	t.record(step, vals)
	return nil
}

// save writes a checkpoint of the state after done steps.
func (t *trainer) save(done int, why string) (string, error) {
	c := &checkpoint.Checkpoint{
		Step:      int64(done),
		Config:    t.s.Config,
		Tokenizer: t.s.Tokenizer,
		Extra:     map[string]string{"objective": t.s.Label},
	}
	if why != "" {
		c.Extra["reason"] = why
	}
	per := (t.trainN + t.batch - 1) / t.batch
	c.Epoch, c.Position = done/per, (done%per)*t.batch
	for _, name := range t.policy.Names() {
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: name, Shape: t.policy.Shape(name), Data: slices.Clone(t.policy.Data(name))})
	}
	st := t.opt.State()
	c.Optim = &st
	root := filepath.Join(t.s.Dir, "checkpoints")
	dir, err := checkpoint.Save(root, c)
	if err != nil {
		return "", fmt.Errorf("train %s: checkpoint: %w", t.s.Label, err)
	}
	if k := t.s.Loop.KeepCheckpoints; k > 0 {
		if _, err := checkpoint.Prune(root, k); err != nil {
			return dir, fmt.Errorf("train %s: prune checkpoints: %w", t.s.Label, err)
		}
	}
	return dir, nil
}

// resume loads the latest checkpoint of this run, if any, and returns the
// step to continue from.
func (t *trainer) resume() (int, error) {
	root := filepath.Join(t.s.Dir, "checkpoints")
	c, skipped, err := checkpoint.LoadLatest(root, t.s.ResumeFallback)
	for _, e := range skipped {
		t.logf("skipped checkpoint: %v\n", e)
	}
	if errors.Is(err, checkpoint.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("train %s: resume: %w", t.s.Label, err)
	}
	if err := t.loadWeights(c.Weights); err != nil {
		return 0, fmt.Errorf("train %s: resume from %s: %w", t.s.Label, c.Dir, err)
	}
	if c.Optim != nil {
		if err := t.opt.SetState(*c.Optim); err != nil {
			return 0, fmt.Errorf("train %s: resume from %s: %w", t.s.Label, c.Dir, err)
		}
	}
	t.logf("resumed from %s (step %d)\n", c.Dir, c.Step)
	return int(c.Step), nil
}

func (t *trainer) loadWeights(ts []checkpoint.Tensor) error {
	byName := map[string]checkpoint.Tensor{}
	for _, x := range ts {
		byName[x.Name] = x
	}
	for _, name := range t.policy.Names() {
		x, ok := byName[name]
		if !ok {
			return fmt.Errorf("checkpoint lacks weight %q: the model shape changed", name)
		}
		if !slices.Equal(x.Shape, t.policy.Shape(name)) {
			return fmt.Errorf("weight %q has shape %v in the checkpoint but %v in the model: the model shape changed", name, x.Shape, t.policy.Shape(name))
		}
		copy(t.policy.Data(name), x.Data)
	}
	if len(byName) != len(t.policy.Names()) {
		return fmt.Errorf("checkpoint has %d weights, the model %d: the model shape changed", len(byName), len(t.policy.Names()))
	}
	return nil
}
