package config_test

import (
	"fmt"
	"strings"

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

// An experiment with [task] takes the built-in comparison's settings for
// what it leaves out, key by key, and Resolved shows every value in effect.
func ExampleExperiment_Resolved() {
	doc := `
[task]
eval_prompts = 8

[optimizer]
weight_decay = 0.01

[[objective]]
name = "dpo"
`
	e, err := config.ParseBuiltin([]byte(doc), "partial")
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Task.EvalPrompts, e.Task.TrainPrompts, e.Task.Seed)
	fmt.Println(e.Optimizer.LR, e.Optimizer.WeightDecay)
	text, err := e.Resolved()
	if err != nil {
		panic(err)
	}
	for _, section := range []string{"[task]", "[tokenizer]", "[data]"} {
		fmt.Println(section, strings.Contains(string(text), "\n"+section+"\n"))
	}
	// Output:
	// 8 64 1
	// 0.001 0.01
	// [task] true
	// [tokenizer] false
	// [data] false
}
