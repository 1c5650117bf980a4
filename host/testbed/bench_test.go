package testbed

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkEvaluatePrompt measures exact evaluation of one prompt (fetching
// two tables, checking and renormalising them, computing rewards and every
// metric) for 4^L completions.
func BenchmarkEvaluatePrompt(b *testing.B) {
	for _, l := range []int{3, 5, 7, 8} {
		task := newTask(b, func(c *Config) { c.CompletionLen, c.EvalPrompts = l, 1 })
		pi := randomTable(task, rand.New(rand.NewPCG(1, 2)), 1)
		ref, err := task.Tabulate(task.Demo())
		if err != nil {
			b.Fatal(err)
		}
		x := task.EvalPrompts()[0]
		b.Run(fmt.Sprintf("completions=%d", task.NumCompletions()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := task.EvaluatePrompt(x, pi, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExact measures the metric computation alone on normalised
// tables.
func BenchmarkExact(b *testing.B) {
	for _, l := range []int{3, 5, 7, 8} {
		task := newTask(b, func(c *Config) { c.CompletionLen, c.EvalPrompts = l, 1 })
		x := task.EvalPrompts()[0]
		pi := randomTable(task, rand.New(rand.NewPCG(1, 2)), 1)
		lp, _ := pi.LogProbs(x)
		lr, _ := task.Demo().LogProbs(x)
		r := task.Rewards(x)
		b.Run(fmt.Sprintf("completions=%d", task.NumCompletions()), func(b *testing.B) {
			for b.Loop() {
				Exact(lp, lr, r, 0.5)
			}
		})
	}
}
