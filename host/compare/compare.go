// Package compare trains several objectives side by side on one experiment
// and summarises how they differ: summary.json, report.html and a table.
package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/summary"
	"github.com/prefopt/prefopt/host/testbed"
)

// Options control a comparison.
type Options struct {
	Dir          string    // output directory, created if needed
	Log          io.Writer // progress; nil discards
	PluginStderr io.Writer // plugins' stderr; nil means os.Stderr
	// Jobs is the number of objectives trained at once (< 1 means 1). Each
	// runs on its own graph and plugin, so results do not depend on Jobs.
	Jobs int
	// Progress, if set, is called after every optimizer step of every run.
	Progress func(label string, done, total int, loss float64)
	// Resume continues a comparison in Dir: objectives whose result was
	// saved are read back, not retrained; the others resume from their
	// latest checkpoint, if any.
	Resume bool
}

// ErrUnfinished is wrapped by the error of a comparison that stopped before
// every objective finished; Dir then holds the summary and report of those
// that did, and Run with Resume continues the rest.
var ErrUnfinished = errors.New("compare: unfinished")

// resultsDir is the directory of Dir that holds each finished objective's
// summary entry, so an interrupted comparison can be resumed and reported.
const resultsDir = "results"

// resultPath is where the result of the objective labelled label is saved.
func resultPath(dir, label string) string {
	return filepath.Join(dir, resultsDir, url.PathEscape(label)+".json")
}

// Run trains every objective of exp and writes summary.json and
// report.html into opts.Dir. Each objective's result is saved as it
// finishes; if the run stops early (ctx cancelled, or an objective fails),
// summary.json and report.html cover the finished objectives and list the
// others as unfinished, and the error wraps ErrUnfinished.
func Run(ctx context.Context, exp *config.Experiment, opts Options) (*summary.Summary, error) {
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(opts.Dir, resultsDir), 0o755); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	eopts := experiment.Options{Dir: opts.Dir, Log: opts.Log, PluginStderr: opts.PluginStderr, Progress: opts.Progress,
		Resume: opts.Resume}
	if err := experiment.CheckObjectives(ctx, exp, eopts); err != nil {
		return nil, err
	}
	m, err := experiment.Prepare(ctx, exp, eopts)
	if err != nil {
		return nil, err
	}
	s := &summary.Summary{Experiment: exp.Run.Name, Reference: map[string]float64{}}
	if tb := m.Testbed; tb != nil {
		s.Beta = tb.Config.Beta
		s.Reference = experiment.ExactValues(tb.RefReport.Mean)
		opt, err := tb.Task.Evaluate(tb.Optimal, tb.Reference)
		if err != nil {
			return nil, err
		}
		s.Optimal = experiment.ExactValues(opt.Mean)
		began := time.Now()
		front, err := tb.Task.Frontier(tb.Reference, FrontierBetas(tb.Config.FrontierBetas))
		if err != nil {
			return nil, fmt.Errorf("compare: frontier: %w", err)
		}
		for _, p := range front {
			s.Frontier = append(s.Frontier, summary.FrontierPoint{Beta: p.Beta, KLToReference: p.KLRef, ExpectedReward: p.Reward})
		}
		logf(opts.Log, "frontier: %d points of π*_β′ in %.2fs\n", len(front), time.Since(began).Seconds())
		acc, err := implicitAccuracy(tb, m.Reference, m.Reference)
		if err != nil {
			return nil, err
		}
		s.Reference[metric.EvalRewardsAccuracies] = acc
		s.Reference[metric.ImplicitRewardAccuracy] = acc
	}
	results := make([]summary.Objective, len(exp.Objectives))
	done := make([]bool, len(exp.Objectives))
	if opts.Resume {
		for i, o := range exp.Objectives {
			r, err := readResult(resultPath(opts.Dir, o.Label))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			results[i], done[i] = *r, true
			logf(opts.Log, "%s: finished before, read back from %s\n", o.Label, resultPath(opts.Dir, o.Label))
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	errs := make([]error, len(exp.Objectives))
	var wg sync.WaitGroup
	for range max(1, min(opts.Jobs, len(exp.Objectives))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i], errs[i] = trainOne(runCtx, exp, m, i, eopts)
				if errs[i] == nil {
					errs[i] = writeResult(resultPath(opts.Dir, exp.Objectives[i].Label), &results[i])
				}
				if errs[i] != nil {
					cancel()
					continue
				}
				done[i] = true
			}
		}()
	}
	for i := range exp.Objectives {
		if !done[i] {
			jobs <- i
		}
	}
	close(jobs)
	wg.Wait()
	for i, o := range exp.Objectives {
		if done[i] {
			s.Objectives = append(s.Objectives, results[i])
		} else {
			s.Unfinished = append(s.Unfinished, o.Label)
		}
	}
	s.WallSeconds = time.Since(start).Seconds()
	if err := summary.Write(filepath.Join(opts.Dir, "summary.json"), s); err != nil {
		return nil, err
	}
	if err := writeReport(filepath.Join(opts.Dir, "report.html"), s); err != nil {
		return nil, err
	}
	if len(s.Unfinished) == 0 {
		return s, nil
	}
	// The first error that is not a consequence of cancelling the others.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if ctx.Err() != nil && first == nil {
		first = ctx.Err()
	}
	return s, fmt.Errorf("%w: %d of %d objectives finished (unfinished: %s); summary.json and report.html cover the finished ones: %w",
		ErrUnfinished, len(s.Objectives), len(exp.Objectives), strings.Join(s.Unfinished, ", "), first)
}

// FrontierPoints is the number of log-spaced β′ of the drawn frontier:
// enough that a polyline through them reads as a smooth curve.
const FrontierPoints = 48

// FrontierLimit is the β′ that stands for β′ → ∞: π*_β′ = π_ref·exp(r*/β′)/Z
// is π_ref up to rounding (r*/β′ is subnormal or 0), at KL 0.
const FrontierLimit = math.MaxFloat64

// FrontierBetas returns the β′ at which the frontier is computed, in
// decreasing order: FrontierLimit, then FrontierPoints values log-spaced
// from 100 times the largest of task down to the smallest of task, so the
// curve runs from π_ref (KL 0) through every β′ the task names. Non-positive
// values of task are ignored; with none left it returns FrontierLimit alone.
func FrontierBetas(task []float64) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range task {
		if b > 0 && !math.IsInf(b, 0) {
			lo, hi = math.Min(lo, b), math.Max(hi, b)
		}
	}
	out := []float64{FrontierLimit}
	if math.IsInf(lo, 1) {
		return out
	}
	hi *= 100 // KL ≈ Var(r*)/(2β′²): 1e-4 of its value at the largest β′
	a, b := math.Log(hi), math.Log(lo)
	for k := range FrontierPoints {
		out = append(out, math.Exp(a+(b-a)*float64(k)/float64(FrontierPoints-1)))
	}
	out[len(out)-1] = lo // exactly, not exp(log(lo))
	return out
}

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format, a...)
	}
}

// writeResult saves one finished objective's summary entry atomically.
func writeResult(path string, o *summary.Objective) error {
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}

// readResult reads an entry saved by writeResult; the error wraps
// fs.ErrNotExist when there is none.
func readResult(path string) (*summary.Objective, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var o summary.Objective
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("compare: %s: %w", path, err)
	}
	return &o, nil
}

// trainOne trains objective i of exp alone and summarises it.
func trainOne(ctx context.Context, exp *config.Experiment, m *experiment.Material, i int, eopts experiment.Options) (summary.Objective, error) {
	began := time.Now()
	one := *exp
	one.Objectives = []config.Objective{exp.Objectives[i]}
	runs, err := experiment.TrainAll(ctx, &one, m, eopts)
	if err != nil {
		return summary.Objective{}, err
	}
	entry, err := summarise(runs[0], m)
	entry.WallSeconds = time.Since(began).Seconds()
	return entry, err
}

func summarise(r experiment.Trained, m *experiment.Material) (summary.Objective, error) {
	o := summary.Objective{Name: r.Name, Label: r.Label, Version: r.Spec.Version, Params: r.Params, Steps: r.Outcome.Steps}
	for _, h := range r.Outcome.History {
		o.History = append(o.History, summary.Point{Step: h.Step, Values: h.Values})
	}
	for _, h := range r.Outcome.Train {
		o.Train = append(o.Train, summary.Point{Step: h.Step, Values: h.Values})
	}
	o.Final = map[string]float64{}
	if n := len(o.History); n > 0 {
		for k, v := range o.History[n-1].Values {
			o.Final[k] = v
		}
	}
	for i := len(o.Train) - 1; i >= 0; i-- {
		if v, ok := o.Train[i].Values[metric.Loss]; ok {
			o.Final[metric.TrainLoss] = v // the last logged training loss
			break
		}
	}
	if m.Testbed != nil {
		acc, err := implicitAccuracy(m.Testbed, r.Outcome.Policy, m.Reference)
		if err != nil {
			return o, err
		}
		o.Final[metric.ImplicitRewardAccuracy] = acc
		// An unpaired objective (KTO) logs no pairwise accuracy of its own;
		// its implicit reward β·(log π − log π_ref) orders pairs exactly as
		// log π/π_ref does, so its held-out accuracy is this one.
		if _, ok := o.Final[metric.EvalRewardsAccuracies]; !ok {
			o.Final[metric.EvalRewardsAccuracies] = acc
		}
	}
	if r.Dir != "" {
		if dir, err := checkpoint.Latest(filepath.Join(r.Dir, "checkpoints")); err == nil {
			o.Checkpoint = dir
		}
	}
	return o, nil
}

// implicitAccuracy is the fraction of held-out pairs whose chosen completion
// has the strictly larger implicit reward log π(y|x) − log π_ref(y|x): the
// DPO reward model every policy defines, whatever objective trained it.
func implicitAccuracy(tb *experiment.Testbed, policy, ref *model.Weights) (float64, error) {
	pairs := tb.EvalPairs
	if len(pairs) == 0 {
		return 0, nil
	}
	logp := func(w *model.Weights, ys func(testbed.Pair) []int) ([]float64, error) {
		seqs := make([]model.Seq, len(pairs))
		for i, p := range pairs {
			toks := append(append([]int(nil), p.Prompt...), ys(p)...)
			seqs[i] = model.Seq{Tokens: toks, From: len(p.Prompt), To: len(toks)}
		}
		sc, err := model.NewScorer(w, 256, 256, model.WithFloat64())
		if err != nil {
			return nil, err
		}
		defer sc.Close()
		return sc.ScoreAll(seqs)
	}
	chosen := func(p testbed.Pair) []int { return p.Chosen }
	rejected := func(p testbed.Pair) []int { return p.Rejected }
	var vals [4][]float64
	for i, job := range []struct {
		w  *model.Weights
		ys func(testbed.Pair) []int
	}{{policy, chosen}, {policy, rejected}, {ref, chosen}, {ref, rejected}} {
		v, err := logp(job.w, job.ys)
		if err != nil {
			return 0, err
		}
		vals[i] = v
	}
	right := 0
	for i := range pairs {
		if vals[0][i]-vals[2][i] > vals[1][i]-vals[3][i] {
			right++
		}
	}
	return float64(right) / float64(len(pairs)), nil
}

// noNegativeZero turns "-0.000" (a tiny negative rounding error) into
// "0.000".
func noNegativeZero(s string) string {
	if strings.HasPrefix(s, "-") && strings.Trim(s[1:], "0.") == "" {
		return s[1:]
	}
	return s
}

// TableOptions control PrintTable.
type TableOptions struct {
	// NoTiming leaves out the wall-clock column, which differs from run to
	// run, so that the table of one seed and config is the same everywhere.
	NoTiming bool
}

// PrintTable writes the final metrics of every objective, sorted by
// KL(π‖π*) when known, with the reference and optimum first: the columns of
// report.Columns that some row has, as on the page. π_ref's accuracies,
// ties by construction, print as "–*" with a footnote.
func PrintTable(w io.Writer, s *summary.Summary, opts TableOptions) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	var cols []report.Column
	for _, c := range report.Columns { // only the columns some row has
		_, has := s.Reference[c.Key]
		_, hasOpt := s.Optimal[c.Key]
		has = has || hasOpt
		for _, o := range s.Objectives {
			_, ok := o.Final[c.Key]
			has = has || ok
		}
		if has {
			cols = append(cols, c)
		}
	}
	fmt.Fprint(tw, "policy\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c.Short)
	}
	if opts.NoTiming {
		fmt.Fprintln(tw, "steps\t")
	} else {
		fmt.Fprintln(tw, "steps\tseconds\t")
	}
	tied := false
	row := func(name string, vals map[string]float64, ref bool, steps string, secs string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, c := range cols {
			v, ok := vals[c.Key]
			switch {
			case ok && ref && report.TiedForReference(c.Key):
				fmt.Fprint(tw, "–*\t")
				tied = true
			case ok:
				fmt.Fprintf(tw, "%s\t", noNegativeZero(fmt.Sprintf(c.Terminal, v)))
			default:
				fmt.Fprint(tw, "-\t")
			}
		}
		if opts.NoTiming {
			fmt.Fprintf(tw, "%s\t\n", steps)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t\n", steps, secs)
		}
	}
	if len(s.Reference) > 0 {
		row("reference π_ref", s.Reference, true, "-", "-")
	}
	if len(s.Optimal) > 0 {
		row(fmt.Sprintf("optimum π*(β=%g)", s.Beta), s.Optimal, false, "-", "-")
	}
	objs := append([]summary.Objective(nil), s.Objectives...)
	sort.SliceStable(objs, func(i, j int) bool {
		a, aok := objs[i].Final[metric.KLToOptimal]
		b, bok := objs[j].Final[metric.KLToOptimal]
		return aok && bok && a < b
	})
	for _, o := range objs {
		row(o.Label, o.Final, false, fmt.Sprint(o.Steps), fmt.Sprintf("%.1f", o.WallSeconds))
	}
	tw.Flush()
	if tied {
		fmt.Fprintln(w, "* "+report.TieNote)
	}
}
