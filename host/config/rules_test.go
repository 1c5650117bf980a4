package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPathsResolveFromFile checks, key by key, that a relative path
// resolves from the experiment file's directory and an absolute one is kept.
func TestPathsResolveFromFile(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "exps", "e.toml")
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	cases := []struct {
		key string
		doc func(p string) string
		get func(e *Experiment) string
	}{
		{"data.train", func(p string) string { return "[data]\ntrain = " + q(p) + "\n" + objDPO }, func(e *Experiment) string { return e.Data.Train }},
		{"data.eval", func(p string) string { return "[data]\ntrain = \"t\"\neval = " + q(p) + "\n" + objDPO }, func(e *Experiment) string { return e.Data.Eval }},
		{"model.init", func(p string) string { return "[model]\ninit = " + q(p) + "\n" + minimal }, func(e *Experiment) string { return e.Model.Init }},
		{"reference.checkpoint", func(p string) string { return "[reference]\ncheckpoint = " + q(p) + "\n" + minimal }, func(e *Experiment) string { return e.Reference.Checkpoint }},
		{"run.output_dir", func(p string) string { return "[run]\noutput_dir = " + q(p) + "\n" + minimal }, func(e *Experiment) string { return e.Run.OutputDir }},
		{"objective.path", func(p string) string { return "[data]\ntrain = \"t\"\n[[objective]]\npath = " + q(p) + "\n" }, func(e *Experiment) string { return e.Objectives[0].Path }},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			require.NoError(t, os.WriteFile(file, []byte(c.doc("../x/y")), 0o644))
			e, err := Load(file)
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(root, "x", "y"), c.get(e), "relative to %s", filepath.Dir(file))

			require.NoError(t, os.WriteFile(file, []byte(c.doc("/abs/y")), 0o644))
			e, err = Load(file)
			require.NoError(t, err)
			assert.Equal(t, "/abs/y", c.get(e))

			// A built-in experiment has no file: paths stay relative to the
			// current directory.
			e, err = ParseBuiltin([]byte(c.doc("./x/y")), "built-in")
			require.NoError(t, err)
			assert.Equal(t, "./x/y", c.get(e))
		})
	}
}

func q(s string) string { return fmt.Sprintf("%q", s) }

// TestTaskDefaults checks the one defaults rule: an experiment with [task]
// starts from TaskExperimentDefaults, its task from TaskDefaults, and each
// key written replaces one default.
func TestTaskDefaults(t *testing.T) {
	e, err := Parse([]byte("[task]\neval_prompts = 5\n[optimizer]\nweight_decay = 0.1\n"+objDPO), "t.toml")
	require.NoError(t, err)
	wantTask := TaskDefaults()
	wantTask.EvalPrompts = 5
	assert.Equal(t, &wantTask, e.Task, "a partial [task] keeps the built-in task's other values")
	want := TaskExperimentDefaults()
	want.Optimizer.WeightDecay = 0.1
	assert.Equal(t, want.Optimizer, e.Optimizer, "a partial [optimizer] keeps the task profile's lr")
	assert.Equal(t, want.Train, e.Train)
	assert.Equal(t, want.Run.Seed, e.Run.Seed)
	assert.Equal(t, 4, e.Model.Vocab, "the task's alphabet")

	// Independent of the code under test: the values of the built-in
	// comparison (host/experiment/defaults/compare.toml) that the first
	// sweeps missed.
	assert.Equal(t, 16, TaskDefaults().EvalPrompts)
	assert.Equal(t, 1e-3, TaskExperimentDefaults().Optimizer.LR)

	f, err := Parse([]byte(minimal), "f.toml")
	require.NoError(t, err)
	assert.Nil(t, f.Task)
	assert.Equal(t, Defaults().Optimizer, f.Optimizer, "without [task], the file defaults")
}

func TestTaskValidate(t *testing.T) {
	cases := []struct{ name, task, want string }{
		{"sft steps", "sft_steps = -1", "task.sft_steps must be >= 0, got -1"},
		{"sft batch", "sft_batch = 0", "task.sft_batch must be >= 1, got 0"},
		{"sft lr", "sft_lr = 0.0", "task.sft_lr must be finite and > 0, got 0"},
		{"demonstrations", "demonstrations = 0", "task.demonstrations must be >= 1, got 0"},
		{"frontier", "frontier_betas = [1.0, -2.0]", "task.frontier_betas[1] must be finite and > 0, got -2"},
		{"not exact", "exact = false", "task.exact = false is not supported for training runs: their evaluation enumerates completions"},
		{"testbed bound", "alphabet = 1", "task.alphabet must be ≥ 2, got 1"},
		{"letters", "alphabet = 27\ncompletion_len = 2\nprompt_len = 2", "task.alphabet must be <= 26 to be shown as letters, got 27"},
		{"context", "completion_len = 7", "model.context must be >= task.prompt_len + task.completion_len - 1 = 10, got 9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte("[task]\n"+c.task+"\n"+objDPO), "t.toml")
			require.Error(t, err)
			assert.Equal(t, "config: t.toml: "+c.want, err.Error())
		})
	}
	_, err := Parse([]byte("[task]\n[model]\nvocab = 5\n"+objDPO), "t.toml")
	assert.EqualError(t, err, "config: t.toml: model.vocab must be 0 or task.alphabet (4) for the task's exact distributions, got 5")
}

func TestNotApplicable(t *testing.T) {
	cases := []struct {
		name string
		sft  bool
		doc  string
		want string
	}{
		{"data beside task", false, "[task]\n[data]\nmax_length = 9\n" + objDPO,
			"config: a.toml:2: [data] does not apply to an experiment with [task]: the task makes its own rows, never truncated"},
		{"data.train beside task", false, "[task]\n" + minimal,
			"config: a.toml:3: [data] does not apply to an experiment with [task]: the task makes its own rows, never truncated"},
		{"tokenizer beside task", false, "[task]\n[tokenizer]\nkind = \"byte\"\n" + objDPO,
			"config: a.toml:2: [tokenizer] does not apply to an experiment with [task]: the task's tokenizer is one letter per task.alphabet symbol"},
		{"objective in sft", true, minimal,
			"config: a.toml:5: [[objective]] does not apply to supervised fine-tuning"},
		{"reference in sft", true, "[data]\ntrain = \"t\"\n[reference]\ncache = false\n",
			"config: a.toml:3: [reference] does not apply to supervised fine-tuning"},
		{"prompt length in sft", true, "[data]\ntrain = \"t\"\nmax_prompt_length = 8\n",
			"config: a.toml:3: data.max_prompt_length does not apply to supervised fine-tuning (texts keep their start, up to data.max_length)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parse := Parse
			if c.sft {
				parse = ParseSFT
			}
			_, err := parse([]byte(c.doc), "a.toml")
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// tableKeys returns the dotted keys of a decoded TOML document, tables of
// arrays flattened as in the schema ("objective.name").
func tableKeys(prefix string, m map[string]any, out map[string]bool) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		out[key] = true
		switch v := v.(type) {
		case map[string]any:
			tableKeys(key, v, out)
		case []map[string]any:
			for _, e := range v {
				tableKeys(key, e, out)
			}
		}
	}
}

// TestResolvedHoldsWhatApplies checks that the resolved form holds every key
// of every section that applies, and no key of a section that does not.
func TestResolvedHoldsWhatApplies(t *testing.T) {
	cases := []struct {
		name   string
		sft    bool
		doc    string
		absent []string // sections that must not appear
		drop   []string // keys of the schema that do not apply
	}{
		// The byte tokenizer (the default) has no symbols.
		{"file", false, minimal, []string{"task", "sweep"}, []string{"tokenizer.symbols"}},
		{"task", false, "[task]\nalphabet = 3\n" + objDPO, []string{"tokenizer", "data", "sweep"}, nil},
		{"sft", true, "[data]\ntrain = \"t\"\n", []string{"task", "sweep", "reference", "objective"},
			[]string{"data.format", "data.max_prompt_length", "data.truncation_mode", "tokenizer.symbols"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := parse([]byte(c.doc), "r.toml", c.sft, false)
			require.NoError(t, err)
			text, err := e.Resolved()
			require.NoError(t, err)
			var m map[string]any
			_, err = toml.NewDecoder(bytes.NewReader(text)).Decode(&m)
			require.NoError(t, err)
			got := map[string]bool{}
			tableKeys("", m, got)
			for k := range schemaKeys() {
				section, _, _ := strings.Cut(k, ".")
				if slices.Contains(c.absent, section) || slices.Contains(c.drop, k) {
					assert.False(t, got[k], "%s does not apply, yet is in:\n%s", k, text)
					continue
				}
				assert.True(t, got[k], "%s applies, yet is missing from:\n%s", k, text)
			}
			if e.Task != nil {
				assert.Contains(t, string(text), "seed = 1\n", "the task seed")
			}
		})
	}
}

func TestAddEOS(t *testing.T) {
	cases := []struct {
		doc       string
		vocab     int
		eos       int
		specsSize int
	}{
		{"[tokenizer]\nadd_eos = true\n", 259, 258, 259},
		{"[tokenizer]\nadd_eos = false\n", 258, -1, 258},
		{"[tokenizer]\nkind = \"symbols\"\nsymbols = \"xyz\"\nadd_eos = true\n", 4, 3, 4},
		{"[tokenizer]\nkind = \"symbols\"\nsymbols = \"xyz\"\nadd_eos = false\n", 3, -1, 3},
	}
	for _, c := range cases {
		t.Run(c.doc, func(t *testing.T) {
			e, err := Parse([]byte(c.doc+minimal), "e.toml")
			require.NoError(t, err)
			assert.Equal(t, c.vocab, e.Model.Vocab)
			tok, err := e.Tokenizer.New()
			require.NoError(t, err)
			assert.Equal(t, c.eos, tok.EOS(), "add_eos is honoured")
			assert.Equal(t, c.specsSize, tok.Spec().Size)
		})
	}
}

func TestSuggest(t *testing.T) {
	cases := []struct {
		s    string
		cand []string
		want string
	}{
		{"batch_sise", []string{"batch_size", "steps"}, ` (did you mean "batch_size"?)`},
		{"lr", []string{"lr", "eps"}, ""},
		{"dpp", []string{"dpo", "ipo"}, ` (did you mean "dpo"?)`},
		{"cosnie", []string{"cosine", "linear"}, ` (did you mean "cosine"?)`}, // transposition
		{"xyz", []string{"steps"}, ""},
		{"Steps", []string{"steps"}, ` (did you mean "steps"?)`},
	}
	for _, c := range cases {
		t.Run(c.s, func(t *testing.T) { assert.Equal(t, c.want, suggest(c.s, c.cand)) })
	}
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
	assert.Equal(t, 1, editDistance("ab", "ba"))
	assert.Equal(t, 0, editDistance("", ""))
	assert.Equal(t, 4, editDistance("", "abcd"))
}
