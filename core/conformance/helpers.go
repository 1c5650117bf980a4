package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/prefopt/prefopt/core"
)

// sizes are the batch sizes the value checks run at.
var sizes = []int{1, 3, 17}

// detachable lists policy inputs an objective may treat as constants (the
// core package documentation's example is KTO's KL reference point built
// from policy_kl_logps): where their true derivative is non-zero the suite
// accepts either that derivative or an all-zero gradient.
var detachable = []string{core.PolicyKLLogps}

// completionLengths are count inputs an objective reads only to average over
// completion tokens (core package documentation), so zero there is bad
// input for every objective that reads them. An objective that does not
// average per token does not read them, and is not asked to refuse zero.
var completionLengths = []string{core.ChosenLengths, core.RejectedLengths, core.Lengths}

type namedBatch struct {
	name string
	b    *core.Batch
	opt  genOptions
}

// randomBatches returns the seeded batches the value checks run on: for each
// size, mixed labels with positive and negative KL estimates and, for sizes
// above 1, all-desirable and all-undesirable batches.
func randomBatches(inputs []string) []namedBatch {
	var out []namedBatch
	for _, n := range sizes {
		opts := []genOptions{
			{labels: labelsMixed, klPositive: false},
			{labels: labelsMixed, klPositive: true},
			{labels: labelsAllDesirable, klPositive: true},
			{labels: labelsAllUndesirable, klPositive: false},
		}
		for k, opt := range opts {
			rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
			out = append(out, namedBatch{
				name: fmt.Sprintf("n=%d/batch=%d", n, k),
				b:    generate(rng, inputs, n, opt),
				opt:  opt,
			})
		}
	}
	return out
}

// zeroLength sets count input name to 0 at example i, and empties the
// per-token arrays it gives the length of, so shapes stay consistent.
func zeroLength(b *core.Batch, inputs []string, name string, i int) {
	(*b.Counts(name))[i] = 0
	for _, in := range inputs {
		if f, _ := core.LookupField(in); f.Kind == core.TokenFloat && f.Lengths == name {
			(*b.Tokens(in))[i] = []float64{}
		}
	}
}

func setNil(b *core.Batch, name string) {
	if p := b.Floats(name); p != nil {
		*p = nil
	}
	if p := b.Tokens(name); p != nil {
		*p = nil
	}
	if p := b.Counts(name); p != nil {
		*p = nil
	}
	if p := b.Bools(name); p != nil {
		*p = nil
	}
}

func truncate(b *core.Batch, name string) { truncateTo(b, name, b.Len(name)-1) }

// truncateTo keeps the first k elements of the named input, non-nil.
func truncateTo(b *core.Batch, name string, k int) {
	if p := b.Floats(name); p != nil {
		*p = append([]float64{}, (*p)[:k]...)
	}
	if p := b.Tokens(name); p != nil {
		*p = append([][]float64{}, (*p)[:k]...)
	}
	if p := b.Counts(name); p != nil {
		*p = append([]int64{}, (*p)[:k]...)
	}
	if p := b.Bools(name); p != nil {
		*p = append([]bool{}, (*p)[:k]...)
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allZero(xs []float64) bool {
	for _, x := range xs {
		if x != 0 {
			return false
		}
	}
	return true
}

func maxAbs(xs ...float64) float64 {
	var m float64
	for _, x := range xs {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

func bits(xs []float64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = math.Float64bits(x)
	}
	return out
}
