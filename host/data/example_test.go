package data_test

import (
	"fmt"
	"strings"

	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/tokenizer"
)

func ExampleRead() {
	in := `{"chosen": "The sky is blue.", "rejected": "The sky is green."}
{"chosen": "Two plus two is four.", "rejected": "Two plus two is five."}
`
	f, err := data.Read(strings.NewReader(in), "pairs.jsonl", data.ReadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range f.Pairs {
		fmt.Printf("%v %s: %q | %q | %q\n", p.Source, f.Format, p.Prompt, p.Chosen, p.Rejected)
	}
	_, err = data.Read(strings.NewReader(in+`{"prompt": "Hi", "completion": "Hello", "label": 1}`), "pairs.jsonl", data.ReadOptions{})
	fmt.Println(err)
	// Output:
	// pairs.jsonl:1 implicit: "The sky is" | " blue." | " green."
	// pairs.jsonl:2 implicit: "Two plus two is f" | "our." | "ive."
	// pairs.jsonl:3: keys {prompt, completion, label} make a unpaired example but the file is implicit (from line 1)
}

func ExampleNewPairedSet() {
	tok, _ := tokenizer.NewSymbols("ab", tokenizer.BOS, tokenizer.EOS) // a=0 b=1 BOS=2 EOS=3
	pairs := []data.Pair{{Prompt: "aaab", Chosen: "a", Rejected: "bb"}}
	s, err := data.NewPairedSet(pairs, tok, data.Truncation{MaxLength: 6, MaxPromptLength: 3, Mode: data.KeepEnd})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Chosen[0], s.Rejected[0])
	// Output:
	// {[0 0 1 0 3] 3} {[0 0 1 1 1 3] 3}
}

func ExampleUnpairedSet_KLRows() {
	ex := []data.Labeled{
		{Prompt: "Q1", Completion: "A1", Label: true},
		{Prompt: "Q2", Completion: "A2", Label: false},
		{Prompt: "Q3", Completion: "A3", Label: true},
	}
	tok := tokenizer.NewBytes()
	s, _ := data.NewUnpairedSet(ex, tok, data.DefaultTruncation())
	kl, _ := s.KLRows([]int{0, 1, 2})
	for _, r := range kl {
		fmt.Printf("%q + %q\n", tok.Decode(r.Tokens[:r.PromptLen]), tok.Decode(r.Tokens[r.PromptLen:]))
	}
	// Output:
	// "<bos>Q1" + "A3<eos>"
	// "<bos>Q2" + "A1<eos>"
	// "<bos>Q3" + "A2<eos>"
}

func ExampleBatches() {
	for epoch := range 2 {
		bs, _ := data.Batches(5, epoch, data.BatchOptions{Size: 2, Seed: 1})
		fmt.Println(len(bs), len(bs[2]))
	}
	// Output:
	// 3 1
	// 3 1
}
