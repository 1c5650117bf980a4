package kto_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
	"github.com/prefopt/prefopt/objectives/kto"
)

// handTol: the hand values are exact quarters and sixteenths; ln 3 enters
// through one rounded input of order 10.
const handTol = 1e-14

func TestHandComputed(t *testing.T) {
	ln3 := math.Log(3)
	objtest.Hand(t, kto.Definition(), []objtest.HandCase{
		{
			// r = π − ref = 0 for both and z0 = max(0, mean(0, 0)) = 0:
			// each loss is 1 − σ(0) = 1/2; slopes ∓β·σ(0)·σ(0)/N = ∓0.1/4/2.
			Name: "r=0/z0=0",
			Batch: core.Batch{
				PolicyLogps: []float64{-5, -7}, ReferenceLogps: []float64{-5, -7}, Labels: []bool{true, false},
				PolicyKLLogps: []float64{-10, -12}, ReferenceKLLogps: []float64{-10, -12},
			},
			Loss: 0.5, Losses: []float64{0.5, 0.5},
			Grads: map[string][]float64{core.PolicyLogps: {-0.0125, 0.0125}, core.PolicyKLLogps: {0, 0}},
			Metrics: map[string]float64{
				"kl": 0, "count/chosen": 1, "count/rejected": 1, "rewards/chosen": 0, "rewards/rejected": 0,
				"rewards/margins": 0, "logps/chosen": -5, "logps/rejected": -7,
			},
			Tol: handTol,
		},
		{
			// One desirable example, r = 0, z0 = 10·ln 3: x = β(r − z0) = −ln 3,
			// σ(−ln 3) = 1/4, loss λ_D·(1 − 1/4) = 2·3/4 = 1.5 and slope
			// −λ_D·β·σ(x)σ(−x) = −2·0.1·(1/4)(3/4) = −0.0375. z0 is detached:
			// zero gradient for policy_kl_logps.
			Name: "desirable/z0=10ln3", Params: map[string]any{"desirable_weight": 2.0},
			Batch: core.Batch{
				PolicyLogps: []float64{-4}, ReferenceLogps: []float64{-4}, Labels: []bool{true},
				PolicyKLLogps: []float64{10*ln3 - 20}, ReferenceKLLogps: []float64{-20},
			},
			Loss:    1.5,
			Grads:   map[string][]float64{core.PolicyLogps: {-0.0375}, core.PolicyKLLogps: {0}},
			Metrics: map[string]float64{"kl": 10 * ln3, "count/chosen": 1, "count/rejected": 0},
			Tol:     handTol,
		},
		{
			// One undesirable example, r = 10·ln 3, z0 = 0 (KL estimate −2 is
			// clamped): x = β(z0 − r) = −ln 3, loss λ_U·3/4 = 0.375 with
			// λ_U = 0.5, slope +λ_U·β·(1/4)(3/4) = 0.009375.
			Name: "undesirable/clamped", Params: map[string]any{"undesirable_weight": 0.5},
			Batch: core.Batch{
				PolicyLogps: []float64{10*ln3 - 30}, ReferenceLogps: []float64{-30}, Labels: []bool{false},
				PolicyKLLogps: []float64{-12}, ReferenceKLLogps: []float64{-10},
			},
			Loss:    0.375,
			Grads:   map[string][]float64{core.PolicyLogps: {0.009375}, core.PolicyKLLogps: {0}},
			Metrics: map[string]float64{"kl": 0, "rewards/rejected": ln3, "count/chosen": 0, "count/rejected": 1},
			Tol:     handTol,
		},
	})
}

func TestAPOZeroUnpairedReadsNoKL(t *testing.T) {
	obj, _, err := core.Local(kto.Definition()).Configure(t.Context(), map[string]any{"loss_type": "apo_zero_unpaired"})
	require.NoError(t, err)
	assert.Equal(t, []string{core.PolicyLogps, core.ReferenceLogps, core.Labels}, obj.Inputs())
	// r = 10·ln 3 for both: desirable 1 − σ(ln 3) = 1/4, undesirable σ(ln 3) = 3/4;
	// slopes ∓β·(3/4)(1/4)/N = ∓0.1·3/16/2; kl is logged as 0.
	ln3 := math.Log(3)
	r, err := obj.Compute(t.Context(), &core.Batch{
		PolicyLogps: []float64{10*ln3 - 5, 10*ln3 - 7}, ReferenceLogps: []float64{-5, -7}, Labels: []bool{true, false},
	})
	require.NoError(t, err)
	assert.InDelta(t, 0.5, r.Loss, handTol)
	assert.InDelta(t, 0.25, r.Losses[0], handTol)
	assert.InDelta(t, 0.75, r.Losses[1], handTol)
	assert.InDelta(t, -0.1*3/16/2, r.Grads[core.PolicyLogps][0], handTol)
	assert.InDelta(t, 0.1*3/16/2, r.Grads[core.PolicyLogps][1], handTol)
	assert.NotContains(t, r.Grads, core.PolicyKLLogps)
	assert.Equal(t, 0.0, r.Metrics["kl"])
}

func TestEmptyGroupOmitsMetrics(t *testing.T) {
	obj, _, err := core.Local(kto.Definition()).Configure(t.Context(), nil)
	require.NoError(t, err)
	r, err := obj.Compute(t.Context(), &core.Batch{
		PolicyLogps: []float64{-5, -6}, ReferenceLogps: []float64{-4, -7}, Labels: []bool{true, true},
		PolicyKLLogps: []float64{-9, -8}, ReferenceKLLogps: []float64{-10, -9},
	})
	require.NoError(t, err)
	for _, name := range []string{"rewards/rejected", "logps/rejected", "rewards/margins"} {
		assert.NotContains(t, r.Metrics, name)
	}
	// 0.1·mean(−1, 1) = 0 and mean(−5, −6) = −5.5.
	assert.InDelta(t, 0, r.Metrics["rewards/chosen"], handTol)
	assert.InDelta(t, -5.5, r.Metrics["logps/chosen"], handTol)
	assert.Equal(t, 2.0, r.Metrics["count/chosen"])
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, kto.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"z0": 0.5}, Param: "z0",
			Msg: "known: beta, desirable_weight, loss_type, undesirable_weight"},
		{Name: "loss_type_unknown", Params: map[string]any{"loss_type": "apo_zero"}, Param: "loss_type",
			Msg: "must be one of kto, apo_zero_unpaired, got \"apo_zero\""},
		{Name: "beta_wrong_type", Params: map[string]any{"beta": "x"}, Param: "beta",
			Msg: "must be a number"},
		{Name: "beta_negative", Params: map[string]any{"beta": -0.1}, Param: "beta",
			Msg: "must be > 0, got -0.1"},
		{Name: "desirable_weight_zero", Params: map[string]any{"desirable_weight": 0}, Param: "desirable_weight",
			Msg: "must be > 0, got 0"},
		{Name: "undesirable_weight_negative", Params: map[string]any{"undesirable_weight": -1}, Param: "undesirable_weight",
			Msg: "must be > 0, got -1"},
	})
}

func BenchmarkCompute(b *testing.B) {
	objtest.Benchmark(b, kto.Definition(), nil)
}
