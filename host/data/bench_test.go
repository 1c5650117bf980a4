package data

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prefopt/prefopt/host/tokenizer"
)

// BenchmarkReadAndTokenize reads and tokenizes paired files of growing size;
// compare runs with benchstat.
func BenchmarkReadAndTokenize(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, `{"prompt": "Question %d: what colour is the sky?", "chosen": " It is blue.", "rejected": " It is green."}`+"\n", i)
		}
		in := sb.String()
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				f, err := Read(strings.NewReader(in), "bench.jsonl", ReadOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.PairedSet(tokenizer.NewBytes(), DefaultTruncation()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
