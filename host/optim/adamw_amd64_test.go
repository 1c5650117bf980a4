package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAdamWVectorBitIdentical: the AVX-512 update gives the scalar
// loop's parameters, moments and max |m| bit for bit, at lengths with and
// without a scalar tail, for gradients from 0 to very large.
func TestAdamWVectorBitIdentical(t *testing.T) {
	if !haveAdamW8 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(41, 41))
	for _, n := range []int{1, 7, 8, 9, 64, 1003} {
		data, grad := make([]float32, n), make([]float32, n)
		ms, vs := make([]float64, n), make([]float64, n)
		for i := range n {
			data[i] = float32(rng.NormFloat64())
			switch i % 5 {
			case 0:
				grad[i] = 0
			case 1:
				grad[i] = float32(rng.NormFloat64() * 1e-30)
			case 2:
				grad[i] = float32(rng.NormFloat64() * 1e30)
			default:
				grad[i] = float32(rng.NormFloat64())
			}
			ms[i], vs[i] = rng.NormFloat64()*1e-3, math.Abs(rng.NormFloat64())*1e-6
		}
		run := func(vector bool) ([]float32, []float64, []float64, float64) {
			haveAdamW8 = vector
			defer func() { haveAdamW8 = true }()
			d, m, v := append([]float32(nil), data...), append([]float64(nil), ms...), append([]float64(nil), vs...)
			mx := adamwApply(d, grad, m, v, 0.9, 0.999, 1e-8, 1-1e-3*0.1, 1e-3/0.1, math.Sqrt(1-0.999))
			return d, m, v, mx
		}
		dv, mv, vv, xv := run(true)
		ds, msc, vsc, xs := run(false)
		require.Equal(t, math.Float64bits(xs), math.Float64bits(xv), "n=%d: max |m|", n)
		for i := range n {
			require.Equal(t, math.Float32bits(ds[i]), math.Float32bits(dv[i]), "n=%d: data[%d]", n, i)
			require.Equal(t, math.Float64bits(msc[i]), math.Float64bits(mv[i]), "n=%d: m[%d]", n, i)
			require.Equal(t, math.Float64bits(vsc[i]), math.Float64bits(vv[i]), "n=%d: v[%d]", n, i)
		}
	}
}
