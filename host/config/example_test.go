package config_test

import (
	"fmt"

	"github.com/prefopt/prefopt/host/config"
)

// Parse fills defaults, expands the sweep and validates.
func ExampleParse() {
	doc := `
[data]
train = "pairs.jsonl"

[train]
steps = 100

[[objective]]
name = "dpo"

[sweep]
param = "beta"
values = [0.1, 0.5]
`
	e, err := config.Parse([]byte(doc), "exp.toml")
	if err != nil {
		panic(err)
	}
	for _, o := range e.Objectives {
		fmt.Println(o.Label, o.Params["beta"], o.Timeout)
	}
	fmt.Println("batch size", e.Train.BatchSize)
	// Output:
	// dpo/beta=0.1 0.1 1m0s
	// dpo/beta=0.5 0.5 1m0s
	// batch size 8
}

// Unknown keys are reported with their line.
func ExampleParse_unknownKey() {
	_, err := config.Parse([]byte("[train]\nbatch_sise = 4\n"), "exp.toml")
	fmt.Println(err)
	// Output:
	// config: exp.toml:2: unknown key train.batch_sise (did you mean train.batch_size?)
}
