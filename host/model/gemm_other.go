//go:build !amd64

package model

const haveGemmKernels = false

func sgemmKernel6x16(k int, a, b, c *float32, ldc int, acc bool) {
	panic("model: no gemm kernel on this architecture")
}
func dgemmKernel6x8(k int, a, b, c *float64, ldc int, acc bool) {
	panic("model: no gemm kernel on this architecture")
}

const haveAVX512 = false

func sgemmKernel12x32(k int, a, b, c *float32, ldc int, acc bool) {
	panic("model: no gemm kernel on this architecture")
}

func exp32x16(dst, src *float32, n int) {
	panic("model: no exp kernel on this architecture")
}

func sgemmKernel12x32A(k int, a, b, c *float32, ldc int, acc bool, lda int) {
	panic("model: no gemm kernel on this architecture")
}

func geluBwd8(o, x, y, dy *float32, n int) {
	panic("model: no GELU kernel on this architecture")
}

func sgemmKernel12x32T(k int, a, b, c *float32, ldc int, acc bool, lda int) {
	panic("model: no gemm kernel on this architecture")
}

func sgemmKernel12x32B(k int, a, b, c *float32, ldc int, acc bool, ldb int) {
	panic("model: no gemm kernel on this architecture")
}

func sgemmKernel12x32AB(k int, a, b, c *float32, ldc int, acc bool, lda, ldb int) {
	panic("model: no gemm kernel on this architecture")
}

func sgemmKernel12x32TB(k int, a, b, c *float32, ldc int, acc bool, lda, ldb int) {
	panic("model: no gemm kernel on this architecture")
}

func colSums64(o, x *float32, rows, ldx int) {
	panic("model: no column-sum kernel on this architecture")
}

func colSums16(o, x *float32, rows, ldx int) {
	panic("model: no column-sum kernel on this architecture")
}

func geluSmall16(x *float32, n int, t float32) int {
	panic("model: no GELU kernel on this architecture")
}

func geluArg16(dst, src *float32, n int, a, nc float32) {
	panic("model: no GELU kernel on this architecture")
}

func geluQuot16(o, x, e *float32, n int) {
	panic("model: no GELU kernel on this architecture")
}

func addRow16(o, y, b *float32, n int) {
	panic("model: no vector add on this architecture")
}

func residualRow16(x, y, b *float32, n int) {
	panic("model: no vector add on this architecture")
}

func lnBwdXRow8(o, x, dy, gain *float32, n int, mu, r, mg, mgx float64) {
	panic("model: no LayerNorm kernel on this architecture")
}

func lnGainRow8(acc *float64, x, dy *float32, n int, mu, r float64) {
	panic("model: no LayerNorm kernel on this architecture")
}

func softmaxScale8(p *float64, s *float32, n int, scale float64) float64 {
	panic("model: no softmax kernel on this architecture")
}

func softmaxShift8(e *float32, p *float64, n int, mx float64) {
	panic("model: no softmax kernel on this architecture")
}

func softmaxDiv8(out, e *float32, n int, z float64) {
	panic("model: no softmax kernel on this architecture")
}
