package main

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/host/data"
	"github.com/prefopt/prefopt/objectives/dpo"
)

// valueTol bounds hand-derived values: a few float64 operations on O(1)
// numbers, so a few ulps.
const valueTol = 1e-15

// TestConformanceInProcess runs the shared suite, which draws the score
// columns with score_chosen above score_rejected and checks gradients by
// central differences.
func TestConformanceInProcess(t *testing.T) {
	for _, params := range []map[string]any{nil, {"alpha": 0.5, "beta": 0.5}, {"ratio": true}} {
		conformance.Run(t, core.Local(Definition()), params)
	}
}

// TestConformanceAsPlugin runs the suite through a built plugin binary, so
// the data columns cross the wire.
func TestConformanceAsPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "odpo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	c, err := plugin.Launch(context.Background(), plugin.Config{Path: bin, Label: "odpo", AutoMTLS: true})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "odpo", c.Spec().Name)
	conformance.Run(t, c, map[string]any{"alpha": 2.0})
}

// TestValues checks the loss and gradient against values derived by hand.
// With β = 0.5:
//   - pair 0: h = (−1 − −5) − (−2 − −2) = 4, s_c − s_r = e², so Δ = α·2;
//     α = 1 gives z = 0.5·4 − 2 = 0: loss ln 2, ∂L/∂π_c = −β·σ(0)/N.
//   - pair 1: h = 2, s_c − s_r = 1, so Δ = 0 and z = 1: loss
//     log(1 + e⁻¹), ∂L/∂π_c = −β·σ(−1)/N.
func TestValues(t *testing.T) {
	b := &core.Batch{
		PolicyChosenLogps: []float64{-1, -3}, PolicyRejectedLogps: []float64{-5, -4},
		ReferenceChosenLogps: []float64{-2, -2}, ReferenceRejectedLogps: []float64{-2, -1},
	}
	b.SetColumn(scoreChosen, []float64{3 + math.Exp(2), 7})
	b.SetColumn(scoreRejected, []float64{3, 6})
	obj, _, err := core.Local(Definition()).Configure(context.Background(), map[string]any{"beta": 0.5})
	require.NoError(t, err)
	r, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	require.NoError(t, core.CheckResult(b, obj.Inputs(), r))

	ln2 := math.Ln2
	l1 := math.Log1p(math.Exp(-1))
	sigMinus1 := 1 / (1 + math.E)
	assert.InDelta(t, ln2, r.Losses[0], valueTol)
	assert.InDelta(t, l1, r.Losses[1], valueTol)
	assert.InDelta(t, (ln2+l1)/2, r.Loss, valueTol)
	assert.InDelta(t, -0.5*0.5/2, r.Grads[core.PolicyChosenLogps][0], valueTol)
	assert.InDelta(t, -0.5*sigMinus1/2, r.Grads[core.PolicyChosenLogps][1], valueTol)
	assert.InDelta(t, 0.5*sigMinus1/2, r.Grads[core.PolicyRejectedLogps][1], valueTol)
	assert.InDelta(t, 1, r.Metrics["offset"], valueTol) // (2 + 0)/2
	assert.NotContains(t, r.Grads, scoreChosen, "scores get no gradient")

	// ratio: s_c/s_r = e with α = 2 gives Δ = 2 again for pair 0.
	b.SetColumn(scoreChosen, []float64{2 * math.E, 7})
	b.SetColumn(scoreRejected, []float64{2, 7})
	obj, _, err = core.Local(Definition()).Configure(context.Background(), map[string]any{"beta": 0.5, "alpha": 2.0, "ratio": true})
	require.NoError(t, err)
	r, err = obj.Compute(context.Background(), b)
	require.NoError(t, err)
	assert.InDelta(t, ln2, r.Losses[0], valueTol)
	assert.InDelta(t, l1, r.Losses[1], valueTol) // s_c = s_r: log 1 = 0
}

// TestAlphaZeroIsDPO compares with the built-in DPO on a random batch.
func TestAlphaZeroIsDPO(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	obj, _, err := core.Local(Definition()).Configure(context.Background(), map[string]any{"alpha": 0.0, "beta": 0.3})
	require.NoError(t, err)
	ref, _, err := core.Local(dpo.Definition()).Configure(context.Background(), map[string]any{"beta": 0.3})
	require.NoError(t, err)
	b := conformance.RandomBatch(rng, obj.Inputs(), 9)
	got, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	want, err := ref.Compute(context.Background(), b)
	require.NoError(t, err)
	assert.InDelta(t, want.Loss, got.Loss, 1e-14)
	for _, name := range []string{core.PolicyChosenLogps, core.PolicyRejectedLogps} {
		assert.InDeltaSlice(t, want.Grads[name], got.Grads[name], 1e-15, name)
	}
}

func TestScoresOutOfDomain(t *testing.T) {
	b := conformance.RandomBatch(rand.New(rand.NewPCG(3, 4)), inputs, 4)
	(*b.Floats(scoreChosen))[2] = (*b.Floats(scoreRejected))[2] // a tie: log 0
	for _, tc := range []struct {
		params map[string]any
		field  string
		index  int
	}{
		{nil, scoreChosen, 2},
		{map[string]any{"ratio": true}, scoreRejected, 1},
	} {
		if tc.params != nil {
			(*b.Floats(scoreRejected))[1] = -1
		}
		obj, _, err := core.Local(Definition()).Configure(context.Background(), tc.params)
		require.NoError(t, err)
		_, err = obj.Compute(context.Background(), b)
		var ie *core.InputError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, core.CodeOutOfRange, ie.Code)
		assert.Equal(t, tc.field, ie.Field)
		assert.Equal(t, tc.index, ie.Index)
	}
}

// TestScoredData reads the shipped data with its score columns and runs the
// objective on a batch whose columns come from it.
func TestScoredData(t *testing.T) {
	f, err := data.ReadFile("scored.jsonl", data.ReadOptions{Columns: []string{ScoreChosen, ScoreRejected}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(f.Pairs), 30)
	for _, p := range f.Pairs {
		assert.Greater(t, p.Columns[ScoreChosen], p.Columns[ScoreRejected], "%v", p.Source)
	}
	_, err = data.ReadFile("scored.jsonl", data.ReadOptions{})
	require.ErrorContains(t, err, `scored.jsonl:1: unknown key "score_chosen"`)

	raw, err := os.ReadFile("../../odpo.toml")
	require.NoError(t, err)
	assert.Contains(t, string(raw), "plugins/odpo/scored.jsonl")

	obj, _, err := core.Local(Definition()).Configure(context.Background(), nil)
	require.NoError(t, err)
	b := conformance.RandomBatch(rand.New(rand.NewPCG(5, 6)), obj.Inputs(), 6)
	for _, col := range []string{ScoreChosen, ScoreRejected} {
		vals := make([]float64, 6)
		for i := range vals {
			vals[i] = f.Pairs[i].Columns[col]
		}
		b.SetColumn(core.ColumnInput(col), vals)
	}
	r, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	require.NoError(t, core.CheckResult(b, obj.Inputs(), r))
	assert.Positive(t, r.Metrics["offset"], "score gaps of 1.5 to 6 give positive offsets")
}
