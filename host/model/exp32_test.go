package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// exp32Tol bounds exp32's relative error against math.Exp in float64:
// Cephes quotes ≈ 2 ulps of float32 (2·2⁻²⁴ ≈ 1.2e-7); 4e-7 leaves room
// for the rounding of the reduction while a wrong coefficient or scaling
// is off by far more.
const exp32Tol = 4e-7

func TestExp32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	xs := []float32{0, -0.0, 1, -1, 0.5, exp32Max - 1e-3, -87, -100, -103, 88, 20, -20}
	for range 100000 {
		xs = append(xs, float32(rng.Float64()*(exp32Max+100)-100)) // [−100, exp32Max)
	}
	for _, x := range xs {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		if want < math.SmallestNonzeroFloat32*(1<<24) {
			// Subnormal result: absolute error of a subnormal ulp.
			assert.InDelta(t, want, got, 2*math.SmallestNonzeroFloat32, "x=%v", x)
			continue
		}
		assert.InEpsilon(t, want, got, exp32Tol, "x=%v", x)
	}
	assert.True(t, math.IsInf(float64(exp32(89)), 1))
	assert.True(t, math.IsInf(float64(exp32(float32(math.Inf(1)))), 1))
	assert.Zero(t, exp32(-104))
	assert.Zero(t, exp32(float32(math.Inf(-1))))
	assert.True(t, math.IsNaN(float64(exp32(float32(math.NaN())))))
}

// TestGeluFloat32 compares the float32 GELU with the float64 one rounded.
func TestGeluFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	n := 50000
	x32, x64 := make([]float32, n), make([]float64, n)
	for i := range x32 {
		x32[i] = float32(rng.NormFloat64() * 4)
		x64[i] = float64(x32[i])
	}
	x32[0], x32[1], x32[2] = 1e30, -1e30, 0
	x64[0], x64[1], x64[2] = 1e30, -1e30, 0
	o32, o64 := make([]float32, n), make([]float64, n)
	geluFwd(o32, x32)
	geluFwd(o64, x64)
	for i := range o32 {
		// Rounding of u, exp32 and the division: a few float32 ulps of
		// the larger of |x| and the result; 1e-6 relative to max(|x|, 1e-3).
		assert.InDelta(t, o64[i], float64(o32[i]), 1e-6*math.Max(math.Abs(x64[i]), 1e-3), "x=%v", x32[i])
	}
}

// BenchmarkExp compares exp32 with math.Exp on the arguments GELU sees.
func BenchmarkExp(b *testing.B) {
	xs := make([]float32, 4096)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range xs {
		xs[i] = float32(rng.NormFloat64() * 4)
	}
	b.Run("exp32", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += exp32(x)
			}
		}
		sink32 = s
	})
	b.Run("exp32s", func(b *testing.B) {
		out := make([]float32, len(xs))
		for b.Loop() {
			exp32s(out, xs)
		}
		sink32 = out[0]
	})
	b.Run("math.Exp", func(b *testing.B) {
		var s float64
		for b.Loop() {
			for _, x := range xs {
				s += math.Exp(float64(x))
			}
		}
		sink32 = float32(s)
	})
}

var sink32 float32

// TestExp32sBitIdentical: the vector exp32s is exp32 bit for bit, on the
// range, the subnormal results, the clamps and NaN, at every length (the
// tail past a multiple of 16 goes through the kernel padded), the special
// values in the whole vectors and in the tails.
func TestExp32sBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, exp32Max, exp32Min, -87.3, -100, -103.9, -104, 88.7, 89,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30, 1e30, -1e30}
	for range 200000 {
		xs = append(xs, float32(rng.Float64()*(exp32Max-exp32Min+20)+exp32Min-10))
	}
	for range 1000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	for _, c := range []struct{ off, n int }{{0, len(xs)}, {0, 15}, {0, 16}, {0, 17}, {0, 33}, {0, 1}, {0, 5}, {12, 7}, {8, 25}} {
		n, in := c.n, xs[c.off:c.off+c.n]
		got := make([]float32, n)
		exp32s(got, in)
		for i, x := range in {
			if want := exp32(x); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: exp32s(%v) = %v (%#x), exp32 %v (%#x)", n, x, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
			}
		}
	}
}
