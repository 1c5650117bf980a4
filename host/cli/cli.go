// Package cli implements the prefopt command line on spf13/cobra.
//
// Exit codes: 0 success; 1 the command failed (bad config, data, plugin or
// training error); 2 the command line itself is wrong; 130 interrupted by
// SIGINT or SIGTERM, whatever error the interrupted command returned.
//
// Flags may come before or after positional arguments, as --flag value or
// --flag=value. A command writes only to paths named by its output flags
// (--out, --cpuprofile), never to a path given as a positional argument.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/core/plugin"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Version is the prefopt release.
const Version = "0.1.0"

// defaultCommand runs when prefopt is given no arguments.
const defaultCommand = "compare"

// env is what a command reads and writes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// Main runs the command line and returns the exit code. The first SIGINT or
// SIGTERM cancels the command's context (runs stop after a checkpoint); a
// second one stops the plugins and exits with 130 at once.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var signalled atomic.Bool
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	defer func() { signal.Stop(sigs); close(quit) }()
	go func() {
		select {
		case <-sigs:
		case <-quit:
			return
		}
		signalled.Store(true)
		fmt.Fprintln(stderr, "prefopt: interrupted: stopping after a checkpoint (interrupt again to exit now)")
		cancel()
		select {
		case <-sigs:
			plugin.Cleanup()
			os.Exit(ExitInterrupted)
		case <-quit:
		}
	}()
	defer plugin.Cleanup()
	return execute(ctx, signalled.Load, args, &env{stdin: stdin, stdout: stdout, stderr: stderr})
}

// execute runs args; interrupted reports whether a signal cancelled ctx.
func execute(ctx context.Context, interrupted func() bool, args []string, e *env) int {
	if len(args) == 0 {
		args = []string{defaultCommand}
	}
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case interrupted():
		if err != nil {
			fmt.Fprintf(e.stderr, "prefopt: %v\n", err)
		}
		fmt.Fprintln(e.stderr, "prefopt: interrupted")
		return ExitInterrupted
	case err == nil, errors.Is(err, errPrinted):
		return ExitOK
	}
	fmt.Fprintf(e.stderr, "prefopt: %v\n", err)
	var u usageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	return ExitFailure
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "prefopt",
		Short: "preference-optimization objectives as plugins",
		Long: "prefopt " + Version + " — preference-optimization objectives as plugins.\n\n" +
			"With no command, prefopt runs \"compare\" on the built-in task.\n\n" +
			"Exit codes: 0 success, 1 the command failed, 2 the command line is wrong, 130 interrupted.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("unknown command %q (run prefopt help)", args[0])
		},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if !c.HasParent() { // the program's name already starts the message
			return usagef("%v", err)
		}
		return usagef("%s: %v", where(c), err)
	})
	root.AddCommand(compareCmd(e), reportCmd(e), trainCmd(e), sftCmd(e), generateCmd(e), benchCmd(e), objectiveCmd(e), versionCmd(e))
	return root
}

// where names a command in messages: its path without "prefopt ".
func where(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s: unexpected arguments %q", where(cmd), args)
	}
	return nil
}

// exactArgs wants n positional arguments, each described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s: want %s, got %d arguments %q", where(cmd), what, len(args), args)
		}
		return nil
	}
}

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version and protocol",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(e.stdout, "prefopt %s (objective protocol v%d)\n", Version, plugin.ProtocolVersion)
			return nil
		},
	}
}
