package model

import "testing"

// TestWithoutKernels runs the exactness checks with the packed kernels
// switched off, the path of CPUs without AVX2+FMA and of other
// architectures: gemm then calls gonum, gemmFixed runs its plain loop.
func TestWithoutKernels(t *testing.T) {
	if !haveGemmKernels {
		t.Skip("the kernels are off on this CPU: the other tests run this path")
	}
	haveGemmKernels = false
	defer func() { haveGemmKernels = true }()
	t.Run("gemmFixed", testGemmFixed)
	for ci, c := range exactCases[:3] {
		t.Run(c.name, func(t *testing.T) { checkBitIdentical(t, uint64(ci), c, nil) })
	}
}
