package generate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/tokenizer"
)

var testCfg = model.Config{Vocab: tokenizer.ByteSize, Context: 24, Width: 16, Heads: 2, Layers: 1, MLPMult: 2}

// saveRun writes weights from seed as the checkpoint of a run directory and
// returns the run directory.
func saveRun(t *testing.T, seed uint64) (string, *model.Weights) {
	t.Helper()
	w, err := model.New(testCfg, seed)
	require.NoError(t, err)
	spec, err := json.Marshal(tokenizer.NewBytes().Spec())
	require.NoError(t, err)
	c := &checkpoint.Checkpoint{Step: 3, Tokenizer: spec,
		Config: []byte("[model]\nvocab = 0\ncontext = 24\nwidth = 16\nheads = 2\nlayers = 1\nmlp_mult = 2\n")}
	for _, n := range w.Names() {
		c.Weights = append(c.Weights, checkpoint.Tensor{Name: n, Shape: w.Shape(n), Data: w.Data(n)})
	}
	run := t.TempDir()
	_, err = checkpoint.Save(filepath.Join(run, "checkpoints"), c)
	require.NoError(t, err)
	return run, w
}

func results(t *testing.T, out string) []Result {
	var rs []Result
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r Result
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		rs = append(rs, r)
	}
	return rs
}

func TestRunJSON(t *testing.T) {
	run, w := saveRun(t, 1)
	refRun, refW := saveRun(t, 2)
	o := DefaultOptions()
	o.Checkpoint, o.Reference, o.Prompt, o.N, o.MaxTokens, o.Seed, o.JSON = run, refRun, "Hello", 3, 8, 5, true
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), o, &out))
	rs := results(t, out.String())
	require.Len(t, rs, 3)

	// The same draws made directly, scored by the scorer under both models.
	tok := tokenizer.NewBytes()
	prompt, err := EncodePrompt(tok, "Hello")
	require.NoError(t, err)
	samples, err := model.Generate(context.Background(), w, [][]int{prompt, prompt, prompt},
		model.SampleOptions{Temperature: 1, MaxTokens: 8, EOS: tok.EOS(), Seed: 5})
	require.NoError(t, err)
	pol, err := ScoreSamples(w, samples)
	require.NoError(t, err)
	ref, err := ScoreSamples(refW, samples)
	require.NoError(t, err)
	for i, r := range rs {
		assert.Equal(t, "Hello", r.Prompt)
		assert.Equal(t, i, r.Index)
		assert.Equal(t, 6, r.PromptTokens, "BOS and 5 bytes")
		assert.Equal(t, len(samples[i].Completion()), r.Tokens)
		assert.Equal(t, pol[i], r.LogProb, "sample %d", i)
		require.NotNil(t, r.RefLogProb)
		assert.Equal(t, ref[i], *r.RefLogProb, "sample %d", i)
		assert.Equal(t, r.LogProb-*r.RefLogProb, *r.LogRatio)
	}
	assert.NotEqual(t, rs[0].Completion, rs[1].Completion, "samples of one prompt differ")

	var again bytes.Buffer
	require.NoError(t, Run(context.Background(), o, &again))
	assert.Equal(t, out.String(), again.String(), "same seed, same output")
}

func TestRunPromptsFileText(t *testing.T) {
	run, _ := saveRun(t, 1)
	path := filepath.Join(t.TempDir(), "p.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"prompt\": \"A\"}\n\n{\"prompt\": \"B c\"}\n"), 0o644))
	o := DefaultOptions()
	o.Checkpoint, o.Prompts, o.MaxTokens = run, path, 4
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), o, &out))
	assert.Equal(t, 2, strings.Count(out.String(), "── prompt"))
	assert.Contains(t, out.String(), "prompt 2, sample 1")
}

func TestRunErrors(t *testing.T) {
	run, _ := saveRun(t, 1)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"prompt\": \"A\"}\n{\"text\": 1}\n"), 0o644))
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no prompt", func(o *Options) {}, "generate: give exactly one of --prompt and --prompts"},
		{"n", func(o *Options) { o.Prompt, o.N = "a", 0 }, "generate: --n must be ≥ 1, got 0"},
		{"long prompt", func(o *Options) { o.Prompt = strings.Repeat("x", 24) }, "generate: prompt 1 has 25 tokens with BOS, more than the model's context 24"},
		{"bad line", func(o *Options) { o.Prompts = bad }, "generate: " + bad + ":2: no \"prompt\" field"},
		{"no checkpoint", func(o *Options) { o.Prompt, o.Checkpoint = "a", dir }, "generate: " + dir + " is neither a checkpoint nor a run directory"},
		{"temperature", func(o *Options) { o.Prompt, o.Temperature = "a", math.NaN() }, "generate: model: temperature must be finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Checkpoint = run
			tc.edit(&o)
			err := Run(context.Background(), o, &bytes.Buffer{})
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.want), "got %q", err)
		})
	}
}
