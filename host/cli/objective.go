package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/objectives/builtin"
)

const serveLong = `Serves the built-in objective NAME over the go-plugin gRPC protocol (objective
protocol v%d), for any host — a Python host, say — that launches prefopt as
an objective plugin, as prefopt itself does.

The host must start the process with these environment variables, or it
refuses to serve:

  PREFOPT_PLUGIN=objective          the go-plugin magic cookie
  PLUGIN_PROTOCOL_VERSIONS=%d        the objective protocol versions the host speaks
  PLUGIN_MIN_PORT, PLUGIN_MAX_PORT  (optional) TCP port range where unix sockets are unavailable
  PLUGIN_CLIENT_CERT                (optional) the host's certificate, for AutoMTLS

The process then prints the go-plugin handshake line
(1|%d|unix|<socket>|grpc, plus its certificate under AutoMTLS) on stdout,
writes nothing else there, and serves on that socket until the host kills
it or calls the GRPCController Shutdown service. Built-in names: see
"prefopt objective list".`

func objectiveCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "objective",
		Short: "list objectives, evaluate one on a JSON batch, or serve a built-in as a plugin",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("objective: want a subcommand: list, eval or serve")
			}
			return usagef("objective: unknown subcommand %q (want list, eval or serve)", args[0])
		},
	}
	cmd.AddCommand(objectiveListCmd(e), objectiveEvalCmd(e), objectiveCheckCmd(e), objectiveServeCmd())
	return cmd
}

func objectiveServeCmd() *cobra.Command {
	v := plugin.ProtocolVersion
	return &cobra.Command{
		Use:   "serve NAME",
		Short: "serve one built-in objective over the go-plugin protocol to any host",
		Long:  fmt.Sprintf(serveLong, v, v, v),
		Args:  exactArgs(1, "one built-in objective name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			builtin.Register()
			d, err := core.Lookup(args[0])
			if err != nil {
				return usagef("objective serve: %v", err)
			}
			plugin.Serve(d)
			return nil
		},
	}
}

type pluginFlags struct {
	name, path, sha string
	inProcess       bool
	noMTLS          bool
	timeout         time.Duration
}

func (p *pluginFlags) register(fsName string, cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&p.path, "plugin", "", "path of a third-party objective plugin binary")
	fs.StringVar(&p.sha, "sha256", "", "refuse to start the plugin unless its sha256 is this (hex)")
	fs.BoolVar(&p.noMTLS, "no-mtls", false, "do not negotiate AutoMTLS with the plugin (for plugins that lack it)")
	fs.DurationVar(&p.timeout, "timeout", time.Minute, "deadline of each call to the plugin")
	if fsName == "eval" {
		fs.StringVar(&p.name, "objective", "", "built-in objective name (see prefopt objective list)")
		fs.BoolVar(&p.inProcess, "in-process", false, "run a built-in in this process instead of as a plugin (measures RPC overhead)")
	}
}

// check refuses a plugin path that is a directory.
func (p *pluginFlags) check() error {
	if p.path == "" {
		return nil
	}
	return checkPluginPath("--plugin", p.path)
}

func (p *pluginFlags) source(e *env) objective.Source {
	return objective.Source{Name: p.name, Path: p.path, SHA256: p.sha, AutoMTLS: !p.noMTLS,
		InProcess: p.inProcess, Timeout: p.timeout, Stderr: e.stderr}
}

// listing is the JSON form of one objective in "objective list --json".
type listing struct {
	Name    string         `json:"name"`
	Version string         `json:"version"`
	Doc     string         `json:"doc"`
	Params  []paramListing `json:"params"`
	Needs   needs          `json:"needs"`
}

type paramListing struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Default any      `json:"default,omitempty"`
	Bounds  string   `json:"bounds,omitempty"`
	Enum    []string `json:"enum,omitempty"`
	Doc     string   `json:"doc"`
}

// needs summarises what an objective asks of the host with its default
// parameters.
type needs struct {
	Layout        string   `json:"layout"`
	Reference     bool     `json:"reference"`
	KLPairs       bool     `json:"kl_pairs"`
	PromptLogprob bool     `json:"prompt_logps"`
	Inputs        []string `json:"inputs"`
}

func needsOf(inputs []string) needs {
	n := needs{Inputs: inputs}
	for _, name := range inputs {
		f, _ := core.LookupField(name)
		if f.Column {
			continue // a data column follows the other inputs' layout
		}
		n.Layout = f.Layout.String()
		n.Reference = n.Reference || f.Reference
		n.KLPairs = n.KLPairs || name == core.PolicyKLLogps
		n.PromptLogprob = n.PromptLogprob || name == core.PolicyChosenPromptLogps
	}
	return n
}

func objectiveListCmd(e *env) *cobra.Command {
	var (
		asJSON bool
		pf     pluginFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "show each objective's version, parameters and the inputs it needs",
		Long: `Shows each objective's version, parameters and the inputs it needs (with
default parameters), asking each plugin process for its spec.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runObjectiveList(cmd.Context(), e, pf, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	pf.register("list", cmd)
	return cmd
}

func runObjectiveList(ctx context.Context, e *env, pf pluginFlags, asJSON bool) error {
	if err := pf.check(); err != nil {
		return err
	}
	builtin.Register()
	var sources []objective.Source
	if pf.path != "" {
		sources = append(sources, pf.source(e))
	} else {
		for _, name := range core.Registered() {
			s := pf.source(e)
			s.Name = name
			sources = append(sources, s)
		}
	}
	var out []listing
	for _, s := range sources {
		l, err := describe(ctx, s)
		if err != nil {
			return err
		}
		out = append(out, l)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for i, l := range out {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		printListing(e.stdout, l)
	}
	return nil
}

func describe(ctx context.Context, s objective.Source) (listing, error) {
	h, err := objective.Open(ctx, s)
	if err != nil {
		return listing{}, err
	}
	defer h.Close()
	spec := h.Spec()
	obj, _, err := h.Configure(ctx, nil)
	if err != nil {
		return listing{}, fmt.Errorf("objective %s: configure with defaults: %w", h.Label, err)
	}
	l := listing{Name: spec.Name, Version: spec.Version, Doc: spec.Doc, Needs: needsOf(obj.Inputs())}
	for _, p := range spec.Params {
		l.Params = append(l.Params, paramListing{Name: p.Name, Type: p.Type.String(), Default: p.Default,
			Bounds: p.BoundsText(), Enum: p.Enum, Doc: p.Doc})
	}
	return l, nil
}

func printListing(w io.Writer, l listing) {
	fmt.Fprintf(w, "%s %s\n  %s\n", l.Name, l.Version, l.Doc)
	n := l.Needs
	fmt.Fprintf(w, "  needs: %s data", n.Layout)
	if n.Reference {
		fmt.Fprint(w, ", reference model")
	} else {
		fmt.Fprint(w, ", no reference model")
	}
	if n.KLPairs {
		fmt.Fprint(w, ", KL pairs")
	}
	if n.PromptLogprob {
		fmt.Fprint(w, ", chosen prompt log-probs")
	}
	fmt.Fprintf(w, "\n  inputs: %s\n", strings.Join(n.Inputs, ", "))
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "  param\ttype\tdefault\tallowed\tdoc")
	for _, p := range l.Params {
		def := "-"
		if p.Default != nil {
			def = fmt.Sprint(p.Default)
		}
		allowed := p.Bounds
		if len(p.Enum) > 0 {
			allowed = strings.Join(p.Enum, "|")
		}
		if allowed == "" {
			allowed = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, def, allowed, p.Doc)
	}
	tw.Flush()
}

func objectiveEvalCmd(e *env) *cobra.Command {
	var (
		pf     pluginFlags
		params []string
		input  string
	)
	cmd := &cobra.Command{
		Use:   "eval (--objective NAME | --plugin PATH) [--param key=value]... [--input FILE|-]",
		Short: "run one objective through its plugin process on a JSON batch",
		Long: `Runs one objective through its plugin process on a JSON batch (keys: the
input names, e.g. policy_chosen_logps, chosen_lengths, labels) and prints
{"loss", "losses", "grads", "metrics"} as one JSON object. --param values
are TOML values; a bare word is a string (beta=0.1, length_normalize=false,
loss_type=hinge).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runObjectiveEval(cmd.Context(), e, pf, params, input)
		},
	}
	pf.register("eval", cmd)
	cmd.Flags().StringArrayVar(&params, "param", nil, "objective parameter `key=value` (repeatable); the value is TOML, a bare word a string")
	cmd.Flags().StringVar(&input, "input", "-", "JSON batch `FILE`, or - for stdin")
	return cmd
}

func runObjectiveEval(ctx context.Context, e *env, pf pluginFlags, params []string, input string) error {
	if (pf.name == "") == (pf.path == "") {
		return usagef("objective eval: give exactly one of --objective NAME or --plugin PATH")
	}
	if err := pf.check(); err != nil {
		return err
	}
	raw, err := parseParams(params)
	if err != nil {
		return usageError{err.Error()}
	}
	batch, err := readBatch(e, input)
	if err != nil {
		return err
	}
	h, err := objective.Open(ctx, pf.source(e))
	if err != nil {
		return err
	}
	defer h.Close()
	obj, _, err := h.Configure(ctx, raw)
	if err != nil {
		return fmt.Errorf("objective %s: %w", h.Label, err)
	}
	res, err := obj.Compute(ctx, batch)
	if err != nil {
		return fmt.Errorf("objective %s: %s: %w", h.Label, input, err)
	}
	if err := core.CheckResult(batch, obj.Inputs(), res); err != nil {
		return fmt.Errorf("objective %s returned an invalid result: %w", h.Label, err)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func readBatch(e *env, path string) (*core.Batch, error) {
	var r io.Reader = e.stdin
	name := inputName(path)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	b, err := core.DecodeBatchJSON(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// parseParams reads key=value pairs; each value is a TOML value, or a bare
// string when it does not parse as one.
func parseParams(kvs []string) (map[string]any, error) {
	out := map[string]any{}
	for _, kv := range kvs {
		key, val, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("--param %q: want key=value", kv)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("--param %s given twice", key)
		}
		v, err := parseValue(val)
		if err != nil {
			return nil, fmt.Errorf("--param %s: %w", key, err)
		}
		out[key] = v
	}
	return out, nil
}

func parseValue(s string) (any, error) {
	var doc map[string]any
	if _, err := toml.Decode("v = "+s, &doc); err != nil {
		return s, nil
	}
	switch v := doc["v"].(type) {
	case float64, int64, bool, string:
		return v, nil
	case []any:
		for _, e := range v {
			switch e.(type) {
			case float64, int64, bool, string:
			default:
				return nil, fmt.Errorf("value %q must be a number, boolean, string or a list of them, not a list holding %T", s, e)
			}
		}
		return v, nil
	default:
		return nil, fmt.Errorf("value %q must be a number, boolean, string or a list of them, not %T", s, v)
	}
}

func inputName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}
