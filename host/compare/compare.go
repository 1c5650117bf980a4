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
	"slices"
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
	Dir string // output directory, created if needed
	// Log receives progress and PluginStderr the plugins' stderr (nil
	// discards, and nil means os.Stderr); runs trained at once write to
	// them one Write at a time, so neither needs to be safe for
	// concurrent use.
	Log          io.Writer
	PluginStderr io.Writer
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

// layout names the files of one seed of a comparison in Dir. With one seed
// the objectives' directories are Dir/<label> as in a single run; with
// several, Dir/seed-<seed>/<label>. Each seed's reference is saved in its
// own directory directly under Dir (Dir/reference, or
// Dir/reference-seed-<seed>), where a resumed run directory is looked for
// checkpoints.
type layout struct {
	dir    string
	seed   uint64
	single bool // the comparison has one seed
}

// runDir is the run directory the seed's objectives write into.
func (l layout) runDir() string {
	if l.single {
		return l.dir
	}
	return filepath.Join(l.dir, fmt.Sprintf("seed-%d", l.seed))
}

// referenceRoot is the directory whose checkpoints/ holds the seed's π_ref.
func (l layout) referenceRoot() string {
	if l.single {
		return filepath.Join(l.dir, "reference")
	}
	return filepath.Join(l.dir, fmt.Sprintf("reference-seed-%d", l.seed))
}

// resultPath is where the result of the objective labelled label is saved.
func (l layout) resultPath(label string) string {
	return filepath.Join(l.dir, resultsDir, fmt.Sprintf("seed-%d", l.seed), url.PathEscape(label)+".json")
}

// legacyResultPath is where comparisons of one seed saved results before
// they were kept per seed; read back on resume.
func (l layout) legacyResultPath(label string) string {
	return filepath.Join(l.dir, resultsDir, url.PathEscape(label)+".json")
}

// SeedExperiment returns the experiment of seed index k (0 ≤ k <
// exp.Run.Seeds): run.seed + k, and the task's seed + k, so that the task's
// prompts, pairs, reference and the initialisation and data order all move
// with it. exp is not modified.
func SeedExperiment(exp *config.Experiment, k int) *config.Experiment {
	e := *exp
	e.Run.Seed += config.Seed(k)
	if exp.Task != nil {
		t := *exp.Task
		t.Seed += uint64(k)
		e.Task = &t
	}
	return &e
}

// Run trains every objective of exp with each of its exp.Run.Seeds seeds
// (see SeedExperiment) and writes summary.json and report.html into
// opts.Dir. Seeds run one after the other, each prepared once (task,
// reference) and its objectives trained opts.Jobs at a time. Each
// objective's result is saved as it finishes; if the run stops early (ctx
// cancelled, or an objective fails), summary.json and report.html cover the
// finished runs and list the others as unfinished, and the error wraps
// ErrUnfinished.
func Run(ctx context.Context, exp *config.Experiment, opts Options) (*summary.Summary, error) {
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(opts.Dir, resultsDir), 0o755); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	opts.Log, opts.PluginStderr = serialized(opts.Log), serialized(opts.PluginStderr)
	eopts := experiment.Options{Dir: opts.Dir, Log: opts.Log, PluginStderr: opts.PluginStderr, Progress: opts.Progress,
		Resume: opts.Resume}
	if err := experiment.CheckObjectives(ctx, exp, eopts); err != nil {
		return nil, err
	}
	n := max(1, exp.Run.Seeds)
	s := &summary.Summary{Experiment: exp.Run.Name, Description: exp.Run.Description, Reference: map[string]float64{}}
	var refs, optimals []map[string]float64
	var errs []error
	for k := range n {
		ek := SeedExperiment(exp, k)
		l := layout{dir: opts.Dir, seed: uint64(ek.Run.Seed), single: n == 1}
		s.Seeds = append(s.Seeds, l.seed)
		if n > 1 {
			logf(opts.Log, "seed %d (%d of %d)\n", l.seed, k+1, n)
		}
		var sd seedResult
		var err error
		if len(errs) == 0 {
			sd, err = runSeed(ctx, ek, l, opts, eopts)
		}
		if err != nil && k == 0 && len(sd.results) == 0 {
			return nil, err // nothing to summarise: set-up of the first seed failed
		}
		if err != nil {
			errs = append(errs, err)
		}
		if k == 0 {
			s.Beta, s.Frontier = sd.beta, sd.frontier
			if sd.reference != nil {
				s.Reference, s.Optimal = sd.reference, sd.optimal
			}
		}
		if sd.reference != nil {
			refs = append(refs, sd.reference)
		}
		if sd.optimal != nil {
			optimals = append(optimals, sd.optimal)
		}
		if sd.checkpoint != "" {
			s.ReferenceCheckpoints = append(s.ReferenceCheckpoints, sd.checkpoint)
		}
		for i, o := range ek.Objectives {
			switch {
			case i < len(sd.done) && sd.done[i]:
				s.Objectives = append(s.Objectives, sd.results[i])
			case n == 1:
				s.Unfinished = append(s.Unfinished, o.Label)
			default:
				s.Unfinished = append(s.Unfinished, fmt.Sprintf("%s (seed %d)", o.Label, l.seed))
			}
		}
	}
	s.Aggregates = aggregate(exp, s.Objectives)
	s.ReferenceStats, s.OptimalStats = statsOf(refs), statsOf(optimals)
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
	what := "objectives"
	if n > 1 {
		what = "runs (objective × seed)"
	}
	return s, fmt.Errorf("%w: %d of %d %s finished (unfinished: %s); summary.json and report.html cover the finished ones: %w",
		ErrUnfinished, len(s.Objectives), n*len(exp.Objectives), what, strings.Join(s.Unfinished, ", "), first)
}

// seedResult is what one seed of a comparison produced.
type seedResult struct {
	// results[i] is objective i's result if done[i].
	results []summary.Objective
	done    []bool
	// reference and optimal are π_ref's and π*_β's metrics, beta and
	// frontier the task's (exact task only).
	reference, optimal map[string]float64
	beta               float64
	frontier           []summary.FrontierPoint
	// checkpoint is the directory of the saved π_ref.
	checkpoint string
}

// runSeed prepares and trains one seed's experiment. Its error is that of
// the set-up, or the first error of a run, the others cancelled; results
// and done hold what finished.
func runSeed(ctx context.Context, exp *config.Experiment, l layout, opts Options, eopts experiment.Options) (seedResult, error) {
	var sd seedResult
	eopts.Dir = l.runDir()
	m, err := experiment.Prepare(ctx, exp, eopts)
	if err != nil {
		return sd, err
	}
	if sd.checkpoint, err = saveReference(exp, m, l); err != nil {
		return sd, err
	}
	if tb := m.Testbed; tb != nil {
		sd.beta = tb.Config.Beta
		sd.reference = experiment.ExactValues(tb.RefReport.Mean)
		opt, err := tb.Task.Evaluate(tb.Optimal, tb.Reference)
		if err != nil {
			return sd, err
		}
		sd.optimal = experiment.ExactValues(opt.Mean)
		for _, vals := range []map[string]float64{sd.reference, sd.optimal} {
			if err := addShortfall(tb, vals); err != nil {
				return sd, err
			}
		}
		began := time.Now()
		front, err := tb.Task.Frontier(tb.Reference, FrontierBetas(tb.Config.FrontierBetas))
		if err != nil {
			return sd, fmt.Errorf("compare: frontier: %w", err)
		}
		for _, p := range front {
			sd.frontier = append(sd.frontier, summary.FrontierPoint{Beta: p.Beta, KLToReference: p.KLRef, ExpectedReward: p.Reward})
		}
		logf(opts.Log, "frontier: %d points of π*_β′ in %.2fs\n", len(front), time.Since(began).Seconds())
		acc, err := implicitAccuracy(tb, m.Reference, m.Reference)
		if err != nil {
			return sd, err
		}
		sd.reference[metric.EvalRewardsAccuracies] = acc
		sd.reference[metric.ImplicitRewardAccuracy] = acc
	}
	sd.results = make([]summary.Objective, len(exp.Objectives))
	sd.done = make([]bool, len(exp.Objectives))
	if opts.Resume {
		for i, o := range exp.Objectives {
			path := l.resultPath(o.Label)
			r, err := readResult(path)
			if errors.Is(err, fs.ErrNotExist) && l.single {
				path = l.legacyResultPath(o.Label)
				r, err = readResult(path)
			}
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return sd, err
			}
			sd.results[i], sd.done[i] = *r, true
			logf(opts.Log, "%s: finished before, read back from %s\n", o.Label, path)
		}
	}
	if err := os.MkdirAll(filepath.Dir(l.resultPath("x")), 0o755); err != nil {
		return sd, fmt.Errorf("compare: %w", err)
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
				sd.results[i], errs[i] = trainOne(runCtx, exp, m, i, eopts)
				if errs[i] == nil {
					errs[i] = writeResult(l.resultPath(exp.Objectives[i].Label), &sd.results[i])
				}
				if errs[i] != nil {
					cancel()
					continue
				}
				sd.done[i] = true
			}
		}()
	}
	for i := range exp.Objectives {
		if !sd.done[i] {
			jobs <- i
		}
	}
	close(jobs)
	wg.Wait()
	// The first error that is not a consequence of cancelling the others.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first == nil && ctx.Err() != nil && slices.Contains(sd.done, false) {
		first = ctx.Err()
	}
	return sd, first
}

// saveReference writes the seed's π_ref as a checkpoint (step: the
// reference's SFT steps; no optimizer state) with the seed's resolved
// experiment, and returns its directory, which loads as [reference]
// checkpoint.
func saveReference(exp *config.Experiment, m *experiment.Material, l layout) (string, error) {
	resolved, err := exp.Resolved()
	if err != nil {
		return "", err
	}
	tok, err := json.Marshal(m.Tokenizer.Spec())
	if err != nil {
		return "", fmt.Errorf("compare: %w", err)
	}
	step := 0
	if exp.Task != nil && exp.Reference.Checkpoint == "" {
		step = exp.Task.SFTSteps
	}
	c := &checkpoint.Checkpoint{Step: int64(step), Config: resolved, Tokenizer: tok,
		Extra: map[string]string{"role": "reference", "seed": fmt.Sprint(l.seed)}}
	for _, name := range m.Reference.Names() {
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: name, Shape: m.Reference.Shape(name), Data: slices.Clone(m.Reference.Data(name))})
	}
	dir, err := checkpoint.Save(filepath.Join(l.referenceRoot(), "checkpoints"), c)
	if err != nil {
		return "", fmt.Errorf("compare: reference checkpoint: %w", err)
	}
	return dir, nil
}

// addShortfall adds metric.FrontierShortfall to exact metrics vals.
func addShortfall(tb *experiment.Testbed, vals map[string]float64) error {
	kl, okKL := vals[metric.KLToReference]
	r, okR := vals[metric.ExpectedReward]
	if !okKL || !okR {
		return nil
	}
	sf, err := FrontierShortfall(tb.Task, tb.Reference, kl, r)
	if err != nil {
		return err
	}
	vals[metric.FrontierShortfall] = sf
	return nil
}

// aggregate summarises, per objective label of exp in its order, every
// final metric over the runs (seeds) that finished it.
func aggregate(exp *config.Experiment, runs []summary.Objective) []summary.Aggregate {
	var out []summary.Aggregate
	for _, o := range exp.Objectives {
		var mine []summary.Objective
		for _, r := range runs {
			if r.Label == o.Label {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		a := summary.Aggregate{Label: o.Label, Name: mine[0].Name, Group: mine[0].Group, SweepParam: mine[0].SweepParam,
			SweepValue: mine[0].SweepValue, Metrics: map[string]summary.Stat{}}
		finals := make([]map[string]float64, len(mine))
		for i, r := range mine {
			finals[i] = r.Final
		}
		a.Metrics = statsOf(finals)
		out = append(out, a)
	}
	return out
}

// statsOf returns, for every key some map of ms has, the Stat of its values
// in the order of ms (maps without the key skipped); nil for no maps.
func statsOf(ms []map[string]float64) map[string]summary.Stat {
	if len(ms) == 0 {
		return nil
	}
	keys := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			keys[k] = true
		}
	}
	out := map[string]summary.Stat{}
	for k := range keys {
		var vs []float64
		for _, m := range ms {
			if v, ok := m[k]; ok {
				vs = append(vs, v)
			}
		}
		out[k] = summary.NewStat(vs)
	}
	return out
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
	entry, err := summarise(runs[0], exp.Objectives[i].Params, m)
	entry.Seed = uint64(exp.Run.Seed)
	entry.WallSeconds = time.Since(began).Seconds()
	return entry, err
}

// summarise makes the summary entry of run r, trained with the parameters
// params as written in the experiment (a sweep's value among them).
func summarise(r experiment.Trained, params map[string]any, m *experiment.Material) (summary.Objective, error) {
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
	if group, param, ok := config.SweepLabel(r.Label); ok {
		if v, has := params[param]; has {
			o.Group, o.SweepParam, o.SweepValue = group, param, v
		}
	}
	if m.Testbed != nil {
		if err := addShortfall(m.Testbed, o.Final); err != nil {
			return o, err
		}
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
// ties by construction, print as "–*" with a footnote. With several seeds
// each cell is the mean ± the half-width of its 95% Student-t interval over
// the seeds (s.Aggregates, s.ReferenceStats, s.OptimalStats), and seconds
// the mean per run.
func PrintTable(w io.Writer, s *summary.Summary, opts TableOptions) {
	multi := len(s.Seeds) > 1 && len(s.Aggregates) > 0
	type line struct {
		name        string
		vals        map[string]float64
		stats       map[string]summary.Stat
		ref         bool
		steps, secs string
	}
	var lines []line
	if len(s.Reference) > 0 {
		lines = append(lines, line{name: "reference π_ref", vals: s.Reference, ref: true, steps: "-", secs: "-"})
	}
	if len(s.Optimal) > 0 {
		lines = append(lines, line{name: fmt.Sprintf("optimum π*(β=%g)", s.Beta), vals: s.Optimal, steps: "-", secs: "-"})
	}
	if multi {
		if len(lines) > 0 && len(s.ReferenceStats) > 0 {
			lines[0].stats = s.ReferenceStats
		}
		if len(lines) > 1 && len(s.OptimalStats) > 0 {
			lines[1].stats = s.OptimalStats
		}
	}
	var objs []line
	if multi {
		for _, a := range s.Aggregates {
			l := line{name: a.Label, vals: map[string]float64{}, stats: a.Metrics, steps: "-", secs: "-"}
			for k, st := range a.Metrics {
				l.vals[k] = st.Mean
			}
			secs, runs := 0.0, 0
			for _, o := range s.Objectives {
				if o.Label == a.Label {
					if runs == 0 {
						l.steps = fmt.Sprint(o.Steps)
					}
					secs += o.WallSeconds
					runs++
				}
			}
			if runs > 0 {
				l.secs = fmt.Sprintf("%.1f", secs/float64(runs))
			}
			objs = append(objs, l)
		}
	} else {
		for _, o := range s.Objectives {
			objs = append(objs, line{name: o.Label, vals: o.Final, steps: fmt.Sprint(o.Steps), secs: fmt.Sprintf("%.1f", o.WallSeconds)})
		}
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, aok := objs[i].vals[metric.KLToOptimal]
		b, bok := objs[j].vals[metric.KLToOptimal]
		return aok && bok && a < b
	})
	lines = append(lines, objs...)

	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	var cols []report.Column
	for _, c := range report.Columns { // only the columns some row has
		var vals []float64
		for _, l := range lines {
			if v, ok := l.vals[c.Key]; ok {
				vals = append(vals, v)
			}
		}
		if report.KeepColumn(c.Key, vals) {
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
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t", l.name)
		for _, c := range cols {
			v, ok := l.vals[c.Key]
			st, hasStat := l.stats[c.Key]
			switch {
			case ok && l.ref && report.TiedForReference(c.Key):
				fmt.Fprint(tw, "–*\t")
				tied = true
			case ok && hasStat:
				fmt.Fprintf(tw, "%s ± %s\t", noNegativeZero(fmt.Sprintf(c.Terminal, st.Mean)), fmt.Sprintf(c.Terminal, st.HalfWidth()))
			case ok:
				fmt.Fprintf(tw, "%s\t", noNegativeZero(fmt.Sprintf(c.Terminal, v)))
			default:
				fmt.Fprint(tw, "-\t")
			}
		}
		if opts.NoTiming {
			fmt.Fprintf(tw, "%s\t\n", l.steps)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t\n", l.steps, l.secs)
		}
	}
	tw.Flush()
	if multi {
		fmt.Fprintf(w, "mean ± half-width of the %.0f%% t-interval over %d seeds (%s)\n", 100*summary.Confidence, len(s.Seeds), seedList(s.Seeds))
	}
	if tied {
		fmt.Fprintln(w, "* "+report.TieNote)
	}
}

// seedList renders seeds as "1, 2, 3".
func seedList(seeds []uint64) string {
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ", ")
}

// serialized returns w with its Writes made one at a time (nil stays nil).
func serialized(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return &lockedWriter{w: w}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
