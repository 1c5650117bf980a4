package report_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
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

// A leaderboard of two scenarios over three seeds, printed as text: each
// cell is the mean ± the half-width of its 95% t-interval, the best cells
// of each scenario starred.
func ExamplePrintLeaderboard() {
	stat := summary.NewStat
	l := &summary.Leaderboard{
		Metric: "kl_to_optimal", LowerIsBetter: true, Seeds: []uint64{1, 2, 3},
		Scenarios: []summary.Scenario{
			{Name: "clean", Claim: "every objective nears π*_β", Dir: "clean",
				Reference: stat([]float64{0.6, 0.62, 0.64}), Optimal: stat([]float64{0, 0, 0}),
				Cells: map[string]summary.Stat{
					"dpo": stat([]float64{0.010, 0.012, 0.014}),
					"ipo": stat([]float64{0.040, 0.041, 0.042}),
				}, Best: []string{"dpo"}},
			{Name: "noisy", Claim: "IPO holds under label noise", Dir: "noisy",
				Reference: stat([]float64{0.6, 0.62, 0.64}), Optimal: stat([]float64{0, 0, 0}),
				Cells: map[string]summary.Stat{
					"dpo": stat([]float64{0.05, 0.09, 0.13}),
					"ipo": stat([]float64{0.04, 0.05, 0.06}),
				}, Best: []string{"dpo", "ipo"}},
		},
	}
	if err := report.PrintLeaderboard(os.Stdout, l); err != nil {
		log.Fatal(err)
	}
	// Output:
	// objective                clean               noisy
	//   π_ref (reference)       0.620 ± 0.0497      0.620 ± 0.0497
	//      π*_β (optimum)                    0                   0
	//                 dpo  0.0120 ± 0.00497 **   0.0900 ± 0.0994 *
	//                 ipo     0.0410 ± 0.00248  0.0500 ± 0.0248 **
	// cells: KL(π‖π*_β) (nats), lower is better; mean ± half-width of the 95% t-interval over 3 seeds
	// ** best mean; * its interval overlaps the best one's: statistically tied with the best at 95%
}
