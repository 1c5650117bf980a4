package caldpo_test

import (
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/caldpo"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
)

// handTol: exact values of order 1 after a few roundings.
const handTol = 1e-15

func TestHandComputed(t *testing.T) {
	objtest.Hand(t, caldpo.Definition(), []objtest.HandCase{
		{
			// h_c = h_r = 0, β = ½ (targets ±1): ln 2 + 1 + 1; slopes over N = 2:
			// (−σ(0) + 2(0 − 1))/2 = −1.25 and (σ(0) + 2(0 + 1))/2 = 1.25.
			Name: "zero_ratios", Params: map[string]any{"beta": 0.5},
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-3, -8}, ReferenceChosenLogps: []float64{-3, -8},
				PolicyRejectedLogps: []float64{-4, -9}, ReferenceRejectedLogps: []float64{-4, -9},
			},
			Loss: 2 + math.Ln2, Losses: []float64{2 + math.Ln2, 2 + math.Ln2},
			Grads: map[string][]float64{
				core.PolicyChosenLogps: {-1.25, -1.25}, core.PolicyRejectedLogps: {1.25, 1.25},
			},
			Metrics: map[string]float64{"rewards/chosen": 0, "rewards/rejected": 0},
			Tol:     handTol,
		},
		{
			// Calibrated: h_c = 5 = 1/(2β), h_r = −5 at β = 0.1. The squares
			// vanish and −log σ(10) remains; slopes ∓σ(−10).
			Name: "calibrated",
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-5}, ReferenceChosenLogps: []float64{-10},
				PolicyRejectedLogps: []float64{-15}, ReferenceRejectedLogps: []float64{-10},
			},
			Loss: math.Log1p(math.Exp(-10)),
			Grads: map[string][]float64{
				core.PolicyChosenLogps: {-1 / (1 + math.Exp(10))}, core.PolicyRejectedLogps: {1 / (1 + math.Exp(10))},
			},
			Metrics: map[string]float64{"rewards/chosen": 0.5, "rewards/rejected": -0.5, "rewards/accuracies": 1},
			Tol:     handTol,
		},
	})
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, caldpo.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"shift": 0.5}, Param: "shift", Msg: "known: beta"},
		{Name: "beta_negative", Params: map[string]any{"beta": -0.1}, Param: "beta", Msg: "must be > 0, got -0.1"},
	})
}

func BenchmarkCompute(b *testing.B) { objtest.Benchmark(b, caldpo.Definition(), nil) }
