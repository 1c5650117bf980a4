package report

import (
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/prefopt/prefopt/host/summary"
)

// multiSeed reports whether s holds results of several seeds.
func multiSeed(s *summary.Summary) bool { return len(s.Seeds) > 1 }

// seedList formats seeds as "1, 2, 3".
func seedList(seeds []uint64) string {
	parts := make([]string, len(seeds))
	for i, v := range seeds {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

// trajectoryView returns s with the objectives of its first seed only: the
// curves of several seeds of one objective would hide each other, and the
// summary's Reference, Optimal and Frontier are of the first seed's task.
// A summary of one seed is returned as it is; one whose objectives do not
// record their seed keeps the first objective of each label.
func trajectoryView(s *summary.Summary) *summary.Summary {
	if !multiSeed(s) {
		return s
	}
	v := *s
	v.Objectives = nil
	for _, o := range s.Objectives {
		if o.Seed == s.Seeds[0] {
			v.Objectives = append(v.Objectives, o)
		}
	}
	if len(v.Objectives) == 0 {
		seen := map[string]bool{}
		for _, o := range s.Objectives {
			if !seen[label(o)] {
				seen[label(o)] = true
				v.Objectives = append(v.Objectives, o)
			}
		}
	}
	return &v
}

// aggregatesOf returns s.Aggregates, or, for a summary written without
// them, the same computed from s.Objectives: per label in order of first
// appearance, each final metric over the objectives of that label that
// have it.
func aggregatesOf(s *summary.Summary) []summary.Aggregate {
	if len(s.Aggregates) > 0 {
		return s.Aggregates
	}
	var out []summary.Aggregate
	at := map[string]int{}
	vals := map[string]map[string][]float64{}
	for _, o := range s.Objectives {
		l := label(o)
		if _, ok := at[l]; !ok {
			at[l] = len(out)
			out = append(out, summary.Aggregate{Label: l, Name: o.Name, Group: o.Group, SweepParam: o.SweepParam,
				SweepValue: o.SweepValue, Metrics: map[string]summary.Stat{}})
			vals[l] = map[string][]float64{}
		}
		for k, v := range o.Final {
			vals[l][k] = append(vals[l][k], v)
		}
	}
	for l, m := range vals {
		for k, v := range m {
			out[at[l]].Metrics[k] = summary.NewStat(v)
		}
	}
	return out
}

// statsOr returns stats, or each value of vals as a Stat of one value when
// stats is empty.
func statsOr(stats map[string]summary.Stat, vals map[string]float64) map[string]summary.Stat {
	if len(stats) > 0 {
		return stats
	}
	out := make(map[string]summary.Stat, len(vals))
	for k, v := range vals {
		out[k] = summary.NewStat([]float64{v})
	}
	return out
}

// means returns the mean of every Stat of m.
func means(m map[string]summary.Stat) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, st := range m {
		out[k] = st.Mean
	}
	return out
}

// intervalNote says what a "mean ± h" cell of n seeds means.
func intervalNote(n int) string {
	return fmt.Sprintf("mean ± half-width of the 95%% t-interval over %d seeds", n)
}

// seedTable is the final table of a summary of several seeds: one row per
// objective label with each metric as mean ± half-width over the seeds,
// and π_ref and π*_β over the seeds' tasks; sorted by mean KL(π‖π*_β).
func seedTable(s *summary.Summary, by map[string]look) table {
	var rows []row
	if ref := statsOr(s.ReferenceStats, s.Reference); len(ref) > 0 {
		rows = append(rows, row{Kind: "reference", Label: "π_ref (reference)", Color: -1, stats: ref, vals: means(ref),
			Detail: "the starting policy of each seed"})
	}
	if opt := statsOr(s.OptimalStats, s.Optimal); len(opt) > 0 {
		rows = append(rows, row{Kind: "optimum", Label: fmt.Sprintf("π*_β (optimum, β = %g)", s.Beta), Color: -1,
			stats: opt, vals: means(opt), Detail: "π_ref·exp(r*/β)/Z of each seed, exact"})
	}
	for _, a := range aggregatesOf(s) {
		r := row{Kind: "objective", Label: a.Label, Color: by[a.Label].Index, stats: a.Metrics, vals: means(a.Metrics)}
		var steps []int
		wall, n := 0.0, 0
		for _, o := range s.Objectives {
			if label(o) != a.Label {
				continue
			}
			if r.Detail == "" {
				r.Detail = detail(o)
			}
			steps = append(steps, o.Steps)
			wall += o.WallSeconds
			n++
		}
		st := dash
		if len(steps) > 0 {
			lo, hi := steps[0], steps[0]
			for _, v := range steps {
				lo, hi = min(lo, v), max(hi, v)
			}
			st = fmt.Sprint(lo)
			if hi != lo {
				st = fmt.Sprintf("%d–%d", lo, hi)
			}
		}
		wt := dash
		if n > 0 {
			wt = fmt.Sprintf("%.1f", wall/float64(n))
		}
		r.tail = []string{st, wt}
		rows = append(rows, r)
	}
	t := layoutTable(rows, fmt.Sprintf("Each value is the %s (%s), Student t with n − 1 degrees of freedom; "+
		"a cell without ± had one seed. Seeds differ in task, pairs, reference and initialisation, so the "+
		"interval covers all of it.", intervalNote(len(s.Seeds)), seedList(s.Seeds)), "mean wall time")
	t.Dense = true
	return t
}

// pm formats a Stat as "mean ± half-width", or the mean alone when the
// interval has no width (one value).
func pm(c Column, st summary.Stat) string {
	m, h := pmParts(c, st)
	if h == "" {
		return m
	}
	return m + " ± " + h
}

// pmParts returns the mean and the half-width of st formatted for c (the
// half-width of a percentage in percentage points), and "" for the
// half-width of an interval without width (below zeroBelow: the rounding
// noise of values that are all 0).
func pmParts(c Column, st summary.Stat) (mean, half string) {
	h := st.HalfWidth()
	if len(st.Values) < 2 || !finite(h) || h < zeroBelow {
		return c.format(st.Mean), ""
	}
	if c.Key == keyEvalAcc || c.Key == keyImplicitAcc {
		return c.format(st.Mean), fmt.Sprintf("%.1f", 100*h)
	}
	return c.format(st.Mean), number(h)
}

// seedRow is one row of the seeds figure.
type seedRow struct {
	label string
	look  look
	kind  string
	stats map[string]summary.Stat
}

// seedPanels are the metrics of the seeds figure, left to right.
var seedPanels = []struct{ key, axis string }{
	{keyKLOpt, "final KL(π‖π*_β) (nats)"},
	{keyReward, "final expected reward E[r*]"},
}

// seedsFigure draws, per objective, every seed's final KL(π‖π*_β) and
// expected reward as dots, with the mean and its 95% t-interval; π_ref and
// π*_β of the seeds' tasks are rows of their own. Only for several seeds.
func seedsFigure(s *summary.Summary, by map[string]look) (figure, error) {
	const id, title = "seeds", "Final policies over seeds"
	n := len(s.Seeds)
	var rows []seedRow
	if ref := statsOr(s.ReferenceStats, s.Reference); len(ref) > 0 {
		rows = append(rows, seedRow{label: "π_ref", kind: "reference", stats: ref})
	}
	if opt := statsOr(s.OptimalStats, s.Optimal); len(opt) > 0 {
		rows = append(rows, seedRow{label: "π*_β", kind: "optimum", stats: opt})
	}
	for _, a := range aggregatesOf(s) {
		rows = append(rows, seedRow{label: a.Label, kind: "objective", look: by[a.Label], stats: a.Metrics})
	}
	var panels []int
	for i, pn := range seedPanels {
		for _, r := range rows {
			if r.kind == "objective" && len(r.stats[pn.key].Values) > 0 {
				panels = append(panels, i)
				break
			}
		}
	}
	if len(panels) == 0 {
		return figure{ID: id, Title: title, Missing: `Cannot be computed on this data: the per-seed final KL(π‖π*_β) and expected reward ` +
			`("kl_to_optimal", "expected_reward") need a task whose optimal policy is known exactly (the built-in testbed).`}, nil
	}
	sortKey := seedPanels[panels[0]].key
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].stats[sortKey].Mean, rows[j].stats[sortKey].Mean
		if math.IsNaN(a) || math.IsNaN(b) {
			return !math.IsNaN(a) && math.IsNaN(b)
		}
		return a < b
	})
	grid := [][]*plot.Plot{make([]*plot.Plot, len(panels))}
	bad := 0
	for c, pi := range panels {
		pn := seedPanels[pi]
		p := newPlot(pn.axis, "")
		var ticks []plot.Tick
		for j, r := range rows {
			y := float64(len(rows) - 1 - j)
			tl := ""
			if c == 0 {
				tl = r.label
			}
			ticks = append(ticks, plot.Tick{Value: y, Label: tl})
			st, ok := r.stats[pn.key]
			if !ok {
				continue
			}
			col, shape := r.look.Color, r.look.Shape
			switch r.kind {
			case "reference":
				col, shape = refColor, draw.GlyphDrawer(polygon{hollow: true})
			case "optimum":
				col, shape = optColor, draw.GlyphDrawer(asterisk{})
			}
			var dots plotter.XYs
			for k, v := range st.Values {
				if !finite(v) {
					bad++
					continue
				}
				dots = append(dots, plotter.XY{X: v, Y: y + jitter(k, len(st.Values))})
			}
			if len(st.Values) > 1 && finite(st.Lo) && finite(st.Hi) {
				p.Add(newWhisker(plotter.XY{X: st.Lo, Y: y}, plotter.XY{X: st.Hi, Y: y}, col, vg.Points(6), true))
			}
			if len(dots) > 0 {
				p.Add(&plotter.Scatter{XYs: dots, GlyphStyle: draw.GlyphStyle{Color: fade(col), Radius: 2.6, Shape: shape}})
			}
			if finite(st.Mean) {
				p.Add(&plotter.Scatter{XYs: plotter.XYs{{X: st.Mean, Y: y}}, GlyphStyle: draw.GlyphStyle{Color: col, Radius: 7, Shape: bar{}}})
			}
		}
		p.Y.Tick.Marker = plot.ConstantTicks(ticks)
		p.Y.Min, p.Y.Max = -0.6, float64(len(rows))-0.4
		p.Y.Label.Text = ""
		grid[0][c] = p
	}
	leg := newLegend()
	leg.Add("one seed", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: fade(refColor), Radius: 2.6, Shape: polygon{}}})
	leg.Add("mean", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: 6, Shape: bar{}}})
	leg.Add("95% t-interval", newWhisker(plotter.XY{}, plotter.XY{}, refColor, 0, false))
	height := vg.Length(len(rows))*22 + 70
	svg, err := renderRow(title, grid, leg, height)
	if err != nil {
		return figure{}, err
	}
	caption := fmt.Sprintf("One row per policy, closest to the optimum first: each dot is the final policy of one of "+
		"the %d seeds (%s), the bar their mean and the line its 95%% t-interval (Student t, n − 1 degrees of "+
		"freedom: with few seeds it is wide). Each seed draws its own task, so π_ref and π*_β have a value per "+
		"seed too; π*_β's KL to itself is 0.", n, seedList(s.Seeds))
	if len(panels) > 1 {
		caption += " Right: the expected true reward of the same policies; higher reward alone is not better."
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// jitter spreads k of n dots of one row over ±0.22 of the row height, in
// seed order, so that equal values stay apart.
func jitter(k, n int) float64 {
	if n < 2 {
		return 0
	}
	return 0.44*float64(k)/float64(n-1) - 0.22
}

// fade returns c at 60% opacity, for dots under their mean's bar.
func fade(c color.RGBA) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x99}
}

// whisker is an interval drawn from A to B, with end caps across it of
// length Cap when Caps is set.
type whisker struct {
	A, B  plotter.XY
	Color color.Color
	Cap   vg.Length
	Caps  bool
	Width vg.Length
}

func newWhisker(a, b plotter.XY, c color.Color, capLen vg.Length, caps bool) *whisker {
	return &whisker{A: a, B: b, Color: c, Cap: capLen, Caps: caps, Width: vg.Points(1.4)}
}

// thin returns w with a hairline stroke, for intervals over data points.
func (w *whisker) thin() *whisker {
	w.Width = vg.Points(0.9)
	return w
}

// Plot implements plot.Plotter.
func (w *whisker) Plot(c draw.Canvas, plt *plot.Plot) {
	tx, ty := plt.Transforms(&c)
	a := vg.Point{X: tx(w.A.X), Y: ty(w.A.Y)}
	b := vg.Point{X: tx(w.B.X), Y: ty(w.B.Y)}
	c.SetLineStyle(draw.LineStyle{Color: w.Color, Width: w.Width})
	var p vg.Path
	p.Move(a)
	p.Line(b)
	c.Stroke(p)
	if !w.Caps {
		return
	}
	d := vg.Point{X: 0, Y: w.Cap / 2} // across a horizontal interval
	if w.A.Y != w.B.Y {
		d = vg.Point{X: w.Cap / 2, Y: 0}
	}
	for _, e := range []vg.Point{a, b} {
		var q vg.Path
		q.Move(e.Sub(d))
		q.Line(e.Add(d))
		c.Stroke(q)
	}
}

// DataRange implements plot.DataRanger.
func (w *whisker) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Min(w.A.X, w.B.X), math.Max(w.A.X, w.B.X), math.Min(w.A.Y, w.B.Y), math.Max(w.A.Y, w.B.Y)
}

// Thumbnail implements plot.Thumbnailer: a horizontal interval with caps.
func (w *whisker) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.SetLineStyle(draw.LineStyle{Color: w.Color, Width: vg.Points(1.4)})
	var p vg.Path
	p.Move(vg.Point{X: c.Min.X, Y: y})
	p.Line(vg.Point{X: c.Max.X, Y: y})
	c.Stroke(p)
	for _, x := range []vg.Length{c.Min.X, c.Max.X} {
		var q vg.Path
		q.Move(vg.Point{X: x, Y: y - vg.Points(3)})
		q.Line(vg.Point{X: x, Y: y + vg.Points(3)})
		c.Stroke(q)
	}
}

// bar is a vertical stroke, the mean of a row.
type bar struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (bar) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(2.4)})
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y - sty.Radius})
	p.Line(vg.Point{X: pt.X, Y: pt.Y + sty.Radius})
	c.Stroke(p)
}

// renderRow draws a legend above one row of plots aligned on their data
// areas.
func renderRow(title string, grid [][]*plot.Plot, leg plot.Legend, height vg.Length) (template.HTML, error) {
	lr := leg.Rectangle(draw.Canvas{})
	legH := lr.Max.Y - lr.Min.Y + vg.Points(8)
	return renderSVG(figWidth, height+legH, title, func(c draw.Canvas) {
		leg.Draw(draw.Crop(c, vg.Points(4), 0, height, 0))
		body := draw.Crop(c, 0, 0, 0, -legH)
		tiles := draw.Tiles{Rows: 1, Cols: len(grid[0]), PadX: vg.Points(22), PadY: vg.Points(4), PadTop: vg.Points(2), PadRight: vg.Points(8)}
		canvases := plot.Align(grid, tiles, body)
		for i, p := range grid[0] {
			p.Draw(canvases[0][i])
		}
	})
}
