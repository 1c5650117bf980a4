package ipo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
	"github.com/prefopt/prefopt/objectives/ipo"
)

// handTol: the hand values are exact binary fractions or thirds, and the
// computations take a few roundings on numbers up to 25.
const handTol = 1e-14

func TestHandComputed(t *testing.T) {
	objtest.Hand(t, ipo.Definition(), []objtest.HandCase{
		{
			// Summed, h = (−5 − −7) − (−1 − −3) = 2 − 2 = 0. With β = 0.1 the
			// target is 1/(2β) = 5: loss (0 − 5)² = 25, slope 2(0 − 5) = −10.
			Name: "summed/h=0", Params: map[string]any{"length_normalize": false},
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-5}, PolicyRejectedLogps: []float64{-7},
				ReferenceChosenLogps: []float64{-1}, ReferenceRejectedLogps: []float64{-3},
			},
			Loss: 25, Losses: []float64{25},
			Grads: map[string][]float64{core.PolicyChosenLogps: {-10}, core.PolicyRejectedLogps: {10}},
			Metrics: map[string]float64{
				// β(π − ref): 0.1·(−4) and 0.1·(−4); the tie is not accurate.
				"rewards/chosen": -0.4, "rewards/rejected": -0.4, "rewards/accuracies": 0,
				"logps/chosen": -5, "logps/rejected": -7,
			},
			Tol: handTol,
		},
		{
			// Normalised: π_c/3 = −2, π_r/4 = −2, ref_c/3 = −1, ref_r/4 = −1, so
			// h = 0 and loss 25; slopes −10/L_c = −10/3 and +10/L_r = 2.5.
			Name: "normalized/h=0",
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-6}, PolicyRejectedLogps: []float64{-8},
				ReferenceChosenLogps: []float64{-3}, ReferenceRejectedLogps: []float64{-4},
				ChosenLengths: []int64{3}, RejectedLengths: []int64{4},
			},
			Loss:  25,
			Grads: map[string][]float64{core.PolicyChosenLogps: {-10.0 / 3}, core.PolicyRejectedLogps: {2.5}},
			Metrics: map[string]float64{
				"rewards/chosen": 0.1 * (-2 + 1), "rewards/rejected": 0.1 * (-2 + 1),
				"logps/chosen": -2, "logps/rejected": -2,
			},
			Tol: handTol,
		},
		{
			// Two summed pairs: h = 5 (at the target: loss 0, slope 0) and
			// h = 6 (loss 1, slope 2·1 = 2), averaged over N = 2.
			Name: "summed/at_target", Params: map[string]any{"length_normalize": false},
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-1, -1}, PolicyRejectedLogps: []float64{-6, -7},
				ReferenceChosenLogps: []float64{-3, -3}, ReferenceRejectedLogps: []float64{-3, -3},
			},
			Loss: 0.5, Losses: []float64{0, 1},
			Grads:   map[string][]float64{core.PolicyChosenLogps: {0, 1}, core.PolicyRejectedLogps: {0, -1}},
			Metrics: map[string]float64{"rewards/accuracies": 1, "rewards/margins": 0.1 * 5.5},
			Tol:     handTol,
		},
	})
}

func TestInputErrors(t *testing.T) {
	objtest.InputErrors(t, ipo.Definition(), []objtest.InputErrorCase{
		{
			Name: "zero_rejected_length",
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-6, -1}, PolicyRejectedLogps: []float64{-8, -2},
				ReferenceChosenLogps: []float64{-3, -1}, ReferenceRejectedLogps: []float64{-4, -2},
				ChosenLengths: []int64{3, 1}, RejectedLengths: []int64{4, 0},
			},
			Code: core.CodeOutOfRange, Field: core.RejectedLengths, Index: 1,
		},
		{
			// Summed IPO does not read lengths, so their absence is fine but
			// normalised IPO needs them.
			Name: "missing_lengths",
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-6}, PolicyRejectedLogps: []float64{-8},
				ReferenceChosenLogps: []float64{-3}, ReferenceRejectedLogps: []float64{-4},
			},
			Code: core.CodeMissingInput, Field: core.ChosenLengths, Index: -1,
		},
	})
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, ipo.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"tau": 0.1}, Param: "tau",
			Msg: "known: beta, length_normalize"},
		{Name: "beta_wrong_type", Params: map[string]any{"beta": true}, Param: "beta",
			Msg: "must be a number"},
		{Name: "beta_zero", Params: map[string]any{"beta": 0.0}, Param: "beta",
			Msg: "must be > 0, got 0"},
		{Name: "length_normalize_wrong_type", Params: map[string]any{"length_normalize": "yes"}, Param: "length_normalize",
			Msg: "must be true or false"},
	})
}

func BenchmarkCompute(b *testing.B) {
	objtest.Benchmark(b, ipo.Definition(), nil)
}
