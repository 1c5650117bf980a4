package check

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/objectives/builtin"
)

func TestMain(m *testing.M) {
	objective.ServeIfAsked()
	os.Exit(m.Run())
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build compiles the example plugin and the broken fixture once, as a
// third party would: separate binaries built from source.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "prefopt-check-")
		if buildErr != nil {
			return
		}
		for name, pkg := range map[string]string{
			"offsetdpo": "github.com/prefopt/prefopt/examples/plugin/offsetdpo",
			"broken":    "github.com/prefopt/prefopt/core/conformance/internal/broken/plugin",
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = &buildError{pkg, string(out), err}
				return
			}
		}
	})
	require.NoError(t, buildErr)
	t.Cleanup(func() {}) // binDir is removed by the OS temp cleaner; binaries are reused across tests
	return binDir
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func run(t *testing.T, opts Options) (bool, string) {
	t.Helper()
	var out bytes.Buffer
	if opts.LatencyCalls == 0 {
		opts.LatencyCalls = 10
	}
	opts.Stderr = &bytes.Buffer{}
	failed, err := Run(t.Context(), opts, &out)
	require.NoError(t, err)
	return failed, out.String()
}

// builtins returns the names of the built-in objectives, registering them
// as Run does.
func builtins() []string {
	builtin.Register()
	return core.Registered()
}

// Built-ins through their plugin process, and a third-party plugin built
// from source, pass every check.
func TestConformingObjectivesPass(t *testing.T) {
	dir := build(t)
	var cases []Options
	for _, name := range builtins() {
		cases = append(cases, Options{Objective: name})
	}
	cases = append(cases,
		Options{Objective: "dpo", Params: map[string]any{"loss_type": "hinge"}},
		// Per-token inputs (LD-DPO) and WPO weights through the wire.
		Options{Objective: "dpo", Params: map[string]any{"ld_alpha": 0.5, "use_weighting": true}},
		Options{Plugin: filepath.Join(dir, "offsetdpo"), Params: map[string]any{"delta": 1.0}, AutoMTLS: true},
	)
	for _, opts := range cases {
		t.Run(opts.Objective+filepath.Base(opts.Plugin), func(t *testing.T) {
			failed, out := run(t, opts)
			assert.False(t, failed, out)
			assert.NotContains(t, out, "FAIL")
			assert.Contains(t, out, "PASS handshake: objective protocol v1")
			assert.Regexp(t, `(?m)^ +1024 +10 +[0-9.]+ +[0-9.]+$`, out)
			assert.Contains(t, out, "ok: 15 checks passed")
		})
	}
}

// Each broken plugin fails, with a message naming the defect, and the
// checker ends even when the plugin hangs.
func TestBrokenPluginsFail(t *testing.T) {
	bin := filepath.Join(build(t), "broken")
	cases := []struct {
		mode string
		want []string
	}{
		{"sign", []string{"FAIL gradient: n=1/batch=0: grads.policy_chosen_logps[0]"}},
		// Through the wire the host's batch cannot change; what remains
		// visible is that replies depend on earlier calls.
		{"mutate", []string{"FAIL not_mutated: the reply depends on earlier calls", "FAIL deterministic"}},
		{"nondeterministic", []string{"FAIL deterministic: n=1/batch=0 (same batch twice): loss is"}},
		{"hang", []string{"FAIL valid_result: n=1/batch=0: Compute did not answer within 300ms",
			"FAIL bad_input: not run: Compute did not answer within 300ms", "PASS alive"}},
		{"stdout", []string{`FAIL handshake: plugin ` + bin + ` printed "loading weights..." on stdout before its handshake`}},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Setenv("PREFOPT_BROKEN_MODE", tc.mode)
			start := time.Now()
			failed, out := run(t, Options{Plugin: bin, Timeout: 300 * time.Millisecond})
			assert.True(t, failed, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			assert.Regexp(t, `(?m)^FAIL: \d+ of \d+ checks failed$`, out)
			t.Logf("%s: %v", tc.mode, time.Since(start))
		})
	}
	t.Run("control", func(t *testing.T) {
		t.Setenv("PREFOPT_BROKEN_MODE", "")
		failed, out := run(t, Options{Plugin: bin, NoLatency: true})
		assert.False(t, failed, out)
	})
}

// --json prints the same report as one JSON object.
func TestJSON(t *testing.T) {
	failed, out := run(t, Options{Objective: "ipo", JSON: true, Params: map[string]any{"beta": 0.3}})
	assert.False(t, failed)
	var rep conformance.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, "ipo", rep.Objective)
	assert.Equal(t, 0.3, rep.Params["beta"])
	assert.Equal(t, "handshake", rep.Checks[0].Name)
	assert.Equal(t, "alive", rep.Checks[len(rep.Checks)-1].Name)
	require.Len(t, rep.Latency, 3)
	for i, n := range []int{16, 64, 1024} {
		assert.Equal(t, n, rep.Latency[i].Examples)
		assert.Positive(t, rep.Latency[i].P50Ms)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "check: want --objective NAME or --plugin PATH"},
		{Options{Objective: "dpo", Plugin: "./x"}, "not both"},
		{Options{Objective: "nope"}, `unknown objective "nope" (known: ` + strings.Join(builtins(), ", ") + ")"},
		{Options{Objective: "dpo", SHA256: strings.Repeat("ab", 32)}, "built-in \"dpo\" has none"},
	} {
		_, err := Run(t.Context(), tc.opts, &bytes.Buffer{})
		assert.ErrorContains(t, err, tc.want)
	}
}

// Parameters the objective refuses fail the configure check with the
// objective's own diagnostic.
func TestBadParams(t *testing.T) {
	failed, out := run(t, Options{Objective: "dpo", Params: map[string]any{"beta": -1.0}, NoLatency: true})
	assert.True(t, failed)
	assert.Contains(t, out, `FAIL configure: configure dpo with {beta=-1}: parameter "beta": must be > 0, got -1`)
	assert.Contains(t, out, "FAIL inputs: not run: configure failed")
}
