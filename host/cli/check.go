package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/check"
)

// errChecksFailed exits 1 after the report said which checks failed.
var errChecksFailed = errors.New("objective check: some checks failed (see the report above)")

func objectiveCheckCmd(e *env) *cobra.Command {
	var (
		o       check.Options
		params  []string
		noMTLS  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check (--objective NAME | --plugin PATH) [--param key=value]... [--json]",
		Short: "run the conformance suite against any objective plugin, in any language",
		Long: `Runs the conformance suite through the objective's plugin process: the
handshake and protocol version; the spec (names, types, defaults within
bounds, enums); unknown and invalid parameters rejected with a diagnostic;
gradients against central finite differences on random batches shaped by
the inputs the objective declares (per-token inputs token by token); finite
results at extreme inputs; replies that do not depend on earlier calls;
determinism, also after configuring again; bad input answered with a typed
diagnostic, never a crash or a hang (every call has a deadline); and the
p50/p99 latency of Compute at 16, 64 and 1024 examples. One line per check,
or --json; the exit code is 1 if any check failed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (o.Objective == "") == (o.Plugin == "") {
				return usagef("objective check: give exactly one of --objective NAME or --plugin PATH")
			}
			if o.Plugin != "" {
				if err := checkPluginPath("--plugin", o.Plugin); err != nil {
					return err
				}
			}
			raw, err := parseParams(params)
			if err != nil {
				return usageError{err.Error()}
			}
			o.Params, o.AutoMTLS, o.Timeout, o.Stderr = raw, !noMTLS, timeout, e.stderr
			failed, err := check.Run(cmd.Context(), o, e.stdout)
			if err != nil {
				return usageError{err.Error()}
			}
			if failed {
				return errChecksFailed
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Objective, "objective", "", "built-in objective name (see prefopt objective list)")
	fs.StringVar(&o.Plugin, "plugin", "", "path of a third-party objective plugin binary")
	fs.StringVar(&o.SHA256, "sha256", "", "refuse to start the plugin unless its sha256 is this (hex)")
	fs.BoolVar(&noMTLS, "no-mtls", false, "do not negotiate AutoMTLS with the plugin (for plugins that lack it)")
	fs.StringArrayVar(&params, "param", nil, "objective parameter `key=value` (repeatable); the value is TOML, a bare word a string")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.DurationVar(&timeout, "timeout", check.DefaultTimeout, "deadline of each call to the plugin")
	fs.IntVar(&o.LatencyCalls, "latency-calls", 100, "timed Compute calls per batch size")
	fs.BoolVar(&o.NoLatency, "no-latency", false, "leave out the latency measurement")
	return cmd
}
