package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"text/tabwriter"

	"github.com/prefopt/prefopt/host/summary"
)

// LeaderboardFile is the name of the page WriteLeaderboard writes.
const LeaderboardFile = "leaderboard.html"

// WriteLeaderboard renders l and stores it as dir/leaderboard.html,
// atomically like Write.
func WriteLeaderboard(dir string, l *summary.Leaderboard) error {
	var b bytes.Buffer
	if err := RenderLeaderboard(&b, l); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, LeaderboardFile), b.Bytes())
}

// RenderLeaderboard writes the leaderboard page for l to w: one
// self-contained HTML page (inline CSS, no scripts) with a table of
// objectives (rows) × scenarios (columns), each cell l.Metric's mean ± the
// half-width of its 95% t-interval over l.Seeds, the best cells of each
// scenario highlighted, π_ref's and π*_β's exact values as rows of their
// own, and each scenario's claim and a link to its report.html. The output
// depends only on l.
func RenderLeaderboard(w io.Writer, l *summary.Leaderboard) error {
	if l == nil {
		return errors.New("report: nil leaderboard")
	}
	var b bytes.Buffer
	if err := leaderboardTemplate.Execute(&b, buildBoard(l)); err != nil {
		return fmt.Errorf("report: leaderboard: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// board is the data of the leaderboard template.
type board struct {
	Title      string
	Metric     string // name, unit and direction: "KL(π‖π*_β) (nats), lower is better"
	Cell       string // what a cell holds
	Facts      []fact
	Note       string
	CSS        template.CSS
	Scenarios  []boardScenario
	Rows       []boardRow
	TopLegend  string // what a bold cell is
	TiedLegend string // what a shaded cell is
	Caption    string
}

type boardScenario struct {
	Name, Claim string
	Link        string // the scenario's report.html, relative to the page
}

// boardRow is one objective, or "reference"/"optimum" in Kind.
type boardRow struct {
	Kind, Label string
	Cells       []boardCell
}

type boardCell struct {
	Text string
	Best bool   // best or statistically tied with the best
	Top  bool   // the best mean itself
	Note string // tooltip
}

// metricColumn returns the Column of key, or one that prints the name
// as it is.
func metricColumn(key string) Column {
	for _, c := range Columns {
		if c.Key == key {
			return c
		}
	}
	return Column{Key: key, Name: key, Short: key, Terminal: "%.4g", format: number}
}

// boardLabels returns the objective labels of l by mean rank over the
// scenarios that train them (best first; ties by label).
func boardLabels(l *summary.Leaderboard) []string {
	rankSum, count := map[string]float64{}, map[string]int{}
	for _, sc := range l.Scenarios {
		labels := make([]string, 0, len(sc.Cells))
		for k := range sc.Cells {
			labels = append(labels, k)
		}
		sort.Strings(labels)
		sort.SliceStable(labels, func(i, j int) bool {
			return better(sc.Cells[labels[i]].Mean, sc.Cells[labels[j]].Mean, l.LowerIsBetter)
		})
		for r, k := range labels {
			rankSum[k] += float64(r + 1)
			count[k]++
		}
	}
	out := make([]string, 0, len(count))
	for k := range count {
		out = append(out, k)
	}
	sort.Strings(out)
	sort.SliceStable(out, func(i, j int) bool {
		return rankSum[out[i]]/float64(count[out[i]]) < rankSum[out[j]]/float64(count[out[j]])
	})
	return out
}

// better reports whether a ranks before b; NaN ranks last.
func better(a, b float64, lower bool) bool {
	switch {
	case math.IsNaN(a):
		return false
	case math.IsNaN(b):
		return true
	case lower:
		return a < b
	}
	return a > b
}

// tiedLegend explains the shaded cells.
const tiedLegend = "its interval overlaps the best one's: statistically tied with the best at 95%"

// topLegend explains the bold cell.
func topLegend(lower bool) string {
	if !lower {
		return "the scenario's highest mean"
	}
	return "the scenario's lowest mean"
}

// topLabel returns the label of sc's best mean among its Best labels.
func topLabel(sc summary.Scenario, lower bool) string {
	top := ""
	for _, lab := range sc.Best {
		st, ok := sc.Cells[lab]
		if !ok {
			continue
		}
		if t, ok := sc.Cells[top]; top == "" || !ok || (lower && st.Mean < t.Mean) || (!lower && st.Mean > t.Mean) {
			top = lab
		}
	}
	return top
}

func buildBoard(l *summary.Leaderboard) *board {
	col := metricColumn(l.Metric)
	name := col.Name
	if col.Unit != "" {
		name += " (" + col.Unit + ")"
	}
	way := "lower is better"
	if !l.LowerIsBetter {
		way = "higher is better"
	}
	b := &board{Title: "Leaderboard: " + col.Name, CSS: leaderboardCSS(), TopLegend: topLegend(l.LowerIsBetter), TiedLegend: tiedLegend,
		Metric: name + ", " + way, Cell: "the value of the one seed"}
	if len(l.Seeds) > 1 {
		b.Cell = intervalNote(len(l.Seeds))
	}
	b.Facts = []fact{
		{"metric", b.Metric},
		{"scenarios", fmt.Sprint(len(l.Scenarios))},
		{"seeds", fmt.Sprintf("%d: %s", len(l.Seeds), seedList(l.Seeds))},
		{"wall time", duration(l.WallSeconds)},
	}
	b.Note = fmt.Sprintf("Each cell is the %s; every scenario was run with the same seeds, and each seed draws its "+
		"own task, pairs, reference and initialisation.", intervalNote(len(l.Seeds)))
	if len(l.Seeds) < 2 {
		b.Note = "Each cell is the value of the one seed: no interval is known."
	}
	for _, sc := range l.Scenarios {
		b.Scenarios = append(b.Scenarios, boardScenario{Name: sc.Name, Claim: sc.Claim, Link: path.Join(sc.Dir, "report.html")})
	}
	exact := func(kind, label string, get func(summary.Scenario) summary.Stat) {
		r := boardRow{Kind: kind, Label: label}
		any := false
		for _, sc := range l.Scenarios {
			st := get(sc)
			if len(st.Values) == 0 && st.Mean == 0 && st.Lo == 0 && st.Hi == 0 {
				r.Cells = append(r.Cells, boardCell{Text: dash, Note: "not known for this scenario"})
				continue
			}
			any = true
			r.Cells = append(r.Cells, boardCell{Text: pm(col, st)})
		}
		if any {
			b.Rows = append(b.Rows, r)
		}
	}
	exact("reference", "π_ref (reference)", func(sc summary.Scenario) summary.Stat { return sc.Reference })
	exact("optimum", "π*_β (optimum)", func(sc summary.Scenario) summary.Stat { return sc.Optimal })
	tops := make([]string, len(l.Scenarios))
	for i, sc := range l.Scenarios {
		tops[i] = topLabel(sc, l.LowerIsBetter)
	}
	for _, lab := range boardLabels(l) {
		r := boardRow{Kind: "objective", Label: lab}
		for i, sc := range l.Scenarios {
			st, ok := sc.Cells[lab]
			if !ok {
				r.Cells = append(r.Cells, boardCell{Text: dash, Note: "not trained in this scenario"})
				continue
			}
			c := boardCell{Text: pm(col, st), Best: slices.Contains(sc.Best, lab), Top: lab == tops[i]}
			switch {
			case c.Top:
				c.Note = "best mean"
			case c.Best:
				c.Note = "statistically tied with the best (intervals overlap)"
			}
			r.Cells = append(r.Cells, c)
		}
		b.Rows = append(b.Rows, r)
	}
	b.Caption = "Objectives are ordered by their mean rank over the scenarios."
	if len(b.Rows) > 0 && b.Rows[0].Kind != "objective" {
		b.Caption += " The shaded rows are exact: π_ref, where every objective starts, and π*_β, the optimum " +
			"of the KL-regularised objective at each scenario's β."
	}
	b.Caption += " A column heading links to that scenario's full report; its tooltip is the claim it tests, listed below."
	return b
}

// PrintLeaderboard writes l as a text table: objectives × scenarios, each
// cell mean ± half-width, best cells starred.
func PrintLeaderboard(w io.Writer, l *summary.Leaderboard) error {
	if l == nil {
		return errors.New("report: nil leaderboard")
	}
	b := buildBoard(l)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "objective\t")
	for _, sc := range b.Scenarios {
		fmt.Fprintf(tw, "%s\t", sc.Name)
	}
	fmt.Fprintln(tw)
	for _, r := range b.Rows {
		fmt.Fprintf(tw, "%s\t", r.Label)
		for _, c := range r.Cells {
			t := c.Text
			switch {
			case c.Top:
				t += " **"
			case c.Best:
				t += " *"
			}
			fmt.Fprintf(tw, "%s\t", t)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(&buf, "cells: %s; %s\n** best mean; * %s\n", b.Metric, b.Cell, tiedLegend)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// leaderboardCSS is the page style with the leaderboard's cells.
func leaderboardCSS() template.CSS {
	return pageCSS() + `.label{white-space:normal;overflow-wrap:break-word}
td.best{background:#dff0e4}
td.top{font-weight:700;background:#b9e0c4}
.key{display:inline-block;padding:0 6px;background:#dff0e4}
.key.top{font-weight:700;background:#b9e0c4}
thead th a{color:inherit}
.claims li{margin:0.3em 0}
`
}

var leaderboardTemplate = template.Must(template.New("leaderboard").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>prefopt {{.Title}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<dl class="facts">{{range .Facts}}
<dt>{{.Name}}</dt><dd>{{.Value}}</dd>{{end}}
</dl>
<p>{{.Note}}</p>
</header>
<main>
<section id="leaderboard">
<div class="scroll">
<table>
<thead><tr><th scope="col">objective</th>{{range .Scenarios}}<th scope="col" title="{{.Claim}}"><a href="{{.Link}}">{{.Name}}</a></th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr class="{{.Kind}}"><th scope="row"><span class="label">{{.Label}}</span></th>{{range .Cells}}<td{{if .Top}} class="best top"{{else if .Best}} class="best"{{end}}{{if .Note}} title="{{.Note}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
</div>
<p class="caption legend"><span class="key top">bold</span> {{.TopLegend}}; <span class="key">shaded</span> {{.TiedLegend}}.</p>
<p class="caption">{{.Caption}}</p>
</section>
<section id="scenarios">
<h2>Scenarios</h2>
<ul class="claims">
{{range .Scenarios}}<li><a href="{{.Link}}">{{.Name}}</a>: {{.Claim}}</li>
{{end}}</ul>
</section>
</main>
</body>
</html>
`))
