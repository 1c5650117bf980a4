package conformance

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
)

func allNames() []string {
	names := make([]string, len(core.Fields))
	for i, f := range core.Fields {
		names[i] = f.Name
	}
	return names
}

func TestGenerateIsSeeded(t *testing.T) {
	a := RandomBatch(rand.New(rand.NewPCG(7, 9)), allNames(), 17)
	b := RandomBatch(rand.New(rand.NewPCG(7, 9)), allNames(), 17)
	assert.Equal(t, a, b)
	c := RandomBatch(rand.New(rand.NewPCG(7, 10)), allNames(), 17)
	assert.NotEqual(t, a, c)
}

func TestGenerateKeepsOnlyNamedInputs(t *testing.T) {
	inputs := []string{core.PolicyChosenLogps, core.ChosenLengths}
	b := RandomBatch(rand.New(rand.NewPCG(1, 1)), inputs, 3)
	for _, f := range core.Fields {
		assert.Equal(t, f.Name == core.PolicyChosenLogps || f.Name == core.ChosenLengths, b.Has(f.Name), f.Name)
	}
	require.NoError(t, b.Check(inputs))
}

func TestGeneratedValuesAreConsistent(t *testing.T) {
	for _, opt := range []genOptions{{labelsMixed, false}, {labelsAllDesirable, true}, {labelsAllUndesirable, false}} {
		b := generate(rand.New(rand.NewPCG(3, 4)), allNames(), 17, opt)
		require.NoError(t, b.Check(allNames()))
		avg := func(logps []float64, lengths []int64, lo, hi float64) {
			for i := range logps {
				a := logps[i] / float64(lengths[i])
				assert.True(t, a >= lo && a <= hi && lengths[i] >= 1, "average %v over %d tokens", a, lengths[i])
			}
		}
		avg(b.PolicyChosenLogps, b.ChosenLengths, -2.5, -0.1)
		avg(b.PolicyRejectedLogps, b.RejectedLengths, -2.5, -0.1)
		avg(b.ReferenceChosenLogps, b.ChosenLengths, -2.5*1.25, -0.1*0.8)
		avg(b.PolicyLogps, b.Lengths, -2.5, -0.1)
		avg(b.PolicyChosenPromptLogps, b.ChosenPromptLengths, -3, -0.5)
		var kl float64
		for i := range b.PolicyKLLogps {
			d := b.PolicyKLLogps[i] - b.ReferenceKLLogps[i]
			assert.Equal(t, opt.klPositive, d > 0, "KL term %d = %v", i, d)
			kl += d
		}
		assert.Equal(t, opt.klPositive, kl > 0)
		switch opt.labels {
		case labelsAllDesirable:
			assert.NotContains(t, b.Labels, false)
		case labelsAllUndesirable:
			assert.NotContains(t, b.Labels, true)
		default:
			assert.Contains(t, b.Labels, true)
			assert.Contains(t, b.Labels, false)
		}
	}
}

func TestExtremeBatches(t *testing.T) {
	for name, b := range extremeBatches(allNames()) {
		require.NoError(t, b.Check(allNames()), name)
		var maxH, minAvg float64
		minAvg = math.Inf(-1)
		for i := range b.PolicyChosenLogps {
			h := (b.PolicyChosenLogps[i] - b.PolicyRejectedLogps[i]) - (b.ReferenceChosenLogps[i] - b.ReferenceRejectedLogps[i])
			maxH = math.Max(maxH, math.Abs(h))
			minAvg = math.Max(minAvg, b.PolicyChosenLogps[i]/float64(b.ChosenLengths[i]))
		}
		assert.Contains(t, b.ChosenLengths, int64(1), name)
		if name == "near_zero_averages" {
			assert.Less(t, minAvg, 0.0)
			assert.GreaterOrEqual(t, minAvg, -1e-7, "an average within 1e-7 of 0")
			assert.Contains(t, b.ChosenLengths, int64(10000), name)
		} else {
			assert.Greater(t, maxH, 1000.0, "|h| in the thousands")
		}
	}
}
