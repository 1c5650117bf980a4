package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/prefopt/prefopt/core"
	pb "github.com/prefopt/prefopt/core/internal/objectivev1"
	"github.com/prefopt/prefopt/internal/faultobjective"
	"github.com/prefopt/prefopt/objectives/dpo"
)

// serveEnv makes the test binary serve a plugin instead of running tests
// (go-plugin's helper-process pattern).
const serveEnv = "PREFOPT_PLUGIN_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(serveEnv) {
	case "":
		os.Exit(m.Run())
	case "fault":
		faultobjective.FailStartIfAsked()
		Serve(faultobjective.Definition())
	case "nopolicy":
		Serve(noPolicyDefinition())
	case "slowstart":
		writePID(os.Getenv(pidFileEnv))
		time.Sleep(time.Hour)
	case "host":
		os.Exit(hostAndWait())
	case "dpo":
		Serve(dpo.Definition())
	case "noisy":
		fmt.Println("hello from a chatty plugin")
		Serve(faultobjective.Definition())
	case "v2":
		cfg := serveConfig(faultobjective.Definition(), nil)
		cfg.HandshakeConfig.ProtocolVersion = ProtocolVersion + 1
		goplugin.Serve(cfg)
	default:
		fmt.Fprintln(os.Stderr, "unknown test plugin", os.Getenv(serveEnv))
		os.Exit(2)
	}
	os.Exit(0)
}

func testConfig(t *testing.T, kind string) Config {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return Config{Path: exe, Env: []string{serveEnv + "=" + kind}, Label: kind, AutoMTLS: true,
		Timeout: 10 * time.Second, Stderr: &syncBuffer{}}
}

func launch(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Launch(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBatch(rng *rand.Rand, n int) *core.Batch {
	b := &core.Batch{PolicyChosenLogps: make([]float64, n), PolicyRejectedLogps: make([]float64, n)}
	for i := range n {
		b.PolicyChosenLogps[i] = -50 * rng.Float64()
		b.PolicyRejectedLogps[i] = -50 * rng.Float64()
	}
	return b
}

func TestProtocolVersionMatchesProto(t *testing.T) {
	src, err := os.ReadFile("../proto/prefopt/objective/v1/objective.proto")
	require.NoError(t, err)
	sum := sha256.Sum256(src)
	assert.Equal(t, hex.EncodeToString(sum[:]), strings.TrimSpace(pb.ProtoSHA256),
		"objective.proto changed without regenerating: run go generate ./core/internal/objectivev1")

	want := fmt.Sprintf("prefopt.objective.v%d", ProtocolVersion)
	m := regexp.MustCompile(`(?m)^package ([\w.]+);`).FindSubmatch(src)
	require.NotNil(t, m, "no package line in objective.proto")
	assert.Equal(t, want, string(m[1]), "proto package and ProtocolVersion drifted")
	assert.Equal(t, protoreflect.FullName(want), pb.File_prefopt_objective_v1_objective_proto.Package())
	assert.Equal(t, uint(ProtocolVersion), Handshake.ProtocolVersion)
}

func TestCodesMatchProto(t *testing.T) {
	for c := core.CodeUnspecified; c <= core.CodeBadReply; c++ {
		name := pb.Code(c).String()
		assert.Equal(t, "CODE_"+strings.ToUpper(c.String()), name, "core.Code %d", c)
	}
	for i, ty := range []core.ParamType{core.TypeFloat, core.TypeInt, core.TypeBool, core.TypeString} {
		assert.Equal(t, "PARAM_TYPE_"+strings.ToUpper(ty.String()), pb.ParamType(ty).String(), "param type %d", i)
	}
}

func TestPluginMatchesInProcessBitForBit(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	def := faultobjective.Definition()
	assert.Equal(t, def.Spec, c.Spec(), "spec must survive the wire unchanged")

	params := map[string]any{"target": 2.5}
	remoteObj, remoteParams, err := c.Configure(context.Background(), params)
	require.NoError(t, err)
	localObj, localParams, err := core.Local(def).Configure(context.Background(), params)
	require.NoError(t, err)
	assert.Equal(t, localParams.Values(), remoteParams.Values())
	assert.True(t, remoteParams.IsSet("target"))
	assert.False(t, remoteParams.IsSet("crash_on"))
	assert.Equal(t, localObj.Inputs(), remoteObj.Inputs())

	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 16, 1000} {
		b := randomBatch(rng, n)
		want, err := localObj.Compute(context.Background(), b)
		require.NoError(t, err)
		got, err := remoteObj.Compute(context.Background(), b)
		require.NoError(t, err)
		assert.Equal(t, want, got, "n=%d", n) // exact: float64 crosses protobuf unchanged
	}
}

func TestParamErrorsCrossTheWire(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	_, _, err := c.Configure(context.Background(), map[string]any{"crash_on": int64(-1), "bogus": 1.0})
	require.Error(t, err)
	var pe *core.ParamError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), `parameter "bogus": unknown parameter of fault (known: crash_on, flood_bytes, flood_on, flood_raw, hang_on`)
	assert.Contains(t, err.Error(), `parameter "crash_on": must be >= 0, got -1`)
}

func TestInputErrorsCrossTheWire(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	obj, _, err := c.Configure(context.Background(), nil)
	require.NoError(t, err)
	b := randomBatch(rand.New(rand.NewPCG(3, 4)), 4)
	b.PolicyRejectedLogps[2] = mathInf()
	_, err = obj.Compute(context.Background(), b)
	var ie *core.InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, core.CodeNonFinite, ie.Code)
	assert.Equal(t, core.PolicyRejectedLogps, ie.Field)
	assert.Equal(t, 2, ie.Index)

	b.PolicyRejectedLogps = b.PolicyRejectedLogps[:3]
	b.PolicyRejectedLogps[2] = -1
	_, err = obj.Compute(context.Background(), b)
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, core.CodeLengthMismatch, ie.Code)
	assert.True(t, errors.Is(err, &core.InputError{Code: core.CodeLengthMismatch}))
}

func TestPanicIsReportedAndPluginSurvives(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	obj, _, err := c.Configure(context.Background(), map[string]any{"panic_on": int64(1)})
	require.NoError(t, err)
	b := randomBatch(rand.New(rand.NewPCG(5, 6)), 3)
	_, err = obj.Compute(context.Background(), b)
	var xe *core.InternalError
	require.ErrorAs(t, err, &xe)
	assert.Contains(t, err.Error(), "fault: panic on call 1")
	assert.Equal(t, 1, strings.Count(err.Error(), "objective internal error"), "prefix once: %v", err)
	r, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	assert.Len(t, r.Losses, 3)
	assert.False(t, c.Exited())
}

func TestComputeBeforeConfigure(t *testing.T) {
	c := launch(t, testConfig(t, "fault"))
	obj := &remote{c: c, inputs: []string{core.PolicyChosenLogps, core.PolicyRejectedLogps}}
	_, err := obj.Compute(context.Background(), randomBatch(rand.New(rand.NewPCG(1, 1)), 2))
	assert.ErrorIs(t, err, core.ErrNotConfigured)
}

func TestCrashThenRestartRetriesSameRequest(t *testing.T) {
	cfg := testConfig(t, "fault")
	c := launch(t, cfg)
	state := t.TempDir()
	obj, _, err := c.Configure(context.Background(), map[string]any{"crash_on": int64(2), "state_dir": state})
	require.NoError(t, err)
	b := randomBatch(rand.New(rand.NewPCG(7, 8)), 5)
	first, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)

	_, err = obj.Compute(context.Background(), b)
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "a crash mid-call is Unavailable: %v", err)
	assert.Eventually(t, c.Exited, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, c.Restart(context.Background()))
	again, err := obj.Compute(context.Background(), b)
	require.NoError(t, err, "the objective configured before the crash works against the new process")
	assert.Equal(t, first, again)
}

func TestEnvOverridesHostEnvironment(t *testing.T) {
	t.Setenv(serveEnv, "noisy") // the plugin must see the Config.Env value, not this one
	launch(t, testConfig(t, "fault"))
}

func TestStderrIsForwardedWithLabel(t *testing.T) {
	cfg := testConfig(t, "fault")
	c := launch(t, cfg)
	obj, _, err := c.Configure(context.Background(), map[string]any{"say": "hello from the plugin"})
	require.NoError(t, err)
	_, err = obj.Compute(context.Background(), randomBatch(rand.New(rand.NewPCG(9, 1)), 2))
	require.NoError(t, err)
	buf := cfg.Stderr.(*syncBuffer)
	assert.Eventually(t, func() bool { return strings.Contains(buf.String(), "[fault] hello from the plugin\n") },
		5*time.Second, 10*time.Millisecond, "stderr so far: %q", buf.String())
}

func TestDeadline(t *testing.T) {
	cfg := testConfig(t, "fault")
	cfg.Timeout, cfg.StartTimeout = 300*time.Millisecond, 10*time.Second
	c := launch(t, cfg)
	obj, _, err := c.Configure(context.Background(), map[string]any{"hang_on": int64(1)})
	require.NoError(t, err)
	start := time.Now()
	_, err = obj.Compute(context.Background(), randomBatch(rand.New(rand.NewPCG(9, 9)), 2))
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "got %v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Eventually(t, c.Exited, 5*time.Second, 10*time.Millisecond, "a plugin that does not answer in time is killed")
}

func TestStartErrorsSayWhatToFix(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	data, err := os.ReadFile(exe)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("0", 64)

	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"newer protocol", func(c *Config) { c.Env = []string{serveEnv + "=v2"} },
			"speaks objective protocol v2 but this prefopt speaks v1: upgrade prefopt"},
		{"stdout before handshake", func(c *Config) { c.Env = []string{serveEnv + "=noisy"} },
			`printed "hello from a chatty plugin" on stdout before its handshake`},
		{"checksum mismatch", func(c *Config) { c.SHA256 = bad }, "does not match the pinned"},
		{"malformed checksum", func(c *Config) { c.SHA256 = "abc" }, "sha256 must be 64 hex digits"},
		{"no PATH lookup", func(c *Config) { c.Path = "prefopt-objective-x" }, "must be explicit"},
		{"not a plugin", func(c *Config) { c.Path = "/bin/true" }, "exited before its handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "fault")
			tt.edit(&cfg)
			_, err := Launch(context.Background(), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("checksum match", func(t *testing.T) {
		cfg := testConfig(t, "fault")
		cfg.SHA256 = good
		launch(t, cfg)
	})
	t.Run("without mTLS", func(t *testing.T) {
		cfg := testConfig(t, "fault")
		cfg.AutoMTLS = false
		c := launch(t, cfg)
		_, _, err := c.Configure(context.Background(), nil)
		require.NoError(t, err)
	})
}

// BenchmarkRoundTrip measures one DPO Compute through a plugin process
// (gRPC, AutoMTLS) and in-process, for batches of 16, 64 and 1024 pairs.
func BenchmarkRoundTrip(b *testing.B) {
	exe, err := os.Executable()
	require.NoError(b, err)
	c, err := Launch(context.Background(), Config{Path: exe, Env: []string{serveEnv + "=dpo"}, Label: "dpo", AutoMTLS: true})
	require.NoError(b, err)
	defer c.Close()
	remoteObj, _, err := c.Configure(context.Background(), nil)
	require.NoError(b, err)
	localObj, _, err := core.Local(dpo.Definition()).Configure(context.Background(), nil)
	require.NoError(b, err)
	for _, n := range []int{16, 64, 1024} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		batch := randomBatch(rng, n)
		ref := randomBatch(rng, n)
		batch.ReferenceChosenLogps, batch.ReferenceRejectedLogps = ref.PolicyChosenLogps, ref.PolicyRejectedLogps
		for _, path := range []struct {
			name string
			obj  core.Objective
		}{{"plugin", remoteObj}, {"inprocess", localObj}} {
			b.Run(fmt.Sprintf("%s/n=%d", path.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := path.obj.Compute(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func mathInf() float64 { return 1 / zero }

var zero = 0.0

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// plugin's stderr forwarder.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkLaunchClose measures one plugin start (process, handshake,
// AutoMTLS, spec) and Close, plain and pinned — a pinned start first copies
// and hashes the binary.
func BenchmarkLaunchClose(b *testing.B) {
	exe, err := os.Executable()
	require.NoError(b, err)
	data, err := os.ReadFile(exe)
	require.NoError(b, err)
	sum := sha256.Sum256(data)
	for _, pin := range []string{"", hex.EncodeToString(sum[:])} {
		b.Run(fmt.Sprintf("pinned=%v", pin != ""), func(b *testing.B) {
			cfg := Config{Path: exe, Env: []string{serveEnv + "=dpo"}, Label: "dpo", AutoMTLS: true, SHA256: pin}
			for b.Loop() {
				c, err := Launch(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
