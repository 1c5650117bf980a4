package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/host/objective"
	"github.com/prefopt/prefopt/objectives/builtin"
)

func TestMain(m *testing.M) {
	objective.ServeIfAsked() // built-ins re-execute this test binary as their plugin
	if os.Getenv(mainEnv) != "" {
		for i, a := range os.Args {
			if a == "--" {
				os.Exit(Main(os.Args[i+1:], os.Stdin, os.Stdout, os.Stderr))
			}
		}
		os.Exit(ExitUsage)
	}
	os.Exit(m.Run())
}

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const pairedBatch = `{
  "policy_chosen_logps": [-10.5, -22.25, -7],
  "policy_rejected_logps": [-12, -20.5, -9.75],
  "reference_chosen_logps": [-11, -21, -8],
  "reference_rejected_logps": [-11.5, -21.5, -9],
  "chosen_lengths": [5, 9, 3],
  "rejected_lengths": [6, 8, 4],
  "policy_chosen_prompt_logps": [-4, -6.5, -3],
  "chosen_prompt_lengths": [2, 3, 1]
}`

const unpairedBatch = `{
  "policy_logps": [-10.5, -22.25, -7, -9],
  "reference_logps": [-11, -21, -8, -9.5],
  "lengths": [5, 9, 3, 4],
  "labels": [true, false, true, false],
  "policy_kl_logps": [-12, -20, -8, -10],
  "reference_kl_logps": [-12.5, -19, -8.5, -10]
}`

func TestEvalThroughPluginMatchesInProcess(t *testing.T) {
	cases := []struct {
		name   string
		batch  string
		params []string
	}{
		{"dpo", pairedBatch, nil},
		{"dpo", pairedBatch, []string{"--param", "loss_type=robust", "--param", "label_smoothing=0.1"}},
		{"ipo", pairedBatch, []string{"--param", "length_normalize=false"}},
		{"kto", unpairedBatch, []string{"--param", "desirable_weight=1.5"}},
		{"orpo", pairedBatch, nil},
		{"simpo", pairedBatch, []string{"--param", "gamma=0.3", "--param", "sft_weight=0.5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name+strings.Join(tc.params, ""), func(t *testing.T) {
			args := append([]string{"objective", "eval", "--objective", tc.name}, tc.params...)
			code, viaPlugin, stderr := run(t, tc.batch, args...)
			require.Equal(t, ExitOK, code, stderr)
			code, inProc, stderr := run(t, tc.batch, append(args, "--in-process")...)
			require.Equal(t, ExitOK, code, stderr)
			assert.Equal(t, inProc, viaPlugin, "plugin and in-process output must be identical")

			var out struct {
				Loss    *float64             `json:"loss"`
				Losses  []float64            `json:"losses"`
				Grads   map[string][]float64 `json:"grads"`
				Metrics map[string]float64   `json:"metrics"`
			}
			dec := json.NewDecoder(strings.NewReader(viaPlugin))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&out))
			require.NotNil(t, out.Loss)
			assert.NotEmpty(t, out.Losses)
			assert.NotEmpty(t, out.Grads)
			assert.Contains(t, out.Metrics, "rewards/chosen")
		})
	}
}

func TestEvalErrors(t *testing.T) {
	builtin.Register()
	dir := t.TempDir()
	file := filepath.Join(dir, "b.json")
	require.NoError(t, os.WriteFile(file, []byte(pairedBatch), 0o644))
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"no objective", pairedBatch, []string{"objective", "eval"}, ExitUsage, "exactly one of --objective NAME or --plugin PATH"},
		{"unknown objective", pairedBatch, []string{"objective", "eval", "--objective", "nope"}, ExitFailure, `unknown objective "nope" (known: ` + strings.Join(core.Registered(), ", ") + `)`},
		{"bad param", pairedBatch, []string{"objective", "eval", "--objective", "dpo", "--param", "beta=0"}, ExitFailure, `parameter "beta": must be > 0, got 0`},
		{"unknown param", pairedBatch, []string{"objective", "eval", "--objective", "ipo", "--param", "gamma=1"}, ExitFailure, `parameter "gamma": unknown parameter of ipo (known: beta, length_normalize)`},
		{"malformed param", pairedBatch, []string{"objective", "eval", "--objective", "dpo", "--param", "beta"}, ExitUsage, `--param "beta": want key=value`},
		{"missing input", `{"policy_chosen_logps": [-1]}`, []string{"objective", "eval", "--objective", "simpo"}, ExitFailure, "policy_rejected_logps: required by the objective but absent"},
		{"bad json type", `{"labels": [1]}`, []string{"objective", "eval", "--objective", "kto"}, ExitFailure, "stdin: batch: field labels"},
		{"file input", "", []string{"objective", "eval", "--objective", "dpo", "--input", file}, ExitOK, ""},
		{"missing file", "", []string{"objective", "eval", "--objective", "dpo", "--input", filepath.Join(dir, "none.json")}, ExitFailure, "no such file"},
		{"unknown subcommand", "", []string{"objective", "frob"}, ExitUsage, `unknown subcommand "frob"`},
		{"unknown command", "", []string{"frob"}, ExitUsage, `unknown command "frob"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.stdin, tc.args...)
			assert.Equal(t, tc.code, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestListJSON(t *testing.T) {
	code, out, stderr := run(t, "", "objective", "list", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var ls []listing
	require.NoError(t, json.Unmarshal([]byte(out), &ls))
	got := map[string]needs{}
	for _, l := range ls {
		got[l.Name] = l.Needs
		assert.NotEmpty(t, l.Version)
		assert.NotEmpty(t, l.Params)
	}
	require.Len(t, got, len(core.Registered()))
	assert.True(t, got["dpo"].Reference)
	assert.Equal(t, "paired", got["dpo"].Layout)
	assert.Equal(t, "unpaired", got["kto"].Layout)
	assert.True(t, got["kto"].KLPairs)
	assert.True(t, got["orpo"].PromptLogprob)
	assert.False(t, got["orpo"].Reference)
	assert.False(t, got["simpo"].Reference)
}

func TestParseValue(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{"0.1", 0.1},
		{"2", int64(2)},
		{"false", false},
		{"hinge", "hinge"},
		{`"quoted"`, "quoted"},
		{"1e-3", 1e-3},
		{"", ""},
	}
	for _, tc := range cases {
		got, err := parseValue(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	got, err := parseValue(`["sigmoid", "sft"]`)
	require.NoError(t, err)
	assert.Equal(t, []any{"sigmoid", "sft"}, got, "a list, in TOML (or JSON) array syntax")
	_, err = parseValue("[[1], [2]]")
	assert.ErrorContains(t, err, "must be a number, boolean, string or a list of them")
	_, err = parseValue("{a = 1}")
	assert.ErrorContains(t, err, "must be a number, boolean, string or a list of them")
}

// TestThirdPartyPlugin builds the example plugin as its own binary and
// evaluates it through the CLI, as a plugin author would.
func TestThirdPartyPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "offsetdpo")
	out, err := exec.Command("go", "build", "-o", bin, "../../examples/plugin/offsetdpo").CombinedOutput()
	require.NoError(t, err, "%s", out)

	code, stdout, stderr := run(t, "", "objective", "list", "--plugin", bin)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "offsetdpo 0.1.0")
	assert.Contains(t, stdout, "needs: paired data, reference model")

	code, stdout, stderr = run(t, pairedBatch, "objective", "eval", "--plugin", bin, "--param", "delta=1.5")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, `"rewards/margins"`)

	code, _, stderr = run(t, pairedBatch, "objective", "eval", "--plugin", bin, "--sha256", strings.Repeat("ab", 32))
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "does not match the pinned")
}

// TestObjectiveCheck runs the conformance check from the command line: a
// built-in passes (exit 0), a plugin with a wrong-sign gradient fails
// (exit 1) with the failing check named.
func TestObjectiveCheck(t *testing.T) {
	code, stdout, stderr := run(t, "", "objective", "check", "--objective", "ipo", "--no-latency")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "PASS gradient")
	assert.Contains(t, stdout, "checks passed")

	bin := filepath.Join(t.TempDir(), "broken")
	out, err := exec.Command("go", "build", "-o", bin, "../../core/conformance/internal/broken/plugin").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Setenv("PREFOPT_BROKEN_MODE", "sign")
	code, stdout, stderr = run(t, "", "objective", "check", "--plugin", bin, "--no-latency", "--json")
	assert.Equal(t, ExitFailure, code, stderr)
	var report struct {
		Checks []struct {
			Name   string
			Passed bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &report), stdout)
	failed := map[string]bool{}
	for _, c := range report.Checks {
		if !c.Passed {
			failed[c.Name] = true
		}
	}
	assert.True(t, failed["gradient"], "the gradient check fails: %s", stdout)

	code, _, stderr = run(t, "", "objective", "check", "--objective", "dpo", "--plugin", bin)
	assert.Equal(t, ExitUsage, code, stderr)
}
