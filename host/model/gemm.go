package model

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// Blocking of gemm: per block of kc values of k, op(A) is packed whole in
// panels of mr rows, op(B) kc×nc at a time (≤ 512 KiB of float32, sized
// for L2); the micro-kernel keeps one mr×kc panel of A in L1 and computes
// an mr×nr block of C: 12×32 (float32, AVX-512), 6×16 (float32, AVX2) or
// 6×8 (float64).
const (
	gemmMR = 6 // mr of the AVX2 kernels
	gemmKC = 512
	gemmNC = 256
	// gemmMinWork is the n·k below which gonum's Gemm is used: packing does
	// not pay for tiny products. It does not depend on m, the number of rows,
	// so a row's result does not depend on how many rows share its product.
	gemmMinWork = 1 << 9
	// gemmParWork is the m·min(n, nc)·kc of a block above which packing
	// and row panels are split over the cores.
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
// it): with the packed kernels (n·k ≥ gemmMinWork; AVX-512 or AVX2+FMA,
// which agree bit for bit) element (i, j) is
// C_ij (+)= S_0 + S_1 + … left to right, S_b the FMA chain from 0 over
// p ascending in the b-th block of gemmKC values of k; otherwise it is
// gonum's, which for op(A)·op(B) untransposed adds a_ip·b_pj to C_ij one p
// at a time, ascending. Either way an element depends on row i of op(A),
// column j of op(B) and k only — not on m, on i's place among the rows, on
// n beyond the path choice, or on the number of cores — so a row's result
// never depends on which other rows share its product.
func gemm[F float32 | float64](tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	gemmOn(true, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmRows is gemm with alpha 1 and beta 0 (the same arithmetic) that
// also calls done with ranges [i0, i1) of rows of C, covering 0..m−1
// once, as soon as those rows are final: an elementwise pass over them
// (a bias, a residual add) then runs on the core that computed them,
// while they are in its cache. done must only touch its own rows.
func gemmRows[F float32 | float64](tA, tB bool, m, n, k int, a []F, lda int, b []F, ldb int, c []F, ldc int, done func(i0, i1 int)) {
	if !haveGemmKernels || n*k < gemmMinWork {
		gemmOn(true, tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
		parallelFor(m, n, done)
		return
	}
	gemmPackedPre(true, tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, nil, done)
}

// gemmSerial is gemm on the calling goroutine only, for callers that
// already split their work over the cores, and on the packed kernels
// whatever n·k when they are present: every element is the kernels' sum
// (see gemm), so a product split in blocks of rows or of leading or
// trailing zero terms gives the same values as whole.
func gemmSerial[F float32 | float64](tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if haveGemmKernels {
		gemmPacked(false, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmOn(false, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmOn is gemm, split over the cores if parallel.
func gemmOn[F float32 | float64](parallel, tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	if !haveGemmKernels || n*k < gemmMinWork {
		switch cc := any(c).(type) {
		case []float32:
			gonum.Implementation{}.Sgemm(trans(tA), trans(tB), m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
		case []float64:
			gonum.Implementation{}.Dgemm(trans(tA), trans(tB), m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), cc, ldc)
		}
		return
	}
	gemmPacked(parallel, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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
		gemmPacked(false, tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
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

// prePackB packs op(B) (k×n) by packBPanels into *buf, grown as needed,
// and returns it, or returns nil where gemmFixedPre and gemmSerialPre
// would not read it: without the packed kernels, or past one block of
// k or n.
func prePackB[F float32 | float64](buf *[]F, b []F, ldb int, tB bool, n, k int) []F {
	if !haveGemmKernels || k > gemmKC || n > gemmNC {
		return nil
	}
	nr := gemmNR[F]()
	pre := grow(buf, (n+nr-1)/nr*nr*k)
	packBPanels(pre, b, ldb, tB, n, k)
	return pre
}

// gemmFixedPre is gemmFixed reading op(B), or its first n columns, from
// pre (prePackB), or from b if pre is nil.
func gemmFixedPre[F float32 | float64](tA, tB bool, m, n, k int, a []F, lda int, b []F, ldb int, c []F, ldc int, pre []F) {
	if _, ok := any(c).([]float64); pre == nil || ok && m < gemmMR {
		gemmFixed(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	gemmPackedPre(false, tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, pre, nil)
}

// gemmSerialPre is gemmSerial reading op(B), or its first n columns, from
// pre (prePackB), or from b if pre is nil.
func gemmSerialPre[F float32 | float64](tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int, pre []F) {
	if pre == nil {
		gemmSerial(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmPackedPre(false, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pre, nil)
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

// gemmPacked is gemm on the packed kernels: for each block of gemmKC
// values of k, op(A) is packed once into panels of mr rows (or read in
// place, see gemmDirectOK) and op(B) into panels of nr columns, gemmNC
// columns at a time; each core takes whole row panels and sweeps the
// column panels of the block, the mr×nr tile of C updated by one kernel
// call (the cores split only if parallel). Float32 uses the AVX-512 12×32
// kernel when the CPU has AVX-512F, else the AVX2 6×16 one; float64 the
// AVX2 6×8 one. Every tile is the same FMA chains, so the kernels agree
// bit for bit.
func gemmPacked[F float32 | float64](parallel, tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int) {
	gemmPackedPre(parallel, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, nil)
}

// gemmNR returns the number of columns of a packed panel of op(B) for F.
func gemmNR[F float32 | float64]() int {
	if _, ok := any(F(0)).(float64); ok {
		return 8
	}
	if haveAVX512 {
		return 32
	}
	return 16
}

// packBPanels packs columns 0..n−1 of op(B) (k ≤ gemmKC rows, n ≤
// gemmNC) into dst as gemmPacked would, panel after panel, for
// gemmPackedPre; dst holds at least ⌈n/nr⌉·nr·k values (nr = gemmNR).
func packBPanels[F float32 | float64](dst, b []F, ldb int, tB bool, n, k int) {
	nr := gemmNR[F]()
	for jp := range (n + nr - 1) / nr {
		jb := jp * nr
		packB(dst[jp*k*nr:(jp+1)*k*nr], b, ldb, tB, jb, min(nr, n-jb), nr, 0, k)
	}
}

// gemmPackedPre is gemmPacked with op(B) already packed in pre by
// packBPanels, if pre is not nil (then k ≤ gemmKC and n ≤ gemmNC). The
// packed panels of a wider op(B) serve a product of its first n columns:
// a kernel's columns are independent, and those past n are dropped. If
// done is not nil it is called with ranges [i0, i1) of rows of C, which
// cover 0..m−1 once, as soon as those rows are final, on the goroutine
// that finished them.
func gemmPackedPre[F float32 | float64](parallel, tA, tB bool, m, n, k int, alpha F, a []F, lda int, b []F, ldb int, beta F, c []F, ldc int, pre []F, done func(i0, i1 int)) {
	mr, nr := gemmMR, gemmNR[F]()
	if nr == 32 {
		mr = 12
	}
	if beta != 0 && beta != 1 {
		for i := range m {
			cr := c[i*ldc : i*ldc+n]
			for j := range cr {
				cr[j] *= beta
			}
		}
	}
	if mr == 12 && alpha == 1 && pre == nil && !tB && m >= mr && n >= nr &&
		gemmDirectOK(tA, lda, n) && gemmDirectBOK(m) {
		gemmDirect(parallel, tA, m, n, k, a, lda, b, ldb, beta != 0, c, ldc, done)
		return
	}
	panels := (m + mr - 1) / mr
	// Full 12-row panels of a float32 A with alpha 1 are read in place,
	// unpacked, where that pays (gemmDirectOK); the others are packed.
	direct := 0
	if mr == 12 && alpha == 1 && gemmDirectOK(tA, lda, n) {
		direct = m / mr
	}
	// Full 32-column panels of an untransposed float32 B are read in
	// place, unpacked, when few row panels share them (gemmDirectBOK).
	directB := mr == 12 && !tB && gemmDirectBOK(m) && pre == nil
	sizeA, sizeB := (panels-direct)*mr*gemmKC, gemmKC*gemmNC
	if pre != nil {
		sizeB = 0
	}
	buf := getBuf[F](sizeA + sizeB)
	defer putBuf(buf)
	packedA, packedB := (*buf)[:sizeA], (*buf)[sizeA:]
	// Work per k block and column block, in multiply-adds: below
	// gemmParWork one core does it.
	par := func(items, cost int, f func(lo, hi int)) {
		if !parallel || m*min(n, gemmNC)*min(k, gemmKC) < gemmParWork {
			f(0, items)
			return
		}
		parallelFor(items, cost, f)
	}
	for p0 := 0; p0 < k; p0 += gemmKC {
		kcb := min(gemmKC, k-p0)
		pa := packedA[:(panels-direct)*mr*kcb]
		par(panels-direct, 1<<15, func(lo, hi int) {
			for ip := lo; ip < hi; ip++ {
				i0 := (direct + ip) * mr
				packA(pa[ip*mr*kcb:(ip+1)*mr*kcb], a, lda, tA, alpha, i0, min(mr, m-i0), mr, p0, kcb)
			}
		})
		acc := p0 > 0 || beta != 0
		for j0 := 0; j0 < n; j0 += gemmNC {
			ncb := min(gemmNC, n-j0)
			jPanels := (ncb + nr - 1) / nr
			pb := pre
			if pre == nil {
				pb = packedB
			}
			pb = pb[:jPanels*kcb*nr]
			par(jPanels, 1<<15, func(lo, hi int) {
				if pre != nil {
					return
				}
				for jp := lo; jp < hi; jp++ {
					jb := j0 + jp*nr
					if directB && n-jb >= nr {
						continue
					}
					packB(pb[jp*kcb*nr:(jp+1)*kcb*nr], b, ldb, tB, jb, min(nr, n-jb), nr, p0, kcb)
				}
			})
			par(panels, 1<<15, func(lo, hi int) {
				var tmp [12 * 32]F
				for ip := lo; ip < hi; ip++ {
					i0 := ip * mr
					rows := min(mr, m-i0)
					var pai []F // the packed panel, if not read in place
					if ip >= direct {
						pai = pa[(ip-direct)*mr*kcb : (ip-direct+1)*mr*kcb]
					}
					for jp := range jPanels {
						jb := j0 + jp*nr
						cols := min(nr, n-jb)
						pbj := pb[jp*kcb*nr : (jp+1)*kcb*nr]
						if directB && cols == nr {
							bj := b[p0*ldb+jb:]
							switch {
							case ip < direct:
								kernelAB(tA, kcb, a, lda, i0, p0, bj, ldb, c[i0*ldc+jb:], ldc, acc)
								continue
							case rows == mr:
								kernelB(kcb, pai, bj, ldb, c[i0*ldc+jb:], ldc, acc)
								continue
							default:
								kernelB(kcb, pai, bj, ldb, tmp[:], nr, false)
							}
						} else {
							switch {
							case ip < direct && cols == nr:
								kernelA(tA, kcb, a, lda, i0, p0, pbj, c[i0*ldc+jb:], ldc, acc)
								continue
							case ip < direct:
								kernelA(tA, kcb, a, lda, i0, p0, pbj, tmp[:], nr, false)
							case rows == mr && cols == nr:
								kernel(kcb, mr, pai, pbj, c[i0*ldc+jb:], ldc, acc)
								continue
							default:
								kernel(kcb, mr, pai, pbj, tmp[:], nr, false)
							}
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
					if done != nil && p0+kcb == k && j0+ncb == n {
						done(i0, i0+rows)
					}
				}
			})
		}
	}
}

// gemmDirect is gemmPackedPre on the 12×32 float32 kernel with both
// operands read in place (alpha 1, op(B) untransposed, m ≥ 12, n ≥ 32),
// C added to when acc. Nothing is packed, so the tiles of C are shared
// out once: each core takes a range of column panels (of row panels
// when there are fewer column panels than cores) and sweeps every block of k over its own
// tiles, with no hand-over between blocks. A partial panel at the bottom
// or right edge is the last full-size panel, shifted to end at the
// edge, computed into a scratch tile of which the edge rows and columns
// are kept: every element is still its own FMA chains.
func gemmDirect[F float32 | float64](parallel, tA bool, m, n, k int, a []F, lda int, b []F, ldb int, acc bool, c []F, ldc int, done func(i0, i1 int)) {
	const mr, nr = 12, 32
	rowPanels, colPanels := (m+mr-1)/mr, (n+nr-1)/nr
	tiles := func(r0, r1, j0, j1 int) {
		var tmp [mr * nr]F
		for p0 := 0; p0 < k; p0 += gemmKC {
			kcb := min(gemmKC, k-p0)
			add := acc || p0 > 0
			for jp := j0; jp < j1; jp++ {
				jb := min(jp*nr, n-nr)
				bj := b[p0*ldb+jb:]
				for ip := r0; ip < r1; ip++ {
					i0 := min(ip*mr, m-mr)
					if i0 == ip*mr && jb == jp*nr {
						kernelAB(tA, kcb, a, lda, i0, p0, bj, ldb, c[i0*ldc+jb:], ldc, add)
						continue
					}
					kernelAB(tA, kcb, a, lda, i0, p0, bj, ldb, tmp[:], nr, false)
					dr, dc := ip*mr-i0, jp*nr-jb // rows and columns owned by the panel before
					for r := dr; r < mr; r++ {
						cr := c[(i0+r)*ldc+jb+dc : (i0+r)*ldc+jb+nr]
						tr := tmp[r*nr+dc : r*nr+nr]
						if add {
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
	}
	workers := runtime.GOMAXPROCS(0)
	if !parallel || workers < 2 || m*min(n, gemmNC)*min(k, gemmKC) < gemmParWork {
		tiles(0, rowPanels, 0, colPanels)
		if done != nil {
			done(0, m)
		}
		return
	}
	if done != nil {
		// The cores split the columns: rows are final only at the end.
		defer parallelFor(m, n, done)
	}
	split := colPanels
	if colPanels < workers {
		split = rowPanels
	}
	workers = min(workers, split)
	part := func(w int) {
		lo, hi := split*w/workers, split*(w+1)/workers
		if split == colPanels {
			tiles(0, rowPanels, lo, hi)
		} else {
			tiles(lo, hi, 0, colPanels)
		}
	}
	// One part per core, taken in turn: a core that joins late finds
	// its part done by the others.
	var next atomic.Int64
	run := func() {
		for w := int(next.Add(1) - 1); w < workers; w = int(next.Add(1) - 1) {
			part(w)
		}
	}
	runShared(workers, run)
}

// packA writes alpha times rows i0..i0+rows−1, columns p0..p0+kcb−1 of
// op(A) into dst as kcb groups of mr values (row-interleaved), zero past
// rows.
func packA[F float32 | float64](dst, a []F, lda int, tA bool, alpha F, i0, rows, mr, p0, kcb int) {
	dst = dst[:kcb*mr]
	if rows < mr {
		clear(dst)
	}
	if tA { // op(A)[i][p] = a[p*lda+i]: each p holds the rows contiguously
		if alpha == 1 && rows == 12 && mr == 12 {
			// Through a local array: a few vector moves, where copy
			// calls memmove for 48 bytes.
			for p := range kcb {
				v := *(*[12]F)(a[(p0+p)*lda+i0:])
				*(*[12]F)(dst[p*12:]) = v
			}
			return
		}
		for p := range kcb {
			src := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+rows]
			d := dst[p*mr : p*mr+rows]
			if alpha == 1 {
				copy(d, src)
				continue
			}
			for r, v := range src {
				d[r] = alpha * v
			}
		}
		return
	}
	// Four rows at a time: four streams of A in flight, where one row
	// at a time waits on each cache miss of a row far from the last.
	r := 0
	for ; r+4 <= rows; r += 4 {
		s0 := a[(i0+r)*lda+p0 : (i0+r)*lda+p0+kcb]
		s1 := a[(i0+r+1)*lda+p0 : (i0+r+1)*lda+p0+kcb]
		s2 := a[(i0+r+2)*lda+p0 : (i0+r+2)*lda+p0+kcb]
		s3 := a[(i0+r+3)*lda+p0 : (i0+r+3)*lda+p0+kcb]
		for p := range kcb {
			d := dst[p*mr+r : p*mr+r+4]
			d[0], d[1], d[2], d[3] = alpha*s0[p], alpha*s1[p], alpha*s2[p], alpha*s3[p]
		}
	}
	for ; r < rows; r++ {
		src := a[(i0+r)*lda+p0 : (i0+r)*lda+p0+kcb]
		for p, v := range src {
			dst[p*mr+r] = alpha * v
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
		if cols == 32 && nr == 32 {
			for p := range kcb {
				v := *(*[32]F)(b[(p0+p)*ldb+jb:])
				*(*[32]F)(dst[p*32:]) = v
			}
			return
		}
		for p := range kcb {
			copy(dst[p*nr:p*nr+cols], b[(p0+p)*ldb+jb:(p0+p)*ldb+jb+cols])
		}
		return
	}
	// Four columns at a time: four rows of b read together, four
	// adjacent values written per p.
	j := 0
	for ; j+4 <= cols; j += 4 {
		s0 := b[(jb+j)*ldb+p0 : (jb+j)*ldb+p0+kcb]
		s1 := b[(jb+j+1)*ldb+p0 : (jb+j+1)*ldb+p0+kcb]
		s2 := b[(jb+j+2)*ldb+p0 : (jb+j+2)*ldb+p0+kcb]
		s3 := b[(jb+j+3)*ldb+p0 : (jb+j+3)*ldb+p0+kcb]
		for p := range kcb {
			d := dst[p*nr+j : p*nr+j+4]
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; j < cols; j++ {
		src := b[(jb+j)*ldb+p0 : (jb+j)*ldb+p0+kcb]
		for p, v := range src {
			dst[p*nr+j] = v
		}
	}
}

// kernel computes the mr×nr block c[r*ldc+j] (+)= Σ_p a·b of packed
// panels (mr 12 and nr 32 for the AVX-512 float32 kernel, else 6 and 16
// or 8); the caller guarantees the block lies inside c.
func kernel[F float32 | float64](k, mr int, a, b, c []F, ldc int, acc bool) {
	switch cc := any(c).(type) {
	case []float32:
		if mr == 12 {
			_ = cc[11*ldc+31]
			sgemmKernel12x32(k, &any(a).([]float32)[0], &any(b).([]float32)[0], &cc[0], ldc, acc)
			return
		}
		_ = cc[(gemmMR-1)*ldc+15]
		sgemmKernel6x16(k, &any(a).([]float32)[0], &any(b).([]float32)[0], &cc[0], ldc, acc)
	case []float64:
		_ = cc[(gemmMR-1)*ldc+7]
		dgemmKernel6x8(k, &any(a).([]float64)[0], &any(b).([]float64)[0], &cc[0], ldc, acc)
	}
}

// kernelA is the 12×32 float32 kernel with the panel of rows i0..i0+11,
// columns p0..p0+k−1 of op(A) read in place from a (stride lda); the
// caller guarantees that the block of c lies inside c.
func kernelA[F float32 | float64](tA bool, k int, a []F, lda, i0, p0 int, b, c []F, ldc int, acc bool) {
	a32, b32, c32 := any(a).([]float32), any(b).([]float32), any(c).([]float32)
	_ = c32[11*ldc+31]
	if tA {
		_ = a32[(p0+k-1)*lda+i0+11]
		sgemmKernel12x32T(k, &a32[p0*lda+i0], &b32[0], &c32[0], ldc, acc, lda)
		return
	}
	_ = a32[(i0+11)*lda+p0+k-1]
	sgemmKernel12x32A(k, &a32[i0*lda+p0], &b32[0], &c32[0], ldc, acc, lda)
}

// kernelB is the 12×32 float32 kernel on a packed panel a of op(A) with
// the 32 columns of B read in place from b (stride ldb, the first of the
// k steps at b[0]); the caller guarantees that the blocks of b and c lie
// inside them.
func kernelB[F float32 | float64](k int, a, b []F, ldb int, c []F, ldc int, acc bool) {
	a32, b32, c32 := any(a).([]float32), any(b).([]float32), any(c).([]float32)
	_ = c32[11*ldc+31]
	_ = b32[(k-1)*ldb+31]
	sgemmKernel12x32B(k, &a32[0], &b32[0], &c32[0], ldc, acc, ldb)
}

// kernelAB is kernelA with B read in place as in kernelB.
func kernelAB[F float32 | float64](tA bool, k int, a []F, lda, i0, p0 int, b []F, ldb int, c []F, ldc int, acc bool) {
	a32, b32, c32 := any(a).([]float32), any(b).([]float32), any(c).([]float32)
	_ = c32[11*ldc+31]
	_ = b32[(k-1)*ldb+31]
	if tA {
		_ = a32[(p0+k-1)*lda+i0+11]
		sgemmKernel12x32TB(k, &a32[p0*lda+i0], &b32[0], &c32[0], ldc, acc, lda, ldb)
		return
	}
	_ = a32[(i0+11)*lda+p0+k-1]
	sgemmKernel12x32AB(k, &a32[i0*lda+p0], &b32[0], &c32[0], ldc, acc, lda, ldb)
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

// gemmDirectOK reports whether the 12-row panels of op(A) (stride lda,
// n columns in the product) are read in place by the kernel rather than
// packed. Untransposed, rows 8 KiB apart share L1 sets and evict each
// other, while at lda ≤ 512 the in-place read saves the packing.
// Transposed, each k step's 12 values are contiguous but a step apart in
// memory: that pays while the panel is read by few column panels
// (BenchmarkGemm). The arithmetic is the same either way.
func gemmDirectOK(tA bool, lda, n int) bool { return lda <= 512 && (!tA || n <= 512) }

// gemmDirectBOK reports whether the full 32-column panels of an
// untransposed op(B) are read in place by the kernel rather than packed,
// for a product of m rows: packing B costs a pass over it per block,
// which pays only when many row panels share the packed panel
// (BenchmarkGemm). The arithmetic is the same either way.
func gemmDirectBOK(m int) bool { return m <= gemmDirectBRows }

// gemmDirectBRows is the most rows of a product that reads B in place.
var gemmDirectBRows = 512
