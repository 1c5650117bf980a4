package report

import (
	"testing"

	"github.com/prefopt/prefopt/host/metric"
)

func TestKeepColumnExpectedLengthOnlyWhenItVaries(t *testing.T) {
	cases := []struct {
		key  string
		vals []float64
		want bool
	}{
		{metric.KLToOptimal, nil, false},
		{metric.KLToOptimal, []float64{0.1, 0.1}, true},
		{metric.ExpectedLength, []float64{5, 5, 5}, false}, // one completion length
		{metric.ExpectedLength, []float64{5, 4.2}, true},
		{metric.ExpectedLength, nil, false},
	}
	for _, c := range cases {
		if got := KeepColumn(c.key, c.vals); got != c.want {
			t.Errorf("KeepColumn(%s, %v) = %v, want %v", c.key, c.vals, got, c.want)
		}
	}
}
