//go:build !amd64

package model

// vectorModes lists the settings of the vector kernels to test: there are
// none on this architecture.
func vectorModes() []bool { return []bool{false} }

// setVectorKernels does nothing: there are no vector kernels to turn on
// or off on this architecture.
func setVectorKernels(bool) {}
