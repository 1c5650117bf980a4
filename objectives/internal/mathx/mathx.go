// Package mathx provides numerically stable scalar functions used by the
// objectives.
package mathx

import "math"

// Sigmoid returns σ(x) = 1/(1+e⁻ˣ), without overflow for any finite x.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// LogSigmoid returns log σ(x) = −softplus(−x), accurate for |x| in the
// thousands: −log1p(e⁻ˣ) for x ≥ 0 and x − log1p(eˣ) otherwise.
func LogSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// Softplus returns log(1+eˣ) = −log σ(−x).
func Softplus(x float64) float64 { return -LogSigmoid(-x) }

// Log1mExp returns log(1−eˣ) for x < 0, using log1p(−eˣ) for x < −ln 2 and
// log(−expm1(x)) otherwise (Mächler 2012). It returns −Inf for x = 0 and NaN
// for x > 0.
func Log1mExp(x float64) float64 {
	if x < -math.Ln2 {
		return math.Log1p(-math.Exp(x))
	}
	return math.Log(-math.Expm1(x))
}

// Relu returns max(0, x).
func Relu(x float64) float64 {
	if x > 0 {
		return x
	}
	return 0
}

// Mean returns the arithmetic mean of xs, summed in order; NaN if xs is
// empty.
func Mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
