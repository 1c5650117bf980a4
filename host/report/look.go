package report

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/prefopt/prefopt/host/summary"
)

// palette holds the objective colours, in the order of Summary.Objectives:
// the Okabe–Ito colour-blind-safe palette without its yellow, which is too
// pale on white, then four dark colours of Paul Tol's muted scheme, so that
// a sweep plus the five built-in objectives gets ten distinct colours.
// Objectives beyond its length reuse it with dash patterns (see looksOf).
var palette = []color.RGBA{
	{0x00, 0x72, 0xb2, 0xff}, // blue
	{0xd5, 0x5e, 0x00, 0xff}, // vermilion
	{0x00, 0x9e, 0x73, 0xff}, // bluish green
	{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
	{0xe6, 0x9f, 0x00, 0xff}, // orange
	{0x56, 0xb4, 0xe9, 0xff}, // sky blue
	{0x88, 0x22, 0x55, 0xff}, // wine
	{0x33, 0x22, 0x88, 0xff}, // indigo
	{0x11, 0x77, 0x33, 0xff}, // dark green
	{0x99, 0x99, 0x33, 0xff}, // olive
}

// dashPatterns are the line styles of successive passes over the palette:
// solid, then dashed, dash-dotted and dotted.
var dashPatterns = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(6), vg.Points(2), vg.Points(1), vg.Points(2)},
	{vg.Points(1.5), vg.Points(2)},
}

// Colours of the policies that are not objectives.
var (
	refColor = color.RGBA{0x66, 0x66, 0x66, 0xff} // π_ref and neutral legend keys
	optColor = color.RGBA{0x00, 0x00, 0x00, 0xff} // π*_β and the frontier
	gridCol  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

// shapes are the objective markers. Their count (8) is prime to the
// palette's (10), so colour and shape together repeat only after 40
// objectives.
var shapes = []draw.GlyphDrawer{
	polygon{n: 0},                                 // disc
	polygon{n: 4, rot: math.Pi / 4},               // square
	polygon{n: 3, rot: math.Pi / 2},               // triangle
	polygon{n: 4},                                 // diamond
	polygon{n: 3, rot: -math.Pi / 2},              // inverted triangle
	polygon{n: 0, hollow: true},                   // ring
	polygon{n: 4, rot: math.Pi / 4, hollow: true}, // open square
	polygon{n: 3, rot: math.Pi / 2, hollow: true}, // open triangle
}

// look is how one objective is drawn everywhere.
type look struct {
	Label  string
	Index  int // position in Summary.Objectives: the table swatch class
	Color  color.RGBA
	Dashes []vg.Length
	Shape  draw.GlyphDrawer
}

// looksOf returns the look of each objective of s (see lookMap).
func looksOf(s *summary.Summary) []look {
	by := lookMap(s)
	out := make([]look, len(s.Objectives))
	for i, o := range s.Objectives {
		out[i] = by[label(o)]
	}
	return out
}

// lookMap gives every label of s its look, by the order labels first
// appear in s.Objectives and then s.Aggregates, so that an objective trained
// with several seeds looks the same in every figure and the table.
func lookMap(s *summary.Summary) map[string]look {
	by := map[string]look{}
	add := func(l string) {
		if _, ok := by[l]; ok {
			return
		}
		i := len(by)
		by[l] = look{Label: l, Index: i % len(palette), Color: palette[i%len(palette)], Shape: shapes[i%len(shapes)],
			Dashes: dashPatterns[i/len(palette)%len(dashPatterns)]}
	}
	for _, o := range s.Objectives {
		add(label(o))
	}
	for _, a := range s.Aggregates {
		add(a.Label)
	}
	return by
}

// label is the display name of an objective: its label, else its name.
func label(o summary.Objective) string {
	if o.Label != "" {
		return o.Label
	}
	return o.Name
}

func (l look) line(xys plotter.XYs) *plotter.Line {
	ln := &plotter.Line{XYs: xys}
	ln.LineStyle = draw.LineStyle{Color: l.Color, Width: vg.Points(1.6), Dashes: l.Dashes}
	return ln
}

func (l look) marks(xys plotter.XYs, radius vg.Length) *plotter.Scatter {
	return &plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{Color: l.Color, Radius: radius, Shape: l.Shape}}
}

// polygon is a marker: a regular n-gon with a vertex at angle rot, or a
// circle when n is 0; filled, or outlined with a 1.2 pt stroke.
type polygon struct {
	n      int
	rot    float64
	hollow bool
}

// DrawGlyph implements draw.GlyphDrawer.
func (g polygon) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	r := sty.Radius
	if g.n == 0 {
		p.Move(vg.Point{X: pt.X + r, Y: pt.Y})
		p.Arc(pt, r, 0, 2*math.Pi)
	} else {
		r *= 1.2 // a polygon of the same circumradius looks smaller than a disc
		for k := 0; k < g.n; k++ {
			a := g.rot + 2*math.Pi*float64(k)/float64(g.n)
			v := vg.Point{X: pt.X + r*vg.Length(math.Cos(a)), Y: pt.Y + r*vg.Length(math.Sin(a))}
			if k == 0 {
				p.Move(v)
			} else {
				p.Line(v)
			}
		}
	}
	p.Close()
	if g.hollow {
		c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.2)})
		c.Stroke(p)
		return
	}
	c.Fill(p)
}

// asterisk marks π*_β: three crossed strokes.
type asterisk struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (asterisk) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.8)})
	for k := 0; k < 3; k++ {
		a := math.Pi/2 + math.Pi*float64(k)/3
		d := vg.Point{X: sty.Radius * vg.Length(math.Cos(a)), Y: sty.Radius * vg.Length(math.Sin(a))}
		var p vg.Path
		p.Move(pt.Add(d))
		p.Line(pt.Sub(d))
		c.Stroke(p)
	}
}

// sans is the plot typeface. Its SVG family name gets generic fallbacks
// (see inlineSVG), so a browser without Liberation Sans uses Arial or
// Helvetica, which have the same metrics.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// Font sizes in points of the SVG canvas; a 600 pt canvas shown 800 px wide
// scales them by 4/3.
const (
	titleSize  = 11
	labelSize  = 10.5
	tickSize   = 9.5
	legendSize = 9.5
	noteSize   = 9
)

// newPlot returns a plot with the report's fonts, axis labels and a light
// grid, and no title.
func newPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = font.From(sans, titleSize)
	p.Title.Padding = vg.Points(4)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, labelSize)
		a.Tick.Label.Font = font.From(sans, tickSize)
		a.Padding = vg.Points(3)
	}
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = distinctTicks{}, distinctTicks{}
	p.Legend.TextStyle.Font = font.From(sans, legendSize)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridCol, gridCol
	p.Add(g)
	return p
}

// newLegend returns an empty legend with the report's font, entries listed
// from the top left.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(sans, legendSize)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(24)
	l.Padding = vg.Points(3)
	return l
}

// legendGap is the space between a plot and a legend drawn beside it.
const legendGap = vg.Length(10)

// legendSlack widens the legend column beyond the text width measured with
// Liberation Sans, for fallback fonts that run wider (DejaVu Sans by up to ~15%).
const legendSlack = 1.18

// drawBeside draws p into c and l in a column on the right of c, so the
// legend never hides data.
func drawBeside(c draw.Canvas, p *plot.Plot, l plot.Legend) {
	r := l.Rectangle(c)
	w := (r.Max.X-r.Min.X)*legendSlack + legendGap
	p.Draw(draw.Crop(c, 0, -w, 0, 0))
	l.Draw(draw.Crop(c, c.Max.X-c.Min.X-w+legendGap, 0, 0, -vg.Points(8)))
}

// svgStart matches the start of the root element vgsvg writes, with its
// size in points.
var svgStart = regexp.MustCompile(`^<svg width="[^"]*" height="[^"]*"`)

// renderSVG draws onto a w×h pt canvas and returns the SVG for inline use.
func renderSVG(w, h vg.Length, title string, paint func(draw.Canvas)) (template.HTML, error) {
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	paint(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("report: %s: %w", title, err)
	}
	s, err := inlineSVG(b.String(), title)
	if err != nil {
		return "", err
	}
	return template.HTML(s), nil // vgsvg escapes all text it writes
}

// inlineSVG turns a standalone SVG document from vgsvg into an element
// for an HTML page: the XML prolog and comment are dropped, the fixed size
// in points gives way to the page's CSS (the viewBox keeps the aspect
// ratio), the plot gets an accessible name, and the font gets fallbacks.
func inlineSVG(doc, title string) (string, error) {
	i := strings.Index(doc, "<svg ")
	if i < 0 {
		return "", fmt.Errorf("report: %s: no <svg> element in the plot output", title)
	}
	doc = doc[i:]
	loc := svgStart.FindStringIndex(doc)
	if loc == nil {
		return "", fmt.Errorf("report: %s: unexpected <svg> element %.60q", title, doc)
	}
	doc = `<svg class="plot" role="img" aria-label="` + html.EscapeString(title) + `"` + doc[loc[1]:]
	return strings.ReplaceAll(doc, "font-family:Liberation Sans;", "font-family:Liberation Sans,Arial,Helvetica,sans-serif;"), nil
}

// pageCSS is the page's style sheet, including one swatch class per palette
// colour (c0, c1, ...).
func pageCSS() template.CSS {
	var b strings.Builder
	b.WriteString(`body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#222;background:#fff;max-width:1060px;margin:0 auto;padding:16px 20px 48px;line-height:1.45}
h1{font-size:1.6em;margin:0.4em 0}
h2{font-size:1.2em;margin:1.6em 0 0.4em;border-bottom:1px solid #ddd;padding-bottom:0.2em}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 1em}
.facts dt{font-weight:600}
.facts dd{margin:0}
figure{margin:0}
.plotbox{overflow-x:auto}
svg.plot{display:block;width:100%;min-width:540px;height:auto}
figcaption,.caption{font-size:0.9em;color:#444;margin-top:0.4em}
.missing{color:#7a4a00;background:#fff6e5;border-left:4px solid #e69f00;padding:8px 12px}
.scroll{overflow-x:auto;max-width:100%;margin:0}
table{border-collapse:collapse;width:100%;font-size:0.85em;font-variant-numeric:tabular-nums}
th,td{padding:4px 6px;border-bottom:1px solid #e4e4e4}
thead th{text-align:right;vertical-align:bottom;font-weight:600;min-width:4em}
thead th:first-child{text-align:left}
tbody th{text-align:left;font-weight:600;min-width:8em;max-width:14em}
.label{white-space:nowrap}
.detail{overflow-wrap:anywhere}
td{text-align:right;white-space:nowrap}
tr.reference,tr.optimum{background:#f5f5f5;font-style:italic}
.pm{font-size:0.85em;color:#555}
table.dense th,table.dense td{padding:4px 3px}
.unit,.detail{font-weight:400;font-size:0.85em;color:#666;font-style:normal}
.sw{display:inline-block;width:0.8em;height:0.8em;border-radius:2px;margin-right:0.4em;vertical-align:baseline}
`)
	for i, c := range palette {
		fmt.Fprintf(&b, ".c%d{background:#%02x%02x%02x}\n", i, c.R, c.G, c.B)
	}
	return template.CSS(b.String())
}

// distinctTicks are gonum's default ticks with labels given as many
// significant digits as it takes to tell them apart (the default can print
// 1.48, 1.50 and 1.52 all as "1.5").
type distinctTicks struct{}

// Ticks implements plot.Ticker.
func (distinctTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	// At least the integer digits of the largest label, so that 10 prints
	// as "10", not "1e+01".
	first := 1
	for _, t := range ticks {
		if a := math.Abs(t.Value); t.Label != "" && a >= 1 && a < 1e6 {
			first = max(first, int(math.Floor(math.Log10(a)))+1)
		}
	}
	for prec := first; prec <= 8; prec++ {
		seen := map[string]bool{}
		distinct := true
		for _, t := range ticks {
			if t.Label == "" {
				continue
			}
			l := strconv.FormatFloat(t.Value, 'g', prec, 64)
			distinct = distinct && !seen[l]
			seen[l] = true
		}
		if distinct {
			for i, t := range ticks {
				if t.Label != "" {
					ticks[i].Label = strconv.FormatFloat(t.Value, 'g', prec, 64)
				}
			}
			return ticks
		}
	}
	return ticks
}
