package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

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

// series returns (step, value of key) for the points that hold key, in
// their order, and how many of those values were not finite and left out.
func series(pts []summary.Point, key string) (plotter.XYs, int) {
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
		xys = append(xys, plotter.XY{X: float64(p.Step), Y: v})
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
	return figure{ID: id, Title: title, Missing: "the summary lists no objectives."}
}

// lossFigure draws one small panel per objective: training loss against
// step, with held-out loss as markers. Objectives' losses differ in scale
// and meaning, so each panel has its own y axis.
func lossFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "loss", "Training loss"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	cols := 2
	if len(s.Objectives) == 1 {
		cols = 1
	}
	rows := (len(s.Objectives) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	bad, drawn := 0, false
	anyEval := false
	for i, o := range s.Objectives {
		l := looks[i]
		p := newPlot("step", "loss")
		p.Title.Text = l.Label
		p.Title.TextStyle.Color = l.Color
		train, nb := series(o.Train, keyLoss)
		eval, ne := series(o.History, keyEvalLoss)
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
		return figure{ID: id, Title: title, Missing: `no training log line or evaluation has a loss ("loss", "eval_loss").`}, nil
	}
	leg := newLegend()
	neutral := look{Color: refColor}
	leg.Add("training loss (logged steps)", neutral.line(plotter.XYs{}))
	if anyEval {
		leg.Add("held-out loss (evaluations)", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: markRadius, Shape: polygon{hollow: true}}})
	}
	lr := leg.Rectangle(draw.Canvas{})
	legH := lr.Max.Y - lr.Min.Y + vg.Points(8)
	height := vg.Length(rows)*panelHeight + legH
	svg, err := renderSVG(figWidth, height, title, func(c draw.Canvas) {
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

// accuracyFigure draws held-out preference accuracy against step.
func accuracyFigure(s *summary.Summary, looks []look) (figure, error) {
	const id, title = "accuracy", "Held-out preference accuracy"
	if len(s.Objectives) == 0 {
		return noObjectives(id, title), nil
	}
	p := newPlot("step", "accuracy (fraction of held-out pairs)")
	leg := newLegend()
	bad := 0
	var anyAcc, anyImpl, anyImplFinal bool
	for i, o := range s.Objectives {
		l := looks[i]
		acc, nb := series(o.History, keyEvalAcc)
		impl, ni := series(o.History, keyImplicitAcc)
		bad += nb + ni
		name := l.Label
		var thumbs []plot.Thumbnailer
		if len(acc) > 0 {
			ln, mk := l.line(acc), l.marks(acc, markRadius)
			p.Add(ln, mk)
			thumbs = append(thumbs, ln, mk)
			anyAcc = true
		}
		switch v, ok := o.Final[keyImplicitAcc]; {
		case len(impl) > 0:
			ln := l.line(impl)
			ln.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(ln, l.marks(impl, markRadius))
			anyImpl = true
			if len(thumbs) == 0 {
				thumbs = append(thumbs, ln)
			}
		case ok && finite(v):
			pt := plotter.XYs{{X: float64(finalStep(o)), Y: v}}
			sc := &plotter.Scatter{XYs: pt, GlyphStyle: draw.GlyphStyle{Color: l.Color, Radius: endRadius, Shape: polygon{hollow: true}}}
			p.Add(sc)
			anyImplFinal = true
			if len(thumbs) == 0 {
				thumbs = append(thumbs, l.marks(nil, markRadius))
			}
		case ok:
			bad++
		}
		if len(thumbs) == 0 {
			name += " (not logged)"
			thumbs = append(thumbs, l.line(nil))
		}
		leg.Add(name, thumbs...)
	}
	if !anyAcc && !anyImpl && !anyImplFinal {
		return figure{ID: id, Title: title, Missing: `no evaluation logged "eval_rewards/accuracies" or "implicit_reward_accuracy".`}, nil
	}
	neutral := look{Color: refColor}
	caption := "Fraction of held-out preference pairs ranked correctly, at each evaluation."
	if anyAcc {
		leg.Add("eval_rewards/accuracies", neutral.line(nil))
		caption += " Solid: eval_rewards/accuracies, the fraction of pairs whose chosen completion the objective's own reward scores higher than the rejected one."
	}
	if anyImpl {
		ln := neutral.line(nil)
		ln.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		leg.Add("implicit-reward accuracy", ln)
		caption += " Dashed: implicit-reward accuracy, log π/π_ref of the chosen completion > that of the rejected one."
	}
	if anyImplFinal {
		leg.Add("implicit-reward acc., final", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: endRadius, Shape: polygon{hollow: true}}})
		caption += " Rings: implicit-reward accuracy of the final policy (log π/π_ref of the chosen completion > that of the rejected one), the DPO reward model every policy defines."
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Tick.Marker = fractionTicks
	svg, err := renderSVG(figWidth, lineHeight, title, func(c draw.Canvas) { drawBeside(c, p, leg) })
	if err != nil {
		return figure{}, err
	}
	return figure{ID: id, Title: title, SVG: svg, Caption: caption + omitted(bad)}, nil
}

// fractionTicks mark [0, 1] every 0.1, labelled every 0.2.
var fractionTicks = func() plot.ConstantTicks {
	var ts plot.ConstantTicks
	for k := 0; k <= 10; k++ {
		t := plot.Tick{Value: float64(k) / 10}
		if k%2 == 0 {
			t.Label = fmt.Sprintf("%.1f", t.Value)
		}
		ts = append(ts, t)
	}
	return ts
}()

// finalStep is the step of an objective's final policy: its last
// evaluation, else its step count.
func finalStep(o summary.Objective) int {
	if n := len(o.History); n > 0 {
		return o.History[n-1].Step
	}
	return o.Steps
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
	lo, hi := math.Inf(1), math.Inf(-1)
	bad := 0
	all := make([]plotter.XYs, len(s.Objectives))
	maxStep := 0.0
	for i, o := range s.Objectives {
		xys, n := series(o.History, keyKLOpt)
		bad += n
		all[i] = xys
		for _, xy := range xys {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
			maxStep = math.Max(maxStep, xy.X)
		}
	}
	if math.IsInf(lo, 1) {
		return figure{ID: id, Title: title, Missing: `no evaluation logged "kl_to_optimal". It needs a task whose ` +
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
	p := newPlot("step", yLabel)
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	leg := newLegend()
	for i, xys := range all {
		l := looks[i]
		if len(xys) == 0 {
			leg.Add(l.Label+" (not logged)", l.line(nil))
			continue
		}
		ln, mk := l.line(xys), l.marks(xys, markRadius)
		p.Add(ln, mk)
		leg.Add(l.Label, ln, mk)
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
		return figure{ID: id, Title: title, Missing: `no evaluation logged both "expected_reward" and ` +
			`"kl_to_reference". They need a task whose reward is known exactly (the built-in testbed).`}, nil
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
	front, labelled := clipFrontier(s.Frontier, xmax)
	if len(front) > 1 {
		ln := &plotter.Line{XYs: front}
		ln.LineStyle = draw.LineStyle{Color: optColor, Width: vg.Points(1.3)}
		p.Add(ln)
		dots := &plotter.Scatter{XYs: labelled.XYs, GlyphStyle: draw.GlyphStyle{Color: optColor, Radius: 1.8, Shape: polygon{}}}
		p.Add(dots)
		leg.Add("exact frontier π*_β′", ln, dots)
		lb, err := betaLabels(labelled)
		if err != nil {
			return figure{}, err
		}
		p.Add(lb)
	}
	for i, xys := range trajs {
		l := looks[i]
		if len(xys) == 0 {
			leg.Add(l.Label+" (not logged)", l.line(nil))
			continue
		}
		ln, mk := l.line(xys), l.marks(xys, markRadius)
		start := &plotter.Scatter{XYs: xys[:1], GlyphStyle: draw.GlyphStyle{Color: l.Color, Radius: endRadius + 1, Shape: polygon{hollow: true}}}
		end := l.marks(xys[len(xys)-1:], endRadius)
		p.Add(ln, mk, start, end)
		leg.Add(l.Label, ln, mk)
	}
	if hasRef {
		sc := &plotter.Scatter{XYs: plotter.XYs{ref}, GlyphStyle: draw.GlyphStyle{Color: refColor, Radius: endRadius + 1, Shape: polygon{hollow: true}}}
		p.Add(sc)
		leg.Add("π_ref (start)", sc)
	}
	if hasOpt {
		sc := &plotter.Scatter{XYs: plotter.XYs{opt}, GlyphStyle: draw.GlyphStyle{Color: optColor, Radius: 6, Shape: asterisk{}}}
		p.Add(sc)
		leg.Add(fmt.Sprintf("π*_β, β = %g", s.Beta), sc)
	}
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
		caption += " The black curve is the exact optimal frontier: for each β′ (a few are labelled), π*_β′ " +
			"has the highest expected reward of all policies at its KL from π_ref, so no policy lies above it."
		if len(front) > len(labelled.XYs) {
			caption += " The frontier is cut at 15% beyond the furthest policy."
		}
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

// betaLabels labels at most maxBetaLabels evenly spread points with their
// β′, above and left of the point, where the frontier leaves room.
func betaLabels(bp betaPoints) (*plotter.Labels, error) {
	var sel plotter.XYLabels
	n := len(bp.XYs)
	step := 1
	if n > maxBetaLabels {
		step = (n + maxBetaLabels - 1) / maxBetaLabels
	}
	for i := n - 1; i >= 0; i -= step {
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
