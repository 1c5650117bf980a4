package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/kto"
)

func dpoObjective(t *testing.T) core.Objective {
	return configure(t, dpo.Definition(), map[string]any{"beta": 0.5})
}

func TestTrainingReducesLoss(t *testing.T) {
	cases := []struct {
		name string
		obj  core.Objective
		// initial is the loss before training, by hand: with the policy
		// equal to the reference every implicit reward is 0, so DPO's loss
		// is −log σ(0) = log 2 and KTO's (z0 = 0) is 1 − σ(0) = 1/2.
		// NaN: not known in closed form.
		initial float64
		// ratio bounds final/initial: a real effect, well beyond noise.
		ratio float64
	}{
		{"dpo", dpoObjective(t), math.Ln2, 0.75},
		{"kto", configure(t, kto.Definition(), map[string]any{"beta": 0.5}), 0.5, 0.9},
		{"nll", NLL{}, math.NaN(), 0.9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := pairedData(1, 16, tinyCfg.Vocab)
			s := testJob(c.obj, newWeights(t, tinyCfg, 2), set, 30)
			s.Eval = Set{Paired: set}
			s.Optimizer.LR = 3e-2
			out, err := Run(context.Background(), s)
			require.NoError(t, err)
			require.Len(t, out.History, 2, "evaluations at step 0 and at the end")
			first, last := out.History[0].Values["eval_loss"], out.History[1].Values["eval_loss"]
			require.False(t, math.IsNaN(first) || math.IsNaN(last))
			if !math.IsNaN(c.initial) {
				assert.InDelta(t, c.initial, first, 1e-12)
			}
			assert.Less(t, last, c.ratio*first, "eval loss %.4f → %.4f after 30 steps", first, last)
			assert.Equal(t, 30, out.Steps)
			assert.Len(t, out.Train, 30, "one training line per step")
			if c.name == "dpo" {
				acc := out.History[1].Values["eval_rewards/accuracies"]
				assert.Greater(t, acc, 0.75, "most pairs ranked right after training")
			}
			t.Logf("%s on 16 pairs, 30 steps: eval loss %.4f → %.4f", c.name, first, last)
		})
	}
}

func TestEvaluationHookAndMetricsFile(t *testing.T) {
	dir := t.TempDir()
	s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 8, tinyCfg.Vocab), 7)
	s.Eval = Set{Paired: pairedData(4, 3, tinyCfg.Vocab)}
	s.Dir, s.Loop.EvalEvery, s.Loop.LogEvery = dir, 3, 2
	var hookSteps []int
	s.OnEval = func(step int, w *model.Weights) (map[string]float64, error) {
		hookSteps = append(hookSteps, step)
		return map[string]float64{"probe": float64(step), "dropped": math.NaN()}, nil
	}
	out, err := Run(context.Background(), s)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 3, 6, 7}, hookSteps, "step 0, every eval_every, and the end")
	var evalSteps []int
	for _, r := range out.History {
		evalSteps = append(evalSteps, r.Step)
		assert.Equal(t, float64(r.Step), r.Values["probe"])
		assert.NotContains(t, r.Values, "dropped", "non-finite values are not recorded, and said so")
		for _, k := range []string{"eval_loss", "eval_rewards/accuracies", "eval_rewards/margins"} {
			assert.Contains(t, r.Values, k)
		}
	}
	assert.Equal(t, hookSteps, evalSteps)

	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	var steps []int
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]float64
		require.NoError(t, json.Unmarshal([]byte(line), &m), "line %d", i+1)
		steps = append(steps, int(m["step"]))
		if _, ok := m["loss"]; ok {
			for _, k := range []string{"grad_norm", "learning_rate", "epoch", "tokens_per_second"} {
				assert.Contains(t, m, k, "line %d", i+1)
			}
			assert.NotContains(t, m, "tokens", "the token count becomes a rate")
		}
	}
	// log_every 2: steps 2, 4, 6 and the last; evaluations at 0, 3, 6, 7.
	assert.Equal(t, []int{0, 2, 3, 4, 6, 6, 7, 7}, steps)
}

// trainLines returns the step-record values without the wall-clock rate.
func trainLines(out *Outcome) []Record {
	var rs []Record
	for _, r := range out.Train {
		v := map[string]float64{}
		for k, x := range r.Values {
			if k != "tokens_per_second" {
				v[k] = x
			}
		}
		rs = append(rs, Record{Step: r.Step, Values: v})
	}
	return rs
}

func TestReproducible(t *testing.T) {
	run := func() *Outcome {
		set := pairedData(1, 10, tinyCfg.Vocab)
		s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), set, 8)
		s.Eval = Set{Paired: pairedData(9, 3, tinyCfg.Vocab)}
		s.Loop.EvalEvery = 4
		out, err := Run(context.Background(), s)
		require.NoError(t, err)
		return out
	}
	a, b := run(), run()
	requireSameBits(t, a.Policy, b.Policy, "two runs with one seed")
	ra, rb := trainLines(a), trainLines(b)
	require.Equal(t, len(ra), len(rb))
	for i := range ra {
		require.Equal(t, ra[i].Step, rb[i].Step)
		require.Equal(t, len(ra[i].Values), len(rb[i].Values), "line %d", i)
		for k, v := range ra[i].Values {
			assert.Equal(t, math.Float64bits(v), math.Float64bits(rb[i].Values[k]), "line %d %s", i, k)
		}
	}
	init := newWeights(t, tinyCfg, 2)
	same, _ := sameBits(init, a.Policy)
	assert.False(t, same, "training changed the weights")
}

func TestResumeIsBitIdentical(t *testing.T) {
	ctx := context.Background()
	spec := func(dir string) Job {
		s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 14, tinyCfg.Vocab), 20)
		s.Dir = dir
		s.Loop.CheckpointEvery = 10
		return s
	}
	straight, err := Run(ctx, spec(t.TempDir()))
	require.NoError(t, err)

	// Interrupt a run after its step-10 checkpoint: the evaluation hook of
	// step 10 cancels the context, the checkpoint is written, and the loop
	// stops before step 11.
	dir := t.TempDir()
	s := spec(dir)
	cctx, cancel := context.WithCancel(ctx)
	s.Loop.EvalEvery = 10
	s.OnEval = func(step int, _ *model.Weights) (map[string]float64, error) {
		if step == 10 {
			cancel()
		}
		return nil, nil
	}
	_, err = Run(cctx, s)
	require.ErrorIs(t, err, context.Canceled)
	latest, err := checkpoint.Latest(filepath.Join(dir, "checkpoints"))
	require.NoError(t, err)
	require.Equal(t, checkpoint.DirName(10), filepath.Base(latest))

	var log bytes.Buffer
	s = spec(dir)
	s.Resume = true
	s.Log = &log
	resumed, err := Run(ctx, s)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "resumed from")
	requireSameBits(t, straight.Policy, resumed.Policy, "10 steps + resume + 10 steps vs 20 steps")
	require.Len(t, resumed.Train, 10, "steps 11..20 (no evaluation set: no evaluation lines)")
	assert.Equal(t, 11, resumed.Train[0].Step)
	for i, r := range resumed.Train[:10] {
		want := straight.Train[10+i] // straight: steps 1..20
		require.Equal(t, want.Step, r.Step)
		assert.Equal(t, math.Float64bits(want.Values["loss"]), math.Float64bits(r.Values["loss"]), "step %d loss", r.Step)
	}
	lines, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 10+10, strings.Count(string(lines), "\n"), "metrics.jsonl continues across the resume")
}

func TestResumeRefusesChangedShape(t *testing.T) {
	dir := t.TempDir()
	s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 8, tinyCfg.Vocab), 2)
	s.Dir = dir
	_, err := Run(context.Background(), s)
	require.NoError(t, err)

	cases := []struct {
		name string
		cfg  func(c model.Config) model.Config
		want []string
	}{
		{"wider", func(c model.Config) model.Config { c.Width = 12; return c },
			[]string{`weight "tok.weight" has shape [12 8] in the checkpoint but [12 12] in the model`, "model shape changed"}},
		{"longer context", func(c model.Config) model.Config { c.Context = 12; return c },
			[]string{`weight "pos.weight" has shape [10 8] in the checkpoint but [12 8]`}},
		{"deeper", func(c model.Config) model.Config { c.Layers = 2; return c },
			[]string{`checkpoint lacks weight "blocks.1.ln1.gain"`, "model shape changed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s2 := testJob(dpoObjective(t), newWeights(t, c.cfg(tinyCfg), 2), pairedData(1, 8, tinyCfg.Vocab), 4)
			s2.Dir, s2.Resume = dir, true
			_, err := Run(context.Background(), s2)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), "resume from")
		})
	}
}

// faulty wraps an objective and corrupts its reply on call `on`.
type faulty struct {
	core.Objective
	on    int
	kind  string // "nan_grad", "short_grad", "nan_loss", "inf_metric"
	calls int
}

func (f *faulty) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	r, err := f.Objective.Compute(ctx, b)
	f.calls++
	if err != nil || f.calls != f.on {
		return r, err
	}
	switch f.kind {
	case "nan_grad":
		r.Grads[core.PolicyRejectedLogps][2] = math.NaN()
	case "short_grad":
		g := r.Grads[core.PolicyChosenLogps]
		r.Grads[core.PolicyChosenLogps] = g[:len(g)-1]
	case "nan_loss":
		r.Loss = math.NaN()
	case "inf_metric":
		r.Metrics["rewards/margins"] = math.Inf(1)
	}
	return r, nil
}

func TestBadReplyIsCaughtBeforeWeightsChange(t *testing.T) {
	const failOn = 4 // the 4th objective call is step 4 (no evaluation set)
	cases := []struct {
		kind  string
		field string
		index string
	}{
		{"nan_grad", "grads.policy_rejected_logps", "[2]"},
		{"short_grad", "grads.policy_chosen_logps", ""},
		{"nan_loss", "loss", ""},
		{"inf_metric", "metrics.rewards/margins", ""},
	}
	ctx := context.Background()
	set := pairedData(1, 12, tinyCfg.Vocab)
	// The undisturbed run, with a checkpoint after every step.
	refDir := t.TempDir()
	ref := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), set, 6)
	ref.Dir, ref.Loop.CheckpointEvery = refDir, 1
	undisturbed, err := Run(ctx, ref)
	require.NoError(t, err)
	before, err := checkpoint.Load(filepath.Join(refDir, "checkpoints", checkpoint.DirName(failOn-1)))
	require.NoError(t, err)

	for _, c := range cases {
		t.Run(c.kind+"/fail", func(t *testing.T) {
			dir := t.TempDir()
			s := testJob(&faulty{Objective: dpoObjective(t), on: failOn, kind: c.kind}, newWeights(t, tinyCfg, 2), set, 6)
			s.Label, s.Dir, s.Retry.OnBadReply = "dpo-under-test", dir, "fail"
			tr, err := New(s)
			require.NoError(t, err)
			defer tr.Close()
			_, err = tr.Run(ctx)
			require.Error(t, err)
			var re *core.ReplyError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, c.field, re.Field)
			msg := err.Error()
			for _, part := range []string{"dpo-under-test", "step 4", "reply " + c.field + c.index} {
				assert.Contains(t, msg, part)
			}
			// The live weights and the checkpoint written on the error are
			// the state after step 3, bit for bit.
			saved, err := checkpoint.Load(filepath.Join(dir, "checkpoints", checkpoint.DirName(failOn-1)))
			require.NoError(t, err)
			assert.Equal(t, "after error", saved.Extra["reason"])
			assertCheckpointWeights(t, before, tr.policy)
			assertCheckpointWeights(t, saved, tr.policy)
		})
		t.Run(c.kind+"/skip", func(t *testing.T) {
			var log bytes.Buffer
			s := testJob(&faulty{Objective: dpoObjective(t), on: failOn, kind: c.kind}, newWeights(t, tinyCfg, 2), set, 6)
			s.Retry.OnBadReply, s.Log = "skip", &log
			out, err := Run(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, 1, out.Skipped)
			assert.Equal(t, 6, out.Steps)
			assert.Contains(t, log.String(), "step 4 skipped: objective test: reply "+c.field)
			var steps []int
			for _, r := range out.Train {
				steps = append(steps, r.Step)
				if r.Step == failOn {
					assert.Equal(t, 1.0, r.Values["skipped_steps"], "the skipped step's line counts it")
					assert.NotContains(t, r.Values, "loss", "and has no loss")
				} else {
					assert.NotContains(t, r.Values, "skipped_steps")
				}
			}
			assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, steps)
			same, _ := sameBits(undisturbed.Policy, out.Policy)
			assert.False(t, same, "a skipped step is an update lost")
		})
	}
}

func assertCheckpointWeights(t *testing.T, c *checkpoint.Checkpoint, w *model.Weights) {
	t.Helper()
	require.Len(t, c.Weights, len(w.Names()))
	for _, x := range c.Weights {
		got := w.Data(x.Name)
		for i := range x.Data {
			if math.Float32bits(x.Data[i]) != math.Float32bits(got[i]) {
				t.Errorf("%s[%d]: checkpoint %v, weights %v", x.Name, i, x.Data[i], got[i])
				return
			}
		}
	}
}

func TestRunRejectsBadSpec(t *testing.T) {
	cases := []struct {
		name   string
		modify func(s *Job)
		want   string
	}{
		{"unknown bad-reply policy", func(s *Job) { s.Retry.OnBadReply = "ignore" }, `on_bad_reply must be "fail" or "skip", got "ignore"`},
		{"no pairs for a paired objective", func(s *Job) { s.Train = Set{} }, "the objective reads pairs, and the training data has none"},
		{"no steps", func(s *Job) { s.Loop.Steps, s.Loop.Epochs = 0, 0 }, "no steps to run"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 4, tinyCfg.Vocab), 2)
			c.modify(&s)
			_, err := Run(context.Background(), s)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestTransportErrorWithoutRestartFails(t *testing.T) {
	boom := errors.New("connection reset")
	obj := &erroring{Objective: dpoObjective(t), err: boom}
	s := testJob(obj, newWeights(t, tinyCfg, 2), pairedData(1, 4, tinyCfg.Vocab), 2)
	s.Retry.Attempts = 3 // no Restart: no retry
	_, err := Run(context.Background(), s)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, obj.calls)
}

type erroring struct {
	core.Objective
	err   error
	calls int
}

func (e *erroring) Compute(context.Context, *core.Batch) (*core.Result, error) {
	e.calls++
	return nil, e.err
}
