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
	"github.com/prefopt/prefopt/host/rundir"
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
it only in keys that are safe to change on resume.`

func compareCmd(e *env) *cobra.Command {
	var (
		d            dirFlags
		resumeDir    string
		printDefault bool
		quiet        bool
		cpuprofile   string
		jobs         int
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
	f.IntVar(&jobs, "jobs", runtime.NumCPU(), "objectives trained at once (results do not depend on it)")
	return cmd
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
