package testbed_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/prefopt/prefopt/host/testbed"
)

func Example() {
	task, err := testbed.New(testbed.Defaults())
	if err != nil {
		panic(err)
	}
	// The demonstration generator stands in for a supervised reference;
	// a host passes its model, wrapped once with Tabulate.
	ref := task.Demo()

	pairs, err := task.Pairs(ref, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		panic(err)
	}
	fmt.Println("pairs:", len(pairs), "examples:", len(testbed.Unpaired(pairs)))

	opt, err := task.Optimal(ref, task.Config().Beta)
	if err != nil {
		panic(err)
	}
	rep, err := task.Evaluate(opt, ref)
	if err != nil {
		panic(err)
	}
	base, err := task.Evaluate(ref, ref)
	if err != nil {
		panic(err)
	}
	m := rep.Mean
	fmt.Println("optimum beats reference:", m.J > base.Mean.J, "J = β log Z:", math.Abs(m.J-rep.Beta*m.LogZ) < 1e-9)
	// Output:
	// pairs: 1024 examples: 2048
	// optimum beats reference: true J = β log Z: true
}

// With variable lengths, completions of 0..L symbols are enumerated
// shortest first; those shorter than L end with the EOS id A.
func ExampleTask_Enumerate_variableLength() {
	cfg := testbed.Defaults()
	cfg.Alphabet, cfg.PromptLen, cfg.CompletionLen = 2, 3, 2
	cfg.TrainPrompts, cfg.EvalPrompts = 2, 2
	cfg.VariableLength, cfg.DemoStop = true, 0.25
	task, err := testbed.New(cfg)
	if err != nil {
		panic(err)
	}
	for k, y := range task.Enumerate() {
		fmt.Println(k, y, task.Len(y))
	}
	// Output:
	// 0 [2] 0
	// 1 [0 2] 1
	// 2 [1 2] 1
	// 3 [0 0] 2
	// 4 [0 1] 2
	// 5 [1 0] 2
	// 6 [1 1] 2
}
