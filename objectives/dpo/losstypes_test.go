package dpo_test

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/dpo"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
)

// mixTol: a mixture and the weighted sum of its parts differ by the order of
// a few additions of values of order 1–100.
const mixTol = 1e-12

// zeroRatios has every log-ratio π − ref equal to 0, so every score is 0
// under every f-divergence except forward_kl (−1) and alpha (1/(α−1)).
var zeroRatios = core.Batch{
	PolicyChosenLogps: []float64{-10, -4}, ReferenceChosenLogps: []float64{-10, -4},
	PolicyRejectedLogps: []float64{-12, -6}, ReferenceRejectedLogps: []float64{-12, -6},
	ChosenLengths: []int64{5, 2}, RejectedLengths: []int64{4, 3},
}

func TestEveryLossTypeAtZeroRatios(t *testing.T) {
	ln2 := math.Ln2
	const eps = 0.25
	// Values at r_c = r_r = 0 (x = βΔ = 0, σ(0) = ½), β = 0.1 (1/(2β) = 5).
	want := map[string]float64{
		"sigmoid":      ln2,                              // −log σ(0)
		"hinge":        1,                                // max(0, 1 − 0)
		"ipo":          25,                               // (0 − 5)²
		"exo_pair":     -ln2 - 0.5*math.Log(eps*(1-eps)), // ½(log ½ − log(1−ε)) + ½(log ½ − log ε)
		"nca_pair":     2 * ln2,                          // (1 + ½ + ½)·ln 2
		"robust":       ln2,                              // (−log σ(0)·(1−ε) + ε·log σ(0))/(1−2ε), ε = 0
		"bco_pair":     2 * ln2,                          // 2·(−log σ(0))
		"sppo_hard":    50,                               // 5² + 5²
		"aot":          ln2,                              // sorted margins all 0
		"aot_unpaired": ln2,                              // sorted ratios all 0
		"apo_zero":     1,                                // 1 − ½ + ½
		"apo_down":     1,                                // ½ + 1 − ½
		"discopop":     (ln2 + 1) / 2,                    // ln 2·(1 − ½) + e⁰·½
		"sft":          2,                                // −(−10 − 4)/(5 + 2)
		"sigmoid_norm": ln2,                              // −log σ(0)
	}
	require.ElementsMatch(t, dpo.LossTypes, slices.Collect(maps.Keys(want)))
	for _, lt := range dpo.LossTypes {
		t.Run(lt, func(t *testing.T) {
			params := map[string]any{"loss_type": []string{lt}}
			if lt == "exo_pair" {
				params["label_smoothing"] = eps
			}
			r := compute(t, params, &zeroRatios)
			assert.InDelta(t, want[lt], r.Loss, handTol, "loss")
			for i, l := range r.Losses {
				assert.InDelta(t, want[lt], l, handTol, "losses[%d]", i)
			}
		})
	}
}

func compute(t *testing.T, params map[string]any, b *core.Batch) *core.Result {
	t.Helper()
	obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), params)
	require.NoError(t, err)
	r, err := obj.Compute(t.Context(), b)
	require.NoError(t, err)
	require.NoError(t, core.CheckResult(b, obj.Inputs(), r))
	return r
}

// TestMixtureIsWeightedSum checks Loss, Losses and gradients of a mixture
// against the weighted sum of each loss type configured alone, on random
// batches, with and without WPO and LD-DPO.
func TestMixtureIsWeightedSum(t *testing.T) {
	types := []string{"sigmoid", "ipo", "exo_pair", "sppo_hard", "apo_down", "discopop", "sft", "sigmoid_norm"}
	weights := []float64{1, 0.5, 0.25, 0.01, 2, 0.75, 0.3, 1.5}
	for _, extra := range []map[string]any{
		{},
		{"use_weighting": true},
		{"ld_alpha": 0.4},
		{"f_divergence_type": "js_divergence", "ld_alpha": 0.0},
	} {
		t.Run(fmt.Sprint(extra), func(t *testing.T) {
			with := func(m map[string]any) map[string]any {
				out := map[string]any{"label_smoothing": 0.01}
				for k, v := range extra {
					out[k] = v
				}
				for k, v := range m {
					out[k] = v
				}
				return out
			}
			mixed, _, err := core.Local(dpo.Definition()).Configure(t.Context(),
				with(map[string]any{"loss_type": types, "loss_weights": weights}))
			require.NoError(t, err)
			b := conformance.RandomBatch(rand.New(rand.NewPCG(7, 7)), mixed.Inputs(), 9)
			got := compute(t, with(map[string]any{"loss_type": types, "loss_weights": weights}), b)
			var loss float64
			losses := make([]float64, 9)
			grads := map[string][]float64{}
			tokens := map[string][][]float64{}
			for k, lt := range types {
				p := with(map[string]any{"loss_type": []string{lt}})
				if !slices.Contains([]string{"sigmoid", "exo_pair"}, lt) {
					delete(p, "label_smoothing")
				}
				r := compute(t, p, b)
				loss += weights[k] * r.Loss
				for i := range losses {
					losses[i] += weights[k] * r.Losses[i]
				}
				for name, g := range r.Grads {
					if grads[name] == nil {
						grads[name] = make([]float64, len(g))
					}
					for i := range g {
						grads[name][i] += weights[k] * g[i]
					}
				}
				for name, rows := range r.TokenGrads {
					if tokens[name] == nil {
						tokens[name] = make([][]float64, len(rows))
						for i := range rows {
							tokens[name][i] = make([]float64, len(rows[i]))
						}
					}
					for i := range rows {
						for j := range rows[i] {
							tokens[name][i][j] += weights[k] * rows[i][j]
						}
					}
				}
			}
			assert.InDelta(t, loss, got.Loss, mixTol*(1+math.Abs(loss)))
			assert.InDeltaSlice(t, losses, got.Losses, mixTol*(1+math.Abs(loss)))
			require.Len(t, got.Grads, len(grads))
			for name, g := range grads {
				assert.InDeltaSlice(t, g, got.Grads[name], mixTol, name)
			}
			require.Len(t, got.TokenGrads, len(tokens))
			for name, rows := range tokens {
				for i := range rows {
					assert.InDeltaSlice(t, rows[i], got.TokenGrads[name][i], mixTol, "%s[%d]", name, i)
				}
			}
		})
	}
}

// TestLDAlphaOneIsSummed: with ld_alpha = 1 every token weighs 1, so the
// per-token objective equals the summed one on the token sums, and each
// token's gradient is its completion's.
func TestLDAlphaOneIsSummed(t *testing.T) {
	params := map[string]any{"loss_type": []string{"sigmoid", "sft", "aot"}}
	ld := map[string]any{"loss_type": params["loss_type"], "ld_alpha": 1.0}
	obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), ld)
	require.NoError(t, err)
	tb := conformance.RandomBatch(rand.New(rand.NewPCG(3, 4)), obj.Inputs(), 6)
	sb := &core.Batch{ChosenLengths: tb.ChosenLengths}
	sum := func(rows [][]float64) []float64 {
		out := make([]float64, len(rows))
		for i, row := range rows {
			for _, v := range row {
				out[i] += v
			}
		}
		return out
	}
	sb.PolicyChosenLogps, sb.PolicyRejectedLogps = sum(tb.PolicyChosenTokenLogps), sum(tb.PolicyRejectedTokenLogps)
	sb.ReferenceChosenLogps, sb.ReferenceRejectedLogps = sum(tb.ReferenceChosenTokenLogps), sum(tb.ReferenceRejectedTokenLogps)
	want, got := compute(t, params, sb), compute(t, ld, tb)
	assert.InDelta(t, want.Loss, got.Loss, mixTol)
	assert.Empty(t, got.Grads)
	for name, summed := range map[string]string{
		core.PolicyChosenTokenLogps: core.PolicyChosenLogps, core.PolicyRejectedTokenLogps: core.PolicyRejectedLogps,
	} {
		for i, row := range got.TokenGrads[name] {
			for j, g := range row {
				assert.InDelta(t, want.Grads[summed][i], g, mixTol, "%s[%d][%d]", name, i, j)
			}
		}
	}
}

// TestLDSharedAndTail: one pair of 3 and 1 tokens; the shared part is the
// first token, the chosen tail weighs α_ld = 0.25. Policy chosen tokens
// (−1, −2, −3) aggregate to −1 + 0.25·(−5) = −2.25, rejected (−4) to −4; the
// reference tokens equal the policy's but for the chosen tail, −1 and −1
// (aggregate −1.5). So h = (−2.25 + 4) − (−1.5 + 4) = −0.75.
func TestLDSharedAndTail(t *testing.T) {
	b := &core.Batch{
		PolicyChosenTokenLogps: [][]float64{{-1, -2, -3}}, PolicyRejectedTokenLogps: [][]float64{{-4}},
		ReferenceChosenTokenLogps: [][]float64{{-1, -1, -1}}, ReferenceRejectedTokenLogps: [][]float64{{-4}},
		ChosenLengths: []int64{3}, RejectedLengths: []int64{1},
	}
	r := compute(t, map[string]any{"ld_alpha": 0.25, "beta": 1.0}, b)
	x := -0.75
	assert.InDelta(t, -math.Log(1/(1+math.Exp(-x))), r.Loss, handTol)
	d := -1 / (1 + math.Exp(x)) // dℓ/dh = −σ(−h) at β = 1
	assert.InDeltaSlice(t, []float64{d, 0.25 * d, 0.25 * d}, r.TokenGrads[core.PolicyChosenTokenLogps][0], handTol)
	assert.InDeltaSlice(t, []float64{-d}, r.TokenGrads[core.PolicyRejectedTokenLogps][0], handTol)
	assert.InDelta(t, -2.25, r.Metrics["logps/chosen"], handTol)
}

func TestLDTokenCountMismatch(t *testing.T) {
	objtest.InputErrors(t, dpo.Definition(), []objtest.InputErrorCase{{
		Name: "chosen_tokens", Params: map[string]any{"ld_alpha": 0.5},
		Batch: core.Batch{
			PolicyChosenTokenLogps: [][]float64{{-1, -2}, {-1}}, PolicyRejectedTokenLogps: [][]float64{{-4}, {-2}},
			ReferenceChosenTokenLogps: [][]float64{{-1, -1}, {-1, -1}}, ReferenceRejectedTokenLogps: [][]float64{{-4}, {-2}},
			ChosenLengths: []int64{2, 2}, RejectedLengths: []int64{1, 1},
		},
		Code: core.CodeLengthMismatch, Field: core.PolicyChosenTokenLogps, Index: 1,
	}})
}

// TestAlphaLimitIsReverseKL: TRL falls back to reverse_kl within 1e-6 of
// α = 1.
func TestAlphaLimitIsReverseKL(t *testing.T) {
	obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), nil)
	require.NoError(t, err)
	batch := conformance.RandomBatch(rand.New(rand.NewPCG(1, 2)), obj.Inputs(), 5)
	want := compute(t, nil, batch)
	got := compute(t, map[string]any{"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 1 - 5e-7}, batch)
	assert.Equal(t, want.Loss, got.Loss)
	assert.Equal(t, want.Grads, got.Grads)
}

// TestDiscopopFarBelowZero: at x = βΔ = −1000 TRL's expression
// exp(−x)·σ(x/τ) is ∞·0 = NaN in float32 and float64; the loss is
// −log σ(−1000)·(1 − σ(−20000)) + e^(1000−softplus(20000)) = 1000 to within
// e^−1000, and dℓ/dx = −σ(1000) to within e^−1000, so ∂Loss/∂π_c = β·(−1).
func TestDiscopopFarBelowZero(t *testing.T) {
	b := &core.Batch{PolicyChosenLogps: []float64{-10000}, PolicyRejectedLogps: []float64{0},
		ReferenceChosenLogps: []float64{0}, ReferenceRejectedLogps: []float64{0}}
	r := compute(t, map[string]any{"loss_type": []string{"discopop"}}, b)
	assert.InDelta(t, 1000, r.Loss, 1e-12)
	assert.InDelta(t, -0.1, r.Grads[core.PolicyChosenLogps][0], 1e-15) // β·dℓ/dx
}

func TestInputsFollowParams(t *testing.T) {
	pol := []string{core.PolicyChosenLogps, core.PolicyRejectedLogps}
	ref := []string{core.ReferenceChosenLogps, core.ReferenceRejectedLogps}
	lens := []string{core.ChosenLengths, core.RejectedLengths}
	tok := []string{core.PolicyChosenTokenLogps, core.PolicyRejectedTokenLogps}
	rtok := []string{core.ReferenceChosenTokenLogps, core.ReferenceRejectedTokenLogps}
	wpo := []string{core.PolicyChosenWPOLogps, core.PolicyRejectedWPOLogps}
	cat := func(xs ...[]string) []string { return slices.Concat(xs...) }
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"sigmoid", nil, cat(pol, ref)},
		{"sft", map[string]any{"loss_type": []string{"sft"}}, cat(pol, ref, lens[:1])},
		{"ipo", map[string]any{"loss_type": []string{"ipo"}}, cat(pol, ref, lens)},
		{"sigmoid_norm/reference_free", map[string]any{"loss_type": []string{"sigmoid_norm"}, "reference_free": true}, cat(pol, lens)},
		{"wpo", map[string]any{"use_weighting": true}, cat(pol, ref, wpo)},
		{"ld", map[string]any{"ld_alpha": 0.5}, cat(lens, tok, rtok)},
		{"ld/reference_free/wpo", map[string]any{"ld_alpha": 0.5, "reference_free": true, "use_weighting": true}, cat(lens, tok, wpo)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), tc.params)
			require.NoError(t, err)
			assert.Equal(t, tc.want, obj.Inputs())
		})
	}
}

func TestSpecDocListsEveryLossType(t *testing.T) {
	doc := dpo.Definition().Spec.Doc
	for _, lt := range dpo.LossTypes {
		assert.Contains(t, doc, lt)
	}
	p, ok := dpo.Definition().Spec.Param("loss_type")
	require.True(t, ok)
	assert.Equal(t, dpo.LossTypes, p.Enum)
}

func TestScalarLossTypeIsRefused(t *testing.T) {
	// core refuses a scalar for a list parameter; TRL's DPOConfig takes a
	// list too. If core starts accepting one, "hinge" must mean ["hinge"].
	obj, _, err := core.Local(dpo.Definition()).Configure(t.Context(), map[string]any{"loss_type": "hinge"})
	if err == nil {
		r := compute(t, map[string]any{"loss_type": []string{"hinge"}}, &zeroRatios)
		got, err := obj.Compute(t.Context(), &zeroRatios)
		require.NoError(t, err)
		assert.Equal(t, r.Loss, got.Loss)
		return
	}
	var pe *core.ParamError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "loss_type", pe.Param)
}
