//go:build !amd64

package model

func lnStats2x8(out *float64, xa, xb *float32, d int, eps float64, tmp *float64) {
	panic("model: no LayerNorm kernel on this architecture")
}

func lnNormRow8(y, x, gain, bias *float32, n int, mu, r float64) {
	panic("model: no LayerNorm kernel on this architecture")
}

func lnBwdX8(means *float64, o, x, dy *float32, gain, musr *float64, d, first int) {
	panic("model: no LayerNorm kernel on this architecture")
}

func lnBwdXRow8g(o, x, dy *float32, gain *float64, n int, mu, r, mg, mgx float64) {
	panic("model: no LayerNorm kernel on this architecture")
}

func lnGainRows(acc *float64, x, dy *float32, stats *float64, rows, ld, n int) {
	panic("model: no LayerNorm kernel on this architecture")
}
