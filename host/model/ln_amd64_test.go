package model

// vectorModes lists the settings of the vector kernels to test: off and,
// if the CPU has AVX-512, on.
func vectorModes() []bool {
	if haveAVX512 {
		return []bool{false, true}
	}
	return []bool{false}
}

// setVectorKernels turns the AVX-512 kernels off, or on again if the CPU
// has them.
var setVectorKernels = func() func(on bool) {
	has := haveAVX512
	return func(on bool) { haveAVX512 = on && has }
}()
