package plugin

import (
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
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	// SHA256, if set (64 hex digits), pins the binary: the host copies it
	// to a private directory while hashing it, and runs the copy only if
	// the hash matches — the bytes hashed are the bytes run.
	SHA256 string
	// AutoMTLS authenticates the host and the plugin to each other with
	// one-time certificates. Go plugins built with this package support it;
	// a plugin in another language must implement it itself.
	AutoMTLS bool
	// Timeout bounds each Compute and Configure call. A call that exceeds
	// it kills the plugin's process group: Exited then reports true and
	// Restart starts a new process. 0 means no bound.
	Timeout time.Duration
	// StartTimeout bounds a start — process, handshake, connection and spec
	// — after which the plugin is killed; 0 means Timeout, or 30 s if
	// Timeout is 0 too. A Go plugin starts in ~30 ms (+30 ms with AutoMTLS),
	// a Python one in ~0.3 s: with a Timeout under a second, set it.
	StartTimeout time.Duration
	// Stderr receives the plugin's stderr, each line prefixed with
	// "[Label] " and cut at 64 KiB; nil means os.Stderr.
	Stderr io.Writer
}

func (cfg Config) startTimeout() time.Duration {
	switch {
	case cfg.StartTimeout > 0:
		return cfg.StartTimeout
	case cfg.Timeout > 0:
		return cfg.Timeout
	}
	return 30 * time.Second
}

// killWait bounds the wait for a killed plugin to be reaped and released
// by go-plugin. SIGKILL cannot be ignored, so only a process stuck in the
// kernel takes longer; Close and Restart then go on without it.
const killWait = 5 * time.Second

// Client runs one objective plugin process. It implements core.Provider;
// the objectives it configures compute in the plugin. A Client is safe for
// concurrent use, but the plugin holds one configuration at a time: the
// latest Configure wins.
//
// Every interaction with the process is bounded in time (Config.Timeout,
// Config.StartTimeout, killWait), and the plugin runs as the leader of its
// own process group, which is killed with SIGKILL on Close, on Restart, on
// a call timeout and when the plugin itself exits. If the host dies, even
// by SIGKILL, the kernel kills the plugin process (Linux parent-death
// signal); a plugin built with [Serve] then kills its process group too,
// also when a wrapper script stands between the host and it. A helper of a
// plugin in another language survives the host's SIGKILL unless that
// plugin arranges otherwise; Close and Cleanup kill it.
type Client struct {
	cfg Config

	mu     sync.Mutex
	gp     *goplugin.Client
	proc   *process
	rpc    pb.ObjectiveClient
	spec   core.Spec
	params map[string]any // last configured user parameters, for Restart
	closed bool
}

// live holds the clients Cleanup closes.
var live sync.Map // *Client → struct{}

// StartError reports a start that failed in a way another attempt may not:
// the plugin exited, hung or broke the connection before it was ready.
// Launch and Restart return it; refusals no retry fixes (a checksum or
// protocol mismatch, a bad path, stdout output before the handshake, an
// invalid spec) are not StartErrors.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Retryable reports whether err comes from a start that may succeed if
// tried again (it wraps a *StartError). A trainer that restarts a plugin
// after a failed call counts a retryable Restart failure as one attempt and
// restarts again.
func Retryable(err error) bool {
	var se *StartError
	return errors.As(err, &se)
}

// Launch starts the plugin, completes the handshake and fetches its spec,
// within Config.StartTimeout. The process group is killed if any step fails.
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
	live.Store(c, struct{}{})
	return c, nil
}

// pinnedPath returns the path to execute: a verified private copy of a
// pinned binary, with the function removing it, or the path itself.
func (c *Client) pinnedPath() (string, func(), error) {
	cfg := c.cfg
	if cfg.SHA256 == "" {
		return cfg.Path, nil, nil
	}
	sum, err := hex.DecodeString(cfg.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return "", nil, fmt.Errorf("plugin %s: sha256 must be 64 hex digits, got %q", cfg.Label, cfg.SHA256)
	}
	path, dir, err := pinnedCopy(cfg.Path, sum)
	var mismatch errPinMismatch
	switch {
	case errors.As(err, &mismatch):
		return "", nil, fmt.Errorf("plugin %s: sha256 of %s does not match the pinned %s: refusing to start it (rebuild or re-pin deliberately)", cfg.Label, cfg.Path, cfg.SHA256)
	case err != nil:
		return "", nil, fmt.Errorf("plugin %s: copy pinned binary %s to run it: %w", cfg.Label, cfg.Path, err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

func (c *Client) start(ctx context.Context) error {
	cfg := c.cfg
	timeout := cfg.startTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path, cleanup, err := c.pinnedPath()
	if err != nil {
		return err
	}
	// proc is set once go-plugin has asked for the process; until then
	// cleanup is this function's to run.
	var proc atomic.Pointer[process]
	defer func() {
		if proc.Load() == nil && cleanup != nil {
			cleanup()
		}
	}()
	// A start that outlives ctx is ended by killing the process group:
	// every step below then fails at once.
	stopWatch := context.AfterFunc(ctx, func() {
		if p := proc.Load(); p != nil {
			p.kill()
		}
	})
	defer stopWatch()

	stderr := cfg.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	gp := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {Name: &grpcPlugin{}}},
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, _ string) (runner.Runner, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			p := &process{name: cfg.Label, cmd: exec.Command(path, cfg.Args...), cleanup: cleanup}
			// The host's environment, overridden by cfg.Env, overridden by
			// go-plugin's handshake variables.
			p.cmd.Env = slices.Concat(os.Environ(), cfg.Env, cmd.Env)
			proc.Store(p)
			return p, nil
		},
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         cfg.AutoMTLS,
		StartTimeout:     timeout,
		Stderr:           &linePrefixer{prefix: "[" + cfg.Label + "] ", w: stderr, dropDebug: true},
		SyncStderr:       &linePrefixer{prefix: "[" + cfg.Label + "] ", w: stderr},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin." + cfg.Label, Level: hclog.Off}),
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxSmallReplyBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
			grpc.WithInitialWindowSize(windowBytes), grpc.WithInitialConnWindowSize(windowBytes),
		},
	})
	fail := func(err error) error {
		stop(gp, proc.Load())
		if ctx.Err() != nil {
			return &StartError{fmt.Errorf("plugin %s: not ready within %v (start, handshake and spec): killed it", cfg.Label, timeout)}
		}
		return err
	}
	rpcClient, err := gp.Client()
	if err != nil {
		return fail(c.explainStart(err))
	}
	raw, err := rpcClient.Dispense(Name)
	if err != nil {
		return fail(&StartError{fmt.Errorf("plugin %s: dispense: %w", cfg.Label, err)})
	}
	rpc := raw.(pb.ObjectiveClient)
	resp, err := rpc.GetSpec(ctx, &pb.GetSpecRequest{})
	if err != nil {
		return fail(&StartError{fmt.Errorf("plugin %s: get spec: %w", cfg.Label, err)})
	}
	spec := specFromPB(resp.GetSpec())
	if err := spec.Validate(); err != nil {
		return fail(fmt.Errorf("plugin %s: invalid spec: %w", cfg.Label, err))
	}
	if !stopWatch() {
		return fail(nil) // the deadline fired just now: the process is being killed
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.gp, c.proc, c.rpc, c.spec = gp, proc.Load(), rpc, spec
	}
	c.mu.Unlock()
	if closed {
		stop(gp, proc.Load())
		return fmt.Errorf("plugin %s: closed while starting", cfg.Label)
	}
	return nil
}

// stop kills the plugin's process group and releases go-plugin's hold on
// it, waiting at most killWait: it never waits on an unresponsive plugin,
// nor on a pipe a descendant holds open.
func stop(gp *goplugin.Client, p *process) {
	deadline := time.NewTimer(killWait)
	defer deadline.Stop()
	if p != nil {
		p.kill()
		if done := p.exited(); done != nil {
			select {
			case <-done:
			case <-deadline.C:
				return
			}
		}
	}
	if gp == nil {
		return
	}
	// With the process gone, go-plugin's Shutdown request fails at once and
	// its readers end within drainDelay.
	released := make(chan struct{})
	go func() {
		defer close(released)
		gp.Kill()
	}()
	select {
	case <-released:
	case <-deadline.C:
	}
}

var versionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// explainStart turns go-plugin's start-up errors into messages that say
// what to fix.
func (c *Client) explainStart(err error) error {
	msg := err.Error()
	label := c.cfg.Label
	switch {
	case strings.Contains(msg, "incompatible API version"):
		if m := versionRE.FindStringSubmatch(msg); m != nil {
			v, _ := strconv.Atoi(m[1])
			if v > ProtocolVersion {
				return fmt.Errorf("plugin %s speaks objective protocol v%d but this prefopt speaks v%d: upgrade prefopt, or rebuild the plugin against a v%d SDK", label, v, ProtocolVersion, ProtocolVersion)
			}
			return fmt.Errorf("plugin %s speaks objective protocol v%d but this prefopt speaks v%d: rebuild the plugin against this prefopt's SDK", label, v, ProtocolVersion)
		}
	case strings.Contains(msg, "Failed to read any lines"), strings.Contains(msg, "exited before we could connect"):
		return &StartError{fmt.Errorf("plugin %s exited before its handshake: it crashed at start, or it is not a prefopt objective plugin, or it was built for another magic cookie (its stderr, if any, is above)", label)}
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n", 2)[0])
		return fmt.Errorf("plugin %s printed %q on stdout before its handshake: a plugin must write nothing to stdout before serving (is %s a prefopt objective plugin?)", label, line, c.cfg.Path)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return &StartError{fmt.Errorf("plugin %s: no handshake within %v: killed it", label, c.cfg.startTimeout())}
	}
	return &StartError{fmt.Errorf("plugin %s: start: %w", label, err)}
}

// call runs one request bounded by Config.Timeout. If that timeout, not
// ctx, ended it, the plugin's process group is killed — a plugin that does
// not answer is in an unknown state — and the error says so.
func (c *Client) call(ctx context.Context, p *process, what string, req func(context.Context) error) error {
	if c.cfg.Timeout <= 0 {
		if err := req(ctx); err != nil {
			return fmt.Errorf("plugin %s: %s: %w", c.cfg.Label, what, err)
		}
		return nil
	}
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	// The deadline is ours unless the caller's comes first.
	own := true
	if d, ok := ctx.Deadline(); ok {
		cd, _ := callCtx.Deadline()
		own = d.After(cd)
	}
	err := req(callCtx)
	if err == nil {
		return nil
	}
	// gRPC's server-side deadline may answer before callCtx's timer fires.
	expired := errors.Is(callCtx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
	if own && expired && ctx.Err() == nil {
		if p != nil {
			p.kill()
		}
		return fmt.Errorf("plugin %s: %s: no reply within %v, killed it: %w", c.cfg.Label, what, c.cfg.Timeout, err)
	}
	return fmt.Errorf("plugin %s: %s: %w", c.cfg.Label, what, err)
}

// current returns the plugin's RPC client and process.
func (c *Client) current() (pb.ObjectiveClient, *process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, fmt.Errorf("plugin %s: closed", c.cfg.Label)
	}
	return c.rpc, c.proc, nil
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
// validates them; problems come back as *core.ParamError values. An
// objective that reads no policy input (see core.Fields) is refused: its
// loss has no gradient to train with.
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
	rpc, proc, err := c.current()
	if err != nil {
		return nil, core.Params{}, err
	}
	var resp *pb.ConfigureResponse
	err = c.call(ctx, proc, "configure", func(ctx context.Context) (err error) {
		resp, err = rpc.Configure(ctx, &pb.ConfigureRequest{Params: values})
		return err
	})
	if err != nil {
		return nil, core.Params{}, err
	}
	if err := errorFromDiagnostics(resp.GetDiagnostics()); err != nil {
		return nil, core.Params{}, err
	}
	inputs := resp.GetInputs()
	policy := false
	for _, name := range inputs {
		f, ok := core.LookupField(name)
		if !ok {
			return nil, core.Params{}, fmt.Errorf("plugin %s needs input %q, which this prefopt cannot provide: upgrade prefopt", c.cfg.Label, name)
		}
		policy = policy || f.Policy
	}
	if !policy {
		return nil, core.Params{}, fmt.Errorf("plugin %s reads no policy input (it reads %s): its loss has no gradient to train the policy with; an objective must read at least one of %s",
			c.cfg.Label, listOrNone(inputs), strings.Join(policyFields(), ", "))
	}
	return inputs, core.NewParams(valuesFromPB(resp.GetResolved()), resp.GetSet()), nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "no input"
	}
	return strings.Join(names, ", ")
}

// policyFields returns the names of the inputs that carry a gradient.
func policyFields() []string {
	var names []string
	for _, f := range core.Fields {
		if f.Policy {
			names = append(names, f.Name)
		}
	}
	return names
}

// Restart kills the plugin's process group, starts a new process and
// configures it with the parameters of the last successful Configure.
// Objectives configured earlier keep working against the new process. A
// failure that another Restart may not hit again is retryable (see
// [Retryable]): the trainer may count it as one attempt and call Restart
// again.
func (c *Client) Restart(ctx context.Context) error {
	c.mu.Lock()
	old, oldProc, params, closed := c.gp, c.proc, c.params, c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("plugin %s: closed", c.cfg.Label)
	}
	stop(old, oldProc)
	if err := c.start(ctx); err != nil {
		return err
	}
	if params == nil {
		return nil
	}
	_, _, err := c.configure(ctx, params)
	var transport interface{ GRPCStatus() *status.Status }
	if errors.As(err, &transport) {
		return &StartError{err}
	}
	return err
}

// Exited reports whether the plugin process has exited.
func (c *Client) Exited() bool {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if p == nil {
		return true
	}
	select {
	case <-p.exited():
		return true
	default:
		return false
	}
}

// Pid returns the plugin's process id, which is also its process group id,
// or 0 if unknown.
func (c *Client) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.PID()
}

// Close kills the plugin's process group and waits at most killWait for it.
// It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	gp, proc := c.gp, c.proc
	c.gp, c.closed = nil, true
	c.mu.Unlock()
	live.Delete(c)
	stop(gp, proc)
	return nil
}

// Cleanup closes every Client that Launch returned and that is not closed
// yet, at once and in parallel. Call it before the host exits, including on
// signals.
func Cleanup() {
	var wg sync.WaitGroup
	live.Range(func(k, _ any) bool {
		wg.Go(func() { k.(*Client).Close() })
		return true
	})
	wg.Wait()
}

// remote is an objective computed by a plugin process.
type remote struct {
	c      *Client
	inputs []string
}

func (r *remote) Inputs() []string { return slices.Clone(r.inputs) }

// Compute sends b to the plugin. The reply may be at most replyLimit bytes;
// a larger one is refused as a *core.ReplyError before it is decoded.
func (r *remote) Compute(ctx context.Context, b *core.Batch) (*core.Result, error) {
	rpc, proc, err := r.c.current()
	if err != nil {
		return nil, err
	}
	limit := replyLimit(b, r.inputs)
	var resp *pb.ComputeResponse
	err = r.c.call(ctx, proc, "compute", func(ctx context.Context) (err error) {
		resp, err = rpc.Compute(ctx, &pb.ComputeRequest{Inputs: batchToPB(b, r.inputs)}, grpc.MaxCallRecvMsgSize(limit))
		return err
	})
	if st := status.Convert(errors.Unwrap(err)); st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "received message") {
		return nil, fmt.Errorf("plugin %s: compute: %w", r.c.cfg.Label, &core.ReplyError{Field: "size", Index: -1,
			Msg: fmt.Sprintf("more than the %d bytes allowed for this batch (%s)", limit, st.Message())})
	}
	if err != nil {
		return nil, err
	}
	if err := errorFromDiagnostics(resp.GetDiagnostics()); err != nil {
		return nil, err
	}
	return resultFromPB(resp), nil
}
