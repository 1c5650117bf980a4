package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/prefopt/prefopt/host/summary"
)

// table is the final table of the page.
type table struct {
	Head    []column
	Rows    []row
	Caption string
}

type column struct{ Name, Unit string }

// row is one policy. Kind is "objective", "reference" or "optimum"; Color
// is the palette index of the swatch, -1 for none.
type row struct {
	Kind, Label, Detail string
	Color               int
	Cells               []string
	vals                map[string]float64
}

// metricColumns are the metric columns of the final table, in order; a
// column no row has a value for is left out.
var metricColumns = []struct {
	key, name, unit string
	format          func(float64) string
}{
	{keyReward, "expected reward", "reward units", number},
	{keyKLRef, "KL(π‖π_ref)", "nats", number},
	{keyKLOpt, "KL(π‖π*_β)", "nats", number},
	{keyGap, "free-energy gap", "reward units", number},
	{keyEntropy, "entropy", "nats", number},
	{keyEvalAcc, "eval accuracy", "held-out pairs", percent},
	{keyImplicitAcc, "implicit-reward accuracy", "held-out pairs", percent},
}

// dash marks a value the summary does not have.
const dash = "–"

func finalTable(s *summary.Summary, looks []look) table {
	var rows []row
	if len(s.Reference) > 0 {
		rows = append(rows, row{Kind: "reference", Label: "π_ref (reference)", Color: -1, vals: s.Reference,
			Detail: "the starting policy"})
	}
	if len(s.Optimal) > 0 {
		rows = append(rows, row{Kind: "optimum", Label: fmt.Sprintf("π*_β (optimum, β = %g)", s.Beta), Color: -1,
			vals: s.Optimal, Detail: "π_ref·exp(r*/β)/Z, exact"})
	}
	for i, o := range s.Objectives {
		r := row{Kind: "objective", Label: looks[i].Label, Color: looks[i].Index, vals: o.Final, Detail: detail(o)}
		r.Cells = []string{fmt.Sprint(o.Steps), fmt.Sprintf("%.1f", o.WallSeconds)}
		rows = append(rows, r)
	}
	sortByKLOpt(rows)
	var t table
	var keep []int
	for c, col := range metricColumns {
		for _, r := range rows {
			if _, ok := r.vals[col.key]; ok {
				keep = append(keep, c)
				t.Head = append(t.Head, column{col.name, col.unit})
				break
			}
		}
	}
	t.Head = append(t.Head, column{"steps", ""}, column{"wall time", "seconds"})
	for i := range rows {
		r := &rows[i]
		cells := make([]string, 0, len(keep)+2)
		for _, c := range keep {
			col := metricColumns[c]
			if v, ok := r.vals[col.key]; ok {
				cells = append(cells, col.format(v))
			} else {
				cells = append(cells, dash)
			}
		}
		if r.Kind == "objective" {
			cells = append(cells, r.Cells...)
		} else {
			cells = append(cells, dash, dash)
		}
		r.Cells = cells
	}
	t.Rows = rows
	if _, ok := findKLOpt(rows); ok {
		t.Caption = "Final policies sorted by KL(π‖π*_β), closest to the optimum first; the reference and the optimum are shaded."
	} else {
		t.Caption = "Final policies in the order they were trained; no KL(π‖π*_β) is known to sort by."
	}
	t.Caption += " Accuracies are percentages of held-out pairs; wall time is each objective's own training and evaluation."
	return t
}

func findKLOpt(rows []row) (float64, bool) {
	for _, r := range rows {
		if v, ok := r.vals[keyKLOpt]; ok {
			return v, true
		}
	}
	return 0, false
}

// sortByKLOpt orders rows by kl_to_optimal, ascending; rows without a
// finite value follow in their original order.
func sortByKLOpt(rows []row) {
	key := func(r row) (float64, bool) {
		v, ok := r.vals[keyKLOpt]
		return v, ok && !math.IsNaN(v)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, aok := key(rows[i])
		b, bok := key(rows[j])
		if aok != bok {
			return aok
		}
		return aok && a < b
	})
}

// detail is the objective's name, version and parameters, e.g.
// "dpo 1.0 · beta=0.1".
func detail(o summary.Objective) string {
	var parts []string
	head := o.Name
	if o.Version != "" {
		head += " " + o.Version
	}
	if head != "" {
		parts = append(parts, head)
	}
	keys := make([]string, 0, len(o.Params))
	for k := range o.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ps []string
	for _, k := range keys {
		ps = append(ps, fmt.Sprintf("%s=%v", k, o.Params[k]))
	}
	if len(ps) > 0 {
		parts = append(parts, strings.Join(ps, ", "))
	}
	return strings.Join(parts, " · ")
}

// zeroBelow is the magnitude under which a metric is shown as 0: exact
// metrics of the optimum against itself come out as rounding noise
// (|KL| ~ 1e-16), which is 0 to the precision of the table.
const zeroBelow = 1e-9

// number formats a metric: 3 significant digits below 1 (trailing zeros
// kept, so a column reads evenly), 3 decimals up to 100, one decimal up to
// 1e5, exponent form beyond; magnitudes below zeroBelow print as 0.
func number(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+∞"
	case math.IsInf(v, -1):
		return "−∞"
	case a < zeroBelow:
		return "0"
	case a < 1:
		return fmt.Sprintf("%#.3g", v)
	case a < 100:
		return fmt.Sprintf("%.3f", v)
	case a < 1e5:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// percent formats a fraction in [0, 1] as a percentage with one decimal.
func percent(v float64) string {
	if !finite(v) {
		return number(v)
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}
