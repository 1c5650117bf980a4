package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckResultBoundsMetrics(t *testing.T) {
	b := &Batch{PolicyLogps: []float64{-1, -2}}
	inputs := []string{PolicyLogps}
	withMetrics := func(m map[string]float64) *Result {
		return &Result{Losses: []float64{1, 2}, Loss: 1.5, Grads: map[string][]float64{PolicyLogps: {0.5, 0.5}}, Metrics: m}
	}
	many := func(n int) map[string]float64 {
		m := map[string]float64{}
		for i := range n {
			m[fmt.Sprintf("m%d", i)] = float64(i)
		}
		return m
	}
	longest := strings.Repeat("n", MaxMetricNameBytes)
	tests := []struct {
		name    string
		metrics map[string]float64
		field   string // of the *ReplyError; "" for a valid result
		msg     string
	}{
		{"at the count limit", many(MaxMetrics), "", ""},
		{"over the count limit", many(MaxMetrics + 1), "metrics", "has 257 metrics, more than the 256 allowed"},
		{"name at the limit", map[string]float64{longest: 1}, "", ""},
		{"name over the limit", map[string]float64{longest + "é": 1}, "metrics." + longest[:32] + "…", "name must be 1 to 128 bytes, got 130"},
		{"empty name", map[string]float64{"": 1}, "metrics.", "name must be 1 to 128 bytes, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckResult(b, inputs, withMetrics(tt.metrics))
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var re *ReplyError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.field, re.Field)
			assert.Equal(t, tt.msg, re.Msg)
		})
	}
}
