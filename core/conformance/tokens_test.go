package conformance

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/internal/tokenobjective"
)

// TestPerTokenObjective runs the suite on an objective that reads per-token
// inputs and a data column: gradients are checked token by token.
func TestPerTokenObjective(t *testing.T) {
	for _, params := range []map[string]any{nil, {"weights": []any{0.5, 2.0}}} {
		Run(t, core.Local(tokenobjective.Definition()), params)
	}
}

func TestGeneratedTokensAddUp(t *testing.T) {
	b := generate(rand.New(rand.NewPCG(8, 9)), allNames(), 17, genOptions{})
	for _, f := range core.Fields {
		if f.Kind != core.TokenFloat {
			continue
		}
		sums := map[string]string{
			core.PolicyChosenTokenLogps: core.PolicyChosenLogps, core.PolicyRejectedTokenLogps: core.PolicyRejectedLogps,
			core.ReferenceChosenTokenLogps: core.ReferenceChosenLogps, core.ReferenceRejectedTokenLogps: core.ReferenceRejectedLogps,
			core.PolicyTokenLogps: core.PolicyLogps, core.ReferenceTokenLogps: core.ReferenceLogps,
		}
		summed := *b.Floats(sums[f.Name])
		for i, row := range *b.Tokens(f.Name) {
			require.Len(t, row, int((*b.Counts(f.Lengths))[i]), "%s[%d]", f.Name, i)
			var s float64
			for _, v := range row {
				s += v
			}
			// 64 additions of numbers below 200 in magnitude: ~1e-12 rounding.
			assert.InDelta(t, summed[i], s, 1e-11, "%s[%d]", f.Name, i)
		}
	}
}

func TestGeneratedScoreColumns(t *testing.T) {
	inputs := []string{core.PolicyChosenLogps, "column.score_chosen", "column.score_rejected", "column.weight"}
	b := RandomBatch(rand.New(rand.NewPCG(1, 2)), inputs, 17)
	require.NoError(t, b.Check(inputs))
	for i := range 17 {
		c, r := (*b.Floats("column.score_chosen"))[i], (*b.Floats("column.score_rejected"))[i]
		assert.GreaterOrEqual(t, c-r, 0.5, "chosen scores above rejected")
		w := (*b.Floats("column.weight"))[i]
		assert.True(t, w >= 0.1 && w <= 5, "weight %v", w)
	}
	for name, eb := range extremeBatches(inputs) {
		require.NoError(t, eb.Check(inputs), name)
	}
}
