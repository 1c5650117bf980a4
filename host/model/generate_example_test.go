package model_test

import (
	"context"
	"fmt"

	"github.com/prefopt/prefopt/host/model"
)

func ExampleGenerate() {
	w, err := model.New(model.Config{Vocab: 16, Context: 8, Width: 8, Heads: 2, Layers: 1, MLPMult: 2}, 1)
	if err != nil {
		panic(err)
	}
	prompts := [][]int{{1, 2, 3}, {4}}
	s, err := model.Generate(context.Background(), w, prompts, model.SampleOptions{Temperature: 1, MaxTokens: 4, EOS: -1, Seed: 7})
	if err != nil {
		panic(err)
	}
	sc, err := model.NewScorer(w, 2, 2)
	if err != nil {
		panic(err)
	}
	seqs := []model.Seq{{Tokens: s[0].Tokens, From: 3, To: len(s[0].Tokens)}, {Tokens: s[1].Tokens, From: 1, To: len(s[1].Tokens)}}
	scores, err := sc.ScoreAll(seqs)
	if err != nil {
		panic(err)
	}
	for i, x := range s {
		fmt.Println(len(x.Completion()), x.Stop, x.LogProb == scores[i])
	}
	// Output:
	// 4 length true
	// 4 length true
}
