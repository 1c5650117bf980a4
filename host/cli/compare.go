package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/prefopt/prefopt/host/compare"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/experiment"
)

const compareUsage = `compare [EXPERIMENT.toml] [--out DIR]

Trains every objective of the experiment side by side — same data, seed and
starting weights, each objective in its own plugin process — and writes
summary.json, report.html, per-objective metrics.jsonl and final
checkpoints into DIR (default runs/<name>-<time>). With no file it runs the
built-in comparison of DPO, IPO, KTO, ORPO and SimPO on the Boltzmann
testbed, whose optimal policy is known exactly.`

func runCompare(e *env, args []string) error {
	fs := newFlags(e, "compare", compareUsage)
	out := fs.String("out", "", "output directory (default runs/<run.name>-<timestamp>)")
	printDefault := fs.Bool("print-default", false, "print the built-in experiment and exit")
	quiet := fs.Bool("quiet", false, "print only the final table")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	jobs := fs.Int("jobs", runtime.NumCPU(), "objectives trained at once (results do not depend on it)")
	if err := parseFlags(fs, reorder(args)); err != nil {
		return err
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *printDefault {
		_, err := e.stdout.Write(experiment.DefaultCompare)
		return err
	}
	var exp *config.Experiment
	var err error
	switch fs.NArg() {
	case 0:
		exp, err = experiment.LoadDefaultCompare()
	case 1:
		exp, err = config.Load(fs.Arg(0))
	default:
		return usagef("compare: want at most one experiment file, got %q", fs.Args())
	}
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join(exp.Run.OutputDir, fmt.Sprintf("%s-%s", exp.Run.Name, time.Now().Format("20060102-150405")))
	}
	bar := newProgress(e.stderr)
	log := bar.logWriter(e.stderr)
	if *quiet {
		log = nil
	}
	res, err := compare.Run(e.ctx, exp, compare.Options{Dir: dir, Log: log, PluginStderr: bar.logWriter(e.stderr), Jobs: *jobs,
		Progress: bar.hook()})
	if err != nil {
		return err
	}
	compare.PrintTable(e.stdout, res)
	fmt.Fprintf(e.stdout, "\nwrote %s (summary.json, report.html) in %.0fs\n", dir, res.WallSeconds)
	return nil
}

// reorder moves flags after positional arguments to the front, so
// "compare exp.toml --out d" works like "compare --out d exp.toml".
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) && takesValue(a) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}

// takesValue lists the value-taking flags of the commands that accept
// positional arguments.
func takesValue(flag string) bool {
	switch flag {
	case "-out", "--out", "-o":
		return true
	}
	return false
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
