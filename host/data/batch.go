package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// BatchOptions controls [Batches].
type BatchOptions struct {
	Size       int    // examples per batch, > 0
	Seed       uint64 // shuffling seed
	DropLast   bool   // drop a last batch smaller than Size (default: keep it)
	Sequential bool   // keep the examples in order (evaluation)
}

// Batches returns the batches of epoch (0-based) for n examples: slices of
// indices into the data set. The order of epoch e is
// rand.New(rand.NewPCG(Seed, e)).Perm(n) (math/rand/v2), cut into
// consecutive batches of Size; with Sequential it is 0, 1, …, n−1. The same
// n, epoch and options always give the same batches. It fails if Size < 1,
// epoch < 0, n < 1, or DropLast leaves no batch.
func Batches(n, epoch int, opt BatchOptions) ([][]int, error) {
	switch {
	case opt.Size < 1:
		return nil, fmt.Errorf("data: batch size must be >= 1, got %d", opt.Size)
	case epoch < 0:
		return nil, fmt.Errorf("data: epoch must be >= 0, got %d", epoch)
	case n < 1:
		return nil, fmt.Errorf("data: no examples to batch")
	case opt.DropLast && n < opt.Size:
		return nil, fmt.Errorf("data: %d examples make no full batch of %d and the last batch is dropped", n, opt.Size)
	}
	var order []int
	if opt.Sequential {
		order = make([]int, n)
		for i := range order {
			order[i] = i
		}
	} else {
		order = rand.New(rand.NewPCG(opt.Seed, uint64(epoch))).Perm(n)
	}
	var out [][]int
	for lo := 0; lo < n; lo += opt.Size {
		hi := min(lo+opt.Size, n)
		if hi-lo < opt.Size && opt.DropLast {
			break
		}
		out = append(out, order[lo:hi:hi])
	}
	return out, nil
}

// splitStream is the second PCG seed word of Split ("split" in ASCII), kept
// far from the epoch numbers Batches uses.
const splitStream = 0x73706c6974 << 16

// Split holds out ⌈evalFraction·n⌉ of n examples for evaluation (the
// rounding of the test size of Hugging Face datasets' train_test_split). The
// held-out examples are the first of rand.New(rand.NewPCG(seed,
// splitStream)).Perm(n); both index lists are returned sorted. evalFraction
// must be in [0, 1) and leave at least one training example.
func Split(n int, evalFraction float64, seed uint64) (train, eval []int, err error) {
	if !(evalFraction >= 0 && evalFraction < 1) {
		return nil, nil, fmt.Errorf("data: eval fraction must be in [0, 1), got %v", evalFraction)
	}
	if n < 1 {
		return nil, nil, fmt.Errorf("data: no examples to split")
	}
	k := int(math.Ceil(evalFraction * float64(n)))
	if k >= n {
		return nil, nil, fmt.Errorf("data: eval fraction %v of %d examples leaves none for training", evalFraction, n)
	}
	perm := rand.New(rand.NewPCG(seed, splitStream)).Perm(n)
	eval, train = slices.Clone(perm[:k]), slices.Clone(perm[k:])
	slices.Sort(eval)
	slices.Sort(train)
	return train, eval, nil
}
