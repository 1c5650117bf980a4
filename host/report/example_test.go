package report_test

import (
	"bytes"
	"fmt"
	"log"
	"strings"

	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/summary"
)

// A run on data files has training and held-out metrics but no exact ones:
// the page draws the loss and accuracy figures and says why the others
// are missing (no margins or log-probs logged; no known optimum).
func ExampleRender() {
	s := &summary.Summary{
		Experiment: "files",
		Objectives: []summary.Objective{{
			Name: "dpo", Label: "DPO", Steps: 8,
			Train: []summary.Point{
				{Step: 4, Values: map[string]float64{"loss": 0.69}},
				{Step: 8, Values: map[string]float64{"loss": 0.52}},
			},
			History: []summary.Point{
				{Step: 0, Values: map[string]float64{"eval_loss": 0.69, "eval_rewards/accuracies": 0}},
				{Step: 8, Values: map[string]float64{"eval_loss": 0.55, "eval_rewards/accuracies": 0.7}},
			},
			Final: map[string]float64{"eval_loss": 0.55, "eval_rewards/accuracies": 0.7},
		}},
	}
	var b bytes.Buffer
	if err := report.Render(&b, s); err != nil {
		log.Fatal(err)
	}
	page := b.String()
	fmt.Println("plots:", strings.Count(page, "<svg "))
	fmt.Println("not shown:", strings.Count(page, `<p class="missing">`))
	// Output:
	// plots: 2
	// not shown: 4
}
