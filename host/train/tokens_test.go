package train

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
)

// tokenDPO reads per-token log-probs of policy and reference and weighs
// token t of a completion by a_t = 1/(t+1):
//
//	z_i = β·Σ_t a_t·((c_i,t − rc_i,t) − (r_i,t − rr_i,t)),  L = mean_i −log σ(z_i)
//
// so ∂L/∂c_i,t = −β·a_t·σ(−z_i)/N and ∂L/∂r_i,t = +β·a_t·σ(−z_i)/N: a
// gradient that differs from token to token, so a misplaced token shows.
func tokenDPO() core.Definition {
	inputs := []string{core.ChosenLengths, core.RejectedLengths, core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps,
		core.ReferenceChosenTokenLogps, core.ReferenceRejectedTokenLogps}
	return core.Definition{
		Spec: core.Spec{Name: "token-dpo", Version: "0.0.1", Doc: "test objective on per-token log-probs",
			Params: []core.ParamSpec{{Name: "beta", Type: core.TypeFloat, Default: 0.5, Min: core.Bound(0)}}},
		New: func(p core.Params) (core.Objective, error) {
			return tokenDPOObjective{beta: p.Float("beta"), inputs: inputs}, nil
		},
	}
}

type tokenDPOObjective struct {
	beta   float64
	inputs []string
}

func (o tokenDPOObjective) Inputs() []string { return o.inputs }

func (o tokenDPOObjective) Compute(_ context.Context, b *core.Batch) (*core.Result, error) {
	if err := b.Check(o.inputs); err != nil {
		return nil, err
	}
	n := len(b.ChosenLengths)
	r := &core.Result{Losses: make([]float64, n), TokenGrads: map[string][][]float64{}}
	gc, gr := make([][]float64, n), make([][]float64, n)
	for i := range n {
		z := 0.0
		for t, v := range b.PolicyChosenTokenLogps[i] {
			z += (v - b.ReferenceChosenTokenLogps[i][t]) / float64(t+1)
		}
		for t, v := range b.PolicyRejectedTokenLogps[i] {
			z -= (v - b.ReferenceRejectedTokenLogps[i][t]) / float64(t+1)
		}
		z *= o.beta
		r.Losses[i] = math.Log1p(math.Exp(-z))
		r.Loss += r.Losses[i] / float64(n)
		s := 1 / (1 + math.Exp(z)) // σ(−z)
		gc[i], gr[i] = make([]float64, len(b.PolicyChosenTokenLogps[i])), make([]float64, len(b.PolicyRejectedTokenLogps[i]))
		for t := range gc[i] {
			gc[i][t] = -o.beta * s / float64(t+1) / float64(n)
		}
		for t := range gr[i] {
			gr[i][t] = o.beta * s / float64(t+1) / float64(n)
		}
	}
	r.TokenGrads[core.PolicyChosenTokenLogps], r.TokenGrads[core.PolicyRejectedTokenLogps] = gc, gr
	return r, nil
}

// TestTokenAssembly checks per-token outputs and their gradients against
// the model contract: token t of an example's array is the log-prob of
// completion token t, the tokens add up to the summed log-prob, and a
// per-token gradient lands on the output holding its token.
func TestTokenAssembly(t *testing.T) {
	chosen := []data.Row{rowP0, rowP1, rowP3}
	rejected := []data.Row{{Tokens: []int{5, 11}, PromptLen: 0}, {Tokens: []int{1, 3, 3, 3, 3}, PromptLen: 1}, {Tokens: []int{1, 2, 3, 9}, PromptLen: 3}}
	obj := configure(t, tokenDPO(), nil)
	l, err := layoutOf(obj.Inputs())
	require.NoError(t, err)
	require.True(t, l.tokens && l.refTokens)
	v := &view{l: l, paired: pairedSet(chosen, rejected), refTok: map[string][][]float64{
		core.ReferenceChosenTokenLogps:   {{-1, -2}, {-1, -1, -1}, {-3, -3}},
		core.ReferenceRejectedTokenLogps: {{-1}, {-2, -2, -2, -2}, {-4}},
	}}
	p, err := v.plan([]int{0, 1, 2})
	require.NoError(t, err)
	capacity := l.capacity(3, 6)
	out, err := fakeForward(capacity)(p.model)
	require.NoError(t, err)
	b := p.batch(out)
	require.NoError(t, b.Check(obj.Inputs()))
	for i, r := range chosen {
		from := max(1, r.PromptLen)
		require.Len(t, b.PolicyChosenTokenLogps[i], len(r.Tokens)-from)
		sum := 0.0
		for k, v := range b.PolicyChosenTokenLogps[i] {
			assert.Equal(t, fakeLogp(r.Tokens, from+k, from+k+1), v, "chosen %d token %d", i, k)
			sum += v
		}
		assert.InDelta(t, b.PolicyChosenLogps[i], sum, 1e-12, "the tokens add up to the sum")
	}
	res, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	g := p.gradient(res, capacity)
	var want, got float64
	for _, name := range []string{core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps} {
		for i, toks := range *b.Tokens(name) {
			for k, v := range toks {
				want += res.TokenGrads[name][i][k] * v
			}
		}
	}
	for j := range out {
		got += g[j] * out[j]
	}
	assert.InDelta(t, want, got, 1e-12, "surrogate Σ g·out")
}

// TestTokenStepMatchesFiniteDifferences runs the whole-step gradient check
// of gradcheck_test.go on an objective of per-token inputs.
func TestTokenStepMatchesFiniteDifferences(t *testing.T) {
	ctx := context.Background()
	obj := configure(t, tokenDPO(), nil)
	s := testJob(obj, newWeights(t, tinyCfg, 21), pairedData(5, 6, tinyCfg.Vocab), 1)
	s.Reference = newWeights(t, tinyCfg, 22)
	tr, err := New(s)
	require.NoError(t, err)
	defer tr.Close()
	outs := tr.l.capacity(tr.batch, tinyCfg.Context)
	require.NoError(t, tr.model.Close())
	tr.model, err = model.NewTrainable(tr.policy, tr.l.rowsPer(tr.batch), outs, model.WithFloat64())
	require.NoError(t, err)
	sc, err := model.NewScorer(tr.policy, tr.l.rowsPer(tr.batch), outs, model.WithFloat64())
	require.NoError(t, err)
	defer sc.Close()
	idx := []int{4, 0, 2, 5}
	p, err := tr.train.plan(idx)
	require.NoError(t, err)
	out, err := tr.model.Forward(p.model)
	require.NoError(t, err)
	res, err := tr.call(ctx, p.batch(out))
	require.NoError(t, err)
	require.NoError(t, tr.model.Backward(p.gradient(res, len(out))))
	grads := map[string][]float32{}
	for _, q := range tr.model.Params() {
		grads[q.Name] = q.Grad
	}
	loss := func() float64 {
		out, err := sc.Score(p.model)
		require.NoError(t, err)
		r, err := obj.Compute(ctx, p.batch(out))
		require.NoError(t, err)
		return r.Loss
	}
	for _, name := range fdParams {
		data, g := tr.policy.Data(name), grads[name]
		j := argmaxAbs(g)
		orig := data[j]
		data[j] = orig + stepH
		up, hUp := loss(), float64(data[j])-float64(orig)
		data[j] = orig - stepH
		down, hDown := loss(), float64(orig)-float64(data[j])
		data[j] = orig
		fd := (up - down) / (hUp + hDown)
		assert.InDelta(t, fd, float64(g[j]), stepRTol*math.Abs(fd)+stepATol, "%s[%d]", name, j)
		require.NotZero(t, g[j], "%s has a gradient", name)
	}
	// And a training run with it reduces the loss.
	s = testJob(obj, newWeights(t, tinyCfg, 21), pairedData(5, 12, tinyCfg.Vocab), 20)
	s.Reference = newWeights(t, tinyCfg, 22)
	s.Eval = Set{Paired: pairedData(5, 12, tinyCfg.Vocab)}
	done, err := Run(ctx, s)
	require.NoError(t, err)
	first, last := done.History[0].Values["eval_loss"], done.History[len(done.History)-1].Values["eval_loss"]
	assert.Less(t, last, first)
}

// withWPO is DPO that also reads WPO's weight logs and records them.
type withWPO struct {
	core.Objective
	got [][2][]float64
}

func (w *withWPO) Inputs() []string {
	return append(w.Objective.Inputs(), core.PolicyChosenWPOLogps, core.PolicyRejectedWPOLogps)
}

func (w *withWPO) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	w.got = append(w.got, [2][]float64{b.PolicyChosenWPOLogps, b.PolicyRejectedWPOLogps})
	return w.Objective.Compute(ctx, b)
}

// TestWPOInputs checks that the WPO weight logs sent with each pair are
// the mean over its completion tokens of log p(y_t) − log Σ_v p(v)² under
// the current policy, scored one sequence at a time for comparison.
func TestWPOInputs(t *testing.T) {
	set := pairedData(1, 6, tinyCfg.Vocab)
	obj := &withWPO{Objective: dpoObjective(t)}
	tr, err := New(testJob(obj, newWeights(t, tinyCfg, 2), set, 2))
	require.NoError(t, err)
	defer tr.Close()
	for range 2 {
		p, err := tr.planAt(tr.next)
		require.NoError(t, err)
		// Expected values under the weights before the step's update.
		sc, err := model.NewScorer(tr.policy, 1, 1)
		require.NoError(t, err)
		var want [2][]float64
		for _, j := range p.examples {
			for k, r := range []data.Row{set.Chosen[j], set.Rejected[j]} {
				s := completionSeq(r)
				v, err := sc.ScoreWPO(&model.Batch{Rows: [][]int{r.Tokens}, Spans: []model.Span{{Out: 0, Row: 0, From: s.From, To: s.To}}})
				require.NoError(t, err)
				want[k] = append(want[k], v[0]/float64(s.To-s.From))
			}
		}
		require.NoError(t, sc.Close())
		_, err = tr.Step(context.Background())
		require.NoError(t, err)
		got := obj.got[len(obj.got)-1]
		assert.Equal(t, want[0], got[0], "chosen")
		assert.Equal(t, want[1], got[1], "rejected")
	}
}
