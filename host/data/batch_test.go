package data

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func flatten(bs [][]int) []int {
	var out []int
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func sizes(bs [][]int) []int {
	var out []int
	for _, b := range bs {
		out = append(out, len(b))
	}
	return out
}

func TestBatches(t *testing.T) {
	tests := []struct {
		name      string
		n, epoch  int
		opt       BatchOptions
		wantSizes []int
	}{
		{"keep last", 10, 0, BatchOptions{Size: 4, Seed: 7}, []int{4, 4, 2}},
		{"drop last", 10, 0, BatchOptions{Size: 4, Seed: 7, DropLast: true}, []int{4, 4}},
		{"exact", 8, 3, BatchOptions{Size: 4, Seed: 7, DropLast: true}, []int{4, 4}},
		{"one batch", 3, 1, BatchOptions{Size: 5}, []int{3}},
		{"sequential", 5, 2, BatchOptions{Size: 2, Sequential: true}, []int{2, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs, err := Batches(tc.n, tc.epoch, tc.opt)
			require.NoError(t, err)
			assert.Equal(t, tc.wantSizes, sizes(bs))
			flat := flatten(bs)
			// The documented order: a PCG(seed, epoch) permutation, or 0..n−1.
			var want []int
			if tc.opt.Sequential {
				want = seq(0, tc.n-1)
			} else {
				want = rand.New(rand.NewPCG(tc.opt.Seed, uint64(tc.epoch))).Perm(tc.n)
			}
			assert.Equal(t, want[:len(flat)], flat)
			again, err := Batches(tc.n, tc.epoch, tc.opt)
			require.NoError(t, err)
			assert.Equal(t, bs, again, "same seed and epoch, same batches")
		})
	}
}

func TestBatchesVaryBySeedAndEpoch(t *testing.T) {
	const n = 50
	base, err := Batches(n, 0, BatchOptions{Size: 8, Seed: 1})
	require.NoError(t, err)
	otherEpoch, err := Batches(n, 1, BatchOptions{Size: 8, Seed: 1})
	require.NoError(t, err)
	otherSeed, err := Batches(n, 0, BatchOptions{Size: 8, Seed: 2})
	require.NoError(t, err)
	assert.NotEqual(t, flatten(base), flatten(otherEpoch))
	assert.NotEqual(t, flatten(base), flatten(otherSeed))
	for _, bs := range [][][]int{base, otherEpoch, otherSeed} {
		flat := flatten(bs)
		slices.Sort(flat)
		assert.Equal(t, seq(0, n-1), flat, "every example exactly once")
	}
}

func TestBatchesErrors(t *testing.T) {
	tests := []struct {
		name     string
		n, epoch int
		opt      BatchOptions
		wantErr  string
	}{
		{"zero size", 5, 0, BatchOptions{}, "data: batch size must be >= 1, got 0"},
		{"negative epoch", 5, -1, BatchOptions{Size: 2}, "data: epoch must be >= 0, got -1"},
		{"no examples", 0, 0, BatchOptions{Size: 2}, "data: no examples to batch"},
		{"drop leaves nothing", 3, 0, BatchOptions{Size: 4, DropLast: true},
			"data: 3 examples make no full batch of 4 and the last batch is dropped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Batches(tc.n, tc.epoch, tc.opt)
			assert.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		frac     float64
		wantEval int
	}{
		{"none", 10, 0, 0},
		{"tenth", 10, 0.1, 1},
		{"rounds up", 10, 0.11, 2},
		{"small fraction still one", 100, 0.001, 1},
		{"most", 10, 0.9, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			train, eval, err := Split(tc.n, tc.frac, 42)
			require.NoError(t, err)
			assert.Len(t, eval, tc.wantEval)
			assert.Len(t, train, tc.n-tc.wantEval)
			assert.True(t, slices.IsSorted(train) && slices.IsSorted(eval))
			all := append(slices.Clone(train), eval...)
			slices.Sort(all)
			assert.Equal(t, seq(0, tc.n-1), all, "a partition")
			perm := rand.New(rand.NewPCG(42, splitStream)).Perm(tc.n)
			wantEval := slices.Clone(perm[:tc.wantEval])
			slices.Sort(wantEval)
			assert.Equal(t, wantEval, eval)
			train2, eval2, err := Split(tc.n, tc.frac, 42)
			require.NoError(t, err)
			assert.Equal(t, train, train2)
			assert.Equal(t, eval, eval2)
		})
	}
	_, eval1, err := Split(100, 0.2, 1)
	require.NoError(t, err)
	_, eval2, err := Split(100, 0.2, 2)
	require.NoError(t, err)
	assert.NotEqual(t, eval1, eval2, "the seed matters")
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		frac    float64
		wantErr string
	}{
		{"negative", 10, -0.1, "data: eval fraction must be in [0, 1), got -0.1"},
		{"one", 10, 1, "data: eval fraction must be in [0, 1), got 1"},
		{"NaN", 10, nan(), "data: eval fraction must be in [0, 1), got NaN"},
		{"no examples", 0, 0.1, "data: no examples to split"},
		{"nothing left", 2, 0.6, "data: eval fraction 0.6 of 2 examples leaves none for training"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Split(tc.n, tc.frac, 1)
			assert.EqualError(t, err, tc.wantErr)
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}
