package report

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// hasSweep reports whether some objective of s is a member of a [sweep].
func hasSweep(s *summary.Summary) bool {
	for _, o := range s.Objectives {
		if o.Group != "" {
			return true
		}
	}
	for _, a := range s.Aggregates {
		if a.Group != "" {
			return true
		}
	}
	return false
}

// sweepGroup is the objectives a [sweep] expanded one label into, ordered
// by the swept value: numerically when every value is a number, else as
// the experiment lists them.
type sweepGroup struct {
	Name, Param string
	Look        look // the group's own colour and marker, in the sweep figures
	Members     []summary.Aggregate
	// Numeric: Values are the members' swept values as numbers.
	Numeric bool
	Values  []float64
}

// sweepGroups returns the groups of s in the order they first appear.
func sweepGroups(s *summary.Summary, by map[string]look) []sweepGroup {
	var out []sweepGroup
	at := map[string]int{}
	for _, a := range aggregatesOf(s) {
		if a.Group == "" {
			continue
		}
		i, ok := at[a.Group]
		if !ok {
			i = len(out)
			at[a.Group] = i
			out = append(out, sweepGroup{Name: a.Group, Param: a.SweepParam})
		}
		out[i].Members = append(out[i].Members, a)
	}
	// Each group gets a colour and marker of its own, skipping the colours
	// of the unswept objectives drawn next to it.
	used := map[int]bool{}
	for _, a := range aggregatesOf(s) {
		if a.Group == "" {
			used[by[a.Label].Index] = true
		}
	}
	k := 0
	for i := range out {
		for used[k%len(palette)] && len(used) < len(palette) {
			k++
		}
		j := k % len(palette)
		out[i].Look = look{Label: out[i].Name, Index: j, Color: palette[j], Shape: shapes[k%len(shapes)]}
		used[j] = true
		k++
	}
	for i := range out {
		g := &out[i]
		g.Numeric = true
		vals := make([]float64, len(g.Members))
		for j, m := range g.Members {
			v, ok := toFloat(m.SweepValue)
			g.Numeric = g.Numeric && ok
			vals[j] = v
		}
		if !g.Numeric {
			continue
		}
		idx := make([]int, len(vals))
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] < vals[idx[b]] })
		members := make([]summary.Aggregate, len(idx))
		g.Values = make([]float64, len(idx))
		for j, k := range idx {
			members[j], g.Values[j] = g.Members[k], vals[k]
		}
		g.Members = members
	}
	return out
}

// toFloat returns v as a number if it is one: a JSON number read back, or
// a Go number of a summary built in memory.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, finite(x)
	case float32:
		return float64(x), finite(float64(x))
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && finite(f)
	}
	return 0, false
}

// paramSymbols are the Greek letters of common swept parameters.
var paramSymbols = map[string]string{"beta": "β", "tau": "τ", "gamma": "γ", "alpha": "α", "lambda": "λ"}

// valueLabel is "β=0.1" for the value v of param.
func valueLabel(param string, v any) string {
	name := param
	if sym, ok := paramSymbols[param]; ok {
		name = sym
	}
	if f, ok := toFloat(v); ok {
		return name + "=" + trimFloat(f)
	}
	return name + "=" + fmt.Sprint(v)
}

// groupName is the legend name of g: "dpo, β swept".
func groupName(g sweepGroup) string {
	p := g.Param
	if sym, ok := paramSymbols[p]; ok {
		p = sym
	}
	return g.Name + ", " + p + " swept"
}

// point2 returns (kl_to_reference, expected_reward) of m when both are
// finite means.
func point2(m map[string]summary.Stat) (kl, r summary.Stat, ok bool) {
	kl, okK := m[keyKLRef]
	r, okR := m[keyReward]
	return kl, r, okK && okR && finite(kl.Mean) && finite(r.Mean)
}

// sweepFigure draws each sweep group's final policies in the reward–KL
// plane as one polyline ordered by the swept value, mean over seeds with
// 95% t-interval whiskers when there are several, over the exact frontier;
// unswept objectives are single markers.
func sweepFigure(s *summary.Summary, by map[string]look) (figure, error) {
	const id, title = "sweeps", "Sweeps against the frontier"
	groups := sweepGroups(s, by)
	xmax, any := 0.0, false
	for _, a := range aggregatesOf(s) {
		if kl, _, ok := point2(a.Metrics); ok {
			any = true
			xmax = math.Max(xmax, math.Max(kl.Mean, kl.Hi))
		}
	}
	if !any {
		return figure{ID: id, Title: title, Missing: `Cannot be computed on this data: placing the sweeps against the frontier needs ` +
			`the expected true reward and KL(π‖π_ref) ("expected_reward", "kl_to_reference") of a task whose reward is known exactly (the built-in testbed).`}, nil
	}
	opt, hasOpt := point(s.Optimal)
	if hasOpt {
		xmax = math.Max(xmax, opt.X)
	}
	if xmax <= 0 {
		xmax = 1
	}
	xmax *= 1.15
	p := newPlot("final KL(π‖π_ref) (nats)", "final expected reward E[r*] (reward units)")
	leg := newLegend()
	front, _ := frontierCurve(s, xmax)
	if len(front) > 1 {
		ln := &plotter.Line{XYs: front}
		ln.LineStyle = draw.LineStyle{Color: optColor, Width: vg.Points(1.3)}
		p.Add(ln)
		leg.Add("exact frontier π*_β′", ln)
	}
	multi := multiSeed(s)
	bad := 0
	for _, g := range groups {
		var xys plotter.XYs
		var names []string
		for _, m := range g.Members {
			kl, r, ok := point2(m.Metrics)
			if !ok {
				bad++
				continue
			}
			xys = append(xys, plotter.XY{X: kl.Mean, Y: r.Mean})
			names = append(names, valueLabel(g.Param, m.SweepValue))
			if multi && len(kl.Values) > 1 {
				p.Add(newWhisker(plotter.XY{X: kl.Lo, Y: r.Mean}, plotter.XY{X: kl.Hi, Y: r.Mean}, fade(g.Look.Color), vg.Points(4), true).thin(),
					newWhisker(plotter.XY{X: kl.Mean, Y: r.Lo}, plotter.XY{X: kl.Mean, Y: r.Hi}, fade(g.Look.Color), vg.Points(4), true).thin())
			}
		}
		if len(xys) == 0 {
			leg.Add(groupName(g)+" (not measured)", g.Look.line(nil))
			continue
		}
		ln := g.Look.line(xys)
		ln.Dashes = nil
		p.Add(ln, g.Look.marks(xys, markRadius+0.8))
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: names})
		if err != nil {
			return figure{}, fmt.Errorf("report: sweep labels: %w", err)
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i] = noteStyle(draw.XLeft, draw.YTop)
			lb.TextStyle[i].Color = g.Look.Color
		}
		lb.Offset = vg.Point{X: 5, Y: -4}
		p.Add(lb)
		thumb := g.Look.line(nil)
		thumb.Dashes = nil
		leg.Add(groupName(g), thumb, g.Look.marks(nil, markRadius+0.8))
	}
	for _, a := range aggregatesOf(s) {
		if a.Group != "" {
			continue
		}
		l := by[a.Label]
		kl, r, ok := point2(a.Metrics)
		if !ok {
			continue
		}
		if multi && len(kl.Values) > 1 {
			p.Add(newWhisker(plotter.XY{X: kl.Lo, Y: r.Mean}, plotter.XY{X: kl.Hi, Y: r.Mean}, fade(l.Color), vg.Points(4), true).thin(),
				newWhisker(plotter.XY{X: kl.Mean, Y: r.Lo}, plotter.XY{X: kl.Mean, Y: r.Hi}, fade(l.Color), vg.Points(4), true).thin())
		}
		p.Add(l.marks(plotter.XYs{{X: kl.Mean, Y: r.Mean}}, endRadius))
		leg.Add(a.Label, l.marks(nil, endRadius))
	}
	ref, hasRef := point(s.Reference)
	addAnchors(p, &leg, "π_ref", ref, hasRef, opt, hasOpt, s.Beta)
	p.X.Min = math.Min(p.X.Min, 0)
	if p.X.Max < xmax {
		p.X.Max = xmax
	}
	svg, err := renderSVG(figWidth, frontierHeight, title, func(c draw.Canvas) { drawBeside(c, p, leg) })
	if err != nil {
		return figure{}, err
	}
	caption := "Each sweep is one line through its final policies, in the order of the swept value (each point " +
		"labelled with it), in a colour of its own; unswept objectives are single markers in their colours of the other figures. The black curve is the exact optimal frontier " +
		"from π_ref: a point on it spends its KL as well as any policy can, and the vertical distance below it is " +
		"the frontier shortfall."
	if multi {
		caption += fmt.Sprintf(" Points are means over the %d seeds, with whiskers spanning the 95%% t-interval of "+
			"each coordinate; the frontier, π_ref and π*_β are of the first seed's task (seed %d), so a mean over "+
			"other tasks can lie slightly above it.", len(s.Seeds), s.Seeds[0])
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// logSweepRatio is the max/min ratio of positive swept values above which
// the swept axis is logarithmic (β from 0.05 to 1 reads evenly).
const logSweepRatio = 8

// shortfallFigure draws, one panel per sweep group, the frontier shortfall
// of the final policies against the swept value.
func shortfallFigure(s *summary.Summary, by map[string]look) (figure, error) {
	const id, title = "sweep-shortfall", "Distance to the frontier along each sweep"
	var groups []sweepGroup
	for _, g := range sweepGroups(s, by) {
		for _, m := range g.Members {
			if _, ok := m.Metrics[metric.FrontierShortfall]; ok {
				groups = append(groups, g)
				break
			}
		}
	}
	if len(groups) == 0 {
		return figure{ID: id, Title: title, Missing: `Not shown: no swept objective has a frontier shortfall ("frontier_reward_shortfall"), ` +
			"which needs a task whose reward is known exactly (the built-in testbed)."}, nil
	}
	_, _, grid := panelGrid(len(groups))
	cols := len(grid[0])
	multi, bad := multiSeed(s), 0
	for i, g := range groups {
		l := g.Look
		p := newPlot(paramLabel(g.Param), "shortfall (reward units)")
		p.Title.Text = groupName(g)
		p.Title.TextStyle.Color = l.Color
		logX := g.Numeric && len(g.Values) > 1 && g.Values[0] > 0 && g.Values[len(g.Values)-1]/g.Values[0] >= logSweepRatio
		var xys plotter.XYs
		var ticks []plot.Tick
		for j, m := range g.Members {
			x := float64(j)
			if g.Numeric {
				x = g.Values[j]
			} else {
				ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprint(m.SweepValue)})
			}
			st, ok := m.Metrics[metric.FrontierShortfall]
			if !ok || !finite(st.Mean) {
				if ok {
					bad++
				}
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: st.Mean})
			if multi && len(st.Values) > 1 {
				p.Add(newWhisker(plotter.XY{X: x, Y: st.Lo}, plotter.XY{X: x, Y: st.Hi}, l.Color, vg.Points(5), true))
			}
		}
		if len(xys) > 0 {
			ln := l.line(xys)
			ln.Dashes = nil
			p.Add(ln, l.marks(xys, markRadius))
		}
		if logX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = logTicks{}
		} else if !g.Numeric {
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
			p.X.Min, p.X.Max = -0.3, float64(len(g.Members))-0.7
		}
		zero := &plotter.Line{XYs: plotter.XYs{{X: p.X.Min, Y: 0}, {X: p.X.Max, Y: 0}}}
		zero.LineStyle = draw.LineStyle{Color: optColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(zero)
		p.Y.Min = math.Min(p.Y.Min, 0)
		grid[i/cols][i%cols] = p
	}
	leg := newLegend()
	zero := &plotter.Line{LineStyle: draw.LineStyle{Color: optColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}}
	leg.Add("on the frontier (0)", zero)
	svg, err := renderPanels(title, grid, leg)
	if err != nil {
		return figure{}, err
	}
	caption := "One panel per sweep: the frontier shortfall of each final policy — the exact frontier's expected " +
		"reward at the policy's KL(π‖π_ref) minus the policy's own — against the swept value; 0 is on the frontier, lower is better."
	if multi {
		caption += fmt.Sprintf(" Means over the %d seeds, each against its own task's frontier, with 95%% t-interval bars.", len(s.Seeds))
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// paramLabel is the swept axis' label: "β (beta)".
func paramLabel(param string) string {
	if sym, ok := paramSymbols[param]; ok {
		return sym + " (" + param + ")"
	}
	if param == "" {
		return "swept value"
	}
	return strings.ReplaceAll(param, "_", " ")
}
