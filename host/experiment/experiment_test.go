package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
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

	// A non-finite weight is refused by checkpoint.Save and, in a
	// checkpoint written anyway, by checkpoint.Load (see its tests).
	bad, err := model.New(cfg, 3)
	require.NoError(t, err)
	bad.Data(name)[3] = float32(math.NaN())
	_, err = checkpoint.Save(t.TempDir(), &checkpoint.Checkpoint{Weights: []checkpoint.Tensor{{Name: name, Shape: bad.Shape(name), Data: bad.Data(name)}}})
	require.ErrorContains(t, err, "is not finite")
}

func TestPrepareNamesBadInit(t *testing.T) {
	cfg := model.Config{Vocab: 259, Context: 16, Width: 8, Heads: 2, Layers: 1, MLPMult: 2}
	w, err := model.New(cfg, 1)
	require.NoError(t, err)
	const marker = float32(12345.678)
	w.Data(w.Names()[0])[2] = marker
	root := t.TempDir()
	ckpt := saveWeights(t, filepath.Join(root, "ckpt"), w)
	nanWithValidChecksums(t, ckpt, marker)
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
	assert.Contains(t, err.Error(), "model.init: checkpoint: "+filepath.Join(ckpt, checkpoint.ModelFile)+": weight "+w.Names()[0]+"[2] is not finite (NaN)")
}

// nanWithValidChecksums replaces the float32 marker in the checkpoint's
// model file with NaN and rewrites the checksums in state.json, as a
// tampered or buggy writer could.
func nanWithValidChecksums(t *testing.T, dir string, marker float32) {
	t.Helper()
	modelPath := filepath.Join(dir, checkpoint.ModelFile)
	b, err := os.ReadFile(modelPath)
	require.NoError(t, err)
	var mk, nan [4]byte
	binary.LittleEndian.PutUint32(mk[:], math.Float32bits(marker))
	binary.LittleEndian.PutUint32(nan[:], math.Float32bits(float32(math.NaN())))
	require.Equal(t, 1, bytes.Count(b, mk[:]))
	b = bytes.Replace(b, mk[:], nan[:], 1)
	require.NoError(t, os.WriteFile(modelPath, b, 0o644))
	statePath := filepath.Join(dir, checkpoint.StateFile)
	env, err := os.ReadFile(statePath)
	require.NoError(t, err)
	var e struct {
		State map[string]any `json:"state"`
	}
	require.NoError(t, json.Unmarshal(env, &e))
	sum := sha256.Sum256(b)
	e.State["files"].(map[string]any)[checkpoint.ModelFile].(map[string]any)["sha256"] = hex.EncodeToString(sum[:])
	state, err := json.Marshal(e.State)
	require.NoError(t, err)
	ssum := sha256.Sum256(state)
	require.NoError(t, os.WriteFile(statePath, fmt.Appendf(nil, "{\"sha256\": %q,\n \"state\": %s}\n", hex.EncodeToString(ssum[:]), state), 0o644))
	require.NoError(t, checkpoint.Verify(dir), "the checksums are valid")
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
