package chipo_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/objectives/chipo"
	"github.com/prefopt/prefopt/objectives/internal/objtest"
)

// handTol: the hand values are exact up to one rounding of ln 3 and e^−2.
const handTol = 1e-15

func pair(rc, rr float64) core.Batch {
	return core.Batch{PolicyChosenLogps: []float64{rc - 5}, ReferenceChosenLogps: []float64{-5},
		PolicyRejectedLogps: []float64{rr - 7}, ReferenceRejectedLogps: []float64{-7}}
}

func TestHandComputed(t *testing.T) {
	clipped := math.Log1p(math.Exp(-2)) // −log σ(2)
	objtest.Hand(t, chipo.Definition(), []objtest.HandCase{
		{
			// r_c = r_r = 0: φ(1) = 1 on both sides, x = 0, loss ln 2;
			// slope −σ(0)·β·(e⁰ + 1) = −β on π_c and +β on π_r.
			Name: "equal_ratios", Batch: pair(0, 0),
			Loss: math.Ln2, Losses: []float64{math.Ln2},
			Grads:   map[string][]float64{core.PolicyChosenLogps: {-0.1}, core.PolicyRejectedLogps: {0.1}},
			Metrics: map[string]float64{"rewards/chosen": 0, "rewards/margins": 0, "rewards/accuracies": 0},
			Tol:     handTol,
		},
		{
			// β = 1, z_c = 3: x = (3 + ln 3) − 1 ≈ 3.1 > 2R_max = 2, so x = 2
			// and the clip zeroes the gradient.
			Name: "clipped", Params: map[string]any{"beta": 1.0}, Batch: pair(math.Log(3), 0),
			Loss:  clipped,
			Grads: map[string][]float64{core.PolicyChosenLogps: {0}, core.PolicyRejectedLogps: {0}},
			Tol:   handTol,
		},
		{
			// e^800 overflows float64, yet the difference lies beyond the clip.
			Name: "overflowing_ratio", Params: map[string]any{"beta": 1.0}, Batch: pair(800, 0),
			Loss:  clipped,
			Grads: map[string][]float64{core.PolicyChosenLogps: {0}, core.PolicyRejectedLogps: {0}},
			Tol:   handTol,
		},
		{
			// z_r = e^800: x = β(φ(1) − φ(e^800)) is clipped at −2, loss −log σ(−2) = 2 + log(1+e^−2).
			Name: "clipped_below", Params: map[string]any{"beta": 1.0}, Batch: pair(0, 800),
			Loss:  2 + clipped,
			Grads: map[string][]float64{core.PolicyChosenLogps: {0}, core.PolicyRejectedLogps: {0}},
			Tol:   handTol,
		},
	})
}

// TestEqualHugeRatios: at r_c = r_r = 800 the logit is 0 but its slope
// β(e^800 + 1) is not a float64: a typed error, not an infinite gradient.
func TestEqualHugeRatios(t *testing.T) {
	objtest.InputErrors(t, chipo.Definition(), []objtest.InputErrorCase{
		{Name: "e^800", Batch: pair(800, 800), Code: core.CodeOutOfRange, Field: core.PolicyChosenLogps, Index: -1},
	})
}

func TestParamErrors(t *testing.T) {
	objtest.ParamErrors(t, chipo.Definition(), []objtest.ParamCase{
		{Name: "unknown", Params: map[string]any{"rmax": 1}, Param: "rmax", Msg: "known: beta, r_max"},
		{Name: "beta_zero", Params: map[string]any{"beta": 0}, Param: "beta", Msg: "must be > 0, got 0"},
		{Name: "r_max_zero", Params: map[string]any{"r_max": 0}, Param: "r_max", Msg: "must be > 0, got 0"},
	})
}

func BenchmarkCompute(b *testing.B) { objtest.Benchmark(b, chipo.Definition(), nil) }

func Example() {
	ctx := context.Background()
	obj, _, err := core.Local(chipo.Definition()).Configure(ctx, map[string]any{"beta": 0.1, "r_max": 1.0})
	if err != nil {
		panic(err)
	}
	// Equal density ratios: φ cancels, the logit is 0 and the loss ln 2.
	b := pair(0.5, 0.5)
	r, err := obj.Compute(ctx, &b)
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss: %.6f\n", r.Loss)
	// Output:
	// loss: 0.693147
}
