package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prefopt/prefopt/objectives/builtin"
)

// Validate checks every value against its bounds and the relations between
// keys. It reports every problem, one line each, as "config: NAME: MSG"
// where MSG states the bound and the value ("train.batch_size must be > 0,
// got 0"), joined with errors.Join.
func (e *Experiment) Validate() error {
	v := &validator{e: e}
	v.run()
	v.model()
	v.tokenizer()
	v.data()
	v.task()
	v.optimizer()
	v.train()
	v.objectives()
	return errors.Join(v.errs...)
}

type validator struct {
	e    *Experiment
	errs []error
}

func (v *validator) add(format string, a ...any) { v.errs = append(v.errs, v.e.errorf(format, a...)) }

func (v *validator) positive(key string, n int) {
	if n <= 0 {
		v.add("%s must be > 0, got %d", key, n)
	}
}

func (v *validator) nonNegative(key string, n int) {
	if n < 0 {
		v.add("%s must be >= 0, got %d", key, n)
	}
}

func (v *validator) oneOf(key, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		hint := ""
		if len(allowed) > 1 {
			hint = suggest(s, allowed)
		}
		v.add("%s must be one of %s, got %q%s", key, strings.Join(quoteAll(allowed), ", "), s, hint)
	}
}

// within checks lo <= x <= hi, or lo <= x < hi when hiOpen.
func (v *validator) within(key string, x, lo, hi float64, hiOpen bool) {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.add("%s must be finite, got %v", key, x)
	case hiOpen && (x < lo || x >= hi):
		v.add("%s must be in [%v, %v), got %v", key, lo, hi, x)
	case !hiOpen && (x < lo || x > hi):
		v.add("%s must be in [%v, %v], got %v", key, lo, hi, x)
	}
}

// builtinNames lists the built-in objectives' names, sorted.
func builtinNames() []string {
	var names []string
	for _, d := range builtin.Definitions() {
		names = append(names, d.Spec.Name)
	}
	slices.Sort(names)
	return names
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

func (v *validator) run() {
	r := v.e.Run
	if r.Name == "" || r.Name == "." || r.Name == ".." || strings.ContainsAny(r.Name, `/\`) {
		v.add("run.name must be a non-empty directory name without slashes, got %q", r.Name)
	}
	if r.OutputDir == "" {
		v.add("run.output_dir must not be empty")
	}
	if r.Seeds < 1 || r.Seeds > MaxSeeds {
		v.add("run.seeds must be in [1, %d], got %d", MaxSeeds, r.Seeds)
	}
}

func (v *validator) model() {
	m := v.e.Model
	v.nonNegative("model.vocab", m.Vocab)
	if n, err := v.e.vocabSize(); err == nil && m.Vocab > 0 {
		switch {
		case v.e.Task != nil && m.Vocab != n && v.e.Task.VariableLength:
			v.add("model.vocab must be 0 or task.alphabet + 1 (%d, with <eos>) for the task's exact distributions, got %d", n, m.Vocab)
		case v.e.Task != nil && m.Vocab != n:
			v.add("model.vocab must be 0 or task.alphabet (%d) for the task's exact distributions, got %d", n, m.Vocab)
		case m.Vocab < n:
			v.add("model.vocab must be 0 or >= the tokenizer's %d ids, got %d", n, m.Vocab)
		}
	}
	v.positive("model.context", m.Context)
	v.positive("model.width", m.Width)
	v.positive("model.heads", m.Heads)
	v.positive("model.layers", m.Layers)
	v.positive("model.mlp_mult", m.MLPMult)
	if m.Width > 0 && m.Heads > 0 && m.Width%m.Heads != 0 {
		v.add("model.width must be a multiple of model.heads (%d), got %d", m.Heads, m.Width)
	}
	v.oneOf("model.dtype", m.DType, "float32")
}

func (v *validator) tokenizer() {
	if v.e.Task != nil {
		return // the task's own tokenizer
	}
	t := v.e.Tokenizer
	v.oneOf("tokenizer.kind", t.Kind, "byte", "symbols")
	switch {
	case t.Kind == "symbols" && t.Symbols == "":
		v.add(`tokenizer.symbols must list the symbols when tokenizer.kind is "symbols"`)
	case t.Kind == "byte" && t.Symbols != "":
		v.add(`tokenizer.symbols must be empty when tokenizer.kind is "byte", got %q`, t.Symbols)
	case t.Kind == "symbols":
		if _, err := v.e.vocabSize(); err != nil {
			v.add("tokenizer.symbols: %v", err)
		}
	}
}

func (v *validator) data() {
	if v.e.Task != nil {
		return // the task's rows
	}
	d := v.e.Data
	if d.Train == "" {
		v.add("one of data.train and [task] must be given, got neither")
	}
	if d.Eval != "" && d.EvalFraction != 0 {
		v.add("data.eval_fraction must be 0 when data.eval is given, got %v", d.EvalFraction)
	}
	v.within("data.eval_fraction", d.EvalFraction, 0, 1, true)
	v.positive("data.max_length", d.MaxLength)
	if c := v.e.Model.Context; c > 0 && d.MaxLength > c {
		v.add("data.max_length must be <= model.context (%d), got %d", c, d.MaxLength)
	}
	if v.e.sft {
		return // the rest applies to preference data
	}
	v.oneOf("data.format", d.Format, "auto", "paired", "paired_implicit", "unpaired")
	v.positive("data.max_prompt_length", d.MaxPromptLength)
	if d.MaxLength > 0 && d.MaxPromptLength >= d.MaxLength {
		v.add("data.max_prompt_length must be < data.max_length (%d), got %d", d.MaxLength, d.MaxPromptLength)
	}
	v.oneOf("data.truncation_mode", d.TruncationMode, "keep_end", "keep_start")
}

// task checks the [task] table, and the model against it.
func (v *validator) task() {
	t := v.e.Task
	if t == nil {
		return
	}
	if err := t.Config.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			v.add("task.%s", strings.TrimPrefix(line, "testbed: "))
		}
	}
	switch {
	case t.Demonstrations < 1:
		v.add("task.demonstrations must be >= 1, got %d", t.Demonstrations)
	case t.SFTSteps < 0:
		v.add("task.sft_steps must be >= 0, got %d", t.SFTSteps)
	case t.SFTBatch < 1:
		v.add("task.sft_batch must be >= 1, got %d", t.SFTBatch)
	case !(t.SFTLR > 0) || math.IsInf(t.SFTLR, 0):
		v.add("task.sft_lr must be finite and > 0, got %v", t.SFTLR)
	case !t.Exact:
		v.add("task.exact = false is not supported for training runs: their evaluation enumerates completions")
	case t.Alphabet > len(TaskSymbols):
		v.add("task.alphabet must be <= %d to be shown as letters, got %d", len(TaskSymbols), t.Alphabet)
	}
	if !(t.DesirableKeep > 0 && t.DesirableKeep <= 1) {
		v.add("task.desirable_keep must be in (0, 1], got %v", t.DesirableKeep)
	}
	for i, b := range t.FrontierBetas {
		if !(b > 0) || math.IsInf(b, 0) {
			v.add("task.frontier_betas[%d] must be finite and > 0, got %v", i, b)
		}
	}
	if need := t.PromptLen + t.CompletionLen - 1; v.e.Model.Context > 0 && v.e.Model.Context < need {
		v.add("model.context must be >= task.prompt_len + task.completion_len - 1 = %d, got %d", need, v.e.Model.Context)
	}
}

func (v *validator) optimizer() {
	o := v.e.Optimizer
	v.oneOf("optimizer.name", o.Name, "adamw")
	if !(o.LR > 0) || math.IsInf(o.LR, 0) {
		v.add("optimizer.lr must be finite and > 0, got %v", o.LR)
	}
	v.within("optimizer.beta1", o.Beta1, 0, 1, true)
	v.within("optimizer.beta2", o.Beta2, 0, 1, true)
	if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
		v.add("optimizer.eps must be finite and > 0, got %v", o.Eps)
	}
	if !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0) {
		v.add("optimizer.weight_decay must be finite and >= 0, got %v", o.WeightDecay)
	}
	if !(o.MaxGradNorm >= 0) || math.IsInf(o.MaxGradNorm, 0) {
		v.add("optimizer.max_grad_norm must be finite and >= 0 (0 = no clipping), got %v", o.MaxGradNorm)
	}
}

func (v *validator) train() {
	t := v.e.Train
	v.nonNegative("train.steps", t.Steps)
	v.nonNegative("train.epochs", t.Epochs)
	if t.Steps == 0 && t.Epochs == 0 {
		v.add("train.steps or train.epochs must be > 0, got both 0")
	}
	v.positive("train.batch_size", t.BatchSize)
	v.nonNegative("train.warmup_steps", t.WarmupSteps)
	v.within("train.warmup_ratio", t.WarmupRatio, 0, 1, false)
	v.oneOf("train.schedule", t.Schedule, "cosine", "linear", "constant")
	v.within("train.min_lr_ratio", t.MinLRRatio, 0, 1, false)
	v.positive("train.log_every", t.LogEvery)
	v.nonNegative("train.eval_every", t.EvalEvery)
	v.nonNegative("train.checkpoint_every", t.CheckpointEvery)
	v.nonNegative("train.keep_checkpoints", t.KeepCheckpoints)
}

func (v *validator) objectives() {
	if len(v.e.Objectives) == 0 && !v.e.sft {
		v.add("at least one [[objective]] must be given")
	}
	builtins := builtinNames()
	seen := map[string]int{}
	for i, o := range v.e.Objectives {
		at := fmt.Sprintf("objective[%d]", i)
		if o.Name != "" && !slices.Contains(builtins, o.Name) {
			v.add("%s.name must be a built-in objective (%s; a plugin is given by path), got %q%s", at, strings.Join(builtins, ", "), o.Name, suggest(o.Name, builtins))
		}
		switch {
		case o.Name == "" && o.Path == "":
			v.add("%s: one of name and path must be set, got neither", at)
		case o.Name != "" && o.Path != "":
			v.add("%s: only one of name and path may be set, got name %q and path %q", at, o.Name, o.Path)
		case o.Path != "" && !filepath.IsAbs(o.Path) && !strings.ContainsRune(o.Path, '/') && !strings.ContainsRune(o.Path, filepath.Separator):
			v.add("%s.path must be absolute or contain a slash (no PATH lookup; write ./%s), got %q", at, o.Path, o.Path)
		}
		if o.InProcess && o.Path != "" {
			v.add("%s.in_process applies only to a built-in objective (name), not to path %q", at, o.Path)
		}
		if o.SHA256 != "" {
			if o.Path == "" {
				v.add("%s.sha256 applies only to a plugin binary (path)", at)
			}
			if b, err := hex.DecodeString(o.SHA256); err != nil || len(b) != 32 {
				v.add("%s.sha256 must be 64 hexadecimal digits, got %q", at, o.SHA256)
			}
		}
		if o.Label == "" {
			v.add("%s.label must not be empty", at)
		} else if j, dup := seen[o.Label]; dup {
			v.add("%s.label %q is already used by objective[%d]", at, o.Label, j)
		} else {
			seen[o.Label] = i
		}
		if o.Timeout <= 0 {
			v.add("%s.timeout must be > 0, got %v", at, o.Timeout)
		}
		if o.MaxAttempts < 1 {
			v.add("%s.max_attempts must be >= 1, got %d", at, o.MaxAttempts)
		}
		v.oneOf(at+".on_bad_reply", o.OnBadReply, "fail", "skip")
	}
}
