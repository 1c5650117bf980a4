package model

//go:noescape
func lnStats2x8(out *float64, xa, xb *float32, d int, eps float64, tmp *float64)

//go:noescape
func lnNormRow8(y, x, gain, bias *float32, n int, mu, r float64)

//go:noescape
func lnBwdX8(means *float64, o, x, dy *float32, gain, musr *float64, d, first int)

//go:noescape
func lnBwdXRow8g(o, x, dy *float32, gain *float64, n int, mu, r, mg, mgx float64)

//go:noescape
func lnGainRows(acc *float64, x, dy *float32, stats *float64, rows, ld, n int)
