package optim_test

import (
	"fmt"

	"github.com/prefopt/prefopt/host/optim"
)

// A cosine schedule with 2 warmup updates out of 6: the first update uses
// LR(0) = 0, the peak is reached at LR(2), and the rate decays as
// ½(1 + cos(π·(step−2)/4)).
func ExampleSchedule_LR() {
	s, err := optim.NewSchedule("cosine", 1e-3, 2, 6, 0)
	if err != nil {
		panic(err)
	}
	for step := range 7 {
		fmt.Printf("%d %.6f\n", step, s.LR(step)*1e3)
	}
	// Output:
	// 0 0.000000
	// 1 0.500000
	// 2 1.000000
	// 3 0.853553
	// 4 0.500000
	// 5 0.146447
	// 6 0.000000
}

// One AdamW update of a parameter after clipping its gradient.
func ExampleAdamW_Step() {
	opt, err := optim.NewAdamW(optim.Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		panic(err)
	}
	params := []optim.Param{{Name: "w", Data: []float32{1}, Grad: []float32{4}}}
	norm := optim.ClipGradNorm(params, 1)
	opt.Step(params, 0.1) // the first Adam step moves by lr·sign(g)
	fmt.Printf("norm %.0f, w %.4f\n", norm, params[0].Data[0])
	// Output:
	// norm 4, w 0.9000
}
