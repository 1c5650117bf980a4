package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// table is the final table of the page.
type table struct {
	Head    []column
	Rows    []row
	Caption string
	Note    string // footnote of starred cells; "" for none
	Dense   bool   // narrower padding, for cells of two lines (mean, ± half-width)
}

type column struct{ Name, Unit string }

// row is one policy. Kind is "objective", "reference" or "optimum"; Color
// is the palette index of the swatch, -1 for none.
type row struct {
	Kind, Label, Detail string
	Color               int
	Cells               []cell
	tail                []string // an objective's steps and wall time
	vals                map[string]float64
	stats               map[string]summary.Stat // several seeds: cells are mean ± half-width
}

// cell is one table cell: a value, and the half-width of its interval
// over seeds ("" for none), shown under it.
type cell struct{ Text, PM string }

// Column is a metric column of the final table, shared by the page and the
// terminal table (compare.PrintTable) so both show the same columns in the
// same order.
type Column struct {
	Key   string // the metric name (host/metric)
	Name  string // the page's heading
	Unit  string // the page's unit line; "" for none
	Short string // the terminal's heading
	// Terminal is the fmt verb of the terminal table.
	Terminal string
	format   func(float64) string
}

// Format formats v for the page.
func (c Column) Format(v float64) string { return c.format(v) }

// Columns are the metric columns of the final table, in order; a column no
// row has a value for is left out.
var Columns = []Column{
	{keyReward, "expected reward", "reward units", "E[r*]", "%.3f", number},
	{keyKLRef, "KL(π‖π_ref)", "nats", "KL(π‖π_ref)", "%.3f", number},
	{keyKLOpt, "KL(π‖π*_β)", "nats", "KL(π‖π*)", "%.3f", number},
	{keyGap, "free-energy gap", "reward units", "gap", "%.3f", number},
	{metric.FrontierShortfall, "frontier shortfall", "reward units", "shortfall", "%.3f", number},
	{keyEntropy, "entropy", "nats", "H(π)", "%.3f", number},
	{metric.ExpectedLength, "expected length", "tokens", "E[|y|]", "%.2f", number},
	{keyEvalLoss, "eval loss", "held-out pairs", "eval loss", "%.4f", number},
	{keyEvalAcc, "eval accuracy", "held-out pairs", "eval acc", "%.3f", percent},
	{keyImplicitAcc, "implicit-reward accuracy", "held-out pairs", "implicit acc", "%.3f", percent},
	{metric.TrainLoss, "train loss", "last logged", "train loss", "%.4f", number},
}

// KeepColumn reports whether the column of metric key, whose rows have the
// values vals, belongs in a table: some row has a value, and for the
// expected length, which is the same for every policy on a task whose
// completions all have one length, the values differ.
func KeepColumn(key string, vals []float64) bool {
	if len(vals) == 0 {
		return false
	}
	if key != metric.ExpectedLength {
		return true
	}
	for _, v := range vals[1:] {
		if math.Abs(v-vals[0]) > 1e-9*max(1, math.Abs(vals[0])) {
			return true
		}
	}
	return false
}

// TiedForReference reports whether π_ref's value of metric key is not
// applicable: its implicit reward log π_ref/π_ref is 0 on every pair, so
// every pair is a tie and a pairwise accuracy says nothing.
func TiedForReference(key string) bool {
	return key == keyEvalAcc || key == keyImplicitAcc
}

// TieNote is the footnote of a "–" in π_ref's accuracy cells.
const TieNote = "π_ref's accuracies are not applicable: its implicit reward log π_ref/π_ref is 0 on every pair, so every pair is a tie."

// Caption notes of the final table's columns.
const (
	lossNote = "losses are each objective's own (train loss: the last logged, over its logging window), not comparable between objectives"
	accNote  = "accuracies are percentages of held-out pairs"
	// shortfallNote explains metric.FrontierShortfall.
	shortfallNote = "frontier shortfall is the exact frontier's expected reward at the policy's KL(π‖π_ref) minus the policy's: the reward it leaves for the KL it spent, 0 on the frontier"
)

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
		r.tail = []string{fmt.Sprint(o.Steps), fmt.Sprintf("%.1f", o.WallSeconds)}
		rows = append(rows, r)
	}
	return layoutTable(rows, "", "wall time")
}

// layoutTable sorts rows by KL(π‖π*_β) and fills their cells: the Columns
// some row has (as mean ± half-width for rows with stats), then steps and
// wall time, which objective rows bring in Cells. seedNote, when set, ends
// the caption; wallName names the last column.
func layoutTable(rows []row, seedNote, wallName string) table {
	sortByKLOpt(rows)
	var t table
	var keep []int
	tied := false
	for c, col := range Columns {
		var vals []float64
		for _, r := range rows {
			if v, ok := r.vals[col.Key]; ok {
				vals = append(vals, v)
			}
		}
		if KeepColumn(col.Key, vals) {
			keep = append(keep, c)
			t.Head = append(t.Head, column{col.Name, col.Unit})
		}
	}
	t.Head = append(t.Head, column{"steps", ""}, column{wallName, "seconds"})
	for i := range rows {
		r := &rows[i]
		cells := make([]cell, 0, len(keep)+2)
		for _, c := range keep {
			col := Columns[c]
			v, ok := r.vals[col.Key]
			switch {
			case ok && r.Kind == "reference" && TiedForReference(col.Key):
				cells = append(cells, cell{Text: dash + "*"})
				tied = true
			case ok && r.stats != nil:
				m, h := pmParts(col, r.stats[col.Key])
				cells = append(cells, cell{Text: m, PM: h})
			case ok:
				cells = append(cells, cell{Text: col.format(v)})
			default:
				cells = append(cells, cell{Text: dash})
			}
		}
		tail := r.tail
		if r.Kind != "objective" {
			tail = []string{dash, dash}
		}
		for _, t := range tail {
			cells = append(cells, cell{Text: t})
		}
		r.Cells = cells
	}
	t.Rows = rows
	if _, ok := findKLOpt(rows); ok {
		t.Caption = "Final policies sorted by KL(π‖π*_β), closest to the optimum first; the reference and the optimum are shaded."
	} else {
		t.Caption = "Final policies in the order they were trained; no KL(π‖π*_β) is known to sort by."
	}
	var notes []string
	for _, c := range keep {
		switch Columns[c].Key {
		case keyEvalLoss, metric.TrainLoss:
			if !slices.Contains(notes, lossNote) {
				notes = append(notes, lossNote)
			}
		case keyEvalAcc, keyImplicitAcc:
			if !slices.Contains(notes, accNote) {
				notes = append(notes, accNote)
			}
		case metric.FrontierShortfall:
			notes = append(notes, shortfallNote)
		}
	}
	notes = append(notes, "wall time is each objective's own training and evaluation.")
	t.Caption += " " + strings.ToUpper(notes[0][:1]) + strings.Join(notes, "; ")[1:]
	if seedNote != "" {
		t.Caption += " " + seedNote
	}
	if tied {
		t.Note = "* " + TieNote
	}
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
