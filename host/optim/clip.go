package optim

import "math"

// clipEps is added to the norm before dividing, as in torch.nn.utils.clip_grad_norm_.
const clipEps = 1e-6

// GradNorm returns the global L2 norm of the gradients of params,
// √(Σ_p Σ_i g_pi²), accumulated in float64. Params with a nil Grad are
// skipped.
func GradNorm(params []Param) float64 {
	var ss float64
	for _, p := range params {
		for _, g := range p.Grad {
			ss += float64(g) * float64(g)
		}
	}
	return math.Sqrt(ss)
}

// ClipGradNorm scales every gradient by min(1, maxNorm/(‖g‖ + 1e-6)) where
// ‖g‖ is the global L2 norm over all params, as torch.nn.utils.clip_grad_norm_
// with norm_type=2, and returns ‖g‖ before clipping. Gradients are only
// multiplied when the factor is < 1. If ‖g‖ is not finite the gradients are
// left unchanged (PyTorch would fill them with NaN) and the caller should
// skip the update. maxNorm <= 0 disables clipping; the norm is still
// returned.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	norm := GradNorm(params)
	if maxNorm <= 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm
	}
	coef := maxNorm / (norm + clipEps)
	if coef >= 1 {
		return norm
	}
	for _, p := range params {
		for i, g := range p.Grad {
			p.Grad[i] = float32(float64(g) * coef)
		}
	}
	return norm
}
