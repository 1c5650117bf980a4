//go:build !amd64

package optim

const haveAdamW8 = false

type adamwConsts struct {
	beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, decay, stepSize, bc2Sqrt float64
}

func adamwApply8(data, grad *float32, ms, vs *float64, n int, h *adamwConsts) float64 {
	panic("optim: no vector AdamW on this architecture")
}
