//go:build ignore

// kto_gen writes kto.jsonl, the unpaired data of examples/kto.toml: for
// each number 0..24, the prompt "Number N in words:" once with its English
// name (desirable) and once with the name of another number (undesirable),
// in TRL's unpaired format {"prompt", "completion", "label"}. The output is
// fixed: no randomness.
//
// Run from this directory: go run kto_gen.go > kto.jsonl
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

var words = []string{
	"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
	"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
	"seventeen", "eighteen", "nineteen", "twenty", "twenty-one", "twenty-two",
	"twenty-three", "twenty-four",
}

type example struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Label      bool   `json:"label"`
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	n := len(words)
	for i := range n {
		prompt := fmt.Sprintf("Number %d in words:", i)
		// 7 is coprime with 25, so (7i+3) mod 25 visits every number once;
		// a wrong name is shifted by one more when it would be right.
		wrong := (7*i + 3) % n
		if wrong == i {
			wrong = (wrong + 1) % n
		}
		for _, e := range []example{
			{prompt, " " + words[i] + ".", true},
			{prompt, " " + words[wrong] + ".", false},
		} {
			if err := enc.Encode(e); err != nil {
				fmt.Fprintln(os.Stderr, "kto_gen:", err)
				os.Exit(1)
			}
		}
	}
}
