package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/optim"
)

// Model is the policy as the trainer uses it; [model.Trainable] implements
// it. Forward keeps what Backward needs; Score does not.
type Model interface {
	Forward(*model.Batch) ([]float64, error)
	// Backward sets every parameter's gradient to ∂(Σ_j g[j]·out[j])/∂θ for
	// the outputs out of the last Forward.
	Backward(g []float64) error
	Score(*model.Batch) ([]float64, error)
	// Params returns the live parameters with their gradients and
	// weight-decay groups.
	Params() []optim.Param
	Close() error
}

// StepTimes splits the wall time of one training step.
type StepTimes struct {
	Forward, Objective, Backward, Optimizer time.Duration
}

// Total returns the sum of the parts.
func (s StepTimes) Total() time.Duration {
	return s.Forward + s.Objective + s.Backward + s.Optimizer
}

// StepResult is what one training step did.
type StepResult struct {
	// Skipped is set when the step was not applied (policy "skip"); Reason
	// says why.
	Skipped bool
	Reason  error
	// Loss and Metrics are the objective's, with metrics whose names the
	// host owns renamed (see [ReservedMetrics]).
	Loss     float64
	Metrics  map[string]float64
	GradNorm float64 // before clipping
	LR       float64
	Tokens   int
	Examples int
	Times    StepTimes
}

// NonFiniteError reports a non-finite value produced inside a step, before
// anything was applied.
type NonFiniteError struct {
	Where string // "gradient norm", "update of tok.weight[12]"
	Value float64
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("%s is not finite (%v): the update was not applied", e.Where, e.Value)
}

// maxGrad is the largest objective gradient the model's backward accepts:
// the backward runs in float32, and a larger value is not representable
// there (it becomes ±Inf and every weight it reaches turns NaN).
const maxGrad = math.MaxFloat32

// checkGradRange rejects objective gradients outside float32 range.
func checkGradRange(r *core.Result) error {
	for name, g := range r.Grads {
		for i, v := range g {
			if math.Abs(v) > maxGrad {
				return &core.ReplyError{Field: "grads." + name, Index: i, Value: v,
					Msg: fmt.Sprintf("exceeds the float32 range of the model's backward pass (±%.4g)", maxGrad)}
			}
		}
	}
	return nil
}

// step runs one optimizer step on plan p: forward, one objective call whose
// reply is validated, backward with the reply's gradient, clipping and an
// AdamW update. Nothing changes the weights or the optimizer's state unless
// every value involved is finite. A bad reply or a non-finite value skips
// the step under policy "skip" and is an error under "fail".
func (t *Trainer) step(ctx context.Context, p *plan, step int) (StepResult, error) {
	st := StepResult{Tokens: p.tokens, Examples: p.n, LR: t.sched.LR(step)}
	t0 := time.Now()
	out, err := t.model.Forward(p.model)
	if err != nil {
		return st, err
	}
	if err := t.addWPO(p); err != nil {
		return st, err
	}
	t1 := time.Now()
	res, err := t.call(ctx, p.batch(out))
	if err == nil {
		err = checkGradRange(res)
	}
	t2 := time.Now()
	st.Times.Forward, st.Times.Objective = t1.Sub(t0), t2.Sub(t1)
	if err != nil {
		return t.skipOr(st, err)
	}
	st.Loss, st.Metrics = res.Loss, t.metrics.rename(res.Metrics)
	if err := t.model.Backward(p.gradient(res, len(out))); err != nil {
		return st, err
	}
	t3 := time.Now()
	ps := t.model.Params()
	// The norm before clipping; non-finite gradients are left unscaled.
	st.GradNorm = optim.ClipGradNorm(ps, t.s.Optimizer.MaxGradNorm)
	if math.IsNaN(st.GradNorm) || math.IsInf(st.GradNorm, 0) {
		return t.skipOr(st, &NonFiniteError{Where: "gradient norm", Value: st.GradNorm})
	}
	if err := t.opt.Step(ps, st.LR); err != nil {
		var nf *optim.NonFiniteError
		if errors.As(err, &nf) {
			return t.skipOr(st, &NonFiniteError{Where: fmt.Sprintf("update of %s[%d]", nf.Param, nf.Index), Value: nf.Value})
		}
		return st, err
	}
	st.Times.Backward, st.Times.Optimizer = t3.Sub(t2), time.Since(t3)
	return st, nil
}

// wpoScorer is the optional capability of a [Model] that computes WPO's
// weight terms.
type wpoScorer interface {
	ScoreWPO(*model.Batch) ([]float64, error)
}

// addWPO computes WPO's weight logs of p under the current policy, without
// gradient, when the objective reads them. It costs one forward pass.
func (t *Trainer) addWPO(p *plan) error {
	if !t.l.wpo {
		return nil
	}
	ws, ok := t.model.(wpoScorer)
	if !ok {
		return fmt.Errorf("the model cannot compute WPO weights")
	}
	sums, err := ws.ScoreWPO(p.model)
	if err != nil {
		return err
	}
	p.setWPO(sums)
	return nil
}

// skipOr returns a skipped step when err is a bad reply or a non-finite
// value and the policy is "skip", else err.
func (t *Trainer) skipOr(st StepResult, err error) (StepResult, error) {
	if t.s.Retry.OnBadReply == "skip" && skippable(err) {
		st.Skipped, st.Reason = true, err
		return st, nil
	}
	return st, err
}

func skippable(err error) bool {
	var re *core.ReplyError
	var nf *NonFiniteError
	return errors.As(err, &re) || errors.As(err, &nf)
}

// evaluation is the objective's loss and metrics over a whole view,
// weighted by examples, and the batches skipped on bad replies.
type evaluation struct {
	values  map[string]float64
	skipped int
}

// evaluate scores every example of v in order, calls the objective on each
// batch, and averages loss and metrics weighted by batch size. Bad replies
// follow the training policy: skipped (and counted) or an error.
func (t *Trainer) evaluate(ctx context.Context, v *view) (evaluation, error) {
	ev := evaluation{values: map[string]float64{}}
	n := v.len()
	if n == 0 {
		return ev, nil
	}
	batches, err := batchesOf(n, 0, t.batch, t.s.Seed, true, false)
	if err != nil {
		return ev, err
	}
	sums := map[string]float64{}
	weight := 0.0
	for _, idx := range batches {
		if err := ctx.Err(); err != nil {
			return ev, err
		}
		p, err := v.plan(idx)
		if err != nil {
			return ev, err
		}
		out, err := t.model.Score(p.model)
		if err != nil {
			return ev, err
		}
		if err := t.addWPO(p); err != nil {
			return ev, err
		}
		res, err := t.call(ctx, p.batch(out))
		if err != nil {
			var re *core.ReplyError
			if errors.As(err, &re) && t.s.Retry.OnBadReply == "skip" {
				t.logf("evaluation batch skipped: %v\n", err)
				ev.skipped++
				continue
			}
			return ev, err
		}
		w := float64(len(idx))
		weight += w
		sums[keyLoss] += w * res.Loss
		for k, v := range t.metrics.rename(res.Metrics) {
			sums[k] += w * v
		}
	}
	for k, s := range sums {
		ev.values[evalPrefix+k] = s / weight
	}
	return ev, nil
}
