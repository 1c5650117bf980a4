package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWithoutKernels runs the exactness checks with the packed kernels
// switched off, the path of CPUs without AVX2+FMA and of other
// architectures: gemm then calls gonum, gemmFixed runs its plain loop.
func TestWithoutKernels(t *testing.T) {
	if !haveGemmKernels {
		t.Skip("the kernels are off on this CPU: the other tests run this path")
	}
	haveGemmKernels = false
	defer func() { haveGemmKernels = true }()
	t.Run("gemmFixed", testGemmFixed)
	for ci, c := range exactCases[:3] {
		t.Run(c.name, func(t *testing.T) { checkBitIdentical(t, uint64(ci), c, nil) })
	}
}

// TestGemmKernelsAgree: the AVX-512 12×32 and AVX2 6×16 float32 kernels
// compute every element as the same FMA chains, so gemm gives the same
// bits on either, edges, k blocks and transposes included, with B read in
// place (few rows) or packed (more than gemmDirectBRows rows).
func TestGemmKernelsAgree(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	for ci, c := range []struct {
		name    string
		m, n, k int
		tA, tB  bool
		beta    float32
	}{
		{"edges NN", 37, 45, 41, false, false, 0},
		{"edges TN accumulate", 29, 70, 33, true, false, 1},
		{"edges NT scaled", 25, 33, 300, false, true, 0.5},
		{"k and n blocks TT", 40, 300, gemmKC + 8, true, true, 0},
		{"full tiles parallel", 96, 128, gemmKC + 88, false, false, 1},
		{"B packed NN", gemmDirectBRows + 13, 70, 40, false, false, 0},
		{"B packed TN", gemmDirectBRows + 13, 64, 40, true, false, 1},
		{"in place, shifted edges TN", 139, 397, 2*gemmKC + 100, true, false, 0},
		{"in place, shifted edges NN accumulate", 61, 45, gemmKC + 3, false, false, 1},
		{"in place, row split TN", 509, 64, 700, true, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 11))
			a, b, c0 := make([]float32, c.m*c.k), make([]float32, c.k*c.n), make([]float32, c.m*c.n)
			for _, s := range [][]float32{a, b, c0} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			lda, ldb := c.k, c.n
			if c.tA {
				lda = c.m
			}
			if c.tB {
				ldb = c.k
			}
			wide, narrow := append([]float32(nil), c0...), append([]float32(nil), c0...)
			gemm(c.tA, c.tB, c.m, c.n, c.k, 1, a, lda, b, ldb, c.beta, wide, c.n)
			haveAVX512 = false
			defer func() { haveAVX512 = true }()
			gemm(c.tA, c.tB, c.m, c.n, c.k, 1, a, lda, b, ldb, c.beta, narrow, c.n)
			for i := range wide {
				require.False(t, math.IsNaN(float64(wide[i])), "c[%d]", i)
				require.Equal(t, math.Float32bits(narrow[i]), math.Float32bits(wide[i]), "c[%d]: 6×16 %v, 12×32 %v", i, narrow[i], wide[i])
			}
		})
	}
}

// TestGeluBwdVectorBitIdentical: the AVX-512 GELU backward gives the
// scalar loop's bits, small |x| (recomputed σ), zeros, NaN and tails
// included.
func TestGeluBwdVectorBitIdentical(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(12, 12))
	const n = 100003 // not a multiple of 8, and split over the cores
	x, y, dy := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		switch i % 97 {
		case 0:
			x[i] = float32(rng.NormFloat64() * 1e-3)
		case 1:
			x[i] = 0
		default:
			x[i] = float32(rng.NormFloat64() * 3)
		}
		dy[i] = float32(rng.NormFloat64())
	}
	x[5], x[6] = float32(math.NaN()), 1e30
	geluFwd(y, x)
	vec, scalar := make([]float32, n), make([]float32, n)
	geluBwd(vec, x, y, dy)
	haveAVX512 = false
	defer func() { haveAVX512 = true }()
	geluBwd(scalar, x, y, dy)
	for i := range vec {
		if math.Float32bits(vec[i]) != math.Float32bits(scalar[i]) {
			t.Fatalf("x=%v: vector %v, scalar %v", x[i], vec[i], scalar[i])
		}
	}
}

// TestSumRowsVectorBitIdentical: the AVX-512 column sums give the scalar
// loop's bits, at widths with 64-, 16- and single-column parts on each
// core, NaN and infinities included.
func TestSumRowsVectorBitIdentical(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(13, 13))
	for _, d := range []int{1, 16, 95, 384, 1000} {
		const rows = 300
		x := make([]float32, rows*d)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*4))
		}
		x[d/2] = float32(math.NaN())
		x[(rows-1)*d] = float32(math.Inf(1))
		vec, scalar := make([]float32, d), make([]float32, d)
		sumRows(vec, x)
		haveAVX512 = false
		sumRows(scalar, x)
		haveAVX512 = true
		for j := range vec {
			require.Equal(t, math.Float32bits(scalar[j]), math.Float32bits(vec[j]), "d=%d, column %d: vector %v, scalar %v", d, j, vec[j], scalar[j])
		}
	}
}

// TestGeluFwdVectorBitIdentical: the AVX-512 GELU forward gives the scalar
// loop's bits, over whole chunks and their tails, NaN and infinities
// included, in place or not.
func TestGeluFwdVectorBitIdentical(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(14, 14))
	const n = 70001 // not a multiple of 16, and split over the cores
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*2))
	}
	x[3], x[4], x[5] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
	vec, scalar := make([]float32, n), make([]float32, n)
	geluFwd(vec, x)
	inPlace := append([]float32(nil), x...)
	geluFwd(inPlace, inPlace)
	haveAVX512 = false
	defer func() { haveAVX512 = true }()
	geluFwd(scalar, x)
	for i := range vec {
		require.Equal(t, math.Float32bits(scalar[i]), math.Float32bits(vec[i]), "x=%v: vector %v, scalar %v", x[i], vec[i], scalar[i])
		require.Equal(t, math.Float32bits(scalar[i]), math.Float32bits(inPlace[i]), "x=%v in place", x[i])
	}
}

// TestBiasAddVectorBitIdentical: addBias and residual give the scalar
// loops' bits with AVX-512, at widths with and without a tail past a
// multiple of 16, NaN and infinities included.
func TestBiasAddVectorBitIdentical(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(15, 15))
	fill := func(s []float32) {
		for i := range s {
			s[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*8))
		}
	}
	for _, n := range []int{5, 16, 37, 128} {
		const m, k = 7, 3
		y, in, w, bias, x := make([]float32, m*n), make([]float32, m*k), make([]float32, k*n), make([]float32, n), make([]float32, m*n)
		for _, s := range [][]float32{y, in, w, bias, x} {
			fill(s)
		}
		bias[0], x[1], y[n-1] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
		run := func() (ab, res []float32) {
			ab, res = make([]float32, m*n), append([]float32(nil), x...)
			addBias(ab, y, bias)
			residual(res, res, make([]float32, m*n), in, w, bias, m, k, n)
			return ab, res
		}
		vecAB, vecRes := run()
		haveAVX512 = false
		scalarAB, scalarRes := run()
		haveAVX512 = true
		for i := range vecAB {
			require.Equal(t, math.Float32bits(scalarAB[i]), math.Float32bits(vecAB[i]), "n=%d: addBias[%d]", n, i)
			require.Equal(t, math.Float32bits(scalarRes[i]), math.Float32bits(vecRes[i]), "n=%d: residual[%d]", n, i)
		}
	}
}

// TestLayerNormBwdVectorBitIdentical: the LayerNorm gradients give the
// scalar loops' bits with AVX-512, at widths with and without a tail past
// a multiple of 8 and with columns split over the cores.
func TestLayerNormBwdVectorBitIdentical(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(17, 17))
	for _, d := range []int{5, 8, 37, 128} {
		const rows = 300
		x, dy, gain := make([]float32, rows*d), make([]float32, rows*d), make([]float32, d)
		for _, s := range [][]float32{x, dy, gain} {
			for i := range s {
				s[i] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()))
			}
		}
		stats := make([]float64, 2*rows)
		for i := range rows {
			stats[2*i], stats[2*i+1] = rowStats(x[i*d : (i+1)*d])
		}
		run := func() (dx, dg []float32) {
			dx, dg = make([]float32, rows*d), make([]float32, d)
			lnBwdX(dx, x, gain, dy, stats)
			lnBwdGain(dg, x, dy, stats)
			return dx, dg
		}
		vecX, vecG := run()
		haveAVX512 = false
		scalarX, scalarG := run()
		haveAVX512 = true
		for i := range vecX {
			require.Equal(t, math.Float32bits(scalarX[i]), math.Float32bits(vecX[i]), "d=%d: dx[%d]", d, i)
		}
		for i := range vecG {
			require.Equal(t, math.Float32bits(scalarG[i]), math.Float32bits(vecG[i]), "d=%d: dgain[%d]", d, i)
		}
	}
}

// TestSoftmaxVectorBitIdentical: attention's float32 softmax gives the
// scalar loop's bits with AVX-512, at every row length to past 64, with
// zeros of both signs, ties and NaN.
func TestSoftmaxVectorBitIdentical(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(18, 18))
	for n := 1; n <= 70; n++ {
		for trial := range 4 {
			s := make([]float32, n)
			for u := range s {
				s[u] = float32(rng.NormFloat64() * 8)
			}
			switch trial {
			case 1: // the maximum a zero of either sign, the others negative
				for u := range s {
					s[u] = -float32(math.Abs(float64(s[u]))) - 1
				}
				s[rng.IntN(n)] = float32(math.Copysign(0, -1))
				s[rng.IntN(n)] = 0
			case 2:
				s[rng.IntN(n)] = float32(math.NaN())
			case 3: // ties
				for u := range s {
					s[u] = float32(u % 3)
				}
			}
			run := func() []float32 {
				out := make([]float32, n)
				attnSoftmax(out, make([]float64, n), make([]float32, n), s, 0.17677669529663687)
				return out
			}
			vec := run()
			haveAVX512 = false
			scalar := run()
			haveAVX512 = true
			for u := range vec {
				require.Equal(t, math.Float32bits(scalar[u]), math.Float32bits(vec[u]), "n=%d trial %d: out[%d] %v vs %v", n, trial, u, vec[u], scalar[u])
			}
		}
	}
}
