package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/bench"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
)

const trainLong = `Trains one policy per [[objective]] of the experiment, each objective in its
own plugin process, from the same starting weights. Writes config.toml (the
resolved experiment), and metrics.jsonl and checkpoints (safetensors) under
DIR/<label> (DIR is --out, default <run.output_dir>/<run.name>).

The run directory must be new, unless --resume continues the run it holds:
each objective from its latest checkpoint. Resuming refuses any change of
the experiment that breaks an exact continuation (seed, data, batch size,
model, tokenizer, objectives and their parameters, optimizer, schedule) and
names each changed key; more steps under a constant schedule, logging,
evaluation and checkpoint frequencies and output names may change.
--overwrite moves an existing directory aside instead. A damaged latest
checkpoint is an error unless --fallback is given, which resumes from the
newest good one instead.`

// runFlags are the flags of train and sft.
type runFlags struct {
	dirFlags
	fallback bool
}

func (r *runFlags) register(cmd *cobra.Command) {
	r.dirFlags.register(cmd, "<run.output_dir>/<run.name>")
	cmd.Flags().BoolVar(&r.resume, "resume", false, "continue the run in the run directory from its latest checkpoints")
	cmd.Flags().BoolVar(&r.fallback, "fallback", false, "with --resume: if the latest checkpoint is damaged, use the newest good one")
}

// load reads the experiment of train or sft, claims its run directory and
// returns the options to run it with.
func (r *runFlags) load(e *env, name, path string) (*config.Experiment, experiment.Options, error) {
	load := config.Load
	if name == "sft" {
		load = config.LoadSFT
	}
	exp, err := load(path)
	if err != nil {
		return nil, experiment.Options{}, err
	}
	if err := checkPluginPaths(exp); err != nil {
		return nil, experiment.Options{}, err
	}
	if r.printConfig {
		if err := printResolved(e, exp); err != nil {
			return nil, experiment.Options{}, err
		}
		return nil, experiment.Options{}, errPrinted
	}
	dir := r.out
	if dir == "" {
		dir = filepath.Join(exp.Run.OutputDir, exp.Run.Name)
	}
	if err := prepareDir(e, exp, dir, r.resume, r.overwrite); err != nil {
		return nil, experiment.Options{}, err
	}
	bar := newProgress(e.stderr)
	return exp, experiment.Options{Dir: dir, Resume: r.resume, ResumeFallback: r.fallback, Log: bar.logWriter(e.stderr),
		PluginStderr: bar.logWriter(e.stderr), Progress: bar.hook()}, nil
}

func trainCmd(e *env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "train EXPERIMENT.toml",
		Short: "train a policy with each objective of an experiment TOML",
		Long:  trainLong,
		Args:  exactArgs(1, "one experiment file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			exp, opts, err := f.load(e, "train", args[0])
			if err != nil {
				return err
			}
			return runTrain(cmd.Context(), e, exp, opts)
		},
	}
	f.register(cmd)
	return cmd
}

func runTrain(ctx context.Context, e *env, exp *config.Experiment, opts experiment.Options) error {
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

const sftLong = `Supervised fine-tuning: trains the model on data.train — JSONL of {"text"}
or {"prompt", "completion"} — with the pooled token-mean NLL of the
completions, and writes checkpoints in the same format as train, so the
result can serve as model.init or reference.checkpoint. The [[objective]]
entries, if any, are ignored. The run directory follows the rules of train.`

func sftCmd(e *env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "sft EXPERIMENT.toml",
		Short: "supervised fine-tuning (NLL), e.g. to make a reference model",
		Long:  sftLong,
		Args:  exactArgs(1, "one experiment file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			exp, opts, err := f.load(e, "sft", args[0])
			if err != nil {
				return err
			}
			r, err := experiment.SFT(cmd.Context(), exp, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "sft: %d steps\n  %s\n", r.Outcome.Steps, r.Dir)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

const benchLong = `Measures one DPO training step of the bench model (vocab 64, 64 tokens of
which 16 prompt, width 128, 4 heads, 2 layers, MLP 4x, 16 pairs, reference
log-probs precomputed, AdamW): median step time over N steps after 3
warm-up steps, split into forward, objective call (through the plugin
unless --in-process), backward and optimizer, and the peak RSS. It times
the trainer's own step. --model large measures a GEMM-heavier shape (vocab
256, 256 tokens of which 64 prompt, width 512, 8 heads, 6 layers, MLP 4x,
8 pairs, 19.3M parameters). scripts/bench-vs-torch runs it against the same
step in PyTorch.`

func benchCmd(e *env) *cobra.Command {
	var (
		asJSON bool
		steps  int
		inProc bool
		shape  string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "measure one training step of the bench model",
		Long:  benchLong,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := bench.Run(cmd.Context(), bench.Options{Steps: steps, InProcess: inProc, Seed: 1, Model: shape})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(r)
			}
			fmt.Fprintf(e.stdout, "%s model: %d parameters, %d tokens per step, DPO through the %s objective, median of %d steps\n",
				r.Model, r.Params, r.Tokens, r.Objective, r.Steps)
			fmt.Fprintf(e.stdout, "  step       %8.1f ms  (%.0f tokens/s)\n", 1e3*r.StepSeconds, r.TokensPerSecond)
			fmt.Fprintf(e.stdout, "  forward    %8.1f ms\n", 1e3*r.ForwardSeconds)
			fmt.Fprintf(e.stdout, "  objective  %8.2f ms\n", 1e3*r.ObjectiveSeconds)
			fmt.Fprintf(e.stdout, "  backward   %8.1f ms\n", 1e3*r.BackwardSeconds)
			fmt.Fprintf(e.stdout, "  optimizer  %8.1f ms\n", 1e3*r.OptimizerSeconds)
			fmt.Fprintf(e.stdout, "  peak RSS   %8.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().IntVar(&steps, "steps", 10, "measured steps")
	cmd.Flags().BoolVar(&inProc, "in-process", false, "run the DPO objective in this process instead of as a plugin")
	cmd.Flags().StringVar(&shape, "model", "bench", "shape to measure: bench, or large (vocab 256, 256 tokens, width 512, 8 heads, 6 layers, 8 pairs)")
	return cmd
}
