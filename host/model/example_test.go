package model_test

import (
	"fmt"
	"log"

	"github.com/prefopt/prefopt/host/model"
)

// A preference step: policy and reference log-probs of the chosen (row 0)
// and rejected (row 1) completions after a two-token prompt, the
// objective's gradient fed back, and the parameter gradients read.
func Example() {
	cfg := model.Config{Vocab: 16, Context: 8, Width: 16, Heads: 2, Layers: 1, MLPMult: 4}
	policy, err := model.New(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := model.NewScorer(policy.Clone(), 2, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer ref.Close()
	run, err := model.NewRunner(policy, 2, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer run.Close()

	batch := &model.Batch{
		Rows: [][]int{{3, 4, 5, 6, 7}, {3, 4, 9, 9}},
		Spans: []model.Span{
			{Out: 0, Row: 0, From: 2, To: 5}, // chosen completion: tokens 2..4
			{Out: 1, Row: 1, From: 2, To: 4}, // rejected completion: tokens 2..3
		},
	}
	refLogps, err := ref.Score(batch)
	if err != nil {
		log.Fatal(err)
	}
	logps, err := run.Forward(batch)
	if err != nil {
		log.Fatal(err)
	}
	// An objective would compute g = ∂L/∂logps from logps and refLogps.
	g := []float64{-0.5, 0.5}
	if err := run.Backward(g); err != nil {
		log.Fatal(err)
	}
	grads := run.Grads()
	fmt.Println(len(logps), len(refLogps), len(grads["head.weight"]))
	run.ZeroGrads()
	// Output: 2 2 256
}
