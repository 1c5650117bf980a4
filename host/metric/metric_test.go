package metric_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/objectives/dpo"
)

// TestObjectivesProduceTheNamesTheReportReads runs DPO and checks that the
// TRL metric names of this vocabulary are the ones it emits.
func TestObjectivesProduceTheNamesTheReportReads(t *testing.T) {
	obj, _, err := core.Local(dpo.Definition()).Configure(context.Background(), nil)
	require.NoError(t, err)
	b := &core.Batch{
		PolicyChosenLogps: []float64{-3, -4}, PolicyRejectedLogps: []float64{-5, -2},
		ReferenceChosenLogps: []float64{-3.5, -4}, ReferenceRejectedLogps: []float64{-4, -2.5},
	}
	r, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	for _, k := range []string{metric.RewardsAccuracies, metric.RewardsMargins, metric.RewardsChosen,
		metric.RewardsRejected, metric.LogpsChosen, metric.LogpsRejected} {
		assert.Contains(t, r.Metrics, k)
	}
}
