// Package suite is prefopt's benchmark: a set of comparisons (scenarios) on
// the built-in exact task, each testing one claim of the literature, run
// with several seeds and summarised as a leaderboard of KL(π‖π*_β) over
// seeds, with 95% Student-t intervals.
//
// The scenarios are the experiment files scenarios/*.toml, embedded: every
// file there is a scenario, named by its file name; run.description states
// its claim. Run writes each into DIR/<name>/ (a comparison directory:
// config.toml, summary.json, report.html), then DIR/leaderboard.json and
// DIR/leaderboard.csv.
package suite

import (
	"context"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/prefopt/prefopt/host/compare"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/metric"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/rundir"
	"github.com/prefopt/prefopt/host/summary"
)

//go:embed scenarios/*.toml
var embedded embed.FS

// Builtin returns the embedded scenario files, *.toml at the root of the
// returned file system.
func Builtin() fs.FS {
	sub, err := fs.Sub(embedded, "scenarios")
	if err != nil {
		panic(err) // the directory is embedded: cannot happen
	}
	return sub
}

// DefaultSeeds is the number of seeds a suite runs with unless told
// otherwise: the fewest that give every metric a finite 95% t-interval with
// some power (t_{0.975,2} = 4.30; with 2 seeds it is 12.7).
const DefaultSeeds = 3

// Metric is the leaderboard's metric: the exact KL(π‖π*_β) of the final
// policy, lower is better.
const Metric = metric.KLToOptimal

// Scenario is one experiment of the suite.
type Scenario struct {
	// Name is the file name without ".toml"; the scenario's directory.
	Name string
	// Claim is the experiment's run.description.
	Claim string
	// File is the scenario's path in its file system.
	File       string
	Experiment *config.Experiment
}

// Load parses every *.toml at the root of fsys, sorted by name. A scenario
// must train on the built-in task (exact metrics) and state its claim in
// run.description.
func Load(fsys fs.FS) ([]Scenario, error) {
	names, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("suite: no scenario files (*.toml)")
	}
	sort.Strings(names)
	var out []Scenario
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("suite: %w", err)
		}
		file := path.Join("scenarios", name)
		exp, err := config.ParseBuiltin(b, file)
		if err != nil {
			return nil, err
		}
		if exp.Task == nil {
			return nil, fmt.Errorf("suite: %s: a scenario trains on the built-in task: it needs a [task] table", file)
		}
		if strings.TrimSpace(exp.Run.Description) == "" {
			return nil, fmt.Errorf("suite: %s: run.description is empty: state the claim the scenario tests", file)
		}
		out = append(out, Scenario{Name: strings.TrimSuffix(name, ".toml"), Claim: exp.Run.Description, File: file, Experiment: exp})
	}
	return out, nil
}

// Options control a suite run.
type Options struct {
	// Dir is the suite's directory, created if needed.
	Dir string
	// Seeds, if ≥ 1, replaces every scenario's run.seeds.
	Seeds int
	// Jobs is the number of objectives trained at once (compare.Options).
	Jobs int
	// Resume continues a suite in Dir: finished scenarios are read back,
	// the others resume (compare.Options.Resume). Each scenario's saved
	// config.toml must equal the one it would run now, but for
	// run.description and rundir.SafeKeys (names, logging and checkpoint
	// cadence).
	Resume bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// PluginStderr receives plugins' stderr; nil means os.Stderr.
	PluginStderr io.Writer
	// Progress, if set, is called after every optimizer step of every run.
	Progress func(label string, done, total int, loss float64)
}

// Run runs every scenario into opts.Dir/<name>/ one after the other and
// writes opts.Dir/leaderboard.json and leaderboard.csv. It stops at the
// first scenario that does not finish, with its error (which wraps
// compare.ErrUnfinished when the comparison was interrupted); Run with
// Resume continues.
func Run(ctx context.Context, scenarios []Scenario, opts Options) (*summary.Leaderboard, error) {
	if opts.Seeds > config.MaxSeeds {
		return nil, fmt.Errorf("suite: seeds must be in [1, %d], got %d", config.MaxSeeds, opts.Seeds)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	l := &summary.Leaderboard{Metric: Metric, LowerIsBetter: true}
	wall := 0.0 // the scenarios' times, read-back ones included
	for i, sc := range scenarios {
		exp := *sc.Experiment
		if opts.Seeds >= 1 {
			exp.Run.Seeds = opts.Seeds
		}
		logf(opts.Log, "scenario %s (%d of %d): %s\n", sc.Name, i+1, len(scenarios), sc.Claim)
		s, err := runScenario(ctx, sc.Name, &exp, opts)
		if err != nil {
			return nil, fmt.Errorf("suite: scenario %s: %w", sc.Name, err)
		}
		if i == 0 {
			l.Seeds = s.Seeds
		}
		wall += s.WallSeconds
		l.Scenarios = append(l.Scenarios, row(sc, s))
	}
	l.WallSeconds = wall
	if err := summary.WriteLeaderboard(filepath.Join(opts.Dir, "leaderboard.json"), l); err != nil {
		return nil, err
	}
	if err := WriteCSV(filepath.Join(opts.Dir, "leaderboard.csv"), l); err != nil {
		return nil, err
	}
	if err := report.WriteLeaderboard(opts.Dir, l); err != nil {
		return nil, err
	}
	return l, nil
}

// SavedSeeds returns the run.seeds of the first scenario directory under
// dir that holds a config.toml, so that a suite resumes with the seeds it
// was started with; ok is false when there is none.
func SavedSeeds(dir string, scenarios []Scenario) (seeds int, ok bool) {
	for _, sc := range scenarios {
		var saved struct {
			Run struct {
				Seeds int `toml:"seeds"`
			} `toml:"run"`
		}
		if _, err := toml.DecodeFile(filepath.Join(dir, sc.Name, rundir.ConfigFile), &saved); err == nil && saved.Run.Seeds > 0 {
			return saved.Run.Seeds, true
		}
	}
	return 0, false
}

// runScenario runs (or, resuming, continues or reads back) one scenario in
// opts.Dir/name.
func runScenario(ctx context.Context, name string, exp *config.Experiment, opts Options) (*summary.Summary, error) {
	dir := filepath.Join(opts.Dir, name)
	resolved, err := exp.Resolved()
	if err != nil {
		return nil, err
	}
	old, err := os.ReadFile(filepath.Join(dir, rundir.ConfigFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := rundir.Prepare(dir, resolved, rundir.Mode{}); err != nil {
			return nil, err
		}
		return runCompare(ctx, exp, dir, opts, false)
	case err != nil:
		return nil, err
	case !opts.Resume:
		return nil, fmt.Errorf("%s holds a run already: continue the suite with --resume, or choose a new directory", dir)
	}
	changes, err := rundir.Diff(old, resolved)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, rundir.ConfigFile), err)
	}
	var unsafe []string
	for _, c := range changes {
		if c.Key != "run.description" && !slices.Contains(rundir.SafeKeys, c.Key) {
			unsafe = append(unsafe, "  "+c.String())
		}
	}
	if len(unsafe) > 0 {
		return nil, fmt.Errorf("%s holds a different run than the scenario now is:\n%s", dir, strings.Join(unsafe, "\n"))
	}
	if len(changes) > 0 {
		for _, c := range changes {
			logf(opts.Log, "%s: resuming with %s\n", name, c)
		}
		if err := writeAtomic(filepath.Join(dir, rundir.ConfigFile), resolved); err != nil {
			return nil, err
		}
	}
	if s, err := summary.Read(filepath.Join(dir, "summary.json")); err == nil && len(s.Unfinished) == 0 && len(s.Seeds) == exp.Run.Seeds {
		logf(opts.Log, "%s: finished before, read back from %s\n", name, filepath.Join(dir, "summary.json"))
		return s, nil
	}
	return runCompare(ctx, exp, dir, opts, true)
}

func runCompare(ctx context.Context, exp *config.Experiment, dir string, opts Options, resume bool) (*summary.Summary, error) {
	return compare.Run(ctx, exp, compare.Options{Dir: dir, Log: opts.Log, PluginStderr: opts.PluginStderr,
		Jobs: opts.Jobs, Progress: opts.Progress, Resume: resume})
}

// row makes the leaderboard row of scenario sc from its summary s. A label
// that a [sweep] expanded takes part through its matched member only — the
// one whose swept value is the objective's own (a scale factor of 1) —
// under the objective's label, so that rows of all scenarios line up; the
// other members are in the scenario's own report.
func row(sc Scenario, s *summary.Summary) summary.Scenario {
	r := summary.Scenario{Name: sc.Name, Claim: sc.Claim, Dir: sc.Name, Cells: map[string]summary.Stat{}}
	r.Reference = statOf(s.ReferenceStats, s.Reference)
	r.Optimal = statOf(s.OptimalStats, s.Optimal)
	sweep := sc.Experiment.Sweep
	for _, a := range s.Aggregates {
		st, ok := a.Metrics[Metric]
		if !ok {
			continue
		}
		label := a.Label
		if a.Group != "" && sweep != nil && a.SweepParam == sweep.Param {
			base, has := sweep.Base[a.Group]
			if !has || !config.SameSweepValue(base, a.SweepValue) {
				continue
			}
			label = a.Group
		}
		r.Cells[label] = st
	}
	r.Best = Best(r.Cells)
	return r
}

// statOf returns stats[Metric], or the single value of vals.
func statOf(stats map[string]summary.Stat, vals map[string]float64) summary.Stat {
	if st, ok := stats[Metric]; ok {
		return st
	}
	if v, ok := vals[Metric]; ok {
		return summary.NewStat([]float64{v})
	}
	return summary.Stat{}
}

// Best returns, sorted, the label of the lowest mean and every label whose
// interval [Lo, Hi] overlaps that label's: those not told apart from the
// best at 95% (the intervals are per label; overlap is the conservative
// reading, not a paired test). Cells with a non-finite mean are ignored.
func Best(cells map[string]summary.Stat) []string {
	best := ""
	for l, st := range cells {
		if math.IsNaN(st.Mean) || math.IsInf(st.Mean, 0) {
			continue
		}
		if best == "" || st.Mean < cells[best].Mean || st.Mean == cells[best].Mean && l < best {
			best = l
		}
	}
	if best == "" {
		return nil
	}
	b := cells[best]
	var out []string
	for l, st := range cells {
		if l == best || !math.IsNaN(st.Mean) && st.Lo <= b.Hi && b.Lo <= st.Hi {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// Labels returns the objective labels of l's cells, over all scenarios,
// sorted.
func Labels(l *summary.Leaderboard) []string {
	var out []string
	for _, sc := range l.Scenarios {
		for k := range sc.Cells {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// CSVHeader is the header of leaderboard.csv.
var CSVHeader = []string{"scenario", "kind", "objective", "metric", "mean", "lo", "hi", "n", "best"}

// WriteCSV writes l as CSV to path, atomically: per scenario, a row for the
// reference (kind "reference"), one for the optimum ("optimum"), then one
// per objective ("objective", in label order), best "true" for the labels
// in Best.
func WriteCSV(path string, l *summary.Leaderboard) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	w := csv.NewWriter(f)
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	rec := func(sc, kind, label string, st summary.Stat, best bool) []string {
		return []string{sc, kind, label, l.Metric, num(st.Mean), num(st.Lo), num(st.Hi), strconv.Itoa(len(st.Values)), strconv.FormatBool(best)}
	}
	recs := [][]string{CSVHeader}
	for _, sc := range l.Scenarios {
		recs = append(recs, rec(sc.Name, "reference", "reference", sc.Reference, false))
		recs = append(recs, rec(sc.Name, "optimum", "optimum", sc.Optimal, false))
		labels := make([]string, 0, len(sc.Cells))
		for k := range sc.Cells {
			labels = append(labels, k)
		}
		sort.Strings(labels)
		for _, k := range labels {
			recs = append(recs, rec(sc.Name, "objective", k, sc.Cells[k], slices.Contains(sc.Best, k)))
		}
	}
	err = w.WriteAll(recs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("suite: %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	return nil
}

// writeAtomic writes b to path through a temporary file renamed into place.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	return nil
}

// PrintList writes each scenario's name and claim.
func PrintList(w io.Writer, scenarios []Scenario) {
	for _, sc := range scenarios {
		fmt.Fprintf(w, "%s\n    %s\n", sc.Name, sc.Claim)
	}
}

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format, a...)
	}
}
