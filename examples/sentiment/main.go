// Command sentiment runs the controlled-sentiment experiment of the DPO
// paper in miniature (see docs/sentiment.md):
//
//	go run ./examples/sentiment [--quick] [--out DIR] [--seed S]
//
// It needs Debian's fortunes package (apt-get install -y fortunes); the
// AFINN-165 word list is vendored next to this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"

	"github.com/prefopt/prefopt/host/sentiment"
)

func main() {
	quick := flag.Bool("quick", false, "the small variant (a few minutes) instead of the full one (about 30 minutes on 2 cores)")
	out := flag.String("out", "runs/sentiment", "run directory")
	seed := flag.Uint64("seed", 1, "seed of every random choice")
	fortunes := flag.String("fortunes", sentiment.DefaultFortunes, "directory of the fortune files")
	afinn := flag.String("afinn", defaultAFINN(), "AFINN-165 word list (JSON)")
	flag.Parse()
	p := sentiment.Full()
	if *quick {
		p = sentiment.Quick()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := sentiment.Run(ctx, sentiment.Options{Dir: *out, Fortunes: *fortunes, AFINN: *afinn, Seed: *seed, Profile: p, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s\n%s\n", filepath.Join(*out, "summary.json"), filepath.Join(*out, "report.html"))
	_ = s
}

// defaultAFINN is the vendored word list next to this source file.
func defaultAFINN() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "examples/sentiment/afinn-165/afinn-165.json"
	}
	return filepath.Join(filepath.Dir(file), "afinn-165", "afinn-165.json")
}
