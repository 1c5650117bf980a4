package simpo_test

import (
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
	"github.com/prefopt/prefopt/objectives/simpo"
)

// handTol: exact inputs, values of order 1, a few roundings.
const handTol = 1e-15

// a_c = −2/2 = −1 and a_r = −4.5/3 = −1.5: β(a_c − a_r) = 2·0.5 = 1 = γ with
// the defaults β = 2, γ = β·0.5, so the logit x is 0.
var atMargin = core.Batch{
	PolicyChosenLogps: []float64{-2}, PolicyRejectedLogps: []float64{-4.5},
	ChosenLengths: []int64{2}, RejectedLengths: []int64{3},
}

func TestHandComputed(t *testing.T) {
	metrics := map[string]float64{
		// β·a: 2·(−1), 2·(−1.5).
		"rewards/chosen": -2, "rewards/rejected": -3, "rewards/margins": 1, "rewards/accuracies": 1,
		"logps/chosen": -1, "logps/rejected": -1.5,
	}
	objtest.Hand(t, simpo.Definition(), []objtest.HandCase{
		{
			// −log σ(0) = ln 2; dℓ/dx = −σ(0) = −1/2, dx/dπ_c = β/L_c = 1,
			// dx/dπ_r = −β/L_r = −2/3.
			Name: "defaults/x=0", Batch: atMargin,
			Loss: math.Ln2, Losses: []float64{math.Ln2},
			Grads:   map[string][]float64{core.PolicyChosenLogps: {-0.5}, core.PolicyRejectedLogps: {1.0 / 3}},
			Metrics: metrics, Tol: handTol,
		},
		{
			// The same margin given absolutely: γ = 1.
			Name: "gamma/x=0", Params: map[string]any{"gamma": 1.0}, Batch: atMargin,
			Loss:  math.Ln2,
			Grads: map[string][]float64{core.PolicyChosenLogps: {-0.5}, core.PolicyRejectedLogps: {1.0 / 3}},
			Tol:   handTol,
		},
		{
			// ε = 0.2: loss stays ln 2, dℓ/dx = −0.8/2 + 0.2/2 = −0.3.
			Name: "smoothed/x=0", Params: map[string]any{"label_smoothing": 0.2}, Batch: atMargin,
			Loss:  math.Ln2,
			Grads: map[string][]float64{core.PolicyChosenLogps: {-0.3}, core.PolicyRejectedLogps: {0.2}},
			Tol:   handTol,
		},
		{
			// w = 0.5, NLL = 2/2 = 1: loss ln 2 + 0.5, ∂/∂π_c gains −w/ΣL_c = −0.25.
			Name: "sft/x=0", Params: map[string]any{"sft_weight": 0.5}, Batch: atMargin,
			Loss: math.Ln2 + 0.5, Losses: []float64{math.Ln2 + 0.5},
			Grads:   map[string][]float64{core.PolicyChosenLogps: {-0.75}, core.PolicyRejectedLogps: {1.0 / 3}},
			Metrics: map[string]float64{"nll_loss": 1}, Tol: handTol,
		},
		{
			// No margin (ratio 0), β = 1, a_c − a_r = ln 3: loss −log σ(ln 3) =
			// ln(4/3), dℓ/dx = −1/4. Two pairs: the second is its mirror
			// (x = −ln 3, loss ln 4, dℓ/dx = −3/4). N = 2, lengths 1.
			Name: "two_pairs", Params: map[string]any{"beta": 1.0, "gamma_beta_ratio": 0.0},
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-1, -1 - math.Log(3)}, PolicyRejectedLogps: []float64{-1 - math.Log(3), -1},
				ChosenLengths: []int64{1, 1}, RejectedLengths: []int64{1, 1},
			},
			Loss:   (math.Log(4.0/3) + math.Log(4)) / 2,
			Losses: []float64{math.Log(4.0 / 3), math.Log(4)},
			Grads: map[string][]float64{
				core.PolicyChosenLogps:   {-0.25 / 2, -0.75 / 2},
				core.PolicyRejectedLogps: {0.25 / 2, 0.75 / 2},
			},
			Metrics: map[string]float64{"rewards/accuracies": 0.5, "rewards/margins": 0},
			Tol:     1e-14, // ln 3 is rounded once in the inputs
		},
	})
}

func TestZeroLength(t *testing.T) {
	objtest.InputErrors(t, simpo.Definition(), []objtest.InputErrorCase{{
		Name: "chosen_length_zero",
		Batch: core.Batch{
			PolicyChosenLogps: []float64{-2, -1}, PolicyRejectedLogps: []float64{-4.5, -1},
			ChosenLengths: []int64{2, 0}, RejectedLengths: []int64{3, 1},
		},
		Code: core.CodeOutOfRange, Field: core.ChosenLengths, Index: 1,
	}})
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, simpo.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"margin": 1}, Param: "margin",
			Msg: "known: beta, gamma, gamma_beta_ratio, label_smoothing, sft_weight"},
		{Name: "beta_wrong_type", Params: map[string]any{"beta": "2"}, Param: "beta",
			Msg: "must be a number"},
		{Name: "beta_zero", Params: map[string]any{"beta": 0}, Param: "beta",
			Msg: "must be > 0, got 0"},
		{Name: "gamma_and_ratio", Params: map[string]any{"gamma": 1.0, "gamma_beta_ratio": 0.5}, Param: "gamma",
			Msg: "set either gamma (1) or gamma_beta_ratio (0.5), not both"},
		{Name: "gamma_negative", Params: map[string]any{"gamma": -1}, Param: "gamma",
			Msg: "must be >= 0, got -1"},
		{Name: "ratio_negative", Params: map[string]any{"gamma_beta_ratio": -0.5}, Param: "gamma_beta_ratio",
			Msg: "must be >= 0, got -0.5"},
		{Name: "label_smoothing_half", Params: map[string]any{"label_smoothing": 0.5}, Param: "label_smoothing",
			Msg: "must be < 0.5, got 0.5"},
		{Name: "sft_weight_negative", Params: map[string]any{"sft_weight": -0.1}, Param: "sft_weight",
			Msg: "must be >= 0, got -0.1"},
	})
}

func BenchmarkCompute(b *testing.B) {
	objtest.Benchmark(b, simpo.Definition(), nil)
}
