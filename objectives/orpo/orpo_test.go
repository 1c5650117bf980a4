package orpo_test

import (
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
	"github.com/prefopt/prefopt/objectives/orpo"
)

// handTol: ln 2 enters through rounded inputs, and log(1 − eᵃ) and
// 1/expm1(a) at a = −ln 2 are evaluated to about an ulp of numbers ≤ 2.
const handTol = 1e-14

func TestHandComputed(t *testing.T) {
	ln2 := math.Ln2
	objtest.Hand(t, orpo.Definition(), []objtest.HandCase{
		{
			// One pair, one token each, every per-token log-prob −ln 2
			// (p = 1/2, odds 1). a_c = a_r so lo = 0, log σ(0) = −ln 2.
			// NLL over prompt + chosen = (ln 2 + ln 2)/2 = ln 2, so
			// Loss = ln 2 + λ·ln 2 = 1.1·ln 2.
			// dlo/da_c = 1/(1 − e^{a_c}) = 2, dlo/da_r = −2, σ(−0) = 1/2:
			//   ∂/∂π_c = −λ·(1/2)·2 − 1/T = −0.1 − 0.5 = −0.6
			//   ∂/∂π_r = +λ·(1/2)·2 = 0.1
			//   ∂/∂P   = −1/T = −0.5
			Name: "lo=0",
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-ln2}, PolicyRejectedLogps: []float64{-ln2},
				ChosenLengths: []int64{1}, RejectedLengths: []int64{1},
				PolicyChosenPromptLogps: []float64{-ln2}, ChosenPromptLengths: []int64{1},
			},
			Loss: 1.1 * ln2, Losses: []float64{1.1 * ln2},
			Grads: map[string][]float64{
				core.PolicyChosenLogps: {-0.6}, core.PolicyRejectedLogps: {0.1}, core.PolicyChosenPromptLogps: {-0.5},
			},
			Metrics: map[string]float64{
				"nll_loss": ln2, "log_odds_ratio": -ln2, "log_odds_chosen": 0,
				"rewards/chosen": -0.1 * ln2, "rewards/rejected": -0.1 * ln2, "rewards/accuracies": 0,
				"logps/chosen": -ln2, "logps/rejected": -ln2,
			},
			Tol: handTol,
		},
		{
			// Two pairs with λ = 1. Pair 0 as above but over 2 chosen tokens
			// (π_c = −2 ln 2) and a 3-token prompt P = −3 ln 2; pair 1 with
			// a_c = −ln 2 over 1 token, a_r = −ln 4 over 2 tokens (π_r = −4 ln 2):
			// lo_1 = (−ln 2 + ln 4) − (log ½ − log ¾) = ln 2 + ln(3/2) = ln 3,
			// log σ(ln 3) = ln(3/4). Prompt of pair 1: 0 tokens, P = 0.
			// T = (3 + 2) + (0 + 1) = 6, NLL = (5 ln 2 + ln 2)/6 = ln 2.
			// Loss = ln 2 − (−ln 2 + ln(3/4))/2.
			// Losses: −log σ(lo_i) − 2·(P_i + π_c,i)/6: ln 2 + 5 ln 2/3 and
			// −ln(3/4) + ln 2/3.
			Name: "two_pairs", Params: map[string]any{"beta": 1.0},
			Batch: core.Batch{
				PolicyChosenLogps: []float64{-2 * ln2, -ln2}, PolicyRejectedLogps: []float64{-ln2, -4 * ln2},
				ChosenLengths: []int64{2, 1}, RejectedLengths: []int64{1, 2},
				PolicyChosenPromptLogps: []float64{-3 * ln2, 0}, ChosenPromptLengths: []int64{3, 0},
			},
			Loss:   ln2 - (-ln2+math.Log(0.75))/2,
			Losses: []float64{ln2 + 5*ln2/3, -math.Log(0.75) + ln2/3},
			Grads: map[string][]float64{
				// Pair 0: −(1/2)·(1/2)·2/L_c − 1/6 = −1/4 − 1/6; +(1/2)·(1/2)·2/1 = 1/2.
				// Pair 1: σ(−ln 3) = 1/4; dlo/da_c = 2, dlo/da_r = −1/(1 − 1/4) = −4/3:
				// −(1/2)(1/4)·2/1 − 1/6 = −1/4 − 1/6; +(1/2)(1/4)(4/3)/2 = 1/12.
				core.PolicyChosenLogps:       {-0.25 - 1.0/6, -0.25 - 1.0/6},
				core.PolicyRejectedLogps:     {0.5, 1.0 / 12},
				core.PolicyChosenPromptLogps: {-1.0 / 6, -1.0 / 6},
			},
			Metrics: map[string]float64{
				"nll_loss": ln2, "log_odds_chosen": math.Log(3) / 2, "rewards/accuracies": 0.5,
			},
			Tol: handTol,
		},
	})
}

func TestInputErrors(t *testing.T) {
	batch := func(pc, pr float64) core.Batch {
		return core.Batch{
			PolicyChosenLogps: []float64{-2, pc}, PolicyRejectedLogps: []float64{-3, pr},
			ChosenLengths: []int64{2, 3}, RejectedLengths: []int64{2, 3},
			PolicyChosenPromptLogps: []float64{-5, -5}, ChosenPromptLengths: []int64{4, 4},
		}
	}
	objtest.InputErrors(t, orpo.Definition(), []objtest.InputErrorCase{
		// A per-token probability of 1 has infinite odds.
		{Name: "chosen_average_zero", Batch: batch(0, -1), Code: core.CodeOutOfRange, Field: core.PolicyChosenLogps, Index: 1},
		{Name: "rejected_average_positive", Batch: batch(-1, 0.3), Code: core.CodeOutOfRange, Field: core.PolicyRejectedLogps, Index: 1},
	})
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, orpo.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"lambda": 0.1}, Param: "lambda",
			Msg: "known: beta"},
		{Name: "beta_wrong_type", Params: map[string]any{"beta": "0.1"}, Param: "beta",
			Msg: "must be a number"},
		{Name: "beta_zero", Params: map[string]any{"beta": 0}, Param: "beta",
			Msg: "must be > 0, got 0"},
	})
}

func BenchmarkCompute(b *testing.B) {
	objtest.Benchmark(b, orpo.Definition(), nil)
}
