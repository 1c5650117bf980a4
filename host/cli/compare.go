package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/compare"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
	"github.com/prefopt/prefopt/host/report"
	"github.com/prefopt/prefopt/host/rundir"
	"github.com/prefopt/prefopt/host/suite"
)

const compareLong = `Trains every objective of the experiment side by side — same data, seed and
starting weights, each objective in its own plugin process — and writes
summary.json, report.html, per-objective metrics.jsonl and final
checkpoints into the run directory (--out, default
<run.output_dir>/<run.name>-<time>). With no file it runs the built-in
comparison of DPO, IPO, KTO, ORPO and SimPO on the Boltzmann testbed, whose
optimal policy is known exactly.

An interrupted comparison writes summary.json and report.html of the
objectives that finished, listing the others as unfinished;
"prefopt compare --resume DIR" continues it: finished objectives are read
back, the others resume from their checkpoints. The experiment is the one
saved in DIR/config.toml unless a file is given, which may then differ from
it only in keys that are safe to change on resume.

--seeds N (or run.seeds in the file) trains every objective with seeds
run.seed, run.seed+1, ..., each drawing its own task prompts, pairs,
reference and initialisation; the table then shows each metric's mean ±
the half-width of its 95% Student-t interval over the seeds.

--suite runs the benchmark: every scenario (--list prints them and their
claims), each with --seeds seeds (default 3) into DIR/<scenario>/ (--output
DIR, default <run.output_dir>/suite-<time>), then writes the leaderboard of
KL(π‖π*_β) as DIR/leaderboard.html, .json and .csv, and prints it.
"prefopt compare --suite --resume DIR" continues the scenarios and seeds
that did not finish, with the number of seeds the suite started with.`

func compareCmd(e *env) *cobra.Command {
	var (
		d            dirFlags
		resumeDir    string
		printDefault bool
		quiet        bool
		cpuprofile   string
		jobs         int
		seeds        int
		suiteMode    bool
		list         bool
		output       string
	)
	cmd := &cobra.Command{
		Use:   "compare [EXPERIMENT.toml]",
		Short: "train several objectives side by side and report (default: the built-in task)",
		Long:  compareLong,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("compare: want at most one experiment file, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cpuprofile != "" {
				stop, err := startCPUProfile(cpuprofile)
				if err != nil {
					return err
				}
				defer stop()
			}
			if printDefault {
				_, err := e.stdout.Write(experiment.DefaultCompare)
				return err
			}
			if output != "" {
				if d.out != "" && d.out != output {
					return usagef("compare: --out %s and --output %s name different directories", d.out, output)
				}
				d.out = output
			}
			seedsSet := cmd.Flags().Changed("seeds")
			if seedsSet && (seeds < 1 || seeds > config.MaxSeeds) {
				return usagef("compare: --seeds must be in [1, %d], got %d", config.MaxSeeds, seeds)
			}
			if list || suiteMode {
				if len(args) > 0 {
					return usagef("compare: --suite and --list run the built-in scenarios; drop %q", args[0])
				}
				if list {
					scs, err := suite.Load(suite.Builtin())
					if err != nil {
						return err
					}
					suite.PrintList(e.stdout, scs)
					return nil
				}
				return runSuite(cmd, e, suiteArgs{out: d.out, resume: resumeDir, overwrite: d.overwrite, seeds: seeds, seedsSet: seedsSet,
					jobs: jobs, quiet: quiet})
			}
			if resumeDir != "" && d.out != "" {
				return usagef("compare: --resume DIR names the run directory; drop --out")
			}
			if resumeDir != "" && d.overwrite {
				return usagef("compare: --resume and --overwrite exclude each other")
			}
			var exp *config.Experiment
			var err error
			switch {
			case len(args) == 1:
				exp, err = config.Load(args[0])
			case resumeDir != "":
				exp, err = config.Load(filepath.Join(resumeDir, rundir.ConfigFile))
			default:
				exp, err = experiment.LoadDefaultCompare()
			}
			if err != nil {
				return err
			}
			if err := checkPluginPaths(exp); err != nil {
				return err
			}
			if seedsSet {
				exp.Run.Seeds = seeds
			}
			if d.printConfig {
				return printResolved(e, exp)
			}
			dir := d.out
			switch {
			case resumeDir != "":
				dir = resumeDir
			case dir == "":
				dir = filepath.Join(exp.Run.OutputDir, fmt.Sprintf("%s-%s", exp.Run.Name, time.Now().Format("20060102-150405")))
			}
			if err := prepareDir(e, exp, dir, resumeDir != "", d.overwrite); err != nil {
				return err
			}
			bar := newProgress(e.stderr)
			log := bar.logWriter(e.stderr)
			if quiet {
				log = nil
			}
			res, err := compare.Run(cmd.Context(), exp, compare.Options{Dir: dir, Log: log, PluginStderr: bar.logWriter(e.stderr),
				Jobs: jobs, Progress: bar.hook(), Resume: resumeDir != ""})
			if errors.Is(err, compare.ErrUnfinished) {
				return fmt.Errorf("%w\ncontinue with: prefopt compare --resume %s", err, dir)
			}
			if err != nil {
				return err
			}
			compare.PrintTable(e.stdout, res, compare.TableOptions{})
			fmt.Fprintf(e.stdout, "\nwrote %s (summary.json, report.html) in %.0fs\n", dir, res.WallSeconds)
			return nil
		},
	}
	d.register(cmd, "<run.output_dir>/<run.name>-<time>")
	f := cmd.Flags()
	f.StringVar(&resumeDir, "resume", "", "continue the interrupted comparison in `DIR`")
	f.BoolVar(&printDefault, "print-default", false, "print the built-in experiment and exit")
	f.BoolVar(&quiet, "quiet", false, "print only the final table")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile to `FILE`")
	f.IntVarP(&jobs, "jobs", "j", runtime.NumCPU(), "objectives trained at once (results do not depend on it)")
	f.IntVar(&seeds, "seeds", 1, "train every objective with `N` seeds: run.seed, run.seed+1, ... (overrides run.seeds; --suite: default 3)")
	f.BoolVar(&suiteMode, "suite", false, "run the benchmark suite: every scenario, then the leaderboard")
	f.BoolVar(&list, "list", false, "print the suite's scenarios and their claims and exit")
	f.StringVar(&output, "output", "", "the same as --out (with --suite: the suite's `DIR`)")
	return cmd
}

// suiteArgs are the flags of compare --suite.
type suiteArgs struct {
	out, resume      string
	overwrite, quiet bool
	seeds, jobs      int
	seedsSet         bool // --seeds was given
}

// runSuite runs the benchmark suite into its directory and prints the
// leaderboard.
func runSuite(cmd *cobra.Command, e *env, a suiteArgs) error {
	if a.resume != "" && a.out != "" {
		return usagef("compare: --resume DIR names the suite directory; drop --output")
	}
	if a.resume != "" && a.overwrite {
		return usagef("compare: --resume and --overwrite exclude each other")
	}
	scs, err := suite.Load(suite.Builtin())
	if err != nil {
		return err
	}
	dir := a.out
	if !a.seedsSet {
		a.seeds = suite.DefaultSeeds
	}
	switch {
	case a.resume != "":
		dir = a.resume
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("cli: --resume: %w", err)
		}
		if n, ok := suite.SavedSeeds(dir, scs); ok && !a.seedsSet {
			a.seeds = n // the seeds the suite was started with
		}
	case dir == "":
		dir = filepath.Join(config.TaskExperimentDefaults().Run.OutputDir, "suite-"+time.Now().Format("20060102-150405"))
	}
	if a.overwrite {
		if _, err := os.Stat(dir); err == nil {
			moved := fmt.Sprintf("%s.old-%s", filepath.Clean(dir), time.Now().UTC().Format("20060102T150405.000000000Z"))
			if err := os.Rename(dir, moved); err != nil {
				return fmt.Errorf("cli: --overwrite: move %s aside: %w", dir, err)
			}
			fmt.Fprintf(e.stderr, "moved the previous suite to %s\n", moved)
		}
	}
	bar := newProgress(e.stderr)
	log := bar.logWriter(e.stderr)
	if a.quiet {
		log = nil
	}
	l, err := suite.Run(cmd.Context(), scs, suite.Options{Dir: dir, Seeds: a.seeds, Jobs: a.jobs, Resume: a.resume != "",
		Log: log, PluginStderr: bar.logWriter(e.stderr), Progress: bar.hook()})
	if errors.Is(err, compare.ErrUnfinished) {
		return fmt.Errorf("%w\ncontinue with: prefopt compare --suite --resume %s", err, dir)
	}
	if err != nil {
		return err
	}
	if err := report.PrintLeaderboard(e.stdout, l); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nwrote %s (leaderboard.html, leaderboard.json, leaderboard.csv; a directory per scenario) in %.0fs\n", dir, l.WallSeconds)
	return nil
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cli: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cli: --cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
