package optim

import "golang.org/x/sys/cpu"

// haveAdamW8 reports whether adamwApply8 can run.
var haveAdamW8 = cpu.X86.HasAVX512F

// adamwConsts are adamwApply8's constants, in its order.
type adamwConsts struct {
	beta1, oneMinusBeta1, beta2, oneMinusBeta2, eps, decay, stepSize, bc2Sqrt float64
}

//go:noescape
func adamwApply8(data, grad *float32, ms, vs *float64, n int, h *adamwConsts) float64
