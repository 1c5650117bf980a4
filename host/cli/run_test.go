package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/prefopt/prefopt/internal/testexp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/rundir"
	"github.com/prefopt/prefopt/host/summary"
	"github.com/prefopt/prefopt/internal/pytest"
)

// tinyCompare is a comparison small enough for a unit test
// (testexp.Tiny), checkpointed every step.
var tinyCompare = testexp.Tiny("name = \"tiny\"\nseed = 7", 1)

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

var (
	shortenLine = regexp.MustCompile(`(?m)^(steps|epochs|sft_steps|demonstrations|train_prompts|eval_prompts)(\s*=\s*)\d+`)
	pathLine    = regexp.MustCompile(`(?m)^(train|eval|init|checkpoint)(\s*=\s*)"([^"]+)"`)
)

// shortened copies an example into dir with its runs cut to a few steps and
// its relative paths made absolute (they resolve from the example's
// directory), and returns the copy's path.
func shortened(t *testing.T, example, dir string) string {
	t.Helper()
	b, err := os.ReadFile(example)
	require.NoError(t, err)
	short := map[string]string{"steps": "2", "epochs": "1", "sft_steps": "5", "demonstrations": "64",
		"train_prompts": "4", "eval_prompts": "2"}
	text := shortenLine.ReplaceAllStringFunc(string(b), func(m string) string {
		g := shortenLine.FindStringSubmatch(m)
		return g[1] + g[2] + short[g[1]]
	})
	exDir, err := filepath.Abs(filepath.Dir(example))
	require.NoError(t, err)
	// A plugin script next to the example is named absolutely; a plugin
	// binary ("./NAME") is built next to the copy by buildPlugins.
	text = pluginLine.ReplaceAllStringFunc(text, func(m string) string {
		g := pluginLine.FindStringSubmatch(m)
		if _, err := os.Stat(filepath.Join(exDir, g[1])); err != nil {
			return m
		}
		return `path = "` + filepath.Join(exDir, g[1]) + `"`
	})
	text = pathLine.ReplaceAllStringFunc(text, func(m string) string {
		g := pathLine.FindStringSubmatch(m)
		if filepath.IsAbs(g[3]) {
			return m
		}
		return g[1] + g[2] + `"` + filepath.Join(exDir, g[3]) + `"`
	})
	require.NotEqual(t, string(b), text, "%s: nothing shortened", example)
	return writeFile(t, filepath.Join(dir, filepath.Base(example)), text)
}

var pluginLine = regexp.MustCompile(`(?m)^path\s*=\s*"\./([A-Za-z0-9_./-]+)"`)

func requirePython(t testing.TB) { pytest.Require(t, pytest.SDK...) }

// buildPlugins builds the plugin binaries an example names as "./NAME"
// next to it from examples/plugins/NAME, as the example's comments say.
func buildPlugins(t *testing.T, file, dir string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, m := range pluginLine.FindAllStringSubmatch(string(b), -1) {
		src := filepath.Join("..", "..", "examples", "plugins", m[1])
		if _, err := os.Stat(src); err != nil {
			continue
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, m[1]), "./"+src).CombinedOutput()
		require.NoError(t, err, "build %s: %s", src, out)
	}
}

// TestExamples runs every examples/*.toml through the command line, cut to
// a few steps: sft.toml with sft, files with a [task] table or named
// compare* with compare, the others with train.
func TestExamples(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.toml")
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, ex := range examples {
		name := strings.TrimSuffix(filepath.Base(ex), ".toml")
		t.Run(name, func(t *testing.T) {
			if b, err := os.ReadFile(ex); err == nil && strings.Contains(string(b), `.py"`) {
				requirePython(t)
			}
			dir := t.TempDir()
			file := shortened(t, ex, dir)
			buildPlugins(t, file, dir)
			out := filepath.Join(dir, "run")
			cmd := "train"
			switch {
			case name == "sft":
				cmd = "sft"
			case strings.HasPrefix(name, "compare"):
				cmd = "compare"
			}
			code, stdout, stderr := run(t, "", cmd, file, "--out", out)
			require.Equal(t, ExitOK, code, stderr)
			saved, err := os.ReadFile(filepath.Join(out, rundir.ConfigFile))
			require.NoError(t, err)
			assert.Contains(t, string(saved), "[run]")
			switch cmd {
			case "compare":
				s, err := summary.Read(filepath.Join(out, "summary.json"))
				require.NoError(t, err)
				assert.NotEmpty(t, s.Objectives)
				assert.Empty(t, s.Unfinished)
				assert.FileExists(t, filepath.Join(out, "report.html"))
			case "sft":
				assert.Contains(t, stdout, "sft: 2 steps")
			default:
				assert.Regexp(t, `: [1-9][0-9]? steps`, stdout, "a few steps")
				assert.Contains(t, stdout, out)
			}
		})
	}
}

// TestFlagPlacement checks that flags parse anywhere and that positional
// arguments are never taken for flag values, nor written.
func TestFlagPlacement(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	const bad = "not = [a toml experiment"
	mine := writeFile(t, "my.toml", bad)
	code, _, stderr := run(t, "", "compare", "my.toml", "--cpuprofile", "cpu.prof")
	assert.Equal(t, ExitFailure, code, stderr)
	b, err := os.ReadFile(mine)
	require.NoError(t, err)
	assert.Equal(t, bad, string(b), "a positional argument must never be written")
	fi, err := os.Stat("cpu.prof")
	require.NoError(t, err, "the profile goes to the --cpuprofile file")
	assert.Positive(t, fi.Size())

	tiny := writeFile(t, "tiny.toml", tinyCompare)
	for i, args := range [][]string{
		{"compare", "--jobs", "1", "--out", "d0", "tiny.toml"},
		{"compare", "tiny.toml", "--quiet", "--jobs=1", "--out=d1"},
		{"compare", "--quiet", "tiny.toml", "-o", "d2", "--jobs", "2"},
	} {
		code, stdout, stderr := run(t, "", args...)
		require.Equal(t, ExitOK, code, "%q: %s", args, stderr)
		assert.Contains(t, stdout, "wrote d"+string(rune('0'+i)))
		assert.FileExists(t, filepath.Join("d"+string(rune('0'+i)), "summary.json"))
	}
	es, err := os.ReadDir(".")
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"my.toml", "cpu.prof", "tiny.toml", "d0", "d1", "d2"}, names,
		"no file named after a flag or a positional argument")
	b, err = os.ReadFile(tiny)
	require.NoError(t, err)
	assert.Equal(t, tinyCompare, string(b))

	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compare", "a.toml", "b.toml"}, ExitUsage, "want at most one experiment file"},
		{[]string{"train"}, ExitUsage, "want one experiment file, got 0"},
		{[]string{"compare", "--jobs"}, ExitUsage, "flag needs an argument: --jobs"},
		{[]string{"compare", "--frob"}, ExitUsage, "unknown flag: --frob"},
		{[]string{"bench", "extra"}, ExitUsage, "unexpected arguments"},
		{[]string{"help", "train"}, ExitOK, ""},
		{[]string{"version"}, ExitOK, ""},
		{[]string{"objective"}, ExitUsage, "want a subcommand: list, eval or serve"},
		{[]string{"objective", "serve"}, ExitUsage, "want one built-in objective name"},
		{[]string{"completion", "bash"}, ExitOK, ""},
		{[]string{"compare", "--resume", "nowhere"}, ExitFailure, "no such file"},
	}
	for _, tc := range cases {
		code, _, stderr := run(t, "", tc.args...)
		assert.Equal(t, tc.code, code, "%q: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
	code, _, stderr = run(t, "", "--frob")
	assert.Equal(t, ExitUsage, code)
	assert.NotContains(t, stderr, "prefopt: prefopt:", "the root command is not named twice")
	assert.Contains(t, stderr, "unknown flag: --frob")
	code, stdout, _ := run(t, "", "help", "objective", "serve")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, stdout, "PREFOPT_PLUGIN=objective")
	assert.Contains(t, stdout, "PLUGIN_PROTOCOL_VERSIONS")
}

// paired is a DPO experiment on the repository's paired JSONL.
func paired(t *testing.T, beta string) string {
	data, err := filepath.Abs("../../testdata/data/paired.jsonl")
	require.NoError(t, err)
	return `[run]
name = "p"
seed = 1
[model]
context = 64
width = 16
heads = 2
layers = 1
mlp_mult = 2
[tokenizer]
kind = "byte"
[data]
train = "` + data + `"
max_length = 64
max_prompt_length = 32
[train]
steps = 2
batch_size = 3
schedule = "constant"
checkpoint_every = 1
[[objective]]
name = "dpo"
[objective.params]
beta = ` + beta + "\n"
}

func TestRunDirectory(t *testing.T) {
	dir := t.TempDir()
	exp := writeFile(t, filepath.Join(dir, "exp.toml"), paired(t, "0.1"))
	out := filepath.Join(dir, "run")

	code, _, stderr := run(t, "", "train", exp, "--out", out, "--resume")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "holds no run to resume")

	code, stdout, stderr := run(t, "", "train", exp, "--out", out)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "dpo: 2 steps")

	code, _, stderr = run(t, "", "train", exp, "--out", out)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "already holds this run; continue it with --resume")

	code, _, stderr = run(t, "", "train", "--resume", exp, "--out", out)
	assert.Equal(t, ExitOK, code, stderr)

	writeFile(t, exp, paired(t, "0.5"))
	code, _, stderr = run(t, "", "train", exp, "--out", out, "--resume")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "cannot continue under these changes")
	assert.Contains(t, stderr, "objective[0].params.beta: 0.1 -> 0.5")

	code, _, stderr = run(t, "", "train", exp, "--out", out)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "holds a different run")
	assert.Contains(t, stderr, "--overwrite")

	code, _, stderr = run(t, "", "train", exp, "--out", out, "--overwrite")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stderr, "moved the previous run to "+out+".old-")
	old, err := filepath.Glob(out + ".old-*")
	require.NoError(t, err)
	require.Len(t, old, 1)
	saved, err := os.ReadFile(filepath.Join(old[0], rundir.ConfigFile))
	require.NoError(t, err)
	assert.Contains(t, string(saved), "beta = 0.1", "the old run is kept")
	saved, err = os.ReadFile(filepath.Join(out, rundir.ConfigFile))
	require.NoError(t, err)
	assert.Contains(t, string(saved), "beta = 0.5")

	sftDoc := strings.Replace(paired(t, "0.1"), "paired.jsonl", "sft_text.jsonl", 1)
	sftDoc = strings.Replace(sftDoc, "max_prompt_length = 32\n", "", 1)
	sftDoc = sftDoc[:strings.Index(sftDoc, "[[objective]]")]
	sft := writeFile(t, filepath.Join(dir, "sft.toml"), sftDoc)
	code, stdout, stderr = run(t, "", "sft", sft, "--out", filepath.Join(dir, "sft"))
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "sft: 2 steps")
}

func TestPluginPathIsDirectory(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, pairedBatch, "objective", "eval", "--plugin", dir)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, dir+" is a directory, not a plugin binary")

	exp := strings.Replace(paired(t, "0.1"), `name = "dpo"`, `path = "`+dir+`"`, 1)
	file := writeFile(t, filepath.Join(dir, "exp.toml"), exp)
	code, _, stderr = run(t, "", "train", file, "--out", filepath.Join(dir, "run"))
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "objective[0].path: "+dir+" is a directory")
}

// TestInterruptedExitCode checks that a run cancelled by a signal exits
// with 130 whatever error it returns.
func TestInterruptedExitCode(t *testing.T) {
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	exp := writeFile(t, filepath.Join(dir, "exp.toml"), paired(t, "0.1"))
	code := execute(ctx, func() bool { return true }, []string{"train", exp, "--out", filepath.Join(dir, "run")}, e)
	assert.Equal(t, ExitInterrupted, code, errb.String())
	code = execute(context.Background(), func() bool { return false }, []string{"train", filepath.Join(dir, "none.toml")}, e)
	assert.Equal(t, ExitFailure, code)
}

// mainEnv makes TestMain run the command line on the arguments after "--",
// so a test can run prefopt as a real process and signal it.
const mainEnv = "PREFOPT_CLI_TEST_MAIN"

// TestSIGINTThenResume sends a real SIGINT to a comparison running in its
// own process, checks the exit code and the partial summary, and resumes it.
func TestSIGINTThenResume(t *testing.T) {
	dir := t.TempDir()
	long := strings.NewReplacer("epochs = 1", "epochs = 40", "eval_every = 1", "eval_every = 0",
		"log_every = 1", "log_every = 20", "checkpoint_every = 1", "checkpoint_every = 5").Replace(tinyCompare)
	exp := writeFile(t, filepath.Join(dir, "tiny.toml"), long)
	out := filepath.Join(dir, "run")
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "compare", exp, "--out", out, "--jobs", "1")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// Interrupt once the first objective has a checkpoint.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if m, _ := filepath.Glob(filepath.Join(out, "dpo", "checkpoints", "step-*")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "want an exit error, got %v\n%s", err, stderr.String())
	assert.Equal(t, ExitInterrupted, exit.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "prefopt: interrupted")
	s, err := summary.Read(filepath.Join(out, "summary.json"))
	require.NoError(t, err)
	assert.Equal(t, []string{"dpo", "kto"}, append(labels(s), s.Unfinished...))
	assert.NotEmpty(t, s.Unfinished)
	assert.FileExists(t, filepath.Join(out, "report.html"))

	// The experiment is read back from the run directory's config.toml.
	code, _, errText := run(t, "", "compare", "--resume", out)
	require.Equal(t, ExitOK, code, errText)
	s, err = summary.Read(filepath.Join(out, "summary.json"))
	require.NoError(t, err)
	assert.Equal(t, []string{"dpo", "kto"}, labels(s))
	assert.Empty(t, s.Unfinished)
}

func labels(s *summary.Summary) []string {
	var l []string
	for _, o := range s.Objectives {
		l = append(l, o.Label)
	}
	return l
}

// TestReportPrintsTheComparisonTable checks that report prints, from
// summary.json, the table compare printed, and without timing leaves out
// only the seconds column.
func TestReportPrintsTheComparisonTable(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "tiny.toml"), tinyCompare)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := run(t, "", "compare", file, "--quiet", "--out", out)
	require.Equal(t, ExitOK, code, stderr)
	table := strings.TrimSpace(stdout[:strings.Index(stdout, "\nwrote ")])
	code, again, stderr := run(t, "", "report", out, "--table-only")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, table, strings.TrimSpace(again))
	code, plain, stderr := run(t, "", "report", out, "--table-only", "--no-timing")
	require.Equal(t, ExitOK, code, stderr)
	assert.NotContains(t, plain, "seconds")
	assert.Equal(t, len(strings.Split(table, "\n")), len(strings.Split(strings.TrimSpace(plain), "\n")))
	require.NoError(t, os.Remove(filepath.Join(out, "report.html")))
	code, _, stderr = run(t, "", "report", out)
	require.Equal(t, ExitOK, code, stderr)
	assert.FileExists(t, filepath.Join(out, "report.html"), "written again")
}

// TestGenerate samples from a trained checkpoint through the command line:
// the same seed prints the same samples, and --json gives one object per
// sample with its log-probs.
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "p.toml"), paired(t, "0.1"))
	out := filepath.Join(dir, "run")
	code, _, stderr := run(t, "", "train", file, "--out", out)
	require.Equal(t, ExitOK, code, stderr)
	args := []string{"generate", filepath.Join(out, "dpo"), "--prompt", "The sky is", "--n", "3", "--max-tokens", "8", "--seed", "5", "--json"}
	code, first, stderr := run(t, "", args...)
	require.Equal(t, ExitOK, code, stderr)
	code, again, _ := run(t, "", args...)
	require.Equal(t, ExitOK, code)
	assert.Equal(t, first, again, "same seed, same samples")
	lines := strings.Split(strings.TrimSpace(first), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines {
		var s struct {
			Prompt  string
			Tokens  int
			Stop    string
			LogProb float64
		}
		require.NoError(t, json.Unmarshal([]byte(l), &s), l)
		assert.Equal(t, "The sky is", s.Prompt)
		assert.LessOrEqual(t, s.Tokens, 8)
		assert.Less(t, s.LogProb, 0.0)
		assert.Contains(t, []string{"eos", "length", "context"}, s.Stop)
	}
	code, _, stderr = run(t, "", "generate", filepath.Join(out, "dpo"), "--prompt", "a", "--prompts", "x.jsonl")
	assert.Equal(t, ExitUsage, code, stderr)
}

// TestReportLeaderboard checks that report on a directory with
// leaderboard.json prints the leaderboard and writes leaderboard.html, and
// with --table-only writes nothing.
func TestReportLeaderboard(t *testing.T) {
	dir := t.TempDir()
	stat := func(v ...float64) summary.Stat { return summary.NewStat(v) }
	l := &summary.Leaderboard{Metric: "kl_to_optimal", LowerIsBetter: true, Seeds: []uint64{1, 2}, Scenarios: []summary.Scenario{{
		Name: "noisy-labels", Claim: "IPO resists label noise.", Dir: "noisy-labels",
		Reference: stat(0.6, 0.7), Optimal: stat(0, 0),
		Cells: map[string]summary.Stat{"dpo": stat(0.2, 0.3), "ipo": stat(0.1, 0.12)}, Best: []string{"ipo"},
	}}}
	require.NoError(t, summary.WriteLeaderboard(filepath.Join(dir, "leaderboard.json"), l))
	page := filepath.Join(dir, "leaderboard.html")

	code, stdout, stderr := run(t, "", "report", dir, "--table-only")
	require.Equal(t, ExitOK, code, stderr)
	assert.NoFileExists(t, page)
	assert.Contains(t, stdout, "noisy-labels")
	// mean ± t_{0.975,1}·s/√2 with t_{0.975,1} = 12.706 (tables): s = 0.01414 for ipo, 0.07071 for dpo.
	assert.Regexp(t, `ipo\s+0\.110 ± 0\.127 \*`, stdout, "best starred")
	assert.Regexp(t, `dpo\s+0\.250 ± 0\.635\n`, stdout)

	code, stdout, stderr = run(t, "", "report", dir)
	require.Equal(t, ExitOK, code, stderr)
	assert.FileExists(t, page)
	assert.Contains(t, stdout, "wrote "+page)
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Contains(t, string(b), `href="noisy-labels/report.html"`)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "leaderboard.json"), []byte("{"), 0o644))
	code, _, stderr = run(t, "", "report", dir)
	assert.NotEqual(t, ExitOK, code)
	assert.Contains(t, stderr, "leaderboard.json")
}
