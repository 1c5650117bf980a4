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

// haveAVX512Gemm reports whether the float32 AVX-512 12×32 kernel can run.
var haveAVX512Gemm = haveGemmKernels && cpu.X86.HasAVX512F
