package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveGemm is C = alpha·op(A)·op(B) + beta·C by the definition, in float64.
func naiveGemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) []float64 {
	out := make([]float64, len(c))
	copy(out, c)
	for i := range m {
		for j := range n {
			s := 0.0
			for p := range k {
				var av, bv float64
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				out[i*ldc+j] = alpha * s
			} else {
				out[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	const (
		// tol64: sums of ≤ 1100 products of O(1) values in another order.
		tol64 = 1e-12
		// tol32: float32 has 6e-8 relative precision; 1100-term sums of
		// O(1) terms of both signs stay well below 1e-4.
		tol32 = 1e-4
	)
	cases := []struct {
		name        string
		m, n, k     int
		tA, tB      bool
		alpha, beta float64
	}{
		{"tiny uses fallback", 3, 4, 5, false, false, 1, 0},
		{"edges NN", 37, 29, 41, false, false, 1, 0},
		{"edges TN", 37, 29, 41, true, false, 0.5, 1},
		{"edges NT", 37, 29, 41, false, true, -1, 2},
		{"edges TT", 13, 50, 7, true, true, 2, 0.25},
		{"k blocks", 20, 18, 2*gemmKC + 76, false, false, 1, 1},
		{"n blocks", 20, 300, 30, true, false, 1, 0},
		{"parallel", 130, 70, 300, false, true, 1, 0},
		// n > gemmNC and lda > 512: op(A) packed once per k block for all
		// column blocks.
		{"n and k blocks NN", 40, 300, gemmKC + 8, false, false, 1, 0},
		{"n and k blocks TN", 40, 300, gemmKC + 8, true, false, 0.5, 2},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 7))
			lda, ldb, ldc := c.k+3, c.n+1, c.n+2
			if c.tA {
				lda = c.m + 3
			}
			if c.tB {
				ldb = c.k + 1
			}
			rowsA, rowsB := c.m, c.k
			if c.tA {
				rowsA = c.k
			}
			if c.tB {
				rowsB = c.n
			}
			a := make([]float64, rowsA*lda)
			b := make([]float64, rowsB*ldb)
			cm := make([]float64, c.m*ldc)
			for _, s := range [][]float64{a, b, cm} {
				for i := range s {
					s[i] = rng.NormFloat64()
				}
			}
			if c.beta == 0 {
				for i := range cm {
					cm[i] = math.NaN() // beta = 0 must ignore C
				}
			}
			want := naiveGemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, cm, ldc)

			c64 := append([]float64(nil), cm...)
			gemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, c64, ldc)
			a32, b32, c32 := f32(a), f32(b), f32(cm)
			gemm(c.tA, c.tB, c.m, c.n, c.k, float32(c.alpha), a32, lda, b32, ldb, float32(c.beta), c32, ldc)
			for i := range c.m {
				for j := range ldc {
					at := i*ldc + j
					if j >= c.n { // outside op(A)·op(B): untouched
						assert.Equal(t, math.Float64bits(cm[at]), math.Float64bits(c64[at]), "c[%d][%d] padding", i, j)
						continue
					}
					require.True(t, isFinite(c64[at]) && isFinite(float64(c32[at])), "c[%d][%d]: %v %v", i, j, c64[at], c32[at])
					assert.InDelta(t, want[at], c64[at], tol64, "float64 c[%d][%d]", i, j)
					assert.InDelta(t, want[at], float64(c32[at]), tol32*math.Max(1, math.Abs(want[at])), "float32 c[%d][%d]", i, j)
				}
			}
		})
	}
}

func f32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// TestGemmRowIndependent checks the reduction-order contract the model's
// exactness rests on: with alpha 1 and beta 0 or 1, row i of C is the same
// bits whether computed alone, among m rows, or at another place in a
// differently sized product, on the kernel and the fallback paths, with k
// over one or several gemmKC blocks, in float32 and float64.
func TestGemmRowIndependent(t *testing.T) {
	cases := []struct {
		name    string
		m, n, k int
		beta    float64
		wantKer bool // n·k ≥ gemmMinWork: the packed kernels when present
	}{
		{"fallback", 37, 7, 9, 0, false},
		{"fallback accumulate", 37, 7, 9, 1, false},
		// 300 rows: gonum splits the product over goroutines.
		{"fallback parallel", 300, 30, 16, 0, false},
		// 37 rows: 6 full panels of gemmMR and a tail of 1.
		{"kernel", 37, 40, 33, 0, true},
		{"kernel two k blocks", 37, 24, gemmKC + 44, 0, true},
		{"kernel three k blocks accumulate", 37, 17, 2*gemmKC + 76, 1, true},
		{"kernel parallel", 300, 64, 128, 0, true},
	}
	for ci, c := range cases {
		require.Equal(t, c.wantKer, c.n*c.k >= gemmMinWork, c.name)
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			m := c.m
			a64, b64, c64 := make([]float64, m*c.k), make([]float64, c.k*c.n), make([]float64, m*c.n)
			for _, s := range [][]float64{a64, b64, c64} {
				for i := range s {
					s[i] = rng.NormFloat64()
				}
			}
			t.Run("float32", func(t *testing.T) { gemmRowsCheck(t, f32(a64), f32(b64), f32(c64), m, c.n, c.k, float32(c.beta)) })
			t.Run("float64", func(t *testing.T) { gemmRowsCheck(t, a64, b64, c64, m, c.n, c.k, c.beta) })
		})
	}
}

func gemmRowsCheck[F float32 | float64](t *testing.T, a, b, c0 []F, m, n, k int, beta F) {
	all := append([]F(nil), c0...)
	gemm(false, false, m, n, k, 1, a, k, b, n, beta, all, n)
	for i := range m {
		one := append([]F(nil), c0[i*n:(i+1)*n]...)
		gemm(false, false, 1, n, k, 1, a[i*k:(i+1)*k], k, b, n, beta, one, n)
		// Row i placed at row (i+5) mod 13 of a 13-row product whose other
		// rows are rows of a in another order.
		const m2 = 13
		at := (i + 5) % m2
		a2, c2 := make([]F, m2*k), make([]F, m2*n)
		for r := range m2 {
			src := (r * 7) % m
			if r == at {
				src = i
			}
			copy(a2[r*k:(r+1)*k], a[src*k:(src+1)*k])
			copy(c2[r*n:(r+1)*n], c0[src*n:(src+1)*n])
		}
		gemm(false, false, m2, n, k, 1, a2, k, b, n, beta, c2, n)
		for j := range n {
			want := all[i*n+j]
			require.False(t, math.IsNaN(float64(want)), "c[%d][%d]", i, j)
			require.Equal(t, want, one[j], "row %d alone, column %d", i, j)
			require.Equal(t, want, c2[at*n+j], "row %d at row %d of %d, column %d", i, at, m2, j)
		}
	}
}

// TestGemmFixed checks gemmFixed's contract: an element is the same bits
// whatever m and n, and trailing zero terms (A's row extended by zeros, B
// by arbitrary rows) change nothing; with op(B) transposed too.
func TestGemmFixed(t *testing.T) { testGemmFixed(t) }

func testGemmFixed(t *testing.T) {
	// tol32: float32 sums of ≤ 600 O(1) products, as in TestGemm.
	const tol32 = 1e-4
	for ci, c := range []struct {
		name    string
		m, n, k int
		tB      bool
	}{
		{"small", 5, 3, 4, false},
		{"scores", 20, 20, 16, true},
		{"values over two k blocks", 9, 16, gemmKC + 44, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 5))
			const pad = 7 // zero terms appended to k
			kk := c.k + pad
			a := make([]float32, c.m*kk) // rows of kk: k values, then zeros
			for i := range c.m {
				for p := range c.k {
					a[i*kk+p] = float32(rng.NormFloat64())
				}
			}
			b := make([]float32, kk*c.n) // op(B) [kk, n], stored [n, kk] when tB
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			bAt := func(p, j int) float32 {
				if c.tB {
					return b[j*kk+p]
				}
				return b[p*c.n+j]
			}
			ldb := c.n
			if c.tB {
				ldb = kk
			}
			full := make([]float32, c.m*c.n)
			gemmFixed(false, c.tB, c.m, c.n, c.k, a, kk, b, ldb, full, c.n)
			padded := make([]float32, c.m*c.n)
			gemmFixed(false, c.tB, c.m, c.n, kk, a, kk, b, ldb, padded, c.n)
			for i := range c.m {
				for j := range c.n {
					want := full[i*c.n+j]
					ref := 0.0
					for p := range c.k {
						ref += float64(a[i*kk+p]) * float64(bAt(p, j))
					}
					require.InDelta(t, ref, float64(want), tol32*math.Max(1, math.Abs(ref)), "c[%d][%d]", i, j)
					require.Equal(t, want, padded[i*c.n+j], "c[%d][%d] with %d zero terms", i, j, pad)
					one := make([]float32, 1)
					col := b[j:]
					if c.tB {
						col = b[j*kk:]
					}
					gemmFixed(false, c.tB, 1, 1, c.k, a[i*kk:], kk, col, ldb, one, 1)
					require.Equal(t, want, one[0], "c[%d][%d] alone", i, j)
				}
			}
		})
	}
}

// TestFMAGemm64MatchesKernel: fmaGemm64 stands in for the float64 kernel
// on short products, so it must give the kernel's bits.
func TestFMAGemm64MatchesKernel(t *testing.T) {
	if !haveGemmKernels {
		t.Skip("no kernel on this CPU")
	}
	for ci, c := range []struct {
		name    string
		m, n, k int
		tA, tB  bool
	}{
		{"NN", 5, 13, 40, false, false},
		{"NT scores", 3, 9, 16, false, true},
		{"TN", 4, 7, 11, true, false},
		{"three k blocks", 2, 10, 2*gemmKC + 76, false, false},
		{"full panels", 13, 17, 300, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 9))
			a, b := make([]float64, c.m*c.k), make([]float64, c.k*c.n)
			for _, s := range [][]float64{a, b} {
				for i := range s {
					s[i] = rng.NormFloat64()
				}
			}
			lda, ldb := c.k, c.n
			if c.tA {
				lda = c.m
			}
			if c.tB {
				ldb = c.k
			}
			want, got := make([]float64, c.m*c.n), make([]float64, c.m*c.n)
			gemmPacked(true, c.tA, c.tB, c.m, c.n, c.k, 1, a, lda, b, ldb, 0, want, c.n)
			fmaGemm64(c.tA, c.tB, c.m, c.n, c.k, a, lda, b, ldb, got, c.n)
			for i := range want {
				require.Equal(t, math.Float64bits(want[i]), math.Float64bits(got[i]), "c[%d]: kernel %v, fma loop %v", i, want[i], got[i])
			}
		})
	}
}

// TestGemmPrePacked: products reading op(B) packed once by prePackB, for
// the first n of its columns, give gemmFixed's and gemmSerial's bits.
func TestGemmPrePacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	const k, wide = 32, 63
	a, b := make([]float32, 50*k), make([]float32, wide*k) // b: [wide, k], op(B) = bᵀ
	for _, s := range [][]float32{a, b} {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	var buf []float32
	pre := prePackB(&buf, b, k, true, wide, k)
	for _, c := range []struct{ m, n int }{{48, 48}, {15, 63}, {5, 17}, {50, 1}} {
		want, got := make([]float32, c.m*c.n), make([]float32, c.m*c.n)
		gemmFixed(false, true, c.m, c.n, k, a, k, b, k, want, c.n)
		gemmFixedPre(false, true, c.m, c.n, k, a, k, b, k, got, c.n, pre)
		for i := range want {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "fixed %d×%d: c[%d]", c.m, c.n, i)
		}
		gemmSerial(false, true, c.m, c.n, k, 0.5, a, k, b, k, 0, want, c.n)
		gemmSerialPre(false, true, c.m, c.n, k, 0.5, a, k, b, k, 0, got, c.n, pre)
		for i := range want {
			require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "serial %d×%d: c[%d]", c.m, c.n, i)
		}
	}
}
