package sentiment

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// palette is Okabe–Ito, one colour per objective.
var palette = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {230, 159, 0, 255}, {86, 180, 233, 255},
}

var grey = color.RGBA{90, 90, 90, 255}

func objectiveColor(name string) color.RGBA {
	if i := slices.Index(Objectives, name); i >= 0 {
		return palette[i]
	}
	return palette[len(palette)-1]
}

// svgOf renders p as an inline SVG element w×h points.
func svgOf(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("sentiment: plot: %w", err)
	}
	s := b.String()
	if i := strings.Index(s, "<svg "); i >= 0 {
		s = s[i:]
	}
	s = strings.Replace(s, "<svg ", `<svg class="plot" `, 1)
	return template.HTML(s), nil // vgsvg escapes the text it writes
}

// errBar adds the segment (x0, y0)–(x1, y1) to p.
func errBar(p *plot.Plot, x0, y0, x1, y1 float64, c color.Color) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y1}})
	if err != nil {
		return err
	}
	l.Color, l.Width = c, vg.Points(1)
	p.Add(l)
	return nil
}

// scatterPlot draws E[r] against KL for every policy with ±1 standard
// error bars on both axes, π_ref, and the best-of-N curve.
func scatterPlot(s *Summary) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = "KL(π ‖ π_ref)  (nats per completion)", "E[reward]  (mean AFINN valence)"
	p.Add(plotter.NewGrid())
	bon := make(plotter.XYs, len(s.BestOfN))
	for i, b := range s.BestOfN {
		bon[i] = plotter.XY{X: b.KL, Y: b.Reward}
	}
	if len(bon) > 0 {
		l, pts, err := plotter.NewLinePoints(bon)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color, l.Dashes = grey, grey, []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l, pts)
		p.Legend.Add("best-of-N from π_ref (N = 1…"+fmt.Sprint(s.BestOfN[len(s.BestOfN)-1].N)+")", l, pts)
	}
	for _, o := range Objectives {
		var xy plotter.XYs
		c := objectiveColor(o)
		for _, pol := range s.Policies {
			if pol.Objective != o {
				continue
			}
			xy = append(xy, plotter.XY{X: pol.KL, Y: pol.Reward})
			if err := errBar(p, pol.KL-pol.KLSE, pol.Reward, pol.KL+pol.KLSE, pol.Reward, c); err != nil {
				return nil, err
			}
			if err := errBar(p, pol.KL, pol.Reward-pol.RewardSE, pol.KL, pol.Reward+pol.RewardSE, c); err != nil {
				return nil, err
			}
		}
		if len(xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		sc.Color, sc.Radius, sc.Shape = c, vg.Points(3.5), draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(o, sc)
	}
	ref, err := plotter.NewScatter(plotter.XYs{{X: s.Reference.KL, Y: s.Reference.Reward}})
	if err != nil {
		return nil, err
	}
	ref.Color, ref.Radius, ref.Shape = color.Black, vg.Points(5), draw.CrossGlyph{}
	p.Add(ref)
	p.Legend.Add("π_ref", ref)
	p.Legend.Top, p.Legend.Left = true, false
	return p, nil
}

// stepPlot draws E[r] against the training step of each objective at the
// β given.
func stepPlot(s *Summary, beta float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("β = %g", beta)
	p.X.Label.Text, p.Y.Label.Text = "optimizer step", "E[reward]"
	p.Add(plotter.NewGrid())
	for _, pol := range s.Policies {
		if pol.Beta != beta {
			continue
		}
		xy := make(plotter.XYs, len(pol.Steps))
		for i, st := range pol.Steps {
			xy[i] = plotter.XY{X: float64(st.Step), Y: st.Reward}
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		c := objectiveColor(pol.Objective)
		l.Color, pts.Color = c, c
		p.Add(l, pts)
		p.Legend.Add(pol.Objective, l, pts)
	}
	p.Legend.Top, p.Legend.Left = false, false
	return p, nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"f": func(format string, v float64) string { return fmt.Sprintf(format, v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>prefopt — controlled sentiment</title>
<style>
body{font-family:system-ui,Arial,sans-serif;color:#222;max-width:1100px;margin:0 auto;padding:16px 20px 48px;line-height:1.45}
h2{font-size:1.2em;border-bottom:1px solid #ddd;margin-top:1.6em}
svg.plot{display:block;width:100%;height:auto}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
table{border-collapse:collapse;width:100%;font-size:0.88em}
th,td{padding:3px 6px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.p{color:#666}
</style></head><body>
<h1>Controlled sentiment in miniature</h1>
<p>Quotes of Debian's <code>fortunes</code> ({{.S.Corpus.Train}} train, {{.S.Corpus.Test}} held out).
Reference: byte-level transformer, {{.S.SFT.Params}} parameters, {{.S.SFT.Steps}} SFT steps, held-out perplexity
{{f "%.3f" .S.SFT.EvalPPL}} per byte. Reward: mean AFINN-165 valence of the completion's words.
Preferences: {{.S.Prefs.Pairs}} pairs sampled from π_ref, Bradley–Terry labels at τ = {{f "%g" .S.Profile.LabelTemperature}}
(mean reward chosen {{f "%.3f" .S.Prefs.ChosenReward}}, rejected {{f "%.3f" .S.Prefs.RejectReward}}).
Evaluation: {{.S.Profile.EvalSamples}} samples on each of {{.S.Profile.EvalPrompts}} held-out prompts, temperature 1; error bars ±1 standard error over prompts.</p>
<h2>Reward against KL</h2>
<figure>{{.Scatter}}</figure>
<h2>Reward against step</h2>
<div class="grid">{{range .Steps}}<figure>{{.}}</figure>{{end}}</div>
<h2>Policies</h2>
<table><thead><tr><th>policy</th><th>E[r]</th><th>± se</th><th>KL</th><th>± se</th></tr></thead><tbody>
<tr><td>π_ref</td><td class="n">{{f "%+.4f" .S.Reference.Reward}}</td><td class="n">{{f "%.4f" .S.Reference.RewardSE}}</td><td class="n">{{f "%.3f" .S.Reference.KL}}</td><td class="n">{{f "%.3f" .S.Reference.KLSE}}</td></tr>
{{range .S.Policies}}<tr><td>{{.Label}}</td><td class="n">{{f "%+.4f" .Reward}}</td><td class="n">{{f "%.4f" .RewardSE}}</td><td class="n">{{f "%.3f" .KL}}</td><td class="n">{{f "%.3f" .KLSE}}</td></tr>
{{end}}</tbody></table>
<h2>Sample completions</h2>
<table><thead><tr><th>policy</th><th>prompt and completion</th><th>reward</th></tr></thead><tbody>
{{range .S.SFT.Samples}}<tr><td>π_ref</td><td><span class="p">{{.Prompt}}</span>{{.Completion}}</td><td class="n">{{f "%+.3f" .Reward}}</td></tr>
{{end}}{{range .Shown}}{{$l := .Label}}{{range .Samples}}<tr><td>{{$l}}</td><td><span class="p">{{.Prompt}}</span>{{.Completion}}</td><td class="n">{{f "%+.3f" .Reward}}</td></tr>
{{end}}{{end}}</tbody></table>
</body></html>
`))

// writeReport writes the self-contained HTML report.
func writeReport(path string, s *Summary) error {
	sp, err := scatterPlot(s)
	if err != nil {
		return fmt.Errorf("sentiment: plot: %w", err)
	}
	scatter, err := svgOf(sp, 720, 440)
	if err != nil {
		return err
	}
	var steps []template.HTML
	for _, b := range s.Profile.Betas {
		p, err := stepPlot(s, b)
		if err != nil {
			return fmt.Errorf("sentiment: plot: %w", err)
		}
		svg, err := svgOf(p, 360, 260)
		if err != nil {
			return err
		}
		steps = append(steps, svg)
	}
	// One β per objective in the sample table: the smallest, whose policy
	// moves farthest from π_ref.
	var shown []Policy
	for _, pol := range s.Policies {
		if pol.Beta == s.Profile.Betas[0] {
			shown = append(shown, pol)
		}
	}
	var b bytes.Buffer
	if err := page.Execute(&b, map[string]any{"S": s, "Scatter": scatter, "Steps": steps, "Shown": shown}); err != nil {
		return fmt.Errorf("sentiment: report: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("sentiment: %w", err)
	}
	return nil
}
