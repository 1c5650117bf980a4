package trl_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/trl"
)

// tol: inputs and results are short binary fractions or tenths; a few
// roundings.
const tol = 1e-15

func TestPaired(t *testing.T) {
	m := map[string]float64{}
	// Pairs: (1, 0) accurate, (2, 2) a tie, (−1, 0.5) wrong.
	trl.Paired(m, []float64{1, 2, -1}, []float64{0, 2, 0.5}, []float64{-3, -4, -5}, []float64{-6, -7, -8})
	want := map[string]float64{
		"rewards/chosen": 2.0 / 3, "rewards/rejected": 2.5 / 3, "rewards/accuracies": 1.0 / 3,
		"rewards/margins": (1 + 0 - 1.5) / 3, "logps/chosen": -4, "logps/rejected": -7,
	}
	assert.Len(t, m, len(want))
	for k, v := range want {
		assert.InDelta(t, v, m[k], tol, k)
	}
	assert.Panics(t, func() { trl.Paired(m, []float64{1}, nil, nil, nil) })
}

func TestUnpaired(t *testing.T) {
	tests := []struct {
		name   string
		labels []bool
		want   map[string]float64
	}{
		{"mixed", []bool{true, false, true}, map[string]float64{
			"count/chosen": 2, "count/rejected": 1, "rewards/chosen": 0.25, "rewards/rejected": 0.5,
			"rewards/margins": -0.25, "logps/chosen": -2, "logps/rejected": -2,
		}},
		{"all_desirable", []bool{true, true, true}, map[string]float64{
			"count/chosen": 3, "count/rejected": 0, "rewards/chosen": 1.0 / 3, "logps/chosen": -2,
		}},
		{"all_undesirable", []bool{false, false, false}, map[string]float64{
			"count/chosen": 0, "count/rejected": 3, "rewards/rejected": 1.0 / 3, "logps/rejected": -2,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]float64{}
			trl.Unpaired(m, tc.labels, []float64{0, 0.5, 0.5}, []float64{-1, -2, -3})
			assert.Len(t, m, len(tc.want))
			for k, v := range tc.want {
				assert.InDelta(t, v, m[k], tol, k)
			}
		})
	}
}

func TestSmoothedSigmoidLoss(t *testing.T) {
	// At x = 0 the loss is ln 2 for every ε and the slope −(1−ε)/2 + ε/2.
	for _, eps := range []float64{0, 0.1, 0.5} {
		l, d := trl.SmoothedSigmoidLoss(0, eps)
		assert.InDelta(t, math.Ln2, l, tol)
		assert.InDelta(t, -(1-eps)/2+eps/2, d, tol)
	}
	// Far from 0 the loss is linear: ≈ −x for x ≪ 0 with slope −1.
	l, d := trl.SmoothedSigmoidLoss(-4000, 0)
	assert.Equal(t, 4000.0, l)
	assert.Equal(t, -1.0, d)
}

func TestAveragesScale(t *testing.T) {
	assert.Equal(t, []float64{-2, -0.5}, trl.Averages([]float64{-6, -2}, []int64{3, 4}))
	assert.Equal(t, []float64{-1.5, 0.5}, trl.Scale(0.5, []float64{-3, 1})) // exact in binary
}

func TestFinishRefusesOverflow(t *testing.T) {
	ok := func() *core.Result {
		return &core.Result{Loss: 1, Losses: []float64{1},
			Grads:      map[string][]float64{core.PolicyChosenLogps: {0.5}},
			TokenGrads: map[string][][]float64{core.PolicyChosenTokenLogps: {{0.1, 0.2}}},
			Metrics:    map[string]float64{trl.KL: 0}}
	}
	for name, spoil := range map[string]func(r *core.Result){
		"loss":        func(r *core.Result) { r.Loss = math.Inf(1) },
		"losses":      func(r *core.Result) { r.Losses[0] = math.NaN() },
		"grads":       func(r *core.Result) { r.Grads[core.PolicyChosenLogps][0] = math.Inf(-1) },
		"token_grads": func(r *core.Result) { r.TokenGrads[core.PolicyChosenTokenLogps][0][1] = math.Inf(1) },
		"metrics":     func(r *core.Result) { r.Metrics[trl.KL] = math.NaN() },
	} {
		t.Run(name, func(t *testing.T) {
			r := ok()
			spoil(r)
			_, err := trl.Finish(r, core.PolicyChosenLogps)
			var ie *core.InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, core.CodeOutOfRange, ie.Code)
			assert.Equal(t, core.PolicyChosenLogps, ie.Field)
		})
	}
	r, err := trl.Finish(ok(), core.PolicyChosenLogps)
	require.NoError(t, err)
	assert.Equal(t, ok(), r)
}
