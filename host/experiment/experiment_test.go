package experiment

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/tokenizer"
)

func TestDefaultCompare(t *testing.T) {
	exp, err := LoadDefaultCompare()
	require.NoError(t, err)
	require.NotNil(t, exp.Task)
	var names []string
	for _, o := range exp.Objectives {
		names = append(names, o.Name)
	}
	assert.Equal(t, []string{"dpo", "ipo", "kto", "orpo", "simpo"}, names)
	assert.Equal(t, exp.Task.PromptLen+exp.Task.CompletionLen, exp.Model.Context, "the task's rows fill the context")
	assert.Equal(t, "runs", exp.Run.OutputDir, "no file: relative to the current directory")

	// The file writes out the defaults of every task experiment: an
	// experiment with only [task] and objectives trains the same way.
	bare, err := config.ParseBuiltin([]byte("[task]\n[[objective]]\nname = \"dpo\"\n"), "bare")
	require.NoError(t, err)
	assert.Equal(t, bare.Task, exp.Task)
	assert.Equal(t, bare.Run, exp.Run)
	assert.Equal(t, bare.Model, exp.Model)
	assert.Equal(t, bare.Reference, exp.Reference)
	assert.Equal(t, bare.Optimizer, exp.Optimizer)
	assert.Equal(t, bare.Train, exp.Train)

	// Users copy this file (--print-default): every key is explained.
	for i, line := range strings.Split(string(DefaultCompare), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		assert.Contains(t, line, "#", "defaults/compare.toml:%d: key without a comment", i+1)
	}
}

// saveWeights writes w as a checkpoint under root and returns its directory.
func saveWeights(t *testing.T, root string, w *model.Weights) string {
	t.Helper()
	c := &checkpoint.Checkpoint{Step: 1}
	for _, name := range w.Names() {
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: name, Shape: w.Shape(name), Data: w.Data(name)})
	}
	dir, err := checkpoint.Save(root, c)
	require.NoError(t, err)
	return dir
}

func TestLoadWeights(t *testing.T) {
	cfg := model.Config{Vocab: 5, Context: 4, Width: 8, Heads: 2, Layers: 1, MLPMult: 2}
	w, err := model.New(cfg, 3)
	require.NoError(t, err)
	name := w.Names()[len(w.Names())/2]

	dir := saveWeights(t, t.TempDir(), w)
	got, err := loadWeights(dir, cfg)
	require.NoError(t, err)
	assert.Equal(t, w.Data(name), got.Data(name))

	cases := []struct {
		name  string
		index int
		value float32
		want  string
	}{
		{"nan", 0, float32(math.NaN()), "is NaN"},
		{"+inf", 3, float32(math.Inf(1)), "is +Inf"},
		{"-inf", 5, float32(math.Inf(-1)), "is -Inf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad, err := model.New(cfg, 3)
			require.NoError(t, err)
			bad.Data(name)[c.index] = c.value
			dir := saveWeights(t, t.TempDir(), bad)
			_, err = loadWeights(dir, cfg)
			require.Error(t, err)
			assert.Equal(t, fmt.Sprintf("%s: weight %q[%d] %s: the checkpoint holds non-finite weights", dir, name, c.index, c.want), err.Error())
		})
	}
}

func TestPrepareNamesBadInit(t *testing.T) {
	cfg := model.Config{Vocab: 259, Context: 16, Width: 8, Heads: 2, Layers: 1, MLPMult: 2}
	w, err := model.New(cfg, 1)
	require.NoError(t, err)
	w.Data(w.Names()[0])[2] = float32(math.NaN())
	root := t.TempDir()
	ckpt := saveWeights(t, filepath.Join(root, "ckpt"), w)
	rel, err := filepath.Rel(root, ckpt)
	require.NoError(t, err)
	data, err := filepath.Abs(filepath.Join("..", "..", "testdata", "data", "paired.jsonl"))
	require.NoError(t, err)
	doc := "[model]\ncontext = 16\nwidth = 8\nheads = 2\nlayers = 1\nmlp_mult = 2\ninit = \"" + rel + "\"\n" +
		"[data]\ntrain = \"" + data + "\"\nmax_length = 16\nmax_prompt_length = 8\n" +
		"[[objective]]\nname = \"dpo\"\n"
	exp, err := config.Parse([]byte(doc), filepath.Join(root, "exp.toml"))
	require.NoError(t, err)
	_, err = Prepare(t.Context(), exp, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "model.init: "+ckpt+": weight \""+w.Names()[0]+"\"[2] is NaN")
}

// TestKTOExample checks that the KTO example trains on its own data, large
// enough that every step sees a full batch.
func TestKTOExample(t *testing.T) {
	exp, err := config.Load(filepath.Join("..", "..", "examples", "kto.toml"))
	require.NoError(t, err)
	m, err := Prepare(t.Context(), exp, Options{})
	require.NoError(t, err)
	require.NotNil(t, m.Train.Unpaired)
	n := m.Train.Unpaired.Len()
	desirable := 0
	for _, l := range m.Train.Unpaired.Labels {
		if l {
			desirable++
		}
	}
	assert.Equal(t, 50, n, "the rows of examples/data/kto.jsonl")
	assert.Equal(t, n/2, desirable)
	assert.True(t, exp.Train.DropLast)
	assert.GreaterOrEqual(t, n/exp.Train.BatchSize, 6, "full batches per epoch")
}

// TestAddEOSReachesRows checks that tokenizer.add_eos is honoured for the
// byte tokenizer: completions end with EOS only when it is true.
func TestAddEOSReachesRows(t *testing.T) {
	data, err := filepath.Abs(filepath.Join("..", "..", "testdata", "data", "paired.jsonl"))
	require.NoError(t, err)
	for _, addEOS := range []bool{true, false} {
		t.Run(fmt.Sprint(addEOS), func(t *testing.T) {
			doc := fmt.Sprintf("[model]\ncontext = 64\nwidth = 8\nheads = 2\nlayers = 1\n[tokenizer]\nadd_eos = %v\n"+
				"[data]\ntrain = %q\nmax_length = 64\nmax_prompt_length = 32\n[[objective]]\nname = \"dpo\"\n", addEOS, data)
			exp, err := config.Parse([]byte(doc), filepath.Join(t.TempDir(), "e.toml"))
			require.NoError(t, err)
			m, err := Prepare(t.Context(), exp, Options{})
			require.NoError(t, err)
			require.NotZero(t, m.Train.Paired.Len())
			for i, row := range m.Train.Paired.Chosen {
				last := row.Tokens[len(row.Tokens)-1]
				assert.Equal(t, addEOS, last == tokenizer.ByteEOS, "row %d ends with %d", i, last)
			}
			assert.Equal(t, exp.Model.Vocab, m.Model.Vocab)
			assert.Equal(t, m.Tokenizer.Size(), m.Model.Vocab)
		})
	}
}
