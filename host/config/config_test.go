package config

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// minimal is the smallest valid experiment: training data and one objective.
const minimal = `
[data]
train = "d.jsonl"

[[objective]]
name = "dpo"
`

// field returns the value of e at a dotted TOML key such as
// "train.batch_size", following toml tags.
func field(t *testing.T, v reflect.Value, key string) any {
	t.Helper()
	for _, part := range strings.Split(key, ".") {
		found := false
		for i := range v.NumField() {
			if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ","); tag == part {
				v, found = v.Field(i), true
				break
			}
		}
		require.True(t, found, "no key %s", key)
	}
	return v.Interface()
}

func TestDefaults(t *testing.T) {
	e, err := Parse([]byte(minimal), "min.toml")
	require.NoError(t, err)
	// Expected values are the documented defaults and their sources, written
	// out here independently of Defaults.
	want := map[string]any{
		"run.name":                "prefopt",
		"run.seed":                Seed(42), // transformers TrainingArguments.seed
		"run.description":         "",
		"run.seeds":               1,
		"run.output_dir":          abs(t, "runs"), // relative to the file's directory
		"model.vocab":             259,            // the byte tokenizer's 256 bytes, PAD, BOS and EOS
		"model.context":           128,
		"model.width":             128,
		"model.heads":             4,
		"model.layers":            2,
		"model.mlp_mult":          4, // GPT-2
		"model.dtype":             "float32",
		"model.init":              "",
		"tokenizer.kind":          "byte",
		"tokenizer.symbols":       "",
		"tokenizer.add_eos":       true,
		"data.train":              abs(t, "d.jsonl"), // set by minimal
		"data.eval":               "",
		"data.format":             "auto",
		"data.eval_fraction":      0.0,
		"data.max_length":         128,
		"data.max_prompt_length":  64,
		"data.truncation_mode":    "keep_end", // TRL DPOConfig
		"reference.checkpoint":    "",
		"reference.cache":         true,
		"optimizer.name":          "adamw",
		"optimizer.lr":            1e-4,
		"optimizer.beta1":         0.9,   // torch.optim.AdamW
		"optimizer.beta2":         0.999, // torch.optim.AdamW
		"optimizer.eps":           1e-8,  // torch.optim.AdamW
		"optimizer.weight_decay":  0.0,   // TrainingArguments
		"optimizer.max_grad_norm": 1.0,   // TrainingArguments
		"train.steps":             0,
		"train.epochs":            3, // TrainingArguments.num_train_epochs
		"train.batch_size":        8, // TrainingArguments.per_device_train_batch_size
		"train.warmup_steps":      0,
		"train.warmup_ratio":      0.0,
		"train.schedule":          "linear", // TrainingArguments.lr_scheduler_type
		"train.min_lr_ratio":      0.0,
		"train.log_every":         10,
		"train.eval_every":        100,
		"train.checkpoint_every":  500, // TrainingArguments.save_steps
		"train.keep_checkpoints":  3,
		"train.drop_last":         false, // TrainingArguments.dataloader_drop_last
		"objective.name":          "dpo", // set by minimal
		"objective.path":          "",
		"objective.label":         "dpo", // defaults to the name
		"objective.sha256":        "",
		"objective.auto_mtls":     true,
		"objective.in_process":    false,
		"objective.timeout":       60 * time.Second,
		"objective.max_attempts":  3,
		"objective.on_bad_reply":  "fail",
		"objective.params":        map[string]any{},
		"sweep.param":             nil, // no sweep
		"sweep.values":            nil,
		"sweep.scale":             nil,
		"sweep.objectives":        nil,
	}
	require.Len(t, e.Objectives, 1)
	root := reflect.ValueOf(*e)
	for key := range schemaKeys() {
		if _, ok := want[key]; !ok && strings.Contains(key, ".") && !strings.HasPrefix(key, "task.") {
			t.Errorf("key %s has no expected default in this test", key)
		}
	}
	for key, w := range want {
		if w == nil {
			continue
		}
		t.Run(key, func(t *testing.T) {
			v := root
			k := key
			if rest, ok := strings.CutPrefix(key, "objective."); ok {
				v, k = reflect.ValueOf(e.Objectives[0]), rest
			}
			assert.Equal(t, w, field(t, v, k))
		})
	}
	assert.Nil(t, e.Task)
	assert.Nil(t, e.Sweep)
}

// abs returns p joined to the current directory, the directory of the
// files the tests parse.
func abs(t *testing.T, p string) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return filepath.Join(wd, p)
}

func TestPluginLabelDefaultsToFileName(t *testing.T) {
	e, err := Parse([]byte("[data]\ntrain = \"d\"\n[[objective]]\npath = \"./bin/my-dpo.exe\"\n"), "x.toml")
	require.NoError(t, err)
	assert.Equal(t, "my-dpo", e.Objectives[0].Label)
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want string
	}{
		{"top level", "bogus = 1\n" + minimal, "config: u.toml:1: unknown key bogus"},
		{"unknown section", minimal + "[trian]\nsteps = 3\n", "config: u.toml:7: unknown key trian (did you mean train?)"},
		{"nested", "[model]\nwidht = 64\n" + minimal, "config: u.toml:2: unknown key model.widht (did you mean model.width?)"},
		{"dotted", "model.widht = 64\n" + minimal, "config: u.toml:1: unknown key model.widht (did you mean model.width?)"},
		{"inside objective", minimal + "lable = \"x\"\n", "config: u.toml:7: unknown key objective.lable (did you mean objective.label?)"},
		{"second objective", minimal + "[[objective]]\nname = \"ipo\"\nbeta = 0.1\n", "config: u.toml:9: unknown key objective.beta (objective parameters go in [objective.params]: objective.params.beta)"},
		{"sweep", minimal + "[sweep]\nparam = \"beta\"\nvalues = [1]\nvalue = 2\n", "config: u.toml:10: unknown key sweep.value (did you mean sweep.values?)"},
		{"case", "[Train]\nsteps = 1\n" + minimal, "config: u.toml:1: unknown key Train (keys are case-sensitive: did you mean train?)"},
		{"case nested", "[train]\nSteps = 1\n" + minimal, "config: u.toml:2: unknown key train.Steps (keys are case-sensitive: did you mean train.steps?)"},
		{"far from every key", "[model]\ncolour = 1\n" + minimal, "config: u.toml:2: unknown key model.colour"},
		{"task key", "[task]\nalphabet = 3\nlenght = 3\n" + objDPO, "config: u.toml:3: unknown key task.lenght"},
		{"task typo", "[task]\neval_promts = 3\n" + objDPO, "config: u.toml:2: unknown key task.eval_promts (did you mean task.eval_prompts?)"},
		{"section typo", "[optimiser]\nlr = 1e-3\n" + minimal, "config: u.toml:1: unknown key optimiser (did you mean optimizer?)"},
		{
			"several", "[model]\nwidht = 64\nhead = 2\n" + minimal,
			"config: u.toml:2: unknown key model.widht (did you mean model.width?)\nconfig: u.toml:3: unknown key model.head (did you mean model.heads?)",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "u.toml")
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestParseErrorPosition(t *testing.T) {
	doc := "[run]\nname = \"x\"\nseed = 12x\n"
	_, err := Parse([]byte(doc), "p.toml")
	require.Error(t, err)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "config: p.toml:3:10: toml: error: "), msg)
	assert.Contains(t, msg, "At line 3, column 10")
	assert.Contains(t, msg, "      3 | seed = 12x")

	_, err = Parse([]byte(minimal+"[train]\nbatch_size = \"8\"\n"), "t.toml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config: t.toml: toml: line 8 (last key \"train.batch_size\"): incompatible types")

	_, err = Parse([]byte(minimal+"timeout = \"soon\"\n"), "d.toml")
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), `config: d.toml:7:12: toml: error: invalid duration: "soon"`), err.Error())

	_, err = Parse([]byte("[run]\nseed = -1\n"+minimal), "s.toml")
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "config: s.toml:2:8: toml: error: run.seed must be >= 0, got -1"), err.Error())
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.toml")
	require.NoError(t, os.WriteFile(p, []byte(minimal), 0o644))
	e, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, p, e.Path())

	_, err = Load(filepath.Join(t.TempDir(), "absent.toml"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.True(t, strings.HasPrefix(err.Error(), "config: open "), err.Error())
}

func TestBadValues(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		doc  string // appended to a [data] train line; objectives given explicitly
		want string // the whole error, lines joined
	}{
		{"batch size", "[train]\nbatch_size = 0\n" + objDPO, "train.batch_size must be > 0, got 0"},
		{"steps and epochs", "[train]\nsteps = 0\nepochs = 0\n" + objDPO, "train.steps or train.epochs must be > 0, got both 0"},
		{"negative steps", "[train]\nsteps = -5\n" + objDPO, "train.steps must be >= 0, got -5"},
		{"warmup ratio", "[train]\nwarmup_ratio = 1.5\n" + objDPO, "train.warmup_ratio must be in [0, 1], got 1.5"},
		{"schedule", "[train]\nschedule = \"step\"\n" + objDPO, `train.schedule must be one of "cosine", "linear", "constant", got "step"`},
		{"min lr", "[train]\nmin_lr_ratio = -0.1\n" + objDPO, "train.min_lr_ratio must be in [0, 1], got -0.1"},
		{"log every", "[train]\nlog_every = 0\n" + objDPO, "train.log_every must be > 0, got 0"},
		{"keep", "[train]\nkeep_checkpoints = -1\n" + objDPO, "train.keep_checkpoints must be >= 0, got -1"},
		{"lr", "[optimizer]\nlr = 0.0\n" + objDPO, "optimizer.lr must be finite and > 0, got 0"},
		{"lr inf", "[optimizer]\nlr = inf\n" + objDPO, "optimizer.lr must be finite and > 0, got +Inf"},
		{"beta1", "[optimizer]\nbeta1 = 1.0\n" + objDPO, "optimizer.beta1 must be in [0, 1), got 1"},
		{"beta2 nan", "[optimizer]\nbeta2 = nan\n" + objDPO, "optimizer.beta2 must be finite, got NaN"},
		{"eps", "[optimizer]\neps = -1e-8\n" + objDPO, "optimizer.eps must be finite and > 0, got -1e-08"},
		{"decay", "[optimizer]\nweight_decay = -0.01\n" + objDPO, "optimizer.weight_decay must be finite and >= 0, got -0.01"},
		{"clip", "[optimizer]\nmax_grad_norm = -1.0\n" + objDPO, "optimizer.max_grad_norm must be finite and >= 0 (0 = no clipping), got -1"},
		{"optimizer name", "[optimizer]\nname = \"sgd\"\n" + objDPO, `optimizer.name must be one of "adamw", got "sgd"`},
		{"width heads", "[model]\nwidth = 130\n" + objDPO, "model.width must be a multiple of model.heads (4), got 130"},
		{"layers", "[model]\nlayers = 0\n" + objDPO, "model.layers must be > 0, got 0"},
		{"vocab", "[model]\nvocab = -1\n" + objDPO, "model.vocab must be >= 0, got -1"},
		{"dtype", "[model]\ndtype = \"float16\"\n" + objDPO, `model.dtype must be one of "float32", got "float16"`},
		{"context", "[model]\ncontext = 64\n" + objDPO, "data.max_length must be <= model.context (64), got 128"},
		{"tokenizer kind", "[tokenizer]\nkind = \"bpe\"\n" + objDPO, `tokenizer.kind must be one of "byte", "symbols", got "bpe"`},
		{"symbols missing", "[tokenizer]\nkind = \"symbols\"\n" + objDPO, `tokenizer.symbols must list the symbols when tokenizer.kind is "symbols"`},
		{"symbols with byte", "[tokenizer]\nsymbols = \"ab\"\n" + objDPO, `tokenizer.symbols must be empty when tokenizer.kind is "byte", got "ab"`},
		{"format", "[data]\nformat = \"csv\"\n" + objDPO, `data.format must be one of "auto", "paired", "paired_implicit", "unpaired", got "csv"`},
		{"eval fraction", "[data]\neval_fraction = 1.0\n" + objDPO, "data.eval_fraction must be in [0, 1), got 1"},
		{"eval and fraction", "[data]\neval = \"e\"\neval_fraction = 0.1\n" + objDPO, "data.eval_fraction must be 0 when data.eval is given, got 0.1"},
		{"prompt length", "[data]\nmax_prompt_length = 128\n" + objDPO, "data.max_prompt_length must be < data.max_length (128), got 128"},
		{"truncation", "[data]\ntruncation_mode = \"middle\"\n" + objDPO, `data.truncation_mode must be one of "keep_end", "keep_start", got "middle"`},
		{"schedule typo", "[train]\nschedule = \"cosin\"\n" + objDPO, `train.schedule must be one of "cosine", "linear", "constant", got "cosin" (did you mean "cosine"?)`},
		{"format typo", "[data]\nformat = \"unpiared\"\n" + objDPO, `data.format must be one of "auto", "paired", "paired_implicit", "unpaired", got "unpiared" (did you mean "unpaired"?)`},
		{"objective typo", "[[objective]]\nname = \"dpp\"\n", `objective[0].name must be a built-in objective (caldpo, chipo, dpo, ipo, kto, orpo, simpo; a plugin is given by path), got "dpp" (did you mean "dpo"?)`},
		{"objective unknown", "[[objective]]\nname = \"rlhf\"\n", `objective[0].name must be a built-in objective (caldpo, chipo, dpo, ipo, kto, orpo, simpo; a plugin is given by path), got "rlhf"`},
		{"vocab too small", "[model]\nvocab = 100\n" + objDPO, "model.vocab must be 0 or >= the tokenizer's 259 ids, got 100"},
		{"symbols repeated", "[tokenizer]\nkind = \"symbols\"\nsymbols = \"aba\"\n" + objDPO, `tokenizer.symbols: tokenizer: symbol 'a' appears twice in alphabet "aba"`},
		{"run name", "[run]\nname = \"a/b\"\n" + objDPO, `run.name must be a non-empty directory name without slashes, got "a/b"`},
		{"no objective", "", "at least one [[objective]] must be given"},
		{"neither name nor path", "[[objective]]\nlabel = \"x\"\n", "objective[0]: one of name and path must be set, got neither"},
		{"name and path", "[[objective]]\nname = \"dpo\"\npath = \"./p\"\n", `objective[0]: only one of name and path may be set, got name "dpo" and path "./p"`},
		{"bare path", "[[objective]]\npath = \"dpo-plugin\"\n", `objective[0].path must be absolute or contain a slash (no PATH lookup; write ./dpo-plugin), got "dpo-plugin"`},
		{"in process plugin", "[[objective]]\npath = \"./p\"\nin_process = true\n", `objective[0].in_process applies only to a built-in objective (name), not to path "./p"`},
		{"sha on builtin", "[[objective]]\nname = \"dpo\"\nsha256 = \"" + hex64 + "\"\n", "objective[0].sha256 applies only to a plugin binary (path)"},
		{"sha length", "[[objective]]\npath = \"./p\"\nsha256 = \"abc\"\n", `objective[0].sha256 must be 64 hexadecimal digits, got "abc"`},
		{"duplicate label", objDPO + objDPO, `objective[1].label "dpo" is already used by objective[0]`},
		{"timeout", "[[objective]]\nname = \"dpo\"\ntimeout = \"-1s\"\n", "objective[0].timeout must be > 0, got -1s"},
		{"attempts", "[[objective]]\nname = \"dpo\"\nmax_attempts = 0\n", "objective[0].max_attempts must be >= 1, got 0"},
		{"bad reply", "[[objective]]\nname = \"dpo\"\non_bad_reply = \"retry\"\n", `objective[0].on_bad_reply must be one of "fail", "skip", got "retry"`},
		{
			"several at once", "[train]\nbatch_size = 0\nlog_every = 0\n" + objDPO,
			"train.batch_size must be > 0, got 0\nconfig: v.toml: train.log_every must be > 0, got 0",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := c.doc
			if !strings.HasPrefix(doc, "[data]") {
				doc = "[data]\ntrain = \"d.jsonl\"\n" + doc
			} else {
				doc = strings.Replace(doc, "[data]\n", "[data]\ntrain = \"d.jsonl\"\n", 1)
			}
			_, err := Parse([]byte(doc), "v.toml")
			require.Error(t, err)
			assert.Equal(t, "config: v.toml: "+c.want, err.Error())
		})
	}
}

const objDPO = "[[objective]]\nname = \"dpo\"\n"

func TestNeitherDataNorTask(t *testing.T) {
	_, err := Parse([]byte(objDPO), "n.toml")
	require.Error(t, err)
	assert.Equal(t, "config: n.toml: one of data.train and [task] must be given, got neither", err.Error())
}

func TestParams(t *testing.T) {
	doc := minimal + `
[objective.params]
beta = 0.1
steps = 3
flag = true
mode = "sigmoid"
`
	e, err := Parse([]byte(doc), "p.toml")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"beta": 0.1, "steps": int64(3), "flag": true, "mode": "sigmoid"}, e.Objectives[0].Params)

	bad := []struct {
		name, params, want string
	}{
		{"table", "[objective.params.inner]\nx = 1\n", "config: p.toml: objective[0].params.inner must be a number, boolean or string, got table"},
		{"array", "[objective.params]\nbetas = [0.1, 0.2]\n", "config: p.toml: objective[0].params.betas must be a number, boolean or string, got array"},
		{"datetime", "[objective.params]\nwhen = 1979-05-27T07:32:00Z\n", "config: p.toml: objective[0].params.when must be a number, boolean or string, got datetime"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+c.params), "p.toml")
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestSweep(t *testing.T) {
	doc := `
[data]
train = "d.jsonl"

[[objective]]
name = "dpo"
[objective.params]
label_smoothing = 0.1

[[objective]]
name = "ipo"

[[objective]]
name = "kto"
label = "k"

[sweep]
param = "beta"
values = [0.05, 0.5, 2]
objectives = ["dpo", "k"]
`
	e, err := Parse([]byte(doc), "s.toml")
	require.NoError(t, err)
	type got struct {
		Label, Name string
		Params      map[string]any
	}
	var gs []got
	for _, o := range e.Objectives {
		gs = append(gs, got{o.Label, o.Name, o.Params})
	}
	assert.Equal(t, []got{
		{"dpo/beta=0.05", "dpo", map[string]any{"beta": 0.05, "label_smoothing": 0.1}},
		{"dpo/beta=0.5", "dpo", map[string]any{"beta": 0.5, "label_smoothing": 0.1}},
		{"dpo/beta=2", "dpo", map[string]any{"beta": int64(2), "label_smoothing": 0.1}},
		{"ipo", "ipo", map[string]any{}},
		{"k/beta=0.05", "kto", map[string]any{"beta": 0.05}},
		{"k/beta=0.5", "kto", map[string]any{"beta": 0.5}},
		{"k/beta=2", "kto", map[string]any{"beta": int64(2)}},
	}, gs)
	require.NotNil(t, e.Sweep)

	// A sweep over loss types: strings, and a list for a mixture.
	lt, err := Parse([]byte(minimal+"[sweep]\nparam = \"loss_type\"\nvalues = [\"sigmoid\", \"hinge\", [\"sigmoid\", \"sft\"]]\n"), "s.toml")
	require.NoError(t, err)
	var labels []string
	for _, o := range lt.Objectives {
		labels = append(labels, o.Label)
	}
	assert.Equal(t, []string{"dpo/loss_type=sigmoid", "dpo/loss_type=hinge", "dpo/loss_type=sigmoid+sft"}, labels)
	assert.Equal(t, []any{"sigmoid", "sft"}, lt.Objectives[2].Params["loss_type"])

	all, err := Parse([]byte(minimal+"[sweep]\nparam = \"beta\"\nvalues = [1, 2]\n"), "s.toml")
	require.NoError(t, err)
	assert.Len(t, all.Objectives, 2, "no objectives listed: all are swept")

	bad := []struct{ name, sweep, want string }{
		{"no values", "[sweep]\nparam = \"beta\"\nvalues = []\n", "config: s.toml: sweep.values must list at least one value"},
		{"no param", "[sweep]\nvalues = [1]\n", "config: s.toml: sweep.param must be set"},
		{"unknown label", "[sweep]\nparam = \"beta\"\nvalues = [1]\nobjectives = [\"ipo\"]\n", `config: s.toml: sweep.objectives[0] "ipo" is not an objective label (labels: dpo)`},
		{"nan", "[sweep]\nparam = \"beta\"\nvalues = [nan]\n", "config: s.toml: sweep.values[0] must be finite, got NaN"},
		{"nested list", "[sweep]\nparam = \"loss_type\"\nvalues = [[\"a\", [\"b\"]]]\n", "config: s.toml: sweep.values[0] element 1: a list inside a list is not a parameter value"},
		{"duplicate value", "[sweep]\nparam = \"beta\"\nvalues = [1, 1.0]\n", `config: s.toml: objective[1].label "dpo/beta=1" is already used by objective[0]`},
		{"values and scale", "[sweep]\nparam = \"beta\"\nvalues = [1]\nscale = [2.0]\n", "config: s.toml: sweep.values and sweep.scale exclude each other: give the values, or factors of each objective's own value"},
		{"scale without own value", "[sweep]\nparam = \"beta\"\nscale = [2.0]\n", `config: s.toml: sweep.scale needs objective[0] "dpo" to set params.beta: it multiplies the objective's own value`},
		{"zero factor", "[sweep]\nparam = \"beta\"\nscale = [1.0, 0.0]\n", "config: s.toml: sweep.scale[1] must be finite and > 0, got 0"},
		{"negative factor", "[sweep]\nparam = \"beta\"\nscale = [-1.0]\n", "config: s.toml: sweep.scale[0] must be finite and > 0, got -1"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+c.sweep), "s.toml")
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// TestSweepScale checks the multiplicative sweep: each objective's own
// value times each factor, labelled with the product.
func TestSweepScale(t *testing.T) {
	doc := `
[data]
train = "d.jsonl"

[[objective]]
name = "dpo"
[objective.params]
beta = 0.5

[[objective]]
name = "simpo"
[objective.params]
beta = 2.5
gamma_beta_ratio = 0.5

[[objective]]
name = "ipo"
[objective.params]
beta = 1

[sweep]
param = "beta"
scale = [0.25, 1, 4]
`
	e, err := Parse([]byte(doc), "s.toml")
	require.NoError(t, err)
	type got struct {
		Label  string
		Params map[string]any
	}
	var gs []got
	for _, o := range e.Objectives {
		gs = append(gs, got{o.Label, o.Params})
	}
	// 0.5·0.25 = 0.125, 2.5·0.25 = 0.625, 2.5·4 = 10: exact in binary.
	assert.Equal(t, []got{
		{"dpo/beta=0.125", map[string]any{"beta": 0.125}},
		{"dpo/beta=0.5", map[string]any{"beta": 0.5}},
		{"dpo/beta=2", map[string]any{"beta": 2.0}},
		{"simpo/beta=0.625", map[string]any{"beta": 0.625, "gamma_beta_ratio": 0.5}},
		{"simpo/beta=2.5", map[string]any{"beta": 2.5, "gamma_beta_ratio": 0.5}},
		{"simpo/beta=10", map[string]any{"beta": 10.0, "gamma_beta_ratio": 0.5}},
		{"ipo/beta=0.25", map[string]any{"beta": 0.25}},
		{"ipo/beta=1", map[string]any{"beta": 1.0}},
		{"ipo/beta=4", map[string]any{"beta": 4.0}},
	}, gs)
	require.NotNil(t, e.Sweep)
	assert.Equal(t, map[string]any{"dpo": 0.5, "simpo": 2.5, "ipo": int64(1)}, e.Sweep.Base)

	// Only the listed objectives are swept; the others keep their value.
	some, err := Parse([]byte(doc+"objectives = [\"simpo\"]\n"), "s.toml")
	require.NoError(t, err)
	var labels []string
	for _, o := range some.Objectives {
		labels = append(labels, o.Label)
	}
	assert.Equal(t, []string{"dpo", "simpo/beta=0.625", "simpo/beta=2.5", "simpo/beta=10", "ipo"}, labels)

	_, err = Parse([]byte(minimal+"[objective.params]\nbeta = \"high\"\n[sweep]\nparam = \"beta\"\nscale = [2.0]\n"), "s.toml")
	assert.EqualError(t, err, `config: s.toml: sweep.scale needs objective[0] "dpo" params.beta to be a number, got string`)
}

func TestSweepLabel(t *testing.T) {
	cases := []struct {
		label, group, param string
		ok                  bool
	}{
		{"dpo/beta=0.1", "dpo", "beta", true},
		{"my/dpo/beta=0.1", "my/dpo", "beta", true},
		{"dpo/loss_type=sigmoid+sft", "dpo", "loss_type", true},
		{"dpo", "", "", false},
		{"dpo/beta", "", "", false},
		{"/beta=1", "", "", false},
		{"dpo/=1", "", "", false},
	}
	for _, c := range cases {
		g, p, ok := SweepLabel(c.label)
		assert.Equal(t, c.ok, ok, c.label)
		assert.Equal(t, c.group, g, c.label)
		assert.Equal(t, c.param, p, c.label)
	}
	assert.True(t, SameSweepValue(int64(1), 1.0))
	assert.True(t, SameSweepValue("sigmoid", "sigmoid"))
	assert.False(t, SameSweepValue(0.5, 0.25))
	assert.False(t, SameSweepValue(math.NaN(), math.NaN()), "not a sweep value")
}

func TestResolvedRoundTrip(t *testing.T) {
	doc := `
[run]
name = "r"
seed = 7
[model]
width = 64
[task]
eval_prompts = 3
[[objective]]
name = "dpo"
timeout = "90s"
[objective.params]
beta = 0.2
loss = "sigmoid"
[[objective]]
path = "/opt/p"
sha256 = "` + strings.Repeat("AB", 32) + `"
[sweep]
param = "beta"
values = [0.1, 1]
objectives = ["dpo"]
`
	e, err := Parse([]byte(doc), "r.toml")
	require.NoError(t, err)
	text, err := e.Resolved()
	require.NoError(t, err)
	assert.NotContains(t, string(text), "[sweep]", "the sweep is already expanded")
	again, err := Parse(text, "resolved.toml")
	require.NoError(t, err, "resolved config must parse:\n%s", text)
	text2, err := again.Resolved()
	require.NoError(t, err)
	assert.Equal(t, string(text), string(text2))
	assert.Equal(t, e.Objectives, again.Objectives)
	assert.Equal(t, e.Model, again.Model)
	assert.Equal(t, e.Train, again.Train)
	assert.Equal(t, e.Task, again.Task)
	assert.Equal(t, strings.Repeat("ab", 32), again.Objectives[2].SHA256, "stored lower case")
	require.NotNil(t, again.Task)
	assert.Equal(t, 3, again.Task.EvalPrompts)
}

func TestShapeChanges(t *testing.T) {
	a, err := Parse([]byte(minimal), "a.toml")
	require.NoError(t, err)
	b, err := Parse([]byte("[model]\nwidth = 64\ninit = \"x\"\n[tokenizer]\nadd_eos = false\n[train]\nsteps = 9\n"+minimal), "b.toml")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"model.vocab changed from 259 to 258", // the tokenizer lost EOS
		"model.width changed from 128 to 64",
		"tokenizer.add_eos changed from true to false",
	}, ShapeChanges(a, b))
	assert.Empty(t, ShapeChanges(a, a))
	keys := a.ShapeKeys()
	require.Len(t, keys, 10, "7 model keys without init, 3 tokenizer keys")
	assert.Equal(t, Setting{"tokenizer.kind", `"byte"`}, keys[7])

	task, err := Parse([]byte("[task]\n"+objDPO), "t.toml")
	require.NoError(t, err)
	assert.Len(t, task.ShapeKeys(), 7, "the task's tokenizer is not configured")
	wider, err := Parse([]byte("[task]\nalphabet = 5\n"+objDPO), "t.toml")
	require.NoError(t, err)
	assert.Equal(t, []string{"model.vocab changed from 4 to 5"}, ShapeChanges(task, wider))
}

func TestWarmupFor(t *testing.T) {
	cases := []struct {
		name  string
		train Train
		total int
		want  int
	}{
		{"steps win", Train{WarmupSteps: 7, WarmupRatio: 0.5}, 100, 7},
		{"ratio rounds up", Train{WarmupRatio: 0.1}, 95, 10}, // ceil(9.5)
		{"none", Train{}, 100, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assert.Equal(t, c.want, c.train.WarmupFor(c.total)) })
	}
}

func TestLoadSFTMakesObjectivesOptional(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sft.toml")
	require.NoError(t, os.WriteFile(path, []byte("[data]\ntrain = \"x.jsonl\"\n"), 0o644))
	_, err := Load(path)
	assert.ErrorContains(t, err, "at least one [[objective]] must be given")
	e, err := LoadSFT(path)
	require.NoError(t, err)
	assert.Empty(t, e.Objectives)
}

func TestExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.toml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			sft := filepath.Base(p) == "sft.toml" // an sft run has no objectives
			load := Load
			if sft {
				load = LoadSFT
			}
			e, err := load(p)
			require.NoError(t, err)
			text, err := e.Resolved()
			require.NoError(t, err)
			reparse := Parse
			if sft {
				reparse = ParseSFT
			}
			again, err := reparse(text, p+" (resolved)")
			require.NoError(t, err)
			text2, err := again.Resolved()
			require.NoError(t, err)
			assert.Equal(t, string(text), string(text2))
			require.NoError(t, err)
			// Every key in an example carries a comment.
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			for i, line := range strings.Split(string(b), "\n") {
				s := strings.TrimSpace(line)
				if s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "[") {
					continue
				}
				assert.Contains(t, line, "#", fmt.Sprintf("%s:%d: key without a comment", p, i+1))
			}
		})
	}
}

// TestResolvedHoldsTask checks that the resolved experiment, saved as every
// run directory's config.toml, holds the run's seeds and every key of the
// task, defaults included: enough to rebuild the task and its reference.
func TestResolvedHoldsTask(t *testing.T) {
	e, err := Parse([]byte("[run]\nseeds = 3\n[task]\nseed = 9\n"+objDPO), "t.toml")
	require.NoError(t, err)
	text, err := e.Resolved()
	require.NoError(t, err)
	var doc map[string]map[string]any
	_, err = toml.Decode(string(text), &doc)
	require.NoError(t, err)
	assert.Equal(t, int64(3), doc["run"]["seeds"])
	assert.Equal(t, int64(9), doc["task"]["seed"])
	for key := range schemaKeys() {
		if k, ok := strings.CutPrefix(key, "task."); ok {
			assert.Contains(t, doc["task"], k, "resolved [task] lacks %s", key)
		}
	}
}

// TestReresolveFillsKeysAddedSince checks that a saved resolved file lacking
// keys the schema has now (as one written by an earlier version would) is
// resolved again to exactly what the experiment resolves to today.
func TestReresolveFillsKeysAddedSince(t *testing.T) {
	e, err := Parse([]byte("[task]\nseed = 9\n"+objDPO), "t.toml")
	require.NoError(t, err)
	now, err := e.Resolved()
	require.NoError(t, err)
	var old []string
	for _, line := range strings.Split(string(now), "\n") {
		k := strings.TrimSpace(line)
		if strings.HasPrefix(k, "seeds =") || strings.HasPrefix(k, "description =") || strings.HasPrefix(k, "label_flip =") {
			continue // keys an earlier schema did not have
		}
		old = append(old, line)
	}
	require.Less(t, len(old), len(strings.Split(string(now), "\n")))
	again, err := e.Reresolve([]byte(strings.Join(old, "\n")), "runs/x/config.toml")
	require.NoError(t, err)
	assert.Equal(t, string(now), string(again))
}
