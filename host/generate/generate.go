// Package generate samples text from a checkpoint: the logic of the
// `prefopt generate` command. It loads a checkpoint's weights, model shape
// and tokenizer, samples completions of prompts with [model.Generate], and
// reports each sample's log-prob under the policy and, when given, under a
// reference checkpoint.
package generate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/BurntSushi/toml"

	"github.com/prefopt/prefopt/host/checkpoint"
	"github.com/prefopt/prefopt/host/config"
	"github.com/prefopt/prefopt/host/model"
	"github.com/prefopt/prefopt/host/tokenizer"
)

// Model is a checkpoint's weights and tokenizer.
type Model struct {
	Weights   *model.Weights
	Tokenizer tokenizer.Tokenizer
	Dir       string // the checkpoint directory read
}

// Load reads a checkpoint directory (step-NNNNNNNN) or, given a run
// directory, its latest checkpoint under checkpoints/. The model shape comes
// from the [model] table of the resolved experiment saved in state.json,
// the tokenizer from its tokenizer spec.
func Load(path string) (*Model, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		c2, _, err2 := checkpoint.LoadLatest(filepath.Join(path, "checkpoints"), false)
		if err2 != nil {
			return nil, fmt.Errorf("generate: %s is neither a checkpoint nor a run directory with checkpoints: %w", path, err)
		}
		c = c2
	}
	var spec tokenizer.Spec
	if err := json.Unmarshal(c.Tokenizer, &spec); err != nil {
		return nil, fmt.Errorf("generate: %s: tokenizer spec: %w", c.Dir, err)
	}
	tok, err := tokenizer.FromSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("generate: %s: %w", c.Dir, err)
	}
	var doc struct {
		Model config.Model `toml:"model"`
	}
	if _, err := toml.Decode(string(c.Config), &doc); err != nil {
		return nil, fmt.Errorf("generate: %s: saved config: %w", c.Dir, err)
	}
	m := doc.Model
	cfg := model.Config{Vocab: m.Vocab, Context: m.Context, Width: m.Width, Heads: m.Heads, Layers: m.Layers, MLPMult: m.MLPMult}
	if cfg.Vocab == 0 {
		cfg.Vocab = tok.Size()
	}
	if cfg.Vocab != tok.Size() {
		return nil, fmt.Errorf("generate: %s: model vocab %d differs from the tokenizer's %d", c.Dir, cfg.Vocab, tok.Size())
	}
	w, err := model.Zeros(cfg)
	if err != nil {
		return nil, fmt.Errorf("generate: %s: %w", c.Dir, err)
	}
	byName := map[string]checkpoint.Tensor{}
	for _, t := range c.Weights {
		byName[t.Name] = t
	}
	for _, name := range w.Names() {
		t, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("generate: %s: no weight %q", c.Dir, name)
		}
		if !slices.Equal(t.Shape, w.Shape(name)) {
			return nil, fmt.Errorf("generate: %s: weight %q has shape %v, the saved model config needs %v", c.Dir, name, t.Shape, w.Shape(name))
		}
		copy(w.Data(name), t.Data)
	}
	return &Model{Weights: w, Tokenizer: tok, Dir: c.Dir}, nil
}

// Options are the settings of the generate command; each field is one flag.
type Options struct {
	Checkpoint  string  // positional CHECKPOINT: checkpoint or run directory
	Prompt      string  // --prompt TEXT
	Prompts     string  // --prompts FILE.jsonl: one {"prompt": TEXT} per line
	N           int     // --n: samples per prompt (default 1)
	Temperature float64 // --temperature (default 1; 0 = greedy)
	TopK        int     // --top-k (0 = off)
	TopP        float64 // --top-p (1 = off)
	MaxTokens   int     // --max-tokens (default 64)
	Seed        uint64  // --seed
	Reference   string  // --reference CHECKPOINT (optional)
	JSON        bool    // --json: one JSON object per sample
}

// DefaultOptions returns the flag defaults.
func DefaultOptions() Options {
	return Options{N: 1, Temperature: 1, TopP: 1, MaxTokens: model.DefaultMaxTokens}
}

// Result is one sample, as printed with --json.
type Result struct {
	Prompt       string   `json:"prompt"`
	Index        int      `json:"index"` // sample number for this prompt, from 0
	Completion   string   `json:"completion"`
	Tokens       int      `json:"tokens"` // completion tokens, EOS included
	Stop         string   `json:"stop"`   // eos, length or context
	LogProb      float64  `json:"logprob"`
	RefLogProb   *float64 `json:"ref_logprob,omitempty"`
	LogRatio     *float64 `json:"log_ratio,omitempty"` // logprob − ref_logprob
	PromptTokens int      `json:"prompt_tokens"`
}

// Run samples o.N completions of every prompt and writes them to w: a
// readable block per sample, or one JSON [Result] per line with o.JSON.
// Prompts are encoded as the trainer encodes them (BOS, then the text);
// EOS is not rendered in the completion. A prompt longer than the model's
// context is an error naming it (as TRL, nothing is cut silently).
func Run(ctx context.Context, o Options, w io.Writer) error {
	if o.Checkpoint == "" {
		return errors.New("generate: want one checkpoint directory")
	}
	if (o.Prompt == "") == (o.Prompts == "") {
		return errors.New("generate: give exactly one of --prompt and --prompts")
	}
	if o.N < 1 {
		return fmt.Errorf("generate: --n must be ≥ 1, got %d", o.N)
	}
	texts := []string{o.Prompt}
	if o.Prompts != "" {
		var err error
		if texts, err = ReadPrompts(o.Prompts); err != nil {
			return err
		}
	}
	pol, err := Load(o.Checkpoint)
	if err != nil {
		return err
	}
	var ref *Model
	if o.Reference != "" {
		if ref, err = Load(o.Reference); err != nil {
			return err
		}
		if !ref.Tokenizer.Spec().Equal(pol.Tokenizer.Spec()) {
			return fmt.Errorf("generate: --reference %s has tokenizer %s, the checkpoint %s", o.Reference, ref.Tokenizer.Name(), pol.Tokenizer.Name())
		}
	}
	tok := pol.Tokenizer
	var prompts [][]int
	for i, t := range texts {
		ids, err := EncodePrompt(tok, t)
		if err != nil {
			return err
		}
		if ctxLen := pol.Weights.Config().Context; len(ids) > ctxLen {
			return fmt.Errorf("generate: prompt %d has %d tokens with BOS, more than the model's context %d", i+1, len(ids), ctxLen)
		}
		for range o.N {
			prompts = append(prompts, ids)
		}
	}
	topP := o.TopP
	if topP == 1 {
		topP = 0
	}
	samples, err := model.Generate(ctx, pol.Weights, prompts, model.SampleOptions{
		Temperature: o.Temperature, TopK: o.TopK, TopP: topP, MaxTokens: o.MaxTokens, EOS: tok.EOS(), Seed: o.Seed,
	})
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	var refLP []float64
	if ref != nil {
		if refLP, err = ScoreSamples(ref.Weights, samples); err != nil {
			return fmt.Errorf("generate: reference: %w", err)
		}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for k, s := range samples {
		r := Result{Prompt: texts[k/o.N], Index: k % o.N, Completion: DecodeCompletion(tok, s), Tokens: len(s.Completion()),
			Stop: s.Stop, LogProb: s.LogProb, PromptTokens: s.PromptLen}
		if ref != nil {
			lr := s.LogProb - refLP[k]
			r.RefLogProb, r.LogRatio = &refLP[k], &lr
		}
		if o.JSON {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(bw, "── prompt %d, sample %d (%d tokens, stop: %s, logprob %.4f", k/o.N+1, r.Index+1, r.Tokens, r.Stop, r.LogProb)
		if ref != nil {
			fmt.Fprintf(bw, ", ref %.4f, log-ratio %.4f", *r.RefLogProb, *r.LogRatio)
		}
		fmt.Fprintf(bw, ")\n%s%s\n", r.Prompt, r.Completion)
	}
	return bw.Flush()
}

// EncodePrompt returns BOS (when the tokenizer has one) and the ids of
// text, the prompt encoding of the trainer (host/data).
func EncodePrompt(tok tokenizer.Tokenizer, text string) ([]int, error) {
	ids, err := tok.Encode(text)
	if err != nil {
		return nil, fmt.Errorf("generate: prompt %q: %w", text, err)
	}
	if bos := tok.BOS(); bos >= 0 {
		ids = append([]int{bos}, ids...)
	}
	return ids, nil
}

// DecodeCompletion returns the text of a sample's completion without a
// final EOS.
func DecodeCompletion(tok tokenizer.Tokenizer, s model.Sample) string {
	c := s.Completion()
	if n := len(c); n > 0 && c[n-1] == tok.EOS() {
		c = c[:n-1]
	}
	return tok.Decode(c)
}

// ScoreSamples returns the completion log-prob of every sample under w,
// with [model.Scorer] in float32, the dtype of [model.Generate]'s default.
func ScoreSamples(w *model.Weights, samples []model.Sample) ([]float64, error) {
	const rows = 64
	sc, err := model.NewScorer(w, rows, rows)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	seqs := make([]model.Seq, len(samples))
	for i, s := range samples {
		seqs[i] = model.Seq{Tokens: s.Tokens, From: s.PromptLen, To: len(s.Tokens)}
	}
	return sc.ScoreAll(seqs)
}

// ReadPrompts reads a JSONL file of {"prompt": TEXT} objects, one a line;
// blank lines are skipped.
func ReadPrompts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var obj struct {
			Prompt *string `json:"prompt"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("generate: %s:%d: %w", path, line, err)
		}
		if obj.Prompt == nil {
			return nil, fmt.Errorf("generate: %s:%d: no \"prompt\" field", path, line)
		}
		out = append(out, *obj.Prompt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("generate: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("generate: %s: no prompts", path)
	}
	return out, nil
}
