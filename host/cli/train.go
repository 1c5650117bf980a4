package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prefopt/prefopt/host/bench"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
)

const trainUsage = `train EXPERIMENT.toml [--out DIR] [--resume]

Trains one policy per [[objective]] of the experiment, each objective in its
own plugin process, from the same starting weights. Writes metrics.jsonl and
checkpoints (safetensors) under DIR/<label> (default
<run.output_dir>/<run.name>). --resume continues each objective from its
latest checkpoint in DIR; the model shape must not have changed. A damaged
latest checkpoint is an error unless --fallback is given, which resumes from
the newest good one instead.`

// runArgs parses the arguments of train and sft: one experiment file and
// the run-directory flags.
func runArgs(e *env, name, usage string, args []string) (*config.Experiment, experiment.Options, error) {
	fs := newFlags(e, name, usage)
	out := fs.String("out", "", "run directory (default <run.output_dir>/<run.name>)")
	resume := fs.Bool("resume", false, "continue from the latest checkpoints in the run directory")
	fallback := fs.Bool("fallback", false, "with --resume: if the latest checkpoint is damaged, use the newest good one")
	if err := parseFlags(fs, reorder(args)); err != nil {
		return nil, experiment.Options{}, err
	}
	if fs.NArg() != 1 {
		return nil, experiment.Options{}, usagef("%s: want one experiment file, got %d arguments", name, fs.NArg())
	}
	load := config.Load
	if name == "sft" {
		load = config.LoadSFT
	}
	exp, err := load(fs.Arg(0))
	if err != nil {
		return nil, experiment.Options{}, err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join(exp.Run.OutputDir, exp.Run.Name)
	}
	bar := newProgress(e.stderr)
	return exp, experiment.Options{Dir: dir, Resume: *resume, ResumeFallback: *fallback, Log: bar.logWriter(e.stderr),
		PluginStderr: bar.logWriter(e.stderr), Progress: bar.hook()}, nil
}

func runTrain(e *env, args []string) error {
	exp, opts, err := runArgs(e, "train", trainUsage, args)
	if err != nil {
		return err
	}
	ctx := e.ctx
	if err := experiment.CheckObjectives(ctx, exp, opts); err != nil {
		return err
	}
	m, err := experiment.Prepare(ctx, exp, opts)
	if err != nil {
		return err
	}
	runs, err := experiment.TrainAll(ctx, exp, m, opts)
	if err != nil {
		return err
	}
	for _, r := range runs {
		fmt.Fprintf(e.stdout, "%s: %d steps", r.Label, r.Outcome.Steps)
		if n := len(r.Outcome.History); n > 0 {
			last := r.Outcome.History[n-1].Values
			keys := make([]string, 0, len(last))
			for k := range last {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%.4g", k, last[k]))
			}
			fmt.Fprintf(e.stdout, "; final %s", strings.Join(parts, " "))
		}
		fmt.Fprintf(e.stdout, "\n  %s\n", r.Dir)
	}
	return nil
}

const sftUsage = `sft EXPERIMENT.toml [--out DIR] [--resume]

Supervised fine-tuning: trains the model on data.train — JSONL of {"text"}
or {"prompt", "completion"} — with the pooled token-mean NLL of the
completions, and writes checkpoints in the same format as train, so the
result can serve as model.init or reference.checkpoint. The [[objective]]
entries, if any, are ignored.`

func runSFT(e *env, args []string) error {
	exp, opts, err := runArgs(e, "sft", sftUsage, args)
	if err != nil {
		return err
	}
	r, err := experiment.SFT(e.ctx, exp, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "sft: %d steps\n  %s\n", r.Outcome.Steps, r.Dir)
	return nil
}

const benchUsage = `bench [--json] [--steps N] [--in-process]

Measures one DPO training step of the bench model (vocab 64, 64 tokens of
which 16 prompt, width 128, 4 heads, 2 layers, MLP 4x, 16 pairs, reference
log-probs precomputed, AdamW): median step time over N steps after 3
warm-up steps, split into forward, objective call (through the plugin
unless --in-process), backward and optimizer, and the peak RSS.`

func runBench(e *env, args []string) error {
	fs := newFlags(e, "bench", benchUsage)
	asJSON := fs.Bool("json", false, "print one JSON object")
	steps := fs.Int("steps", 10, "measured steps")
	inProc := fs.Bool("in-process", false, "run the DPO objective in this process instead of as a plugin")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench: unexpected arguments %q", fs.Args())
	}
	r, err := bench.Run(e.ctx, bench.Options{Steps: *steps, InProcess: *inProc, Seed: 1})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(r)
	}
	fmt.Fprintf(e.stdout, "bench model: %d parameters, %d tokens per step, DPO through the %s objective, median of %d steps\n",
		r.Params, r.Tokens, r.Objective, r.Steps)
	fmt.Fprintf(e.stdout, "  step       %8.1f ms  (%.0f tokens/s)\n", 1e3*r.StepSeconds, r.TokensPerSecond)
	fmt.Fprintf(e.stdout, "  forward    %8.1f ms\n", 1e3*r.ForwardSeconds)
	fmt.Fprintf(e.stdout, "  objective  %8.2f ms\n", 1e3*r.ObjectiveSeconds)
	fmt.Fprintf(e.stdout, "  backward   %8.1f ms\n", 1e3*r.BackwardSeconds)
	fmt.Fprintf(e.stdout, "  optimizer  %8.1f ms\n", 1e3*r.OptimizerSeconds)
	fmt.Fprintf(e.stdout, "  peak RSS   %8.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
	return nil
}
