package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/host/model"
)

// tinyCfg keeps graph building and every step in the millisecond range.
var tinyCfg = model.Config{Vocab: 12, Context: 10, Width: 8, Heads: 2, Layers: 1, MLPMult: 2}

func newWeights(t *testing.T, cfg model.Config, seed uint64) *model.Weights {
	t.Helper()
	w, err := model.New(cfg, seed)
	require.NoError(t, err)
	return w
}

// pairedData draws n pairs over vocab tokens 1..vocab−1 with BOS 0: a prompt
// of 1 to 3 tokens (BOS first), a chosen completion that counts up from the
// last prompt token and a random rejected one, each of 2 to 4 tokens, so a
// model can learn to prefer the chosen. Rows fit a context of 10.
func pairedData(seed uint64, n, vocab int) *data.PairedSet {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &data.PairedSet{}
	for i := range n {
		prompt := []int{0}
		for range rng.IntN(3) {
			prompt = append(prompt, 1+rng.IntN(vocab-1))
		}
		c, r := append([]int(nil), prompt...), append([]int(nil), prompt...)
		last := prompt[len(prompt)-1]
		for k := range 2 + rng.IntN(3) {
			c = append(c, 1+(last+k)%(vocab-1))
		}
		for range 2 + rng.IntN(3) {
			r = append(r, 1+rng.IntN(vocab-1))
		}
		s.Chosen = append(s.Chosen, data.Row{Tokens: c, PromptLen: len(prompt)})
		s.Rejected = append(s.Rejected, data.Row{Tokens: r, PromptLen: len(prompt)})
		s.Source = append(s.Source, data.Source{File: "pairs.jsonl", Line: i + 1})
	}
	return s
}

// testJob is a short run on pairs with AdamW and a warmed-up cosine
// schedule, logging every step.
func testJob(obj core.Objective, init *model.Weights, set *data.PairedSet, steps int) Job {
	return Job{
		Label:     "test",
		Objective: obj,
		Init:      init,
		Train:     Set{Paired: set},
		Optimizer: Optimizer{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1},
		Loop:      Loop{Steps: steps, BatchSize: 4, Schedule: "cosine", WarmupSteps: 2, LogEvery: 1},
		Seed:      7,
	}
}

// sameBits reports whether a and b hold bit-identical values and, if not,
// the first differing parameter.
func sameBits(a, b *model.Weights) (bool, string) {
	if a.Config() != b.Config() {
		return false, "config"
	}
	for _, name := range a.Names() {
		x, y := a.Data(name), b.Data(name)
		if len(x) != len(y) {
			return false, name
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false, name
			}
		}
	}
	return true, ""
}

func requireSameBits(t *testing.T, want, got *model.Weights, msg string) {
	t.Helper()
	ok, name := sameBits(want, got)
	require.True(t, ok, "%s: weights differ (first at %s)", msg, name)
}
