// Package report renders the summary of a side-by-side comparison of
// objectives as one self-contained HTML page: inline CSS and inline SVG
// plots, no scripts, no fonts, images or style sheets fetched from elsewhere,
// so the file reads the same offline.
//
// The page holds a header (experiment, β, seeds, wall time and what the
// exact metrics mean), six figures — training loss, preference accuracy,
// reward margins, chosen and rejected log-probabilities, KL(π‖π*_β), and
// expected reward against KL(π‖π_ref) over the exact optimal frontier drawn
// from π_ref — and a table of the final policies sorted by KL(π‖π*_β), with
// the columns of the terminal table (Columns), inside its own horizontally
// scrolling box. Curves run against epochs (passes over the training pairs,
// so an unpaired objective's two examples per pair take the room of one
// pair), else training examples seen, else steps, whichever the summary logs.
//
// A summary of several seeds (Summary.Seeds) draws the curves of its first
// seed, adds a figure of every seed's final KL(π‖π*_β) and expected reward
// per objective with their mean and 95% t-interval, and shows the table as
// mean ± half-width over the seeds (Summary.Aggregates). A summary with
// sweep groups (Objective.Group) adds the groups' final policies as
// polylines in the reward–KL plane over the frontier, and their frontier
// shortfall against the swept value. A summary of one seed without sweeps
// renders as it did before either existed.
//
// A figure whose metrics the summary lacks is replaced by a sentence saying
// why: "Cannot be computed on this data" for the exact metrics of a run
// without a known optimum. Every objective keeps one colour, marker shape
// and dash pattern in all figures and in the table.
//
// WriteLeaderboard renders a benchmark suite's leaderboard.json the same
// way: one table of objectives × scenarios.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/summary"
)

// Metric keys the report reads from summary points and final metrics.
const (
	keyLoss        = metric.Loss
	keyEvalLoss    = metric.EvalLoss
	keyEvalAcc     = metric.EvalRewardsAccuracies
	keyImplicitAcc = metric.ImplicitRewardAccuracy
	keyReward      = metric.ExpectedReward
	keyKLRef       = metric.KLToReference
	keyKLOpt       = metric.KLToOptimal
	keyGap         = metric.FreeEnergyGap
	keyEntropy     = metric.Entropy
)

// Write renders s and stores the page at path atomically: the page is built
// in memory, written to a temporary file in path's directory, synced and
// renamed over path. On error path is left as it was and the temporary file
// is removed.
func Write(path string, s *summary.Summary) error {
	var b bytes.Buffer
	if err := Render(&b, s); err != nil {
		return err
	}
	return writeAtomic(path, b.Bytes())
}

// writeAtomic writes page to a temporary file in path's directory, syncs
// it and renames it over path; on error path is left as it was and the
// temporary file is removed.
func writeAtomic(path string, page []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("report: %w", err)
	}
	if _, err := f.Write(page); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Render writes the page for s to w. The page is built in memory first, so
// nothing is written to w if rendering fails. The output depends only on s:
// the same summary renders to the same bytes.
func Render(w io.Writer, s *summary.Summary) error {
	if s == nil {
		return errors.New("report: nil summary")
	}
	p, err := build(s)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// page is the data of the page template.
type page struct {
	Experiment  string
	Description string // run.description, shown under the title
	Facts       []fact
	Intro       []string // paragraphs
	CSS         template.CSS
	Figures     []figure
	Table       table
}

type fact struct{ Name, Value string }

// figure is one plot, or the reason it is missing.
type figure struct {
	ID, Title string
	SVG       template.HTML // empty when Missing is set
	Caption   string
	Missing   string
}

func build(s *summary.Summary) (*page, error) {
	name := s.Experiment
	if name == "" {
		name = "(unnamed)"
	}
	p := &page{Experiment: name, Description: s.Description, CSS: pageCSS()}
	beta := "not set: the data has no known optimum"
	if s.Beta > 0 {
		beta = fmt.Sprintf("%g (the KL weight of the optimum π*_β)", s.Beta)
	}
	multi := multiSeed(s)
	view := trajectoryView(s)
	by := lookMap(s)
	looks := looksOf(view)
	for i, o := range view.Objectives {
		looks[i] = by[label(o)]
	}
	objectives := fmt.Sprint(len(s.Objectives))
	if multi {
		objectives = fmt.Sprintf("%d, each trained with every seed", len(aggregatesOf(s)))
	}
	p.Facts = []fact{
		{"β", beta},
		{"objectives", objectives},
	}
	if multi {
		p.Facts = append(p.Facts, fact{"seeds", fmt.Sprintf("%d: %s (curves: seed %d)", len(s.Seeds), seedList(s.Seeds), s.Seeds[0])})
	}
	p.Facts = append(p.Facts, fact{"wall time", duration(s.WallSeconds) + " (set-up included)"})
	if len(s.Unfinished) > 0 {
		p.Facts = append(p.Facts, fact{"unfinished", strings.Join(s.Unfinished, ", ") +
			" (interrupted or failed: not shown; prefopt compare --resume DIR continues them)"})
	}
	p.Intro = intro(s)
	builders := []func(*summary.Summary, []look) (figure, error){
		lossFigure, accuracyFigure, marginsFigure, logpsFigure, klFigure, frontierFigure,
	}
	for _, b := range builders {
		f, err := b(view, looks)
		if err != nil {
			return nil, err
		}
		p.Figures = append(p.Figures, f)
	}
	var more []func(*summary.Summary, map[string]look) (figure, error)
	if multi {
		more = append(more, seedsFigure)
	}
	if hasSweep(s) {
		more = append(more, sweepFigure, shortfallFigure)
	}
	for _, b := range more {
		f, err := b(s, by)
		if err != nil {
			return nil, err
		}
		if f.ID != "" {
			p.Figures = append(p.Figures, f)
		}
	}
	if multi {
		p.Table = seedTable(s, by)
	} else {
		p.Table = finalTable(s, looks)
	}
	return p, nil
}

func intro(s *summary.Summary) []string {
	common := "Every objective was trained from the same reference policy π_ref, on the same " +
		"preference pairs, with the same seed; the start of every curve is π_ref itself. " + xSentence(xAxisOf(s))
	if multiSeed(s) {
		common = fmt.Sprintf("Every objective was trained with each of %d seeds (%s); within a seed every objective "+
			"starts from the same reference policy π_ref and initialisation and sees the same preference pairs, "+
			"while each seed draws its own task, pairs, reference and initialisation. The curves show the first "+
			"seed, %d, alone (the start of every curve is its π_ref); the figure of final policies over seeds and "+
			"the table cover all %d, as means with 95%% Student-t intervals. ",
			len(s.Seeds), seedList(s.Seeds), s.Seeds[0], len(s.Seeds)) + xSentence(xAxisOf(trajectoryView(s)))
	}
	if !hasExact(s) {
		return []string{common, "This run's data has no known reward function, so the optimal policy " +
			"is unknown and the exact metrics (expected reward, KL to π_ref and to the optimum, " +
			"free-energy gap, entropy) cannot be computed: the report shows what the training and " +
			"evaluation logged (losses, preference accuracies, reward margins, log-probabilities) " +
			"and the final table."}
	}
	return []string{common,
		"The task's reward r*(x, y) is known, so the policy that maximises the KL-regularised " +
			"objective J_β(π) = E_π[r*] − β·KL(π‖π_ref) is known exactly: " +
			"π*_β(y|x) = π_ref(y|x)·exp(r*(x, y)/β)/Z_β(x). Two numbers say how far a policy π is " +
			"from it: KL(π‖π*_β), in nats, and the free-energy gap β·KL(π‖π*_β) = β·log Z_β − J_β(π), " +
			"in reward units. Both are 0 at the optimum and only there; lower is better. A higher " +
			"expected reward alone is not better: it can be bought by drifting from π_ref further " +
			"than β allows. The exact metrics are averages over the held-out prompts with every " +
			"completion enumerated, not sample estimates.",
	}
}

// hasExact reports whether s carries exact metrics of a known optimum.
func hasExact(s *summary.Summary) bool {
	if len(s.Optimal) > 0 {
		return true
	}
	for _, o := range s.Objectives {
		if _, ok := o.Final[keyKLOpt]; ok {
			return true
		}
		for _, h := range o.History {
			if _, ok := h.Values[keyKLOpt]; ok {
				return true
			}
		}
	}
	return false
}

// duration formats seconds as "12.3 s", "4 min 05 s" or "2 h 03 min".
func duration(sec float64) string {
	switch {
	case math.IsNaN(sec) || math.IsInf(sec, 0) || sec < 0:
		return "unknown"
	case sec < 60:
		return fmt.Sprintf("%.1f s", sec)
	case sec < 3600:
		t := int(math.Round(sec))
		return fmt.Sprintf("%d min %02d s", t/60, t%60)
	}
	t := int(math.Round(sec / 60))
	return fmt.Sprintf("%d h %02d min", t/60, t%60)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>prefopt comparison: {{.Experiment}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<header>
<h1>Comparison: {{.Experiment}}</h1>
{{if .Description}}<p class="claim">{{.Description}}</p>
{{end}}<dl class="facts">{{range .Facts}}
<dt>{{.Name}}</dt><dd>{{.Value}}</dd>{{end}}
</dl>
{{range .Intro}}<p>{{.}}</p>
{{end}}</header>
<main>
{{range .Figures}}<section id="{{.ID}}">
<h2>{{.Title}}</h2>
{{if .Missing}}<p class="missing">{{.Missing}}</p>
{{else}}<figure>
<div class="plotbox">{{.SVG}}</div>
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}</section>
{{end}}<section id="final">
<h2>Final policies</h2>
<div class="scroll">
<table{{if .Table.Dense}} class="dense"{{end}}>
<thead><tr><th scope="col">policy</th>{{range .Table.Head}}<th scope="col">{{.Name}}{{if .Unit}}<br><span class="unit">{{.Unit}}</span>{{end}}</th>{{end}}</tr></thead>
<tbody>
{{range .Table.Rows}}<tr class="{{.Kind}}"><th scope="row">{{if ge .Color 0}}<span class="sw c{{.Color}}"></span>{{end}}<span class="label">{{.Label}}</span>{{if .Detail}}<br><span class="detail">{{.Detail}}</span>{{end}}</th>{{range .Cells}}<td>{{.Text}}{{if .PM}}<br><span class="pm">± {{.PM}}</span>{{end}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
</div>
<p class="caption">{{.Table.Caption}}</p>
{{if .Table.Note}}<p class="caption note">{{.Table.Note}}</p>
{{end}}
</section>
</main>
</body>
</html>
`))
