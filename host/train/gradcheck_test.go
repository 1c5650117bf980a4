package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/kto"
	"github.com/prefopt/prefopt/objectives/orpo"
)

// Tolerances of the whole-step gradient check: |fd − g| ≤ stepRTol·|fd| +
// stepATol. The model runs in float64, the weights are float32 and the
// gradient is read back as float32 (relative rounding 6e-8); the central
// difference with step stepH has an O(h²) truncation error, ~1e-6 relative
// on these smooth functions.
const (
	stepH    = 1e-3
	stepRTol = 1e-4
	stepATol = 1e-7
)

// fdParams are the tensors the check perturbs: embeddings, attention, MLP,
// a LayerNorm gain and the head.
var fdParams = []string{"tok.weight", "pos.weight", "blocks.0.attn.qkv.weight", "blocks.0.mlp.fc.weight", "lnf.gain", "head.weight"}

// TestStepGradientMatchesFiniteDifferences checks that the gradient the
// trainer backpropagates (objective gradient laid out in model-output
// order, through the Runner) is the gradient of L(θ) = objective loss of
// the model's log-probs at θ, by central differences through the same
// assembly with a float64 scorer. KTO's KL rows are held at their value
// at θ, as the objective treats them as constants.
func TestStepGradientMatchesFiniteDifferences(t *testing.T) {
	cases := []struct {
		name     string
		def      core.Definition
		params   map[string]any
		freezeKL bool
	}{
		{"dpo", dpo.Definition(), map[string]any{"beta": 0.5}, false},
		{"orpo", orpo.Definition(), map[string]any{"beta": 0.5}, false},
		{"kto", kto.Definition(), map[string]any{"beta": 0.5}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			obj := configure(t, c.def, c.params)
			// The reference differs from the policy so every term is generic.
			s := testJob(obj, newWeights(t, tinyCfg, 21), pairedData(5, 6, tinyCfg.Vocab), 1)
			s.Reference = newWeights(t, tinyCfg, 22)
			// Larger values make the per-example gradients differ visibly.
			for _, name := range []string{"tok.weight", "head.weight"} {
				for i, v := range s.Init.Data(name) {
					s.Init.Data(name)[i] = 20 * v
				}
			}
			tr, err := New(s)
			require.NoError(t, err)
			defer tr.Close()

			outs := tr.l.capacity(tr.batch, tr.policy.Config().Context)
			rows := tr.l.rowsPer(tr.batch)
			require.NoError(t, tr.model.Close())
			tr.model, err = model.NewTrainable(tr.policy, rows, outs, model.WithFloat64())
			require.NoError(t, err)
			sc, err := model.NewScorer(tr.policy, rows, outs, model.WithFloat64())
			require.NoError(t, err)
			defer sc.Close()

			idx := []int{4, 0, 2, 5}
			if !tr.l.paired {
				idx = []int{3, 8, 1, 10} // unpaired view: 12 examples
			}
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

			var kl []float64
			fwd := sc.Score
			if c.freezeKL {
				n := len(idx)
				out, err := sc.Score(p.model)
				require.NoError(t, err)
				kl = append([]float64(nil), out[n:2*n]...)
				fwd = func(b *model.Batch) ([]float64, error) {
					out, err := sc.Score(b)
					if err == nil {
						copy(out[n:2*n], kl)
					}
					return out, err
				}
			}
			loss := func() float64 {
				p, err := tr.train.plan(idx)
				require.NoError(t, err)
				out, err := fwd(p.model)
				require.NoError(t, err)
				r, err := tr.s.Objective.Compute(ctx, p.batch(out))
				require.NoError(t, err)
				return r.Loss
			}
			assert.InDelta(t, res.Loss, loss(), 1e-5*max(1, math.Abs(res.Loss)), "float32 and float64 forward agree on the loss")

			rng := rand.New(rand.NewPCG(99, 0))
			for _, name := range fdParams {
				data, g := tr.policy.Data(name), grads[name]
				for _, j := range []int{argmaxAbs(g), rng.IntN(len(data))} {
					orig := data[j]
					data[j] = orig + stepH
					up, hUp := loss(), float64(data[j])-float64(orig)
					data[j] = orig - stepH
					down, hDown := loss(), float64(orig)-float64(data[j])
					data[j] = orig
					fd := (up - down) / (hUp + hDown)
					got := float64(g[j])
					assert.InDelta(t, fd, got, stepRTol*math.Abs(fd)+stepATol, "%s[%d]: fd %.9g, trainer %.9g", name, j, fd, got)
				}
				require.NotZero(t, g[argmaxAbs(g)], "%s has a gradient", name)
			}
		})
	}
}

func argmaxAbs(xs []float32) int {
	best := 0
	for i, x := range xs {
		if math.Abs(float64(x)) > math.Abs(float64(xs[best])) {
			best = i
		}
	}
	return best
}
