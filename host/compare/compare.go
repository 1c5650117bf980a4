// Package compare trains several objectives side by side on one experiment
// and summarises how they differ: summary.json, report.html and a table.
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/prefopt/prefopt/host/model"
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
}

// Run trains every objective of exp and writes summary.json and
// report.html into opts.Dir.
func Run(ctx context.Context, exp *config.Experiment, opts Options) (*summary.Summary, error) {
	start := time.Now()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	eopts := experiment.Options{Dir: opts.Dir, Log: opts.Log, PluginStderr: opts.PluginStderr, Progress: opts.Progress}
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
		for _, p := range tb.Frontier {
			s.Frontier = append(s.Frontier, summary.FrontierPoint{Beta: p.Beta, KLToReference: p.KLRef, ExpectedReward: p.Reward})
		}
		acc, err := implicitAccuracy(tb, m.Reference, m.Reference)
		if err != nil {
			return nil, err
		}
		s.Reference["eval_rewards/accuracies"] = acc
		s.Reference["implicit_reward_accuracy"] = acc
	}
	s.Objectives = make([]summary.Objective, len(exp.Objectives))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	errs := make([]error, len(exp.Objectives))
	var wg sync.WaitGroup
	for range max(1, min(opts.Jobs, len(exp.Objectives))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s.Objectives[i], errs[i] = trainOne(ctx, exp, m, i, eopts)
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
	for i := range exp.Objectives {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.WallSeconds = time.Since(start).Seconds()
	if err := summary.Write(filepath.Join(opts.Dir, "summary.json"), s); err != nil {
		return nil, err
	}
	if err := writeReport(filepath.Join(opts.Dir, "report.html"), s); err != nil {
		return nil, err
	}
	return s, nil
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

func summarise(r experiment.Run, m *experiment.Material) (summary.Objective, error) {
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
		if v, ok := o.Train[i].Values["loss"]; ok {
			o.Final["train_loss"] = v // the last logged training loss
			break
		}
	}
	if m.Testbed != nil {
		acc, err := implicitAccuracy(m.Testbed, r.Outcome.Policy, m.Reference)
		if err != nil {
			return o, err
		}
		o.Final["implicit_reward_accuracy"] = acc
		// An unpaired objective (KTO) logs no pairwise accuracy of its own;
		// its implicit reward β·(log π − log π_ref) orders pairs exactly as
		// log π/π_ref does, so its held-out accuracy is this one.
		if _, ok := o.Final["eval_rewards/accuracies"]; !ok {
			o.Final["eval_rewards/accuracies"] = acc
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

// tableColumns are the final metrics the table shows, in order.
var tableColumns = []struct{ key, head, format string }{
	{"expected_reward", "E[r*]", "%.3f"},
	{"kl_to_reference", "KL(π‖π_ref)", "%.3f"},
	{"kl_to_optimal", "KL(π‖π*)", "%.3f"},
	{"free_energy_gap", "gap", "%.3f"},
	{"entropy", "H(π)", "%.3f"},
	{"eval_loss", "eval loss", "%.4f"},
	{"eval_rewards/accuracies", "eval acc", "%.3f"},
	{"implicit_reward_accuracy", "implicit acc", "%.3f"},
	{"train_loss", "train loss", "%.4f"},
}

// noNegativeZero turns "-0.000" (a tiny negative rounding error) into
// "0.000".
func noNegativeZero(s string) string {
	if strings.HasPrefix(s, "-") && strings.Trim(s[1:], "0.") == "" {
		return s[1:]
	}
	return s
}

// PrintTable writes the final metrics of every objective, sorted by
// KL(π‖π*) when known, with the reference and optimum first.
func PrintTable(w io.Writer, s *summary.Summary) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	var cols []struct{ key, head, format string }
	for _, c := range tableColumns { // only the columns some row has
		has := s.Reference[c.key] != 0 || s.Optimal[c.key] != 0
		for _, o := range s.Objectives {
			_, ok := o.Final[c.key]
			has = has || ok
		}
		if has {
			cols = append(cols, c)
		}
	}
	fmt.Fprint(tw, "policy\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c.head)
	}
	fmt.Fprintln(tw, "steps\tseconds\t")
	row := func(name string, vals map[string]float64, steps string, secs string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, c := range cols {
			if v, ok := vals[c.key]; ok {
				fmt.Fprintf(tw, "%s\t", noNegativeZero(fmt.Sprintf(c.format, v)))
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", steps, secs)
	}
	if len(s.Reference) > 0 {
		row("reference π_ref", s.Reference, "-", "-")
	}
	if len(s.Optimal) > 0 {
		row(fmt.Sprintf("optimum π*(β=%g)", s.Beta), s.Optimal, "-", "-")
	}
	objs := append([]summary.Objective(nil), s.Objectives...)
	sort.SliceStable(objs, func(i, j int) bool {
		a, aok := objs[i].Final["kl_to_optimal"]
		b, bok := objs[j].Final["kl_to_optimal"]
		return aok && bok && a < b
	})
	for _, o := range objs {
		row(o.Label, o.Final, fmt.Sprint(o.Steps), fmt.Sprintf("%.1f", o.WallSeconds))
	}
	tw.Flush()
}
