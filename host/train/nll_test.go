package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
)

// nllFDTol bounds |central difference − analytic| for NLL: the loss is
// linear in the log-probs, so the difference is rounding only (step 1e-4 on
// values of order 10 leaves ~1e-12 absolute).
const nllFDTol = 1e-9

func TestNLLValues(t *testing.T) {
	cases := []struct {
		name    string
		logps   []float64
		lengths []int64
		loss    float64 // by hand
	}{
		// −(−2 − 4)/(1 + 3) = 1.5
		{"two examples", []float64{-2, -4}, []int64{1, 3}, 1.5},
		// −(−6)/3 = 2
		{"one example", []float64{-6}, []int64{3}, 2},
		// A zero-length example adds nothing: −(−3 + 0)/(2 + 0) = 1.5
		{"zero-length example", []float64{-3, 0}, []int64{2, 0}, 1.5},
	}
	const valueTol = 1e-15 // one division and a few additions of small integers
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NLL{}.Compute(context.Background(), &core.Batch{PolicyLogps: c.logps, Lengths: c.lengths})
			require.NoError(t, err)
			require.NoError(t, core.CheckResult(&core.Batch{PolicyLogps: c.logps, Lengths: c.lengths}, NLL{}.Inputs(), r))
			assert.InDelta(t, c.loss, r.Loss, valueTol)
			assert.InDelta(t, c.loss, r.Metrics["nll_loss"], valueTol)
			assert.InDelta(t, math.Exp(c.loss), r.Metrics["ppl"], valueTol*math.Exp(c.loss))
			var mean float64
			for _, l := range r.Losses {
				mean += l / float64(len(r.Losses))
			}
			assert.InDelta(t, r.Loss, mean, valueTol, "loss = mean(losses)")
		})
	}
}

func TestNLLGradientFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 3, 8} {
		b := &core.Batch{PolicyLogps: make([]float64, n), Lengths: make([]int64, n)}
		for i := range n {
			b.Lengths[i] = int64(1 + rng.IntN(9))
			b.PolicyLogps[i] = -float64(b.Lengths[i]) * 3 * rng.Float64()
		}
		r, err := NLL{}.Compute(context.Background(), b)
		require.NoError(t, err)
		const h = 1e-4
		for i := range n {
			orig := b.PolicyLogps[i]
			b.PolicyLogps[i] = orig + h
			up, err := NLL{}.Compute(context.Background(), b)
			require.NoError(t, err)
			b.PolicyLogps[i] = orig - h
			down, err := NLL{}.Compute(context.Background(), b)
			require.NoError(t, err)
			b.PolicyLogps[i] = orig
			fd := (up.Loss - down.Loss) / (2 * h)
			assert.InDelta(t, fd, r.Grads[core.PolicyLogps][i], nllFDTol, "n=%d i=%d", n, i)
		}
	}
}

func TestNLLErrors(t *testing.T) {
	cases := []struct {
		name  string
		b     *core.Batch
		code  core.Code
		field string
	}{
		{"zero tokens", &core.Batch{PolicyLogps: []float64{0, 0}, Lengths: []int64{0, 0}}, core.CodeOutOfRange, core.Lengths},
		{"missing lengths", &core.Batch{PolicyLogps: []float64{-1}}, core.CodeMissingInput, core.Lengths},
		{"non-finite log-prob", &core.Batch{PolicyLogps: []float64{math.Inf(-1)}, Lengths: []int64{1}}, core.CodeNonFinite, core.PolicyLogps},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NLL{}.Compute(context.Background(), c.b)
			var ie *core.InputError
			require.True(t, errors.As(err, &ie), "want *core.InputError, got %v", err)
			assert.Equal(t, c.code, ie.Code)
			assert.Equal(t, c.field, ie.Field)
		})
	}
}
