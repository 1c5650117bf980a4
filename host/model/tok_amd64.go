package model

import "golang.org/x/sys/cpu"

// haveTokKernels reports whether the AVX-512 target log-prob kernels run:
// they need AVX-512F and VL, and FMA, which math.Exp's amd64 code uses
// whenever the CPU has AVX and FMA (their exponentials copy that path).
var haveTokKernels = haveAVX512 && cpu.X86.HasAVX512VL && cpu.X86.HasAVX && cpu.X86.HasFMA

//go:noescape
func expLanes8(dst, src *[8]float64)

//go:noescape
func expLanes32(dst, src *[32]float64)

//go:noescape
func tokLse8(out *[24]float64, x, w *float32, idx *[8]int32, v, mask int, scr *float64)

//go:noescape
func tokDot8(out *[8]float64, scr *float64, v int, lse *[8]float64)

//go:noescape
func tokGrad8(o, x, w *float32, n int, gi, lse, sw float64)

// Column sums of sum_amd64.s, as colSums64 for 128 and 32 columns.

//go:noescape
func colSums128(o, x *float32, rows, ldx int)

//go:noescape
func colSums32(o, x *float32, rows, ldx int)
