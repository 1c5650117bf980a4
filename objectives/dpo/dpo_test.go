package dpo_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
)

// handTol: the hand values are exact and the computations take a few
// roundings on numbers of order 1.
const handTol = 1e-15

// h = (π_c − π_r) − (ref_c − ref_r) = 2 − 2 = 0 for both pairs below.
var zeroMargin = core.Batch{
	PolicyChosenLogps:      []float64{-10, -4},
	PolicyRejectedLogps:    []float64{-12, -6},
	ReferenceChosenLogps:   []float64{-20, -7},
	ReferenceRejectedLogps: []float64{-22, -9},
}

func TestHandComputed(t *testing.T) {
	const beta = 0.1
	// Rewards at h = 0: β·mean(π_c − ref_c) = 0.1·mean(10, 3) = 0.65, and the
	// same for rejected (0.1·mean(10, 3)); a tie is not an accurate pair.
	tieMetrics := map[string]float64{
		"rewards/chosen": 0.65, "rewards/rejected": 0.65, "rewards/margins": 0,
		"rewards/accuracies": 0, "logps/chosen": -7, "logps/rejected": -9,
	}
	objtest.Hand(t, dpo.Definition(), []objtest.HandCase{
		{
			// −log σ(0) = ln 2; dℓ/dh = −β·σ(0) = −β/2, over N = 2 pairs.
			Name: "sigmoid/h=0", Batch: zeroMargin,
			Loss: math.Ln2, Losses: []float64{math.Ln2, math.Ln2},
			Grads: map[string][]float64{
				core.PolicyChosenLogps:   {-beta / 2 / 2, -beta / 2 / 2},
				core.PolicyRejectedLogps: {beta / 2 / 2, beta / 2 / 2},
			},
			Metrics: tieMetrics, Tol: handTol,
		},
		{
			// ε-smoothing leaves the loss at h = 0 unchanged,
			// −(1−ε)·log σ(0) − ε·log σ(0) = ln 2, and scales the slope:
			// dℓ/dh = β·(−(1−ε)/2 + ε/2) = 0.1·(−0.3) = −0.03 with ε = 0.2.
			Name: "sigmoid/smoothed/h=0", Params: map[string]any{"label_smoothing": 0.2}, Batch: zeroMargin,
			Loss: math.Ln2,
			Grads: map[string][]float64{
				core.PolicyChosenLogps:   {-0.03 / 2, -0.03 / 2},
				core.PolicyRejectedLogps: {0.03 / 2, 0.03 / 2},
			},
			Tol: handTol,
		},
		{
			// relu(1 − 0) = 1 with slope −β.
			Name: "hinge/h=0", Params: map[string]any{"loss_type": []string{"hinge"}}, Batch: zeroMargin,
			Loss: 1, Losses: []float64{1, 1},
			Grads: map[string][]float64{
				core.PolicyChosenLogps:   {-beta / 2, -beta / 2},
				core.PolicyRejectedLogps: {beta / 2, beta / 2},
			},
			Tol: handTol,
		},
		{
			// (−(1−ε)·log σ(0) + ε·log σ(0))/(1−2ε) = ln 2·(1−2ε)/(1−2ε) = ln 2;
			// slope β·(−(1−ε)/2 − ε/2)/(1−2ε) = −β/(2(1−2ε)) = −0.1 at ε = 0.25.
			Name: "robust/h=0", Params: map[string]any{"loss_type": []string{"robust"}, "label_smoothing": 0.25}, Batch: zeroMargin,
			Loss: math.Ln2,
			Grads: map[string][]float64{
				core.PolicyChosenLogps:   {-0.1 / 2, -0.1 / 2},
				core.PolicyRejectedLogps: {0.1 / 2, 0.1 / 2},
			},
			Tol: handTol,
		},
		{
			// Reference-free, one pair with π_c − π_r = 10·ln 3: βh = ln 3,
			// σ(ln 3) = 3/4, loss = ln(4/3), slope −β·σ(−ln 3) = −0.1/4.
			// Rewards are β·π: −0.1 and −0.1 − ln 3. 10·ln 3 ≈ 11 is rounded
			// once in the input, hence the looser tolerance.
			Name: "reference_free/h=10ln3", Params: map[string]any{"reference_free": true},
			Batch: core.Batch{PolicyChosenLogps: []float64{-1}, PolicyRejectedLogps: []float64{-1 - 10*math.Log(3)}},
			Loss:  math.Log(4.0 / 3),
			Grads: map[string][]float64{core.PolicyChosenLogps: {-0.025}, core.PolicyRejectedLogps: {0.025}},
			Metrics: map[string]float64{
				"rewards/chosen": -0.1, "rewards/rejected": -0.1 - math.Log(3), "rewards/accuracies": 1,
				"rewards/margins": math.Log(3),
			},
			Tol: 1e-14,
		},
	})
}

func TestInputsFollowReferenceFree(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"with_reference", nil, []string{core.PolicyChosenLogps, core.PolicyRejectedLogps,
			core.ReferenceChosenLogps, core.ReferenceRejectedLogps}},
		{"reference_free", map[string]any{"reference_free": true}, []string{core.PolicyChosenLogps, core.PolicyRejectedLogps}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := obj.Inputs(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Inputs() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, dpo.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"betta": 0.1}, Param: "betta",
			Msg: "known: beta, discopop_tau, f_alpha_divergence_coef, f_divergence_type, label_smoothing, ld_alpha, loss_type, loss_weights, reference_free, use_weighting"},
		{Name: "beta_wrong_type", Params: map[string]any{"beta": "0.1"}, Param: "beta",
			Msg: "must be a number"},
		{Name: "beta_zero", Params: map[string]any{"beta": 0}, Param: "beta",
			Msg: "must be > 0, got 0"},
		{Name: "beta_negative", Params: map[string]any{"beta": -1.5}, Param: "beta",
			Msg: "must be > 0, got -1.5"},
		{Name: "loss_type_unknown", Params: map[string]any{"loss_type": []string{"sigmoid", "dpo"}}, Param: "loss_type",
			Msg: "element 1 must be one of sigmoid, hinge, ipo, exo_pair, nca_pair, robust, bco_pair, sppo_hard, aot, " +
				"aot_unpaired, apo_zero, apo_down, discopop, sft, sigmoid_norm, got \"dpo\""},
		{Name: "loss_type_empty", Params: map[string]any{"loss_type": []string{}}, Param: "loss_type",
			Msg: "must have at least 1 elements, got 0"},
		{Name: "loss_weights_length", Params: map[string]any{"loss_type": []string{"sigmoid", "sft"}, "loss_weights": []float64{1}},
			Param: "loss_weights", Msg: "must have as many elements as loss_type (2), got 1"},
		{Name: "loss_weights_length_default", Params: map[string]any{"loss_weights": []float64{1, 1}},
			Param: "loss_weights", Msg: "must have as many elements as loss_type (1), got 2"},
		{Name: "loss_weights_negative", Params: map[string]any{"loss_weights": []float64{-1}},
			Param: "loss_weights", Msg: "element 0 must be >= 0, got -1"},
		{Name: "label_smoothing_negative", Params: map[string]any{"label_smoothing": -0.1}, Param: "label_smoothing",
			Msg: "must be >= 0"},
		{Name: "label_smoothing_above_half", Params: map[string]any{"label_smoothing": 0.6}, Param: "label_smoothing",
			Msg: "must be <= 0.5"},
		{Name: "label_smoothing_half_robust", Params: map[string]any{"label_smoothing": 0.5, "loss_type": []string{"robust"}},
			Param: "label_smoothing", Msg: "must be < 0.5 with loss_type robust, got 0.5"},
		{Name: "label_smoothing_unused", Params: map[string]any{"label_smoothing": 0.1, "loss_type": []string{"hinge", "ipo"}},
			Param: "label_smoothing", Msg: "must be 0 unless loss_type includes one of sigmoid, robust, exo_pair, aot, aot_unpaired"},
		{Name: "exo_pair_without_smoothing", Params: map[string]any{"loss_type": []string{"exo_pair"}},
			Param: "label_smoothing", Msg: "must be > 0 with loss_type exo_pair"},
		{Name: "use_weighting_aot", Params: map[string]any{"loss_type": []string{"sigmoid", "aot"}, "use_weighting": true},
			Param: "use_weighting", Msg: "must be false with loss_type aot or aot_unpaired"},
		{Name: "use_weighting_aot_unpaired", Params: map[string]any{"loss_type": []string{"aot_unpaired"}, "use_weighting": true},
			Param: "use_weighting", Msg: "must be false with loss_type aot or aot_unpaired"},
		{Name: "f_divergence_unknown", Params: map[string]any{"f_divergence_type": "kl"}, Param: "f_divergence_type",
			Msg: "must be one of reverse_kl, forward_kl, js_divergence, alpha_divergence"},
		{Name: "alpha_one", Params: map[string]any{"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 1.0},
			Param: "f_alpha_divergence_coef", Msg: "must be in (0, 1) with f_divergence_type alpha_divergence"},
		{Name: "alpha_zero", Params: map[string]any{"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0},
			Param: "f_alpha_divergence_coef", Msg: "got 0"},
		{Name: "alpha_negative", Params: map[string]any{"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": -0.5},
			Param: "f_alpha_divergence_coef", Msg: "undefined"},
		{Name: "discopop_tau_zero", Params: map[string]any{"discopop_tau": 0}, Param: "discopop_tau", Msg: "must be > 0"},
		{Name: "ld_alpha_above_one", Params: map[string]any{"ld_alpha": 1.5}, Param: "ld_alpha", Msg: "must be <= 1, got 1.5"},
		{Name: "ld_alpha_negative", Params: map[string]any{"ld_alpha": -0.1}, Param: "ld_alpha", Msg: "must be >= 0"},
		{Name: "reference_free_wrong_type", Params: map[string]any{"reference_free": 1}, Param: "reference_free",
			Msg: "must be true or false"},
	})
}

func BenchmarkCompute(b *testing.B) {
	objtest.Benchmark(b, dpo.Definition(), nil)
}

// BenchmarkComputeEveryType mixes all fifteen loss types (aot sorts twice).
func BenchmarkComputeEveryType(b *testing.B) {
	objtest.Benchmark(b, dpo.Definition(), map[string]any{"loss_type": dpo.LossTypes, "label_smoothing": 0.1})
}

// BenchmarkComputeLD reads per-token log-probs (up to 64 tokens a completion)
// with WPO weights.
func BenchmarkComputeLD(b *testing.B) {
	objtest.Benchmark(b, dpo.Definition(), map[string]any{"ld_alpha": 0.5, "use_weighting": true})
}

func Example() {
	ctx := context.Background()
	obj, params, err := core.Local(dpo.Definition()).Configure(ctx, map[string]any{"beta": 0.1})
	if err != nil {
		panic(err)
	}
	// One pair whose policy prefers the chosen completion exactly as much as
	// the reference does: h = 0, so the loss is ln 2.
	r, err := obj.Compute(ctx, &core.Batch{
		PolicyChosenLogps:      []float64{-12},
		PolicyRejectedLogps:    []float64{-15},
		ReferenceChosenLogps:   []float64{-13},
		ReferenceRejectedLogps: []float64{-16},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("inputs:", obj.Inputs())
	fmt.Println("loss_type:", params.StringList("loss_type"))
	fmt.Printf("loss: %.6f\n", r.Loss)
	fmt.Printf("d loss/d policy_chosen_logps: %.3f\n", r.Grads[core.PolicyChosenLogps][0])
	fmt.Printf("rewards/chosen: %.2f\n", r.Metrics["rewards/chosen"])
	// Output:
	// inputs: [policy_chosen_logps policy_rejected_logps reference_chosen_logps reference_rejected_logps]
	// loss_type: [sigmoid]
	// loss: 0.693147
	// d loss/d policy_chosen_logps: -0.050
	// rewards/chosen: 0.10
}

// RPO mixes the sigmoid loss with the pooled chosen-token NLL: the sft term
// reads chosen_lengths.
func Example_rpo() {
	ctx := context.Background()
	obj, _, err := core.Local(dpo.Definition()).Configure(ctx, map[string]any{
		"loss_type": []string{"sigmoid", "sft"}, "loss_weights": []float64{1, 0.5}})
	if err != nil {
		panic(err)
	}
	// h = 0 again, so sigmoid gives ln 2; the NLL is 12/4 = 3 nats a token.
	r, err := obj.Compute(ctx, &core.Batch{
		PolicyChosenLogps:      []float64{-12},
		PolicyRejectedLogps:    []float64{-15},
		ReferenceChosenLogps:   []float64{-13},
		ReferenceRejectedLogps: []float64{-16},
		ChosenLengths:          []int64{4},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("inputs:", obj.Inputs())
	fmt.Printf("loss: %.6f = ln 2 + 0.5·3\n", r.Loss)
	// Output:
	// inputs: [policy_chosen_logps policy_rejected_logps reference_chosen_logps reference_rejected_logps chosen_lengths]
	// loss: 2.193147 = ln 2 + 0.5·3
}
