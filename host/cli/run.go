package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/rundir"
)

// dirFlags are the run-directory flags of train, sft and compare.
type dirFlags struct {
	out         string
	resume      bool
	overwrite   bool
	printConfig bool
}

func (d *dirFlags) register(cmd *cobra.Command, outDefault string) {
	cmd.Flags().StringVarP(&d.out, "out", "o", "", "run directory (default "+outDefault+")")
	cmd.Flags().BoolVar(&d.overwrite, "overwrite", false, "move an existing run directory aside to DIR.old-<time> and start afresh")
	cmd.Flags().BoolVar(&d.printConfig, "print-config", false, "print the resolved experiment — every value in effect — and exit")
}

// errPrinted ends a command that only printed, with exit code 0.
var errPrinted = errors.New("printed")

// printResolved writes the resolved experiment of exp to e.stdout.
func printResolved(e *env, exp *config.Experiment) error {
	b, err := exp.Resolved()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

// prepareDir checks and claims the run directory of exp: see rundir.Prepare.
// It reports a directory moved aside and the safe changes a resume accepted.
func prepareDir(e *env, exp *config.Experiment, dir string, resume, overwrite bool) error {
	resolved, err := exp.Resolved()
	if err != nil {
		return err
	}
	upgrade := func(saved []byte) ([]byte, error) {
		return exp.Reresolve(saved, filepath.Join(dir, rundir.ConfigFile))
	}
	p, err := rundir.Prepare(dir, resolved, rundir.Mode{Resume: resume, Overwrite: overwrite, Normalize: upgrade})
	if err != nil {
		return err
	}
	if p.MovedTo != "" {
		fmt.Fprintf(e.stderr, "moved the previous run to %s\n", p.MovedTo)
	}
	for _, c := range p.Changes {
		fmt.Fprintf(e.stderr, "resuming with %s\n", c)
	}
	return nil
}

// checkPluginPaths refuses plugin paths that are directories. The config
// has made every path absolute already.
func checkPluginPaths(exp *config.Experiment) error {
	for i, o := range exp.Objectives {
		if o.Path == "" {
			continue
		}
		if err := checkPluginPath(fmt.Sprintf("%s: objective[%d].path", exp.Path(), i), o.Path); err != nil {
			return err
		}
	}
	return nil
}

// checkPluginPath refuses a plugin path that is a directory, which exec
// would report as "permission denied".
func checkPluginPath(where, path string) error {
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("cli: %s: %s is a directory, not a plugin binary", where, path)
	}
	return nil
}
