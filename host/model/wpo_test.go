package model

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScoreWPOMatchesReference checks ScoreWPO against the plain float64
// reference forward: per position, log p(y_t) − log Σ_v p(v)² from the
// reference's full distribution, summed over each span.
func TestScoreWPOMatchesReference(t *testing.T) {
	const tol = 1e-10 // float64 on both sides, different summation orders
	w, err := New(tinyCfg, 4)
	require.NoError(t, err)
	randomizeWeights(w, 4, 0.5)
	b, outs := tinyBatch()
	want := make([]float64, outs)
	for _, s := range b.Spans {
		lp := refRowLogps(w, w.Config(), b.Rows[s.Row])
		for j := s.From; j < s.To; j++ {
			sq := 0.0
			for _, l := range lp[j-1] {
				sq += math.Exp(2 * l)
			}
			want[s.Out] += lp[j-1][b.Rows[s.Row][j]] - math.Log(sq)
		}
	}
	sc, err := NewScorer(w, len(b.Rows), outs, WithFloat64())
	require.NoError(t, err)
	defer sc.Close()
	got, err := sc.ScoreWPO(b)
	require.NoError(t, err)
	assert.InDeltaSlice(t, want, got, tol)
	// Score after ScoreWPO is unchanged by it.
	plain, err := sc.Score(b)
	require.NoError(t, err)
	assert.InDeltaSlice(t, refOutputs(w, b, outs), plain, tol)
	assert.NotEqual(t, plain[0], got[0], "the WPO term differs from the log-prob")
}
