// Package objective opens the objectives an experiment names: built-ins run
// as plugin processes of the prefopt binary itself, third-party objectives as
// plugin binaries, and built-ins in-process only when explicitly asked.
package objective

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/objectives/builtin"
)

// serveEnv names the built-in a re-executed prefopt binary must serve.
const serveEnv = "PREFOPT_SERVE_BUILTIN"

// ServeIfAsked serves a built-in objective and exits if this process was
// started as a built-in's plugin; otherwise it returns at once. Call it first
// thing in main (and in TestMain of tests that launch built-ins), before
// anything is written to stdout.
func ServeIfAsked() {
	name := os.Getenv(serveEnv)
	if name == "" {
		return
	}
	builtin.Register()
	d, err := core.Lookup(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prefopt:", err)
		os.Exit(2)
	}
	plugin.Serve(d)
	os.Exit(0)
}

// Source says where an objective comes from and how to run it.
type Source struct {
	// Name of a built-in objective; exclusive with Path.
	Name string
	// Path of a third-party plugin binary; exclusive with Name.
	Path string
	// Label names the objective in messages and logs; defaults to Name or Path.
	Label string
	// SHA256 pins a plugin binary (Path only).
	SHA256 string
	// AutoMTLS for the plugin connection.
	AutoMTLS bool
	// InProcess runs a built-in in this process, without RPC: for measuring
	// the RPC overhead only.
	InProcess bool
	// Timeout bounds each call to the plugin; 0 means none. A call that
	// exceeds it kills the plugin (see plugin.Config.Timeout).
	Timeout time.Duration
	// StartTimeout bounds each start of the plugin; 0 means Timeout, or
	// 30 s if that is 0 too.
	StartTimeout time.Duration
	// Stderr receives the plugin's stderr; nil means os.Stderr.
	Stderr io.Writer
}

// Handle is an opened objective provider.
type Handle struct {
	core.Provider
	// Client is the plugin client, nil for an in-process objective.
	Client *plugin.Client
	Label  string
}

// Close stops the plugin process, if any.
func (h *Handle) Close() error {
	if h.Client != nil {
		return h.Client.Close()
	}
	return nil
}

// Open starts the objective described by s.
func Open(ctx context.Context, s Source) (*Handle, error) {
	builtin.Register()
	switch {
	case s.Name != "" && s.Path != "":
		return nil, fmt.Errorf("objective: give a built-in name or a plugin path, not both (name %q, path %q)", s.Name, s.Path)
	case s.Name == "" && s.Path == "":
		return nil, fmt.Errorf("objective: neither a built-in name nor a plugin path given")
	}
	label := s.Label
	if label == "" {
		label = s.Name
		if label == "" {
			label = s.Path
		}
	}
	if s.Name != "" {
		d, err := core.Lookup(s.Name)
		if err != nil {
			return nil, fmt.Errorf("objective %s: %w", label, err)
		}
		if s.InProcess {
			return &Handle{Provider: core.Local(d), Label: label}, nil
		}
		if s.SHA256 != "" {
			return nil, fmt.Errorf("objective %s: sha256 pins a plugin binary; built-in %q has none", label, s.Name)
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("objective %s: find the prefopt binary to re-execute: %w", label, err)
		}
		c, err := plugin.Launch(ctx, plugin.Config{
			Path: exe, Env: []string{serveEnv + "=" + s.Name}, Label: label,
			AutoMTLS: s.AutoMTLS, Timeout: s.Timeout, StartTimeout: s.StartTimeout, Stderr: s.Stderr,
		})
		if err != nil {
			return nil, err
		}
		return &Handle{Provider: c, Client: c, Label: label}, nil
	}
	if s.InProcess {
		return nil, fmt.Errorf("objective %s: in_process applies to built-ins only; %s is a plugin binary", label, s.Path)
	}
	c, err := plugin.Launch(ctx, plugin.Config{
		Path: s.Path, Label: label, SHA256: s.SHA256,
		AutoMTLS: s.AutoMTLS, Timeout: s.Timeout, StartTimeout: s.StartTimeout, Stderr: s.Stderr,
	})
	if err != nil {
		return nil, err
	}
	return &Handle{Provider: c, Client: c, Label: label}, nil
}
