package model

import (
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// Blocking of gemm: op(B) is packed kc×nc at a time (≤ 256 KiB of float32,
// sized for L2), op(A) one 6×kc panel at a time (L1); the micro-kernel
// computes a 6×16 (float32) or 6×8 (float64) block of C.
const (
	gemmMR = 6
	gemmKC = 256
	gemmNC = 256
	// gemmMinWork is the n·k below which gonum's Gemm is used: packing does
	// not pay for tiny products. It does not depend on m, the number of rows,
	// so a row's result does not depend on how many rows share its product.
	gemmMinWork = 1 << 9
	// gemmParWork is the m·n·kc of a block above which row panels are
	// split over the cores.
	gemmParWork = 1 << 17
)

func init() {
	if haveGemmKernels {
		G.Use(kernelBLAS{})
	}
}

// kernelBLAS is gonum's BLAS with Sgemm and Dgemm replaced by gemm.
type kernelBLAS struct{ gonum.Implementation }

func (kernelBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (kernelBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices with
// BLAS semantics (op(A) is m×k, op(B) k×n; beta = 0 ignores C's old
// values).
//
// Reduction order, for alpha = 1 and beta ∈ {0, 1} (how the model calls
// it): with the AVX2+FMA kernels (n·k ≥ gemmMinWork) element (i, j) is
// C_ij (+)= S_0 + S_1 + … left to right, S_b the FMA chain from 0 over
// p ascending in the b-th block of gemmKC values of k; otherwise it is
// gonum's, which for op(A)·op(B) untransposed adds a_ip·b_pj to C_ij one p
// at a time, ascending. Either way an element depends on row i of op(A),
// column j of op(B) and k only — not on m, on i's place among the rows, on
// n beyond the path choice, or on the number of cores — so a row's result
// never depends on which other rows share its product.
func gemm[F float32 | float64](tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if !haveGemmKernels || n*k < gemmMinWork {
		switch cc := any(c).(type) {
		case []float32:
			gonum.Implementation{}.Sgemm(trans(tA), trans(tB), m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
		case []float64:
			gonum.Implementation{}.Dgemm(trans(tA), trans(tB), m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), cc, ldc)
		}
		return
	}
	gemmPacked(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmFixed is C = op(A)·op(B) (alpha 1, beta 0) computed the same way
// whatever m, n and k: each element is the packed kernels' sum (FMA chains
// over blocks of gemmKC values of k, as for gemm) when they are present,
// else the FMA-free sum Σ_p F(a_ip·b_pj) from 0, p ascending. An element
// therefore depends on its row of op(A), its column of op(B) and k only,
// and trailing zero terms (p past the last non-zero a_ip) leave it
// unchanged. Attention uses it, where n is a number of positions.
func gemmFixed[F float32 | float64](tA, tB bool, m, n, k int, a []F, lda int, b []F, ldb int, c []F, ldc int) {
	if haveGemmKernels {
		if c64, ok := any(c).([]float64); ok && m < gemmMR {
			fmaGemm64(tA, tB, m, n, k, any(a).([]float64), lda, any(b).([]float64), ldb, c64, ldc)
			return
		}
		gemmPacked(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
		return
	}
	for i := range m {
		cr := c[i*ldc : i*ldc+n]
		for j := range cr {
			var s F
			for p := range k {
				var av, bv F
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
				s += F(av * bv)
			}
			cr[j] = s
		}
	}
}

// fmaGemm64 is C = op(A)·op(B) with exactly the float64 kernel's
// arithmetic, without its packing: per element, math.FMA chains from 0
// over blocks of gemmKC values of k, the block sums added left to right. It
// serves products of fewer rows than a kernel panel, which the kernel
// would pad.
func fmaGemm64(tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	sa, sp := lda, 1 // a[i*sa + p*sp]
	if tA {
		sa, sp = 1, lda
	}
	sb, sj := ldb, 1 // b[p*sb + j*sj]
	if tB {
		sb, sj = 1, ldb
	}
	for i := range m {
		cr := c[i*ldc : i*ldc+n]
		j := 0
		// Four columns at a time: four independent FMA chains.
		for ; j+4 <= n; j += 4 {
			var c0, c1, c2, c3 float64
			for p0 := 0; p0 < k; p0 += gemmKC {
				var s0, s1, s2, s3 float64
				for p := p0; p < min(p0+gemmKC, k); p++ {
					av, bp := a[i*sa+p*sp], b[p*sb+j*sj:]
					s0 = math.FMA(av, bp[0], s0)
					s1 = math.FMA(av, bp[sj], s1)
					s2 = math.FMA(av, bp[2*sj], s2)
					s3 = math.FMA(av, bp[3*sj], s3)
				}
				if p0 == 0 {
					c0, c1, c2, c3 = s0, s1, s2, s3
				} else {
					c0, c1, c2, c3 = c0+s0, c1+s1, c2+s2, c3+s3
				}
			}
			cr[j], cr[j+1], cr[j+2], cr[j+3] = c0, c1, c2, c3
		}
		for ; j < n; j++ {
			var cv float64
			for p0 := 0; p0 < k; p0 += gemmKC {
				s := 0.0
				for p := p0; p < min(p0+gemmKC, k); p++ {
					s = math.FMA(a[i*sa+p*sp], b[p*sb+j*sj], s)
				}
				if p0 == 0 {
					cv = s
				} else {
					cv += s
				}
			}
			cr[j] = cv
		}
	}
}

// gemmPacked is gemm on the packed AVX2+FMA kernels.
func gemmPacked[F float32 | float64](tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	nr := 16
	if _, ok := any(c).([]float64); ok {
		nr = 8
	}
	bp := getBuf[F](gemmKC * gemmNC)
	defer putBuf(bp)
	panels := (m + gemmMR - 1) / gemmMR
	for j0 := 0; j0 < n; j0 += gemmNC {
		ncb := min(gemmNC, n-j0)
		jPanels := (ncb + nr - 1) / nr
		for p0 := 0; p0 < k; p0 += gemmKC {
			kcb := min(gemmKC, k-p0)
			// Pack op(B)[p0:p0+kcb, j0:j0+ncb] into column panels of nr,
			// zero-padded past n.
			pb := (*bp)[:jPanels*kcb*nr]
			for jp := range jPanels {
				jb := j0 + jp*nr
				packB(pb[jp*kcb*nr:(jp+1)*kcb*nr], b, ldb, tB, jb, min(nr, n-jb), nr, p0, kcb)
			}
			first := p0 == 0
			work := func(lo, hi int) {
				ap := getBuf[F](gemmKC * gemmMR)
				defer putBuf(ap)
				pa := (*ap)[:kcb*gemmMR]
				var tmp [gemmMR * 16]F
				for ip := lo; ip < hi; ip++ {
					i0 := ip * gemmMR
					rows := min(gemmMR, m-i0)
					// Full float32 panels of a non-transposed A with alpha 1
					// are read in place.
					direct := !tA && alpha == 1 && rows == gemmMR && nr == 16 && gemmDirectOK(lda)
					if !direct {
						packA(pa, a, lda, tA, alpha, i0, rows, p0, kcb)
					}
					for jp := range jPanels {
						jb := j0 + jp*nr
						cols := min(nr, n-jb)
						acc := !first || beta != 0
						if first && beta != 0 && beta != 1 {
							for r := range rows {
								cr := c[(i0+r)*ldc+jb : (i0+r)*ldc+jb+cols]
								for j := range cr {
									cr[j] *= beta
								}
							}
						}
						if direct {
							_ = a[(i0+gemmMR-1)*lda+p0+kcb-1]
							kernelA(kcb, a[i0*lda+p0:], lda, pb[jp*kcb*nr:], tmp[:], c[i0*ldc+jb:], ldc, cols, acc)
							if cols == nr {
								continue
							}
						} else if rows == gemmMR && cols == nr {
							kernel(kcb, pa, pb[jp*kcb*nr:], c[i0*ldc+jb:], ldc, acc)
							continue
						} else {
							kernel(kcb, pa, pb[jp*kcb*nr:], tmp[:], nr, false)
						}
						for r := range rows {
							cr := c[(i0+r)*ldc+jb : (i0+r)*ldc+jb+cols]
							tr := tmp[r*nr : r*nr+cols]
							if acc {
								for j, v := range tr {
									cr[j] += v
								}
							} else {
								copy(cr, tr)
							}
						}
					}
				}
			}
			if m*ncb*kcb < gemmParWork {
				work(0, panels)
			} else {
				parallelFor(panels, 1<<15, work)
			}
		}
	}
}

// packA writes alpha times rows i0..i0+rows−1, columns p0..p0+kcb−1 of
// op(A) into dst as kcb groups of gemmMR values (row-interleaved), zero
// past rows.
func packA[F float32 | float64](dst, a []F, lda int, tA bool, alpha F, i0, rows, p0, kcb int) {
	dst = dst[:kcb*gemmMR]
	if rows < gemmMR {
		clear(dst)
	}
	if tA { // op(A)[i][p] = a[p*lda+i]: each p holds the rows contiguously
		for p := range kcb {
			src := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+rows]
			d := dst[p*gemmMR : p*gemmMR+rows]
			for r, v := range src {
				d[r] = alpha * v
			}
		}
		return
	}
	if rows == gemmMR {
		r0 := a[i0*lda+p0 : i0*lda+p0+kcb]
		r1 := a[(i0+1)*lda+p0 : (i0+1)*lda+p0+kcb]
		r2 := a[(i0+2)*lda+p0 : (i0+2)*lda+p0+kcb]
		r3 := a[(i0+3)*lda+p0 : (i0+3)*lda+p0+kcb]
		r4 := a[(i0+4)*lda+p0 : (i0+4)*lda+p0+kcb]
		r5 := a[(i0+5)*lda+p0 : (i0+5)*lda+p0+kcb]
		for p := range kcb {
			d := dst[p*gemmMR : p*gemmMR+gemmMR]
			d[0], d[1], d[2], d[3], d[4], d[5] = alpha*r0[p], alpha*r1[p], alpha*r2[p], alpha*r3[p], alpha*r4[p], alpha*r5[p]
		}
		return
	}
	for r := range rows {
		src := a[(i0+r)*lda+p0 : (i0+r)*lda+p0+kcb]
		for p, v := range src {
			dst[p*gemmMR+r] = alpha * v
		}
	}
}

// packB writes columns jb..jb+cols−1, rows p0..p0+kcb−1 of op(B) into dst
// as kcb groups of nr values, zero past cols.
func packB[F float32 | float64](dst, b []F, ldb int, tB bool, jb, cols, nr, p0, kcb int) {
	if cols < nr {
		clear(dst[:kcb*nr])
	}
	if !tB { // op(B)[p][j] = b[p*ldb+j]: each p holds the columns contiguously
		for p := range kcb {
			copy(dst[p*nr:p*nr+cols], b[(p0+p)*ldb+jb:(p0+p)*ldb+jb+cols])
		}
		return
	}
	for j := range cols {
		src := b[(jb+j)*ldb+p0 : (jb+j)*ldb+p0+kcb]
		for p, v := range src {
			dst[p*nr+j] = v
		}
	}
}

// kernelA is kernel for float32 with the A panel read in place from rows
// of stride lda. A block with fewer than 16 columns goes to tmp with
// stride 16 instead of c.
func kernelA[F float32 | float64](k int, a []F, lda int, b, tmp, c []F, ldc, cols int, acc bool) {
	a32, b32 := any(a).([]float32), any(b).([]float32)
	if cols == 16 {
		c32 := any(c).([]float32)
		_ = c32[(gemmMR-1)*ldc+15]
		sgemmKernel6x16A(k, &a32[0], &b32[0], &c32[0], ldc, acc, lda)
		return
	}
	t32 := any(tmp).([]float32)
	sgemmKernel6x16A(k, &a32[0], &b32[0], &t32[0], 16, false, lda)
}

// kernel computes the gemmMR×nr block c[r*ldc+j] (+)= Σ_p a·b of packed
// panels; the caller guarantees the block lies inside c.
func kernel[F float32 | float64](k int, a, b, c []F, ldc int, acc bool) {
	switch cc := any(c).(type) {
	case []float32:
		_ = cc[(gemmMR-1)*ldc+15]
		sgemmKernel6x16(k, &any(a).([]float32)[0], &any(b).([]float32)[0], &cc[0], ldc, acc)
	case []float64:
		_ = cc[(gemmMR-1)*ldc+7]
		dgemmKernel6x8(k, &any(a).([]float64)[0], &any(b).([]float64)[0], &cc[0], ldc, acc)
	}
}

var pool32, pool64 sync.Pool

func getBuf[F float32 | float64](n int) *[]F {
	var zero F
	pool := &pool32
	if _, ok := any(zero).(float64); ok {
		pool = &pool64
	}
	if v, ok := pool.Get().(*[]F); ok && cap(*v) >= n {
		*v = (*v)[:n]
		return v
	}
	s := make([]F, n)
	return &s
}

func putBuf[F float32 | float64](v *[]F) {
	var zero F
	if _, ok := any(zero).(float64); ok {
		pool64.Put(v)
		return
	}
	pool32.Put(v)
}

// gemmDirectOK reports whether rows of stride lda float32 values are read
// in place by the kernel rather than packed. Six rows 8 KiB apart share
// L1 sets and evict each other: at lda = 2048 the in-place read runs at
// half the packed speed, while at lda ≤ 512 it saves the packing
// (BenchmarkGemm). The kernel's arithmetic is the same either way.
func gemmDirectOK(lda int) bool { return lda <= 512 }
