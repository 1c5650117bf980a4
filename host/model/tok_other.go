//go:build !amd64

package model

// haveTokKernels is false: there are no kernels (a variable, as on amd64,
// so tests can set it).
var haveTokKernels = false

func expLanes8(dst, src *[8]float64) {
	panic("model: no exponential kernel on this architecture")
}

func expLanes32(dst, src *[32]float64) {
	panic("model: no exponential kernel on this architecture")
}

func tokLse8(out *[24]float64, x, w *float32, idx *[8]int32, v, mask int, scr *float64) {
	panic("model: no target log-prob kernel on this architecture")
}

func tokDot8(out *[8]float64, scr *float64, v int, lse *[8]float64) {
	panic("model: no target log-prob kernel on this architecture")
}

func tokGrad8(o, x, w *float32, n int, gi, lse, sw float64) {
	panic("model: no target log-prob kernel on this architecture")
}

func colSums128(o, x *float32, rows, ldx int) {
	panic("model: no column-sum kernel on this architecture")
}

func colSums32(o, x *float32, rows, ldx int) {
	panic("model: no column-sum kernel on this architecture")
}
