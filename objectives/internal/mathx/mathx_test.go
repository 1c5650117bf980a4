package mathx_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/objectives/internal/golden"
	"github.com/prefopt/prefopt/objectives/internal/mathx"
)

const (
	// refRelTol compares with 50-digit references rounded to float64
	// (golden.py): the functions take a few roundings, and libm's exp, log1p
	// and expm1 are accurate to about 1 ulp.
	refRelTol = 1e-15
	// identityTol bounds identities evaluated in float64 on values of order 1:
	// each side takes a few roundings.
	identityTol = 4e-16
)

func TestAgainstReferences(t *testing.T) {
	funcs := map[string]func(float64) float64{
		"sigmoid":     mathx.Sigmoid,
		"log_sigmoid": mathx.LogSigmoid,
		"log1mexp":    mathx.Log1mExp,
	}
	refs := golden.Load(t).Mathx
	for name, f := range funcs {
		require.NotEmpty(t, refs[name], name)
		for _, p := range refs[name] {
			x, want := p[0], p[1]
			got := f(x)
			require.False(t, math.IsNaN(got) || math.IsInf(got, 0), "%s(%v) = %v", name, x, got)
			assert.InDelta(t, want, got, refRelTol*math.Abs(want), "%s(%v)", name, x)
		}
	}
}

func TestIdentities(t *testing.T) {
	xs := []float64{-700, -30, -3, -0.5, -1e-9, 0, 1e-9, 0.5, 3, 30, 700}
	for _, x := range xs {
		// σ(x) + σ(−x) = 1.
		assert.InDelta(t, 1, mathx.Sigmoid(x)+mathx.Sigmoid(-x), identityTol, "sigmoid symmetry at %v", x)
		// log σ(x) − log σ(−x) = x.
		assert.InDelta(t, x, mathx.LogSigmoid(x)-mathx.LogSigmoid(-x), identityTol*math.Max(1, math.Abs(x)),
			"log-sigmoid difference at %v", x)
		// softplus(x) = −log σ(−x) and exp(log σ(x)) = σ(x).
		assert.Equal(t, -mathx.LogSigmoid(-x), mathx.Softplus(x))
		assert.InDelta(t, mathx.Sigmoid(x), math.Exp(mathx.LogSigmoid(x)), identityTol, "exp(log σ) at %v", x)
	}
}

func TestLargeArguments(t *testing.T) {
	tests := []struct {
		name string
		x    float64
		// log σ(x) = x − log1p(eˣ) ≈ x for x ≪ 0 and −e⁻ˣ for x ≫ 0.
		wantLogSigmoid float64
	}{
		{"very_negative", -5000, -5000},
		{"negative", -745, -745},
		{"positive", 40, -math.Exp(-40)},
		{"very_positive", 5000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mathx.LogSigmoid(tc.x)
			require.False(t, math.IsNaN(got) || math.IsInf(got, 0))
			assert.InDelta(t, tc.wantLogSigmoid, got, refRelTol*math.Abs(tc.wantLogSigmoid))
			s := mathx.Sigmoid(tc.x)
			assert.True(t, s >= 0 && s <= 1, "σ(%v) = %v", tc.x, s)
		})
	}
}

func TestLog1mExpBranches(t *testing.T) {
	// Either side of the branch point −ln 2 both forms agree with
	// log(1 − eˣ) evaluated directly, which is accurate there (1 − eˣ ≈ ½).
	for _, x := range []float64{math.Nextafter(-math.Ln2, -1), -math.Ln2, math.Nextafter(-math.Ln2, 0), -0.6, -0.8} {
		assert.InDelta(t, math.Log(1-math.Exp(x)), mathx.Log1mExp(x), 4*identityTol, "x=%v", x)
	}
	assert.True(t, math.IsInf(mathx.Log1mExp(0), -1), "log(1−e⁰) = −Inf")
	assert.True(t, math.IsNaN(mathx.Log1mExp(1)), "log(1−e¹) is NaN")
	// exp(log1mexp(x)) + eˣ = 1 across scales.
	for _, x := range []float64{-100, -10, -1, -0.1, -1e-3} {
		assert.InDelta(t, 1, math.Exp(mathx.Log1mExp(x))+math.Exp(x), identityTol*4, "x=%v", x)
	}
}

func TestReluMean(t *testing.T) {
	assert.Equal(t, 0.0, mathx.Relu(-2))
	assert.Equal(t, 0.0, mathx.Relu(0))
	assert.Equal(t, 2.5, mathx.Relu(2.5))
	// (1 + 2 + 4.5)/3 = 2.5.
	assert.Equal(t, 2.5, mathx.Mean([]float64{1, 2, 4.5}))
	assert.True(t, math.IsNaN(mathx.Mean(nil)), "mean of nothing is NaN")
}
