// Package cli implements the prefopt command line.
//
// Exit codes: 0 success; 1 the command failed (bad config, data, plugin or
// training error); 2 the command line itself is wrong; 130 interrupted.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/prefopt/prefopt/core/plugin"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// env is what a command reads and writes. ctx is cancelled on the first
// SIGINT or SIGTERM; a second one exits at once.
type env struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func commands() []command {
	return []command{
		{"compare", "train several objectives side by side and report (default: the built-in task)", runCompare},
		{"train", "train a policy with each objective of an experiment TOML", runTrain},
		{"sft", "supervised fine-tuning (NLL), e.g. to make a reference model", runSFT},
		{"bench", "measure one training step of the bench model", runBench},
		{"objective", "list objectives, or evaluate one on a JSON batch through its plugin", runObjective},
		{"version", "print the version and protocol", runVersion},
	}
}

// defaultCommand runs when prefopt is given no arguments.
var defaultCommand = "compare"

// Version is the prefopt release.
const Version = "0.1.0"

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		fmt.Fprintln(stderr, "prefopt: interrupted: stopping after a checkpoint (interrupt again to exit now)")
		cancel()
		if _, ok := <-sigs; ok {
			plugin.Cleanup()
			os.Exit(ExitInterrupted)
		}
	}()
	defer plugin.Cleanup()

	if len(args) == 0 {
		args = []string{defaultCommand}
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			return Main([]string{args[1], "--help"}, stdin, stdout, stderr)
		}
		printUsage(stdout)
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCode(e, c.run(e, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "prefopt: unknown command %q\n\n", name)
	printUsage(stderr)
	return ExitUsage
}

func exitCode(e *env, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if errors.Is(err, context.Canceled) && e.ctx.Err() != nil {
		fmt.Fprintf(e.stderr, "prefopt: %v\n", err)
		return ExitInterrupted
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintf(e.stderr, "prefopt: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(e.stderr, "prefopt: %v\n", err)
	return ExitFailure
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "prefopt %s — preference-optimization objectives as plugins\n\nUsage:\n  prefopt [command] [arguments]\n\nCommands:\n", Version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nWith no command, prefopt runs \"compare\" on the built-in task.")
	fmt.Fprintln(w, "Run \"prefopt help COMMAND\" or \"prefopt COMMAND --help\" for details.")
}

// newFlags makes a flag set that prints usage to e.stderr and reports
// parse errors as usage errors.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: prefopt %s\n", usage)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

func runVersion(e *env, args []string) error {
	fs := newFlags(e, "version", "version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "prefopt %s (objective protocol v%d)\n", Version, plugin.ProtocolVersion)
	return nil
}

// multiFlag collects repeated string flags.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
