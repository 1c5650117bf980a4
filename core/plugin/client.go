package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/prefopt/prefopt/core"
	pb "github.com/prefopt/prefopt/core/internal/objectivev1"
)

// Config says how to start an objective plugin.
type Config struct {
	// Path is the plugin binary. It must be explicit — absolute, or relative
	// with a path separator ("./myobj"): no PATH lookup happens.
	Path string
	Args []string
	// Env is added to the host's environment for the plugin.
	Env []string
	// Label names the plugin in messages and prefixes its stderr lines.
	Label string
	// SHA256, if set (64 hex digits), pins the binary: a mismatch refuses to
	// start it.
	SHA256 string
	// AutoMTLS authenticates the host and the plugin to each other with
	// one-time certificates. Go plugins built with this package support it;
	// a plugin in another language must implement it itself.
	AutoMTLS bool
	// Timeout bounds each Compute and Configure call; 0 means no bound.
	Timeout time.Duration
	// StartTimeout bounds the handshake; 0 means 30 s.
	StartTimeout time.Duration
	// Stderr receives the plugin's stderr, each line prefixed with
	// "[Label] "; nil means os.Stderr.
	Stderr io.Writer
}

// Client runs one objective plugin process. It implements core.Provider;
// the objectives it configures compute in the plugin. A Client is safe for
// concurrent use, but the plugin holds one configuration at a time: the
// latest Configure wins.
type Client struct {
	cfg Config

	mu     sync.Mutex
	gp     *goplugin.Client
	rpc    pb.ObjectiveClient
	spec   core.Spec
	params map[string]any // last configured user parameters, for Restart
}

// Launch starts the plugin, completes the handshake and fetches its spec.
// The process is killed if any step fails.
func Launch(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Label == "" {
		cfg.Label = filepath.Base(cfg.Path)
	}
	if !strings.ContainsRune(cfg.Path, os.PathSeparator) {
		return nil, fmt.Errorf("plugin %s: path %q must be explicit (absolute, or ./%s): no PATH lookup is done", cfg.Label, cfg.Path, cfg.Path)
	}
	c := &Client{cfg: cfg}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) start(ctx context.Context) error {
	cfg := c.cfg
	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	setPdeathsig(cmd)
	var secure *goplugin.SecureConfig
	if cfg.SHA256 != "" {
		sum, err := hex.DecodeString(cfg.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return fmt.Errorf("plugin %s: sha256 must be 64 hex digits, got %q", cfg.Label, cfg.SHA256)
		}
		secure = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	startTimeout := cfg.StartTimeout
	if startTimeout == 0 {
		startTimeout = 30 * time.Second
	}
	stderr := cfg.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	gp := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {Name: &grpcPlugin{}}},
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env already holds the host's environment, overridable by cfg.Env
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         cfg.AutoMTLS,
		Managed:          true,
		StartTimeout:     startTimeout,
		Stderr:           &linePrefixer{prefix: "[" + cfg.Label + "] ", w: stderr, dropDebug: true},
		SyncStderr:       &linePrefixer{prefix: "[" + cfg.Label + "] ", w: stderr},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin." + cfg.Label, Level: hclog.Off}),
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
			grpc.WithInitialWindowSize(windowBytes), grpc.WithInitialConnWindowSize(windowBytes),
		},
	})
	rpcClient, err := gp.Client()
	if err != nil {
		gp.Kill()
		return c.explainStart(err)
	}
	raw, err := rpcClient.Dispense(Name)
	if err != nil {
		gp.Kill()
		return fmt.Errorf("plugin %s: dispense: %w", cfg.Label, err)
	}
	rpc := raw.(pb.ObjectiveClient)
	callCtx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := rpc.GetSpec(callCtx, &pb.GetSpecRequest{})
	if err != nil {
		gp.Kill()
		return fmt.Errorf("plugin %s: get spec: %w", cfg.Label, err)
	}
	spec := specFromPB(resp.GetSpec())
	if err := spec.Validate(); err != nil {
		gp.Kill()
		return fmt.Errorf("plugin %s: invalid spec: %w", cfg.Label, err)
	}
	c.mu.Lock()
	c.gp, c.rpc, c.spec = gp, rpc, spec
	c.mu.Unlock()
	return nil
}

var versionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// explainStart turns go-plugin's start-up errors into messages that say
// what to fix.
func (c *Client) explainStart(err error) error {
	msg := err.Error()
	label := c.cfg.Label
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %s: sha256 of %s does not match the pinned %s: refusing to start it (rebuild or re-pin deliberately)", label, c.cfg.Path, c.cfg.SHA256)
	case strings.Contains(msg, "incompatible API version"):
		if m := versionRE.FindStringSubmatch(msg); m != nil {
			v, _ := strconv.Atoi(m[1])
			if v > ProtocolVersion {
				return fmt.Errorf("plugin %s speaks objective protocol v%d but this prefopt speaks v%d: upgrade prefopt, or rebuild the plugin against a v%d SDK", label, v, ProtocolVersion, ProtocolVersion)
			}
			return fmt.Errorf("plugin %s speaks objective protocol v%d but this prefopt speaks v%d: rebuild the plugin against this prefopt's SDK", label, v, ProtocolVersion)
		}
	case strings.Contains(msg, "Failed to read any lines"), strings.Contains(msg, "exited before we could connect"):
		return fmt.Errorf("plugin %s exited before its handshake: it crashed at start, or it is not a prefopt objective plugin, or it was built for another magic cookie (its stderr, if any, is above)", label)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n", 2)[0])
		return fmt.Errorf("plugin %s printed %q on stdout before its handshake: a plugin must write nothing to stdout before serving (is %s a prefopt objective plugin?)", label, line, c.cfg.Path)
	}
	return fmt.Errorf("plugin %s: start: %w", label, err)
}

func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.cfg.Timeout > 0 {
		return context.WithTimeout(ctx, c.cfg.Timeout)
	}
	return context.WithCancel(ctx)
}

// Label returns the plugin's label.
func (c *Client) Label() string { return c.cfg.Label }

// Spec returns the spec the plugin published at start.
func (c *Client) Spec() core.Spec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.spec
}

// Configure sends the user's parameters to the plugin, which resolves and
// validates them; problems come back as *core.ParamError values.
func (c *Client) Configure(ctx context.Context, params map[string]any) (core.Objective, core.Params, error) {
	inputs, p, err := c.configure(ctx, params)
	if err != nil {
		return nil, core.Params{}, err
	}
	c.mu.Lock()
	c.params = params
	c.mu.Unlock()
	return &remote{c: c, inputs: inputs}, p, nil
}

func (c *Client) configure(ctx context.Context, params map[string]any) ([]string, core.Params, error) {
	values, err := valuesToPB(params)
	if err != nil {
		return nil, core.Params{}, err
	}
	c.mu.Lock()
	rpc := c.rpc
	c.mu.Unlock()
	callCtx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := rpc.Configure(callCtx, &pb.ConfigureRequest{Params: values})
	if err != nil {
		return nil, core.Params{}, fmt.Errorf("plugin %s: configure: %w", c.cfg.Label, err)
	}
	if err := errorFromDiagnostics(resp.GetDiagnostics()); err != nil {
		return nil, core.Params{}, err
	}
	inputs := resp.GetInputs()
	for _, name := range inputs {
		if _, ok := core.LookupField(name); !ok {
			return nil, core.Params{}, fmt.Errorf("plugin %s needs input %q, which this prefopt cannot provide: upgrade prefopt", c.cfg.Label, name)
		}
	}
	return inputs, core.NewParams(valuesFromPB(resp.GetResolved()), resp.GetSet()), nil
}

// Restart kills the plugin process, starts a new one and configures it with
// the parameters of the last successful Configure. Objectives configured
// earlier keep working against the new process.
func (c *Client) Restart(ctx context.Context) error {
	c.mu.Lock()
	old, params := c.gp, c.params
	c.mu.Unlock()
	if old != nil {
		old.Kill()
	}
	if err := c.start(ctx); err != nil {
		return err
	}
	if params == nil {
		return nil
	}
	_, _, err := c.configure(ctx, params)
	return err
}

// Exited reports whether the plugin process has exited.
func (c *Client) Exited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gp == nil || c.gp.Exited()
}

// Pid returns the plugin's process id, or 0 if unknown.
func (c *Client) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gp == nil {
		return 0
	}
	if rc := c.gp.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Close kills the plugin process. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	gp := c.gp
	c.gp = nil
	c.mu.Unlock()
	if gp != nil {
		gp.Kill()
	}
	return nil
}

// Cleanup kills every plugin process started by Launch that is still
// running. Call it before the host exits, including on signals.
func Cleanup() { goplugin.CleanupClients() }

// remote is an objective computed by a plugin process.
type remote struct {
	c      *Client
	inputs []string
}

func (r *remote) Inputs() []string { return slices.Clone(r.inputs) }

func (r *remote) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	r.c.mu.Lock()
	rpc := r.c.rpc
	r.c.mu.Unlock()
	callCtx, cancel := r.c.callContext(ctx)
	defer cancel()
	resp, err := rpc.Compute(callCtx, &pb.ComputeRequest{Inputs: batchToPB(b, r.inputs)})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: compute: %w", r.c.cfg.Label, err)
	}
	if err := errorFromDiagnostics(resp.GetDiagnostics()); err != nil {
		return nil, err
	}
	return resultFromPB(resp), nil
}

// linePrefixer writes each line of its input to w with a prefix. With
// dropDebug it drops go-plugin's own JSON log lines below info level, which
// a Go plugin writes to its raw stderr during the handshake.
type linePrefixer struct {
	prefix    string
	w         io.Writer
	dropDebug bool
	mu        sync.Mutex
	buf       []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := p.buf[:i]
		p.buf = p.buf[i+1:]
		if p.dropDebug && (bytes.HasPrefix(line, []byte(`{"@level":"debug"`)) || bytes.HasPrefix(line, []byte(`{"@level":"trace"`))) {
			continue
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, line); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}
