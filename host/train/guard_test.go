package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
)

// tamper wraps an objective and edits its reply on the calls for which
// edit returns true.
type tamper struct {
	core.Objective
	calls int
	edit  func(call int, r *core.Result) bool
}

func (x *tamper) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	r, err := x.Objective.Compute(ctx, b)
	x.calls++
	if err == nil && x.edit != nil {
		x.edit(x.calls, r)
	}
	return r, err
}

func scaleGrads(r *core.Result, by float64) {
	for _, g := range r.Grads {
		for i := range g {
			g[i] *= by
		}
	}
}

// TestNumericGuards drives a step into each numeric failure and checks that
// nothing non-finite is applied or saved: under "fail" the run stops with
// an error naming the cause and a checkpoint of the state before the step;
// under "skip" the step is skipped and the run finishes with finite
// weights.
func TestNumericGuards(t *testing.T) {
	const bad = 3 // the 3rd call is step 3 (no evaluation set)
	cases := []struct {
		name string
		edit func(r *core.Result)
		want string
	}{
		// Beyond float32: the backward pass cannot represent it.
		{"gradient beyond float32", func(r *core.Result) { scaleGrads(r, 1e300) }, "exceeds the float32 range of the model's backward pass"},
		// Within float32, but the backward overflows on the way.
		{"gradient that overflows the backward", func(r *core.Result) {
			for _, g := range r.Grads {
				for i := range g {
					g[i] = math.Copysign(math.MaxFloat32, g[i])
				}
			}
		}, "gradient norm is not finite"},
	}
	set := pairedData(1, 12, tinyCfg.Vocab)
	for _, c := range cases {
		edit := func(call int, r *core.Result) bool {
			if call == bad {
				c.edit(r)
			}
			return call == bad
		}
		t.Run(c.name+"/fail", func(t *testing.T) {
			dir := t.TempDir()
			s := testJob(&tamper{Objective: dpoObjective(t), edit: edit}, newWeights(t, tinyCfg, 2), set, 6)
			s.Dir, s.Loop.KeepCheckpoints, s.Loop.CheckpointEvery = dir, 1, 1
			tr, err := New(s)
			require.NoError(t, err)
			defer tr.Close()
			_, err = tr.Run(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "step 3")
			assert.Contains(t, err.Error(), c.want)
			requireFinite(t, tr.Policy())
			saved, _, err := checkpoint.LoadLatest(filepath.Join(dir, "checkpoints"), false)
			require.NoError(t, err, "the newest checkpoint is readable")
			assert.Equal(t, int64(bad-1), saved.Step, "and holds the state before the bad step")
			assertCheckpointWeights(t, saved, tr.Policy())
		})
		t.Run(c.name+"/skip", func(t *testing.T) {
			var log bytes.Buffer
			s := testJob(&tamper{Objective: dpoObjective(t), edit: edit}, newWeights(t, tinyCfg, 2), set, 6)
			s.Retry.OnBadReply, s.Log = "skip", &log
			out, err := Run(context.Background(), s)
			require.NoError(t, err)
			assert.Equal(t, 1, out.Skipped)
			assert.Contains(t, log.String(), "step 3 skipped")
			requireFinite(t, out.Policy)
		})
	}
}

// TestLogWindowIsMean checks that a log line holds the mean loss and
// metrics of the steps since the previous line, and the last step's
// gradient norm and learning rate.
func TestLogWindowIsMean(t *testing.T) {
	run := func(every int) *Outcome {
		s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 10, tinyCfg.Vocab), 7)
		s.Loop.LogEvery = every
		out, err := Run(context.Background(), s)
		require.NoError(t, err)
		return out
	}
	each, windowed := run(1), run(3)
	require.Len(t, each.Train, 7)
	var steps []int
	for _, r := range windowed.Train {
		steps = append(steps, r.Step)
	}
	require.Equal(t, []int{3, 6, 7}, steps, "every 3 steps and the last")
	from := 0
	for _, r := range windowed.Train {
		for _, k := range []string{"loss", "rewards/margins", "rewards/accuracies"} {
			sum := 0.0
			for _, e := range each.Train[from:r.Step] {
				sum += e.Values[k]
			}
			assert.InDelta(t, sum/float64(r.Step-from), r.Values[k], 1e-12, "%s over steps %d..%d", k, from+1, r.Step)
		}
		last := each.Train[r.Step-1].Values
		assert.Equal(t, last["grad_norm"], r.Values["grad_norm"])
		assert.Equal(t, last["learning_rate"], r.Values["learning_rate"])
		from = r.Step
	}
}

// TestEpochsAndDropLast checks the epoch counter and examples seen with a
// partial last batch, and that drop_last drops it.
func TestEpochsAndDropLast(t *testing.T) {
	for _, c := range []struct {
		name     string
		dropLast bool
		steps    int
		epoch    []float64 // at each step
		seen     []float64
	}{
		// 10 examples, batches of 4: 4, 4, 2 per epoch.
		{"partial last batch", false, 6, []float64{1.0 / 3, 2.0 / 3, 1, 4.0 / 3, 5.0 / 3, 2}, []float64{4, 8, 10, 14, 18, 20}},
		// drop_last: 4, 4 per epoch.
		{"drop_last", true, 4, []float64{0.5, 1, 1.5, 2}, []float64{4, 8, 12, 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 10, tinyCfg.Vocab), 0)
			s.Loop.Steps, s.Loop.Epochs, s.Loop.DropLast = 0, 2, c.dropLast
			out, err := Run(context.Background(), s)
			require.NoError(t, err)
			require.Equal(t, c.steps, out.Steps, "two epochs")
			var epoch, seen []float64
			for _, r := range out.Train {
				epoch, seen = append(epoch, r.Values["epoch"]), append(seen, r.Values["examples_seen"])
			}
			assert.InDeltaSlice(t, c.epoch, epoch, 1e-12)
			assert.Equal(t, c.seen, seen)
		})
	}
	s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 3, tinyCfg.Vocab), 2)
	s.Loop.DropLast = true
	_, err := Run(context.Background(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "3 training examples make no full batch of 4 and drop_last is set")
}

// TestResumeLogsEachStepOnce simulates a crash after step 8 was logged but
// before its checkpoint: the resumed run cuts metrics.jsonl back to the
// step-5 checkpoint and logs steps 6..8 once.
func TestResumeLogsEachStepOnce(t *testing.T) {
	ctx := context.Background()
	spec := func(dir string) Job {
		s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 10, tinyCfg.Vocab), 8)
		s.Dir, s.Loop.CheckpointEvery = dir, 5
		return s
	}
	dir := t.TempDir()
	straight, err := Run(ctx, spec(dir))
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "checkpoints", checkpoint.DirName(8))))
	s := spec(dir)
	s.Resume = true
	resumed, err := Run(ctx, s)
	require.NoError(t, err)
	requireSameBits(t, straight.Policy, resumed.Policy, "resumed from step 5")
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	var steps []int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct{ Step int }
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		steps = append(steps, r.Step)
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, steps, "one line per step, none twice")
}

// TestInterruptDuringEvaluation cancels the run inside the evaluation after
// step 4: the run stops with a checkpoint of step 4 marked as having an
// unfinished evaluation, and the resumed run evaluates step 4 first and
// ends where an undisturbed run ends.
func TestInterruptDuringEvaluation(t *testing.T) {
	ctx := context.Background()
	spec := func(dir string) Job {
		s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), pairedData(1, 10, tinyCfg.Vocab), 8)
		s.Dir, s.Loop.EvalEvery = dir, 4
		s.Eval = Set{Paired: pairedData(5, 3, tinyCfg.Vocab)}
		return s
	}
	straight, err := Run(ctx, spec(t.TempDir()))
	require.NoError(t, err)

	dir := t.TempDir()
	cctx, cancel := context.WithCancel(ctx)
	s := spec(dir)
	s.OnEval = func(step int, _ *model.Weights) (map[string]float64, error) {
		if step == 4 {
			cancel()
			return nil, cctx.Err()
		}
		return nil, nil
	}
	_, err = Run(cctx, s)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "stopped at step 4")
	c, err := checkpoint.Load(filepath.Join(dir, "checkpoints", checkpoint.DirName(4)))
	require.NoError(t, err)
	assert.Equal(t, "eval", c.Extra["pending"])
	assert.Equal(t, "interrupted", c.Extra["reason"])

	s = spec(dir)
	s.Resume = true
	resumed, err := Run(ctx, s)
	require.NoError(t, err)
	requireSameBits(t, straight.Policy, resumed.Policy, "interrupted in evaluation and resumed")
	require.NotEmpty(t, resumed.History)
	assert.Equal(t, 4, resumed.History[0].Step, "the unfinished evaluation runs first")
}

// TestEvaluationFollowsBadReplyPolicy checks that a bad reply during
// evaluation is skipped and counted under "skip", and stops the run with a
// checkpoint under "fail".
func TestEvaluationFollowsBadReplyPolicy(t *testing.T) {
	// Calls: evaluation at step 0 is calls 1..2 (3 eval pairs, batch 4: one
	// batch) — call 1; steps 1..4 are calls 2..5; evaluation at 4 is call 6.
	edit := func(call int, r *core.Result) bool {
		if call == 6 {
			r.Loss = math.NaN()
		}
		return call == 6
	}
	spec := func() Job {
		s := testJob(&tamper{Objective: dpoObjective(t), edit: edit}, newWeights(t, tinyCfg, 2), pairedData(1, 10, tinyCfg.Vocab), 6)
		s.Loop.EvalEvery = 4
		s.Eval = Set{Paired: pairedData(5, 3, tinyCfg.Vocab)}
		return s
	}
	s := spec()
	s.Retry.OnBadReply = "skip"
	out, err := Run(context.Background(), s)
	require.NoError(t, err)
	require.Len(t, out.History, 3)
	assert.Equal(t, 1.0, out.History[1].Values["eval_skipped_batches"])
	assert.NotContains(t, out.History[1].Values, "eval_loss", "no batch left to average")

	s = spec()
	s.Dir = t.TempDir()
	_, err = Run(context.Background(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "evaluate at step 4")
	c, err := checkpoint.Load(filepath.Join(s.Dir, "checkpoints", checkpoint.DirName(4)))
	require.NoError(t, err, "the state after step 4 is saved")
	assert.Equal(t, "after error", c.Extra["reason"])
}

// TestReservedMetricNamesAreRenamed checks that an objective's metric named
// like a host metric is recorded under objective/NAME and never overwrites
// the host's value.
func TestReservedMetricNamesAreRenamed(t *testing.T) {
	var log bytes.Buffer
	obj := &tamper{Objective: dpoObjective(t), edit: func(_ int, r *core.Result) bool {
		r.Metrics["loss"], r.Metrics["grad_norm"], r.Metrics["epoch"] = -1, -2, -3
		return true
	}}
	s := testJob(obj, newWeights(t, tinyCfg, 2), pairedData(1, 8, tinyCfg.Vocab), 3)
	s.Eval = Set{Paired: pairedData(5, 3, tinyCfg.Vocab)}
	s.Log = &log
	out, err := Run(context.Background(), s)
	require.NoError(t, err)
	for _, r := range out.Train {
		assert.Equal(t, -1.0, r.Values["objective/loss"])
		assert.Equal(t, -2.0, r.Values["objective/grad_norm"])
		assert.Greater(t, r.Values["loss"], 0.0, "the host's loss")
		assert.Greater(t, r.Values["grad_norm"], 0.0, "the host's gradient norm")
		assert.Greater(t, r.Values["epoch"], 0.0)
	}
	for _, r := range out.History {
		assert.Greater(t, r.Values["eval_loss"], 0.0, "the objective's loss, not its metric")
		assert.Equal(t, -1.0, r.Values["eval_objective/loss"])
	}
	assert.Equal(t, 1, strings.Count(log.String(), `objective metric "loss" collides`), "said once")
}

// TestRestartFailuresCountAsAttempts checks that a restart that fails uses
// up an attempt instead of ending the run.
func TestRestartFailuresCountAsAttempts(t *testing.T) {
	boom := errors.New("connection reset")
	obj := &flaky{Objective: dpoObjective(t), failOn: 2, err: boom}
	restarts := 0
	s := testJob(obj, newWeights(t, tinyCfg, 2), pairedData(1, 8, tinyCfg.Vocab), 3)
	s.Retry = Retry{Attempts: 4, Restart: func(context.Context) error {
		restarts++
		if restarts <= 2 {
			return errors.New("plugin did not start")
		}
		return nil
	}}
	out, err := Run(context.Background(), s)
	require.NoError(t, err)
	assert.Equal(t, 3, out.Steps)
	assert.Equal(t, 3, restarts, "two failed restarts and one that worked")

	restarts = 0
	obj.calls = 0
	s.Retry.Attempts = 3
	_, err = Run(context.Background(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "after 3 attempts: restart: plugin did not start")

	// A failure another attempt cannot fix ends the call at once.
	restarts, obj.calls = 0, 0
	s.Retry.Restart = func(context.Context) error {
		restarts++
		return Permanent(errors.New("checksum mismatch"))
	}
	_, err = Run(context.Background(), s)
	require.Error(t, err)
	assert.Equal(t, 1, restarts)
	assert.Contains(t, err.Error(), "restart: checksum mismatch")
}

// flaky fails call failOn with err.
type flaky struct {
	core.Objective
	failOn, calls int
	err           error
}

func (f *flaky) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	f.calls++
	if f.calls == f.failOn {
		return nil, f.err
	}
	return f.Objective.Compute(ctx, b)
}

func requireFinite(t *testing.T, w *model.Weights) {
	t.Helper()
	require.NoError(t, w.CheckFinite())
}

// withColumn is DPO that also reads the data column "margin" and records
// the values it was sent.
type withColumn struct {
	core.Objective
	got [][]float64
}

func (w *withColumn) Inputs() []string {
	return append(w.Objective.Inputs(), core.ColumnInput("margin"))
}

func (w *withColumn) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	w.got = append(w.got, slices.Clone(*b.Floats(core.ColumnInput("margin"))))
	return w.Objective.Compute(ctx, b)
}

// TestDataColumnsReachTheObjective checks that a data column travels with
// its examples through shuffling and batching, and that a column the data
// lacks is an error naming it.
func TestDataColumnsReachTheObjective(t *testing.T) {
	set := pairedData(1, 6, tinyCfg.Vocab)
	set.Columns = data.Columns{"margin": {0, 1, 2, 3, 4, 5}}
	obj := &withColumn{Objective: dpoObjective(t)}
	s := testJob(obj, newWeights(t, tinyCfg, 2), set, 3)
	tr, err := New(s)
	require.NoError(t, err)
	defer tr.Close()
	for range 3 {
		p, err := tr.planAt(tr.next)
		require.NoError(t, err)
		want := make([]float64, len(p.examples))
		for i, j := range p.examples {
			want[i] = float64(j)
		}
		_, err = tr.Step(context.Background())
		require.NoError(t, err)
		assert.Equal(t, want, obj.got[len(obj.got)-1], "the column values of the batch's examples, in batch order")
	}

	set.Columns = nil
	_, err = New(testJob(&withColumn{Objective: dpoObjective(t)}, newWeights(t, tinyCfg, 2), set, 3))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `column "margin" was not read from the data`)
}

// TestPolicyEqualsReferenceAtStart checks that the training forward, the
// evaluation scorer and the reference scorer agree bit for bit at equal
// weights: before any update every implicit reward is exactly 0, so DPO's
// loss is exactly log 2 and no pair counts as ranked right.
func TestPolicyEqualsReferenceAtStart(t *testing.T) {
	set := pairedData(1, 10, tinyCfg.Vocab)
	s := testJob(dpoObjective(t), newWeights(t, tinyCfg, 2), set, 1)
	s.Eval = Set{Paired: set}
	s.Loop.Schedule, s.Loop.WarmupSteps = "constant", 0
	s.Dir = t.TempDir()
	s.CacheDir = filepath.Join(s.Dir, "cache")
	for range 2 { // the second run reads the reference from the cache
		out, err := Run(context.Background(), s)
		require.NoError(t, err)
		step0 := out.History[0].Values
		assert.Equal(t, math.Ln2, step0["eval_loss"])
		assert.Zero(t, step0["eval_rewards/margins"])
		assert.Zero(t, step0["eval_rewards/accuracies"])
		step1 := out.Train[0].Values
		for _, k := range []string{"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"} {
			assert.Zero(t, step1[k], "training forward at the reference's weights: %s", k)
		}
		assert.Equal(t, math.Ln2, step1["loss"])
	}
}
