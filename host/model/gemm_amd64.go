package model

import "golang.org/x/sys/cpu"

// haveGemmKernels reports whether the AVX2+FMA micro-kernels can run; all
// the packed paths need them.
var haveGemmKernels = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func dgemmKernel6x8(k int, a, b, c *float64, ldc int, acc bool)

//go:noescape
func sgemmKernel12x32(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func sgemmKernel12x32A(k int, a, b, c *float32, ldc int, acc bool, lda int)

//go:noescape
func sgemmKernel12x32T(k int, a, b, c *float32, ldc int, acc bool, lda int)

// haveAVX512 reports whether the AVX-512 kernels (float32 gemm 12×32,
// exp32x16) can run.
var haveAVX512 = haveGemmKernels && cpu.X86.HasAVX512F

//go:noescape
func exp32x16(dst, src *float32, n int)

//go:noescape
func geluBwd8(o, x, y, dy *float32, n int)

//go:noescape
func sgemmKernel12x32B(k int, a, b, c *float32, ldc int, acc bool, ldb int)

//go:noescape
func sgemmKernel12x32AB(k int, a, b, c *float32, ldc int, acc bool, lda, ldb int)

//go:noescape
func sgemmKernel12x32TB(k int, a, b, c *float32, ldc int, acc bool, lda, ldb int)

//go:noescape
func colSums64(o, x *float32, rows, ldx int)

//go:noescape
func colSums16(o, x *float32, rows, ldx int)

//go:noescape
func geluSmall16(x *float32, n int, t float32) int

//go:noescape
func geluArg16(dst, src *float32, n int, a, nc float32)

//go:noescape
func geluQuot16(o, x, e *float32, n int)

//go:noescape
func addRow16(o, y, b *float32, n int)

//go:noescape
func residualRow16(x, y, b *float32, n int)

//go:noescape
func lnBwdXRow8(o, x, dy, gain *float32, n int, mu, r, mg, mgx float64)

//go:noescape
func lnGainRow8(acc *float64, x, dy *float32, n int, mu, r float64)

//go:noescape
func softmaxScale8(p *float64, s *float32, n int, scale float64) float64

//go:noescape
func softmaxShift8(e *float32, p *float64, n int, mx float64)

//go:noescape
func softmaxDiv8(out, e *float32, n int, z float64)
