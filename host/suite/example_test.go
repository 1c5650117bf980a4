package suite_test

import (
	"fmt"

	"github.com/prefopt/prefopt/host/suite"
	"github.com/prefopt/prefopt/host/summary"
)

// Best marks the lowest mean and every label whose interval overlaps it.
func ExampleBest() {
	cells := map[string]summary.Stat{
		"dpo":  summary.NewStat([]float64{0.07, 0.09, 0.10}),
		"kto":  summary.NewStat([]float64{0.12, 0.15, 0.17}),
		"orpo": summary.NewStat([]float64{1.7, 1.9, 2.1}),
	}
	fmt.Println(suite.Best(cells))
	// Output: [dpo kto]
}
