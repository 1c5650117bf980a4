package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// Canvas sizes of the figures, in points.
const (
	figWidth       = vg.Length(600)
	lineHeight     = vg.Length(330)
	frontierHeight = vg.Length(400)
	panelHeight    = vg.Length(150)
	markRadius     = vg.Length(2.8)
	endRadius      = vg.Length(4.5)
)

// xAxis is the quantity curves are drawn against: epochs when every
// training log line of every objective logs it, else training examples seen
// when every point logs them, else the optimizer step.
type xAxis struct {
	key   string // metric name of the x value; "" for the step or epochs
	label string
	// epochs: x is the epoch, step / (steps per epoch); perEpoch maps
	// label to the objective's steps per epoch (see bind).
	epochs   bool
	perEpoch map[string]float64
	steps    float64 // steps per epoch of a bound axis
}

// Axis labels of the x axes.
const (
	epochLabel    = "epochs (passes over the training pairs)"
	examplesLabel = "training examples seen"
)

// xAxisOf chooses the x axis of s. Epochs put objectives that take different
// numbers of examples and steps per pair (KTO's unpaired batches, two
// examples per pair) on one axis of pairs' worth of data; evaluations, which
// log no epoch, get step / (steps per epoch) of their objective. Summaries
// without epochs fall back to examples seen, then to steps.
func xAxisOf(s *summary.Summary) xAxis {
	if per, ok := stepsPerEpoch(s); ok {
		return xAxis{epochs: true, perEpoch: per, label: epochLabel}
	}
	for _, o := range s.Objectives {
		for _, pts := range [][]summary.Point{o.History, o.Train} {
			for _, p := range pts {
				if v, ok := p.Values[metric.ExamplesSeen]; !ok || !finite(v) {
					return xAxis{label: "step"}
				}
			}
		}
	}
	return xAxis{key: metric.ExamplesSeen, label: examplesLabel}
}

// stepsPerEpoch returns each objective's steps per epoch, step/epoch of its
// training log lines (the trainer logs epoch = step / steps per epoch), when
// every line logs a finite epoch, every objective has a line past epoch 0,
// and the lines of one objective agree.
func stepsPerEpoch(s *summary.Summary) (map[string]float64, bool) {
	if len(s.Objectives) == 0 {
		return nil, false
	}
	per := map[string]float64{}
	for _, o := range s.Objectives {
		r := 0.0
		for _, p := range o.Train {
			e, ok := p.Values[metric.Epoch]
			if !ok || !finite(e) || e < 0 {
				return nil, false
			}
			if e == 0 {
				continue
			}
			q := float64(p.Step) / e
			if r != 0 && math.Abs(q-r) > 1e-6*r {
				return nil, false
			}
			r = q
		}
		if !(r > 0) {
			return nil, false
		}
		per[label(o)] = r
	}
	return per, true
}

// bind returns the axis for the points of o.
func (x xAxis) bind(o summary.Objective) xAxis {
	if x.epochs {
		x.steps = x.perEpoch[label(o)]
	}
	return x
}

// of returns the x value of p; an epoch axis must be bound (see bind).
func (x xAxis) of(p summary.Point) float64 {
	switch {
	case x.epochs:
		return float64(p.Step) / x.steps
	case x.key == "":
		return float64(p.Step)
	}
	return p.Values[x.key]
}

// series returns (x, value of key) for the points that hold key, in their
// order, and how many of those values were not finite and left out.
func series(pts []summary.Point, x xAxis, key string) (plotter.XYs, int) {
	var xys plotter.XYs
	bad := 0
	for _, p := range pts {
		v, ok := p.Values[key]
		if !ok {
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad++
			continue
		}
		xys = append(xys, plotter.XY{X: x.of(p), Y: v})
	}
	return xys, bad
}

// omitted is a caption sentence for n left-out non-finite values.
func omitted(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " One non-finite value (NaN or ±Inf) is left out."
	}
	return fmt.Sprintf(" %d non-finite values (NaN or ±Inf) are left out.", n)
}

// finite reports whether v is neither NaN nor ±Inf.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func noObjectives(id, title string) figure {
	return figure{ID: id, Title: title, Missing: "Not shown: the summary lists no objectives."}
}

// source is where a figure reads a TRL metric: the held-out evaluations
// when any objective logged them, else the training log lines.
type source struct {
	key   string // the metric name in the points
	eval  bool   // History rather than Train
	where string // for captions: "held-out pairs" or "training batches"
}

func (src source) points(o summary.Objective) []summary.Point {
	if src.eval {
		return o.History
	}
	return o.Train
}

// sourceOf finds the source of the TRL metric name (e.g. "rewards/margins"),
// and reports whether any objective logged it at all.
func sourceOf(s *summary.Summary, name string) (source, bool) {
	for _, o := range s.Objectives {
		for _, p := range o.History {
			if _, ok := p.Values[metric.EvalPrefix+name]; ok {
				return source{metric.EvalPrefix + name, true, "held-out pairs"}, true
			}
		}
	}
	for _, o := range s.Objectives {
		for _, p := range o.Train {
			if _, ok := p.Values[name]; ok {
				return source{name, false, "training batches (no held-out evaluation logged it)"}, true
			}
		}
	}
	return source{}, false
}

// panelGrid lays out one plot per objective, two per row.
func panelGrid(n int) (rows, cols int, grid [][]*plot.Plot) {
	cols = 2
	if n == 1 {
		cols = 1
	}
	rows = (n + cols - 1) / cols
	grid = make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	return rows, cols, grid
}

// renderPanels draws a legend above a grid of panels.
func renderPanels(title string, grid [][]*plot.Plot, leg plot.Legend) (template.HTML, error) {
	rows, cols := len(grid), len(grid[0])
	lr := leg.Rectangle(draw.Canvas{})
	legH := lr.Max.Y - lr.Min.Y + vg.Points(8)
	height := vg.Length(rows)*panelHeight + legH
	return renderSVG(figWidth, height, title, func(c draw.Canvas) {
		leg.Draw(draw.Crop(c, vg.Points(4), 0, height-legH, 0))
		body := draw.Crop(c, 0, 0, 0, -legH)
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(18), PadY: vg.Points(8), PadTop: vg.Points(2), PadRight: vg.Points(6)}
		canvases := plot.Align(grid, tiles, body)
		for j := range grid {
			for i, p := range grid[j] {
				if p != nil {
					p.Draw(canvases[j][i])
				}
			}
		}
	})
}

// lossFigure draws one small panel per objective: training loss against
// examples seen, with held-out loss as markers. Objectives' losses differ in
// scale and meaning, so each panel has its own y axis.
func lossFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "loss", "Training loss"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	x := xAxisOf(s)
	_, _, grid := panelGrid(len(s.Objectives))
	cols := len(grid[0])
	bad, drawn := 0, false
	anyEval := false
	for i, o := range s.Objectives {
		l := looks[i]
		p := newPlot(x.label, "loss")
		p.Title.Text = l.Label
		p.Title.TextStyle.Color = l.Color
		train, nb := series(o.Train, x.bind(o), keyLoss)
		eval, ne := series(o.History, x.bind(o), keyEvalLoss)
		bad += nb + ne
		if len(train) > 0 {
			p.Add(l.line(train))
			drawn = true
		}
		if len(eval) > 0 {
			sc := &plotter.Scatter{XYs: eval, GlyphStyle: draw.GlyphStyle{Color: l.Color, Radius: markRadius, Shape: polygon{hollow: true}}}
			p.Add(sc)
			drawn, anyEval = true, true
		}
		if len(train) == 0 && len(eval) == 0 {
			note(p, "no loss logged")
		}
		grid[i/cols][i%cols] = p
	}
	if !drawn {
		return figure{ID: id, Title: title, Missing: `Not shown: no training log line or evaluation has a loss ("loss", "eval_loss").`}, nil
	}
	leg := newLegend()
	neutral := look{Color: refColor}
	leg.Add("training loss (logged steps)", neutral.line(plotter.XYs{}))
	if anyEval {
		leg.Add("held-out loss (evaluations)", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: markRadius, Shape: polygon{hollow: true}}})
	}
	svg, err := renderPanels(title, grid, leg)
	if err != nil {
		return figure{}, err
	}
	caption := "One panel per objective, each with its own loss axis: the objectives minimise " +
		"different functions, so their losses are neither on one scale nor comparable in value; " +
		"what each panel shows is whether and how fast that objective's own loss falls."
	if anyEval {
		caption += " Rings are the loss on the held-out pairs at each evaluation."
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// xSentence explains the x axis of the curves.
func xSentence(x xAxis) string {
	switch {
	case x.epochs:
		return "Curves are drawn against epochs, passes over the training pairs, so objectives compare at " +
			"equal data: an unpaired objective (KTO) counts each pair as two examples and takes twice the " +
			"steps per epoch."
	case x.key == "":
		return "Curves are drawn against the optimizer step: this summary does not log the epoch or the training examples seen."
	}
	return "Curves are drawn against the training examples seen, not the step, so objectives whose batches " +
		"differ compare at equal data; an unpaired objective (KTO) counts a pair's chosen and rejected " +
		"completions as two examples."
}

// note writes a centred remark in an otherwise empty plot.
func note(p *plot.Plot, msg string) {
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{msg}})
	if err != nil {
		panic(err) // one finite point and one label: cannot fail
	}
	lb.TextStyle[0] = noteStyle(draw.XCenter, draw.YCenter)
	p.Add(lb)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
}

func noteStyle(x text.XAlignment, y text.YAlignment) text.Style {
	return text.Style{Color: refColor, Font: font.From(sans, noteSize), XAlign: x, YAlign: y, Handler: plot.DefaultTextHandler}
}

// allTies reports whether the accuracy at p is 0 because every pair is a
// tie: accuracy 0 means no margin is > 0, and a mean margin of exactly 0 on
// top of that means every margin is 0. That is the start of an objective
// whose reward is β·log π/π_ref, at π = π_ref.
func allTies(p summary.Point, accKey, marginKey string) bool {
	m, ok := p.Values[marginKey]
	return p.Values[accKey] == 0 && ok && m == 0
}

// chance is the accuracy of a coin flip.
const chance = 0.5

// accuracyFigure draws preference accuracy against examples seen, on a y
// range fitted to the data with chance (0.5) as a line.
func accuracyFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "accuracy", "Preference accuracy"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	x := xAxisOf(s)
	src, hasSrc := sourceOf(s, metric.RewardsAccuracies)
	marginKey := strings.Replace(src.key, metric.RewardsAccuracies, metric.RewardsMargins, 1)
	p := newPlot(x.label, "accuracy (fraction of pairs)")
	leg := newLegend()
	bad, ties := 0, 0
	lo, hi := chance, chance
	var onlyFinal []string
	var anyAcc, anyFinal bool
	curves := make([]plotter.XYs, len(s.Objectives))
	for i, o := range s.Objectives {
		var xys plotter.XYs
		if hasSrc {
			xo := x.bind(o)
			for _, pt := range src.points(o) {
				v, ok := pt.Values[src.key]
				switch {
				case !ok:
				case !finite(v):
					bad++
				case allTies(pt, src.key, marginKey):
					ties++
				default:
					xys = append(xys, plotter.XY{X: xo.of(pt), Y: v})
				}
			}
		}
		curves[i] = xys
		for _, xy := range xys {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	for _, i := range drawOrder(curves) {
		l, xys := looks[i], curves[i]
		if len(xys) > 0 {
			p.Add(l.line(xys), l.marks(xys, markRadius))
			anyAcc = true
		}
	}
	for i, o := range s.Objectives {
		l := looks[i]
		var thumbs []plot.Thumbnailer
		name := l.Label
		if len(curves[i]) > 0 {
			thumbs = append(thumbs, l.line(nil), l.marks(nil, markRadius))
		}
		if v, ok := o.Final[keyImplicitAcc]; ok && finite(v) && len(o.History) > 0 {
			pt := plotter.XYs{{X: x.bind(o).of(o.History[len(o.History)-1]), Y: v}}
			sc := &plotter.Scatter{XYs: pt, GlyphStyle: draw.GlyphStyle{Color: l.Color, Radius: endRadius, Shape: polygon{hollow: true}}}
			p.Add(sc)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			anyFinal = true
			if len(thumbs) == 0 {
				thumbs = append(thumbs, sc)
				name += " (final only)"
				onlyFinal = append(onlyFinal, l.Label)
			}
		} else if ok && !finite(v) {
			bad++
		}
		if len(thumbs) == 0 {
			name += " (not logged)"
			thumbs = append(thumbs, l.line(nil))
		}
		leg.Add(name, thumbs...)
	}
	if !anyAcc && !anyFinal {
		return figure{ID: id, Title: title, Missing: `Not shown: no objective logged a pairwise accuracy ("rewards/accuracies" in training or evaluation, or "implicit_reward_accuracy").`}, nil
	}
	ch := &plotter.Line{XYs: plotter.XYs{{X: p.X.Min, Y: chance}, {X: p.X.Max, Y: chance}}}
	ch.LineStyle = draw.LineStyle{Color: refColor, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
	p.Add(ch)
	leg.Add("chance (0.5)", ch)
	caption := "Fraction of preference pairs whose chosen completion the objective's own reward scores " +
		"above the rejected one (TRL's rewards/accuracies), on " + src.where + "."
	if !anyAcc {
		caption = "No objective logged a pairwise accuracy during training."
	}
	if anyFinal {
		leg.Add("implicit-reward acc., final", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: endRadius, Shape: polygon{hollow: true}}})
		caption += " Rings: the final policy's implicit-reward accuracy on the held-out pairs (log π/π_ref of " +
			"the chosen completion > that of the rejected one), the DPO reward model every policy defines."
	}
	if len(onlyFinal) > 0 {
		caption += " " + strings.Join(onlyFinal, ", ") + ": trained on unpaired examples, so no pairwise " +
			"accuracy is logged during training; only the final ring is shown."
	}
	if ties > 0 {
		caption += " Left out: points where every pair is a tie (all margins 0, the start of an objective " +
			"whose reward is β·log π/π_ref, at π = π_ref), which would read as a false accuracy of 0."
	}
	pad := math.Max(0.02, 0.08*(hi-lo))
	p.Y.Min, p.Y.Max = math.Max(0, lo-pad), math.Min(1, hi+pad)
	caption += " The y range is fitted to the data; the dashed line is chance, 0.5."
	svg, err := renderSVG(figWidth, lineHeight, title, func(c draw.Canvas) { drawBeside(c, p, leg) })
	if err != nil {
		return figure{}, err
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// marginsFigure draws the mean reward margin (chosen − rejected, in each
// objective's own reward) against examples seen.
func marginsFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "margins", "Reward margins"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	x := xAxisOf(s)
	src, ok := sourceOf(s, metric.RewardsMargins)
	if !ok {
		return figure{ID: id, Title: title, Missing: `Not shown: no objective logged "rewards/margins".`}, nil
	}
	p := newPlot(x.label, "mean reward margin")
	leg := newLegend()
	bad := 0
	curves := make([]plotter.XYs, len(s.Objectives))
	for i, o := range s.Objectives {
		var n int
		curves[i], n = series(src.points(o), x.bind(o), src.key)
		bad += n
	}
	for _, i := range drawOrder(curves) {
		if len(curves[i]) > 0 {
			p.Add(looks[i].line(curves[i]), looks[i].marks(curves[i], markRadius))
		}
	}
	for i, l := range looks {
		if len(curves[i]) == 0 {
			leg.Add(l.Label+" (not logged)", l.line(nil))
			continue
		}
		leg.Add(l.Label, l.line(nil), l.marks(nil, markRadius))
	}
	svg, err := renderSVG(figWidth, lineHeight, title, func(c draw.Canvas) { drawBeside(c, p, leg) })
	if err != nil {
		return figure{}, err
	}
	caption := "Mean reward of the chosen minus the rejected completion, each objective in its own reward " +
		"(TRL's rewards/margins), on " + src.where + ". The rewards differ between objectives (β·log π/π_ref, " +
		"a length-normalised log-prob, a log-odds), so compare each curve's trend, not the curves' heights."
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// logpsFigure draws one panel per objective: the mean log-probability of
// the chosen and of the rejected completions against examples seen.
func logpsFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "logps", "Log-probabilities of chosen and rejected completions"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	x := xAxisOf(s)
	srcC, okC := sourceOf(s, metric.LogpsChosen)
	srcR, okR := sourceOf(s, metric.LogpsRejected)
	if !okC && !okR {
		return figure{ID: id, Title: title, Missing: `Not shown: no objective logged "logps/chosen" or "logps/rejected".`}, nil
	}
	_, _, grid := panelGrid(len(s.Objectives))
	cols := len(grid[0])
	dashed := []vg.Length{vg.Points(4), vg.Points(3)}
	bad := 0
	for i, o := range s.Objectives {
		l := looks[i]
		p := newPlot(x.label, "log π(y|x)")
		p.Title.Text = l.Label
		p.Title.TextStyle.Color = l.Color
		var ch, rj plotter.XYs
		var n int
		if okC {
			ch, n = series(srcC.points(o), x.bind(o), srcC.key)
			bad += n
		}
		if okR {
			rj, n = series(srcR.points(o), x.bind(o), srcR.key)
			bad += n
		}
		if len(ch) > 0 {
			ln := l.line(ch)
			ln.Dashes = nil
			p.Add(ln)
		}
		if len(rj) > 0 {
			ln := l.line(rj)
			ln.Dashes = dashed
			p.Add(ln)
		}
		if len(ch) == 0 && len(rj) == 0 {
			note(p, "not logged")
		}
		grid[i/cols][i%cols] = p
	}
	leg := newLegend()
	solid := look{Color: refColor}.line(nil)
	dash := look{Color: refColor}.line(nil)
	dash.Dashes = dashed
	leg.Add("chosen", solid)
	leg.Add("rejected", dash)
	svg, err := renderPanels(title, grid, leg)
	if err != nil {
		return figure{}, err
	}
	where := srcC.where
	if !okC {
		where = srcR.where
	}
	caption := "Mean log-probability under the policy of the chosen (solid) and rejected (dashed) completions, " +
		"on " + where + ", one panel per objective. A widening gap with both falling is the familiar " +
		"likelihood displacement of DPO-like objectives."
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// drawOrder returns the indices of curves, those spanning the largest part
// of the plot first, so that small curves (IPO's near π_ref) are drawn last,
// on top.
func drawOrder(curves []plotter.XYs) []int {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, c := range curves {
		for _, p := range c {
			xlo, xhi = math.Min(xlo, p.X), math.Max(xhi, p.X)
			ylo, yhi = math.Min(ylo, p.Y), math.Max(yhi, p.Y)
		}
	}
	span := func(lo, hi float64) float64 {
		if hi > lo {
			return hi - lo
		}
		return 1
	}
	dx, dy := span(xlo, xhi), span(ylo, yhi)
	extent := make([]float64, len(curves))
	for i, c := range curves {
		if len(c) == 0 {
			continue
		}
		a, b, e, f := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, p := range c {
			a, b = math.Min(a, p.X), math.Max(b, p.X)
			e, f = math.Min(e, p.Y), math.Max(f, p.Y)
		}
		extent[i] = (b-a)/dx + (f-e)/dy
	}
	order := make([]int, len(curves))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return extent[order[i]] > extent[order[j]] })
	return order
}

// logRatio is the max/min ratio of positive values above which the KL axis
// is logarithmic, so that small KLs stay readable next to large ones.
const logRatio = 20

// klFigure draws KL(π‖π*_β) against step, with π_ref's value as a line.
func klFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "kl-optimal", "Distance to the optimum: KL(π‖π*_β)"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	x := xAxisOf(s)
	lo, hi := math.Inf(1), math.Inf(-1)
	bad := 0
	all := make([]plotter.XYs, len(s.Objectives))
	maxStep := 0.0
	for i, o := range s.Objectives {
		xys, n := series(o.History, x.bind(o), keyKLOpt)
		bad += n
		all[i] = xys
		for _, xy := range xys {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
			maxStep = math.Max(maxStep, xy.X)
		}
	}
	if math.IsInf(lo, 1) {
		return figure{ID: id, Title: title, Missing: `Cannot be computed on this data: KL(π‖π*_β) ("kl_to_optimal") needs a task whose ` +
			"optimal policy is known exactly (the built-in testbed); data without a known reward has no π*_β to measure against."}, nil
	}
	ref, hasRef := s.Reference[keyKLOpt]
	hasRef = hasRef && finite(ref)
	if hasRef {
		lo, hi = math.Min(lo, ref), math.Max(hi, ref)
	}
	logY := lo > 0 && hi/lo >= logRatio
	yLabel := "KL(π‖π*_β) (nats)"
	if logY {
		yLabel += ", log scale"
	}
	p := newPlot(x.label, yLabel)
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	leg := newLegend()
	for _, i := range drawOrder(all) {
		if xys := all[i]; len(xys) > 0 {
			p.Add(looks[i].line(xys), looks[i].marks(xys, markRadius))
		}
	}
	for i, xys := range all {
		l := looks[i]
		if len(xys) == 0 {
			leg.Add(l.Label+" (not logged)", l.line(nil))
			continue
		}
		leg.Add(l.Label, l.line(nil), l.marks(nil, markRadius))
	}
	caption := "Exact KL divergence from each objective's policy to π*_β, in nats, averaged over the " +
		"held-out prompts; 0 only at the optimum, lower is better."
	if hasRef {
		ln := &plotter.Line{XYs: plotter.XYs{{X: 0, Y: ref}, {X: math.Max(maxStep, 1), Y: ref}}}
		ln.LineStyle = draw.LineStyle{Color: refColor, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		p.Add(ln)
		leg.Add("π_ref (start)", ln)
		caption += fmt.Sprintf(" The dashed line is π_ref's value, %s nats: a curve below it has moved toward the optimum.", number(ref))
	}
	if logY {
		caption += " The axis is logarithmic because the values span more than a factor of 20."
	}
	svg, err := renderSVG(figWidth, lineHeight, title, func(c draw.Canvas) { drawBeside(c, p, leg) })
	if err != nil {
		return figure{}, err
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// logTicks marks 1, 2 and 5 times powers of ten, labelled, plus unlabelled
// minor ticks at the other integers times powers of ten.
type logTicks struct{}

// Ticks implements plot.Ticker. It panics if min or max is not > 0.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > 0) {
		panic("report: logTicks: bounds must be > 0")
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(min)); math.Pow(10, e) <= max; e++ {
		base := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = fmt.Sprintf("%g", v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// maxBetaLabels is the number of frontier points labelled with their β′.
const maxBetaLabels = 5

// frontierFigure draws expected reward against KL(π‖π_ref): each
// objective's trajectory over the exact optimal frontier, with π_ref and
// π*_β marked.
func frontierFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "frontier", "Reward–KL frontier"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	trajs := make([]plotter.XYs, len(s.Objectives))
	bad, xmax, anyTraj := 0, 0.0, false
	for i, o := range s.Objectives {
		var xys plotter.XYs
		for _, h := range o.History {
			kl, okK := h.Values[keyKLRef]
			r, okR := h.Values[keyReward]
			if !okK || !okR {
				continue
			}
			if !finite(kl) || !finite(r) {
				bad++
				continue
			}
			xys = append(xys, plotter.XY{X: kl, Y: r})
			xmax = math.Max(xmax, kl)
		}
		trajs[i] = xys
		anyTraj = anyTraj || len(xys) > 0
	}
	if !anyTraj {
		return figure{ID: id, Title: title, Missing: `Cannot be computed on this data: the expected true reward and ` +
			`KL(π‖π_ref) ("expected_reward", "kl_to_reference") need a task whose reward is known exactly (the built-in testbed).`}, nil
	}
	opt, hasOpt := point(s.Optimal)
	if hasOpt {
		xmax = math.Max(xmax, opt.X)
	}
	ref, hasRef := point(s.Reference)
	if xmax <= 0 {
		xmax = 1
	}
	xmax *= 1.15 // room right of the furthest policy for the frontier to continue
	p := newPlot("KL(π‖π_ref) (nats)", "expected reward E[r*] (reward units)")
	leg := newLegend()
	front, kept := frontierCurve(s, xmax)
	if len(front) > 1 {
		ln := &plotter.Line{XYs: front}
		ln.LineStyle = draw.LineStyle{Color: optColor, Width: vg.Points(1.3)}
		p.Add(ln)
		labelled := spreadLabels(kept, maxBetaLabels)
		dots := &plotter.Scatter{XYs: labelled.XYs, GlyphStyle: draw.GlyphStyle{Color: optColor, Radius: 1.8, Shape: polygon{}}}
		p.Add(dots)
		leg.Add("exact frontier π*_β′", ln)
		lb, err := betaLabels(labelled)
		if err != nil {
			return figure{}, err
		}
		p.Add(lb)
	}
	for _, i := range drawOrder(trajs) {
		l, xys := looks[i], trajs[i]
		if len(xys) == 0 {
			continue
		}
		start := &plotter.Scatter{XYs: xys[:1], GlyphStyle: draw.GlyphStyle{Color: l.Color, Radius: endRadius + 1, Shape: polygon{hollow: true}}}
		p.Add(l.line(xys), l.marks(xys, markRadius), start, l.marks(xys[len(xys)-1:], endRadius))
	}
	for i, xys := range trajs {
		l := looks[i]
		if len(xys) == 0 {
			leg.Add(l.Label+" (not logged)", l.line(nil))
			continue
		}
		leg.Add(l.Label, l.line(nil), l.marks(nil, markRadius))
	}
	addAnchors(p, &leg, "π_ref (start)", ref, hasRef, opt, hasOpt, s.Beta)
	p.X.Min = math.Min(p.X.Min, 0)
	if p.X.Max < xmax {
		p.X.Max = xmax
	}
	svg, err := renderSVG(figWidth, frontierHeight, title, func(c draw.Canvas) { drawBeside(c, p, leg) })
	if err != nil {
		return figure{}, err
	}
	caption := "Each coloured curve follows one objective's policy through training, one marker per " +
		"evaluation, from its start (ring) to its final policy (large marker)."
	if len(front) > 1 {
		caption += " The black curve is the exact optimal frontier, from π_ref (β′ → ∞, KL 0) outward: for each " +
			"β′ (a few are labelled), π*_β′ has the highest expected reward of all policies at its KL from π_ref, " +
			"so no policy lies above it. It is cut at 15% beyond the furthest policy. Small trajectories are drawn last, on top."
	} else {
		caption += " The summary holds no exact frontier to draw."
	}
	if hasOpt {
		caption += fmt.Sprintf(" The asterisk is π*_β for this comparison's β = %g: the best trade-off "+
			"between reward and KL at that β, and the population optimum of DPO trained at that β on "+
			"Bradley–Terry labels; other objectives optimise other functions and need not reach it.", s.Beta)
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// point returns (kl_to_reference, expected_reward) of m if both are finite.
func point(m map[string]float64) (plotter.XY, bool) {
	kl, okK := m[keyKLRef]
	r, okR := m[keyReward]
	if !okK || !okR || !finite(kl) || !finite(r) {
		return plotter.XY{}, false
	}
	return plotter.XY{X: kl, Y: r}, true
}

// betaPoints are frontier points with their β′.
type betaPoints struct {
	plotter.XYs
	Betas []float64
}

// clipFrontier returns the frontier's finite points sorted by KL, cut at
// KL = xmax (the segment crossing xmax ends on it, by linear interpolation),
// and the points of the cut curve that carry a β′.
func clipFrontier(fp []summary.FrontierPoint, xmax float64) (line plotter.XYs, kept betaPoints) {
	pts := make([]summary.FrontierPoint, 0, len(fp))
	for _, p := range fp {
		if finite(p.KLToReference) && finite(p.ExpectedReward) && finite(p.Beta) {
			pts = append(pts, p)
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].KLToReference < pts[j].KLToReference })
	for i, p := range pts {
		xy := plotter.XY{X: p.KLToReference, Y: p.ExpectedReward}
		if xy.X <= xmax {
			line = append(line, xy)
			kept.XYs = append(kept.XYs, xy)
			kept.Betas = append(kept.Betas, p.Beta)
			continue
		}
		if i > 0 {
			a := line[len(line)-1]
			t := (xmax - a.X) / (xy.X - a.X)
			line = append(line, plotter.XY{X: xmax, Y: a.Y + t*(xy.Y-a.Y)})
		}
		break
	}
	return line, kept
}

// frontierCurve is the frontier of s cut at KL = xmax (see clipFrontier),
// starting at π_ref, its limit β′ → ∞, when the summary has π_ref's
// metrics and no frontier point at KL 0 already; and the points that carry
// a β′.
func frontierCurve(s *summary.Summary, xmax float64) (plotter.XYs, betaPoints) {
	front, kept := clipFrontier(s.Frontier, xmax)
	if ref, ok := point(s.Reference); ok && len(front) > 0 && front[0].X > frontierZeroKL {
		front = append(plotter.XYs{ref}, front...)
	}
	return front, kept
}

// frontierZeroKL is the KL below which a frontier point is π_ref itself
// (rounding noise of an exact enumeration at β′ → ∞).
const frontierZeroKL = 1e-12

// labelBetaMax is the largest β′ labelled: larger ones stand for the limit
// β′ → ∞, which is π_ref, marked as such.
const labelBetaMax = 1e6

// spreadLabels picks at most n points of bp, spread evenly along the KL
// axis from its furthest point back toward π_ref.
func spreadLabels(bp betaPoints, n int) betaPoints {
	var out betaPoints
	if len(bp.XYs) == 0 {
		return out
	}
	last := bp.XYs[len(bp.XYs)-1].X
	used := map[int]bool{}
	for k := n; k >= 1; k-- {
		target := last * float64(k) / float64(n)
		best := -1
		for i, p := range bp.XYs {
			if bp.Betas[i] > labelBetaMax || p.X <= frontierZeroKL || used[i] {
				continue
			}
			if best < 0 || math.Abs(p.X-target) < math.Abs(bp.XYs[best].X-target) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		out.XYs = append(out.XYs, bp.XYs[best])
		out.Betas = append(out.Betas, bp.Betas[best])
	}
	return out
}

// betaLabels labels the points of bp with their β′, above and left of the
// point, where the frontier leaves room.
func betaLabels(bp betaPoints) (*plotter.Labels, error) {
	var sel plotter.XYLabels
	for i := range bp.XYs {
		sel.XYs = append(sel.XYs, bp.XYs[i])
		sel.Labels = append(sel.Labels, "β′="+trimFloat(bp.Betas[i]))
	}
	lb, err := plotter.NewLabels(sel)
	if err != nil {
		return nil, fmt.Errorf("report: frontier labels: %w", err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i] = noteStyle(draw.XRight, draw.YBottom)
		lb.TextStyle[i].Color = optColor
	}
	lb.Offset = vg.Point{X: -3, Y: 3}
	return lb, nil
}

// trimFloat formats v with at most 3 significant digits.
func trimFloat(v float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.3g", v), ".")
}

// addAnchors marks π_ref (a ring, named refName in the legend) and π*_β (an
// asterisk) in the reward–KL plane of p, each only when it is known.
func addAnchors(p *plot.Plot, leg *plot.Legend, refName string, ref plotter.XY, hasRef bool, opt plotter.XY, hasOpt bool, beta float64) {
	if hasRef {
		sc := &plotter.Scatter{XYs: plotter.XYs{ref}, GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: endRadius + 1, Shape: polygon{hollow: true}}}
		p.Add(sc)
		leg.Add(refName, sc)
	}
	if hasOpt {
		sc := &plotter.Scatter{XYs: plotter.XYs{opt}, GlyphStyle: draw.GlyphStyle{Color: optColor, Radius: 6, Shape: asterisk{}}}
		p.Add(sc)
		leg.Add(fmt.Sprintf("π*_β, β = %g", beta), sc)
	}
}
