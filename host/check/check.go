// Package check runs the objective conformance suite against a built-in
// objective or a plugin binary, through its plugin process, and prints the
// report: the logic of "prefopt objective check".
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/objectives/builtin"
)

// DefaultTimeout bounds each call to the plugin when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Options says what to check and how.
type Options struct {
	// Objective names a built-in, run as a plugin process of this binary;
	// exclusive with Plugin.
	Objective string
	// Plugin is the path of a plugin binary; exclusive with Objective.
	Plugin string
	// SHA256 pins the plugin binary (Plugin only).
	SHA256 string
	// AutoMTLS authenticates the plugin connection.
	AutoMTLS bool
	// Params are the objective's parameters, as for Configure.
	Params map[string]any
	// JSON prints the report as JSON instead of text.
	JSON bool
	// Timeout bounds each call to the plugin; 0 means DefaultTimeout.
	Timeout time.Duration
	// LatencyCalls is the number of timed Compute calls per batch size; 0
	// means 100.
	LatencyCalls int
	// NoLatency leaves out the latency measurement.
	NoLatency bool
	// Stderr receives the plugin's stderr, each line prefixed with its
	// label; nil means os.Stderr.
	Stderr io.Writer
}

// Run starts the objective's plugin process, runs [conformance.Check]
// through it, and writes the report to stdout. It returns failed = true if
// any check failed, including the handshake (a plugin that does not start
// is a failed check, not an error), and an error only for a usage problem
// (neither or both of Objective and Plugin, an unknown built-in, a
// malformed SHA256) or a failure to write the report.
func Run(ctx context.Context, opts Options, stdout io.Writer) (failed bool, err error) {
	switch {
	case opts.Objective != "" && opts.Plugin != "":
		return false, errors.New("check: give --objective NAME or --plugin PATH, not both")
	case opts.Objective == "" && opts.Plugin == "":
		return false, errors.New("check: want --objective NAME or --plugin PATH")
	case opts.Objective != "" && opts.SHA256 != "":
		return false, fmt.Errorf("check: --sha256 pins a plugin binary; built-in %q has none", opts.Objective)
	}
	if opts.Objective != "" {
		builtin.Register()
		if _, err := core.Lookup(opts.Objective); err != nil {
			return false, fmt.Errorf("check: %w", err)
		}
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Params == nil {
		opts.Params = map[string]any{}
	}
	label := opts.Objective
	if label == "" {
		label = opts.Plugin
	}

	h, err := objective.Open(ctx, objective.Source{
		Name: opts.Objective, Path: opts.Plugin, SHA256: opts.SHA256, AutoMTLS: opts.AutoMTLS,
		// The checker enforces opts.Timeout itself and says which call
		// overran; the client's bound is a backstop.
		Timeout: opts.Timeout + time.Second, Stderr: opts.Stderr,
	})
	var rep *conformance.Report
	if err != nil {
		rep = &conformance.Report{Objective: label, Params: opts.Params, Checks: []conformance.Outcome{
			{Name: "handshake", Detail: err.Error()},
		}}
	} else {
		defer h.Close()
		rep = conformance.Check(ctx, h, opts.Params, conformance.Options{
			Timeout: opts.Timeout, SkipLatency: opts.NoLatency, LatencyCalls: opts.LatencyCalls,
		})
		hs := conformance.Outcome{Name: "handshake", Passed: true,
			Detail:  fmt.Sprintf("objective protocol v%d, pid %d", plugin.ProtocolVersion, h.Client.Pid()),
			Numbers: map[string]float64{"protocol_version": plugin.ProtocolVersion}}
		rep.Checks = append([]conformance.Outcome{hs}, rep.Checks...)
		alive := conformance.Outcome{Name: "alive", Passed: !h.Client.Exited()}
		if !alive.Passed {
			alive.Detail = "the plugin process exited during the checks (a crash; its stderr is above)"
		}
		rep.Checks = append(rep.Checks, alive)
	}
	if opts.JSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return rep.Failed(), fmt.Errorf("check: write report: %w", err)
	}
	return rep.Failed(), nil
}
