package testbed

import (
	"errors"
	"fmt"
	"math"
)

// MaxCompletions bounds A^L, the number of completions per prompt, in exact
// mode: every evaluation touches each completion of each eval prompt.
const MaxCompletions = 1 << 16

// maxPromptSpace bounds A^P so prompt indices fit in a uint64 with room for
// sampling arithmetic.
const maxPromptSpace = 1 << 62

// Config describes a task. Build one with [Defaults], override fields (for
// instance by decoding TOML into it), then call [Config.Validate] or [New].
type Config struct {
	// Alphabet is the vocabulary size A: token ids are 0..A−1.
	Alphabet int `toml:"alphabet"`
	// PromptLen is the number of tokens P of every prompt.
	PromptLen int `toml:"prompt_len"`
	// CompletionLen is the number of tokens L of every completion, or with
	// VariableLength the largest number of symbols before the end.
	CompletionLen int `toml:"completion_len"`
	// VariableLength adds the end-of-sequence token A, so a completion is
	// 0..L symbols followed by EOS when fewer than L (see the package
	// documentation); the vocabulary is then A+1 ids.
	VariableLength bool `toml:"variable_length"`
	// Exact enables enumeration of all completions per prompt (A^L, or
	// Σ_{l=0..L} A^l with VariableLength); it requires at most
	// MaxCompletions of them.
	Exact bool `toml:"exact"`
	// TrainPrompts and EvalPrompts are the numbers of distinct prompts in
	// the disjoint train and eval sets.
	TrainPrompts int `toml:"train_prompts"`
	EvalPrompts  int `toml:"eval_prompts"`
	// SamplesPerPrompt is the number of preference pairs drawn per prompt.
	SamplesPerPrompt int `toml:"samples_per_prompt"`
	// CopyReward is c, the reward of a completion that copies the prompt
	// cyclically at every position.
	CopyReward float64 `toml:"copy_reward"`
	// RepeatPenalty is ρ, the reward lost by a completion whose every
	// adjacent pair of tokens is equal.
	RepeatPenalty float64 `toml:"repeat_penalty"`
	// LabelTemperature is t in P(y1 ≻ y2) = σ((r1−r2)/t); 0 means
	// deterministic labels.
	LabelTemperature float64 `toml:"label_temperature"`
	// Beta is the β at which the optimum π*_β, log Z and J_β are taken.
	Beta float64 `toml:"beta"`
	// DemoNoise is p, the per-position probability that a demonstration
	// replaces the copied token by a uniformly drawn one (possibly equal).
	DemoNoise float64 `toml:"demo_noise"`
	// DemoStop is s, the probability that a demonstration ends before each
	// of its L positions (VariableLength only): it has l < L symbols with
	// probability (1−s)^l·s and L with probability (1−s)^L.
	DemoStop float64 `toml:"demo_stop"`
	// LabelFlip is f, the probability that a training pair's Bradley–Terry
	// label is flipped: P(y1 ≻ y2) = (1−f)·σ(Δ/t) + f·(1−σ(Δ/t)).
	LabelFlip float64 `toml:"label_flip"`
	// LabelLengthBias is b: training labels are Bradley–Terry on
	// r*(y) + b·|y|/L instead of r*(y), labellers who favour long answers;
	// the evaluation keeps r*. It changes nothing at fixed length.
	LabelLengthBias float64 `toml:"label_length_bias"`
	// PairSource is the policy training pairs are drawn from: "reference"
	// or "" (π_ref), "uniform" (every completion alike) or "expert" (the
	// demonstration generator at noise PairNoise, stopping as DemoStop
	// says).
	PairSource string `toml:"pair_source"`
	// PairNoise is the per-position noise of the "expert" pair source, as
	// DemoNoise is for the demonstrations; it must be > 0 for that source
	// (a noiseless copier has one completion).
	PairNoise float64 `toml:"pair_noise"`
	// NormTolerance is the largest |Σ_y π(y|x) − 1| accepted from a policy;
	// accepted distributions are renormalised before evaluation.
	NormTolerance float64 `toml:"norm_tolerance"`
	// Seed fixes the prompts.
	Seed uint64 `toml:"seed"`
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Alphabet:         4,    // symbols
		PromptLen:        4,    // tokens
		CompletionLen:    5,    // tokens: 4^5 = 1024 completions per prompt
		Exact:            true, // enumerate completions
		TrainPrompts:     64,   // of 4^4 = 256 possible prompts
		EvalPrompts:      16,   // disjoint from the train prompts
		SamplesPerPrompt: 16,   // pairs per prompt
		CopyReward:       4,    // reward units for a perfect cyclic copy
		RepeatPenalty:    1,    // reward units for a completion of one repeated symbol
		LabelTemperature: 1,    // Bradley–Terry in r* units: DPO at β targets π*_β
		Beta:             0.5,  // KL weight of the optimum
		DemoNoise:        0.5,  // per-position noise of the demonstrations
		NormTolerance:    1e-9, // float64 scoring; raise to ~1e-5 for float32 models
		Seed:             1,
		// VariableLength, DemoStop, LabelFlip, LabelLengthBias, PairSource
		// and PairNoise are zero: fixed length, labels by Bradley–Terry on
		// r*, pairs from the reference.
	}
}

// Validate reports every field outside its bounds, joined into one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("testbed: "+format, args...))
	}
	if c.Alphabet < 2 {
		bad("alphabet must be ≥ 2, got %d", c.Alphabet)
	}
	if c.PromptLen < 1 {
		bad("prompt_len must be ≥ 1, got %d", c.PromptLen)
	}
	if c.CompletionLen < 1 {
		bad("completion_len must be ≥ 1, got %d", c.CompletionLen)
	}
	if c.Alphabet >= 2 && c.PromptLen >= 1 {
		space, ok := power(c.Alphabet, c.PromptLen, maxPromptSpace)
		if !ok {
			bad("alphabet^prompt_len must be ≤ 2^62, got %d^%d", c.Alphabet, c.PromptLen)
		} else if c.TrainPrompts >= 1 && c.EvalPrompts >= 1 && uint64(c.TrainPrompts)+uint64(c.EvalPrompts) > space {
			bad("train_prompts + eval_prompts must be ≤ alphabet^prompt_len = %d, got %d", space, c.TrainPrompts+c.EvalPrompts)
		}
	}
	if c.Exact && c.Alphabet >= 2 && c.CompletionLen >= 1 {
		if !c.VariableLength {
			if _, ok := power(c.Alphabet, c.CompletionLen, MaxCompletions); !ok {
				bad("alphabet^completion_len must be ≤ %d in exact mode, got %d^%d", MaxCompletions, c.Alphabet, c.CompletionLen)
			}
		} else if _, ok := countUpTo(c.Alphabet, c.CompletionLen, MaxCompletions); !ok {
			bad("alphabet^0 + … + alphabet^completion_len must be ≤ %d in exact mode with variable_length, got %d^0 + … + %d^%d",
				MaxCompletions, c.Alphabet, c.Alphabet, c.CompletionLen)
		}
	}
	if c.TrainPrompts < 1 {
		bad("train_prompts must be ≥ 1, got %d", c.TrainPrompts)
	}
	if c.EvalPrompts < 1 {
		bad("eval_prompts must be ≥ 1, got %d", c.EvalPrompts)
	}
	if c.SamplesPerPrompt < 1 {
		bad("samples_per_prompt must be ≥ 1, got %d", c.SamplesPerPrompt)
	}
	if math.IsNaN(c.CopyReward) || math.IsInf(c.CopyReward, 0) {
		bad("copy_reward must be finite, got %g", c.CopyReward)
	}
	if !(c.RepeatPenalty >= 0) || math.IsInf(c.RepeatPenalty, 0) {
		bad("repeat_penalty must be finite and ≥ 0, got %g", c.RepeatPenalty)
	}
	if !(c.LabelTemperature >= 0) || math.IsInf(c.LabelTemperature, 0) {
		bad("label_temperature must be finite and ≥ 0, got %g", c.LabelTemperature)
	}
	if !(c.Beta > 0) || math.IsInf(c.Beta, 0) {
		bad("beta must be finite and > 0, got %g", c.Beta)
	}
	if !(c.DemoNoise >= 0 && c.DemoNoise <= 1) {
		bad("demo_noise must be in [0, 1], got %g", c.DemoNoise)
	}
	switch {
	case c.VariableLength && !(c.DemoStop > 0 && c.DemoStop < 1):
		bad("demo_stop must be in (0, 1) with variable_length, got %g", c.DemoStop)
	case !c.VariableLength && c.DemoStop != 0:
		bad("demo_stop needs variable_length = true, got %g", c.DemoStop)
	}
	if !(c.LabelFlip >= 0 && c.LabelFlip <= 0.5) {
		bad("label_flip must be in [0, 0.5], got %g", c.LabelFlip)
	}
	if math.IsNaN(c.LabelLengthBias) || math.IsInf(c.LabelLengthBias, 0) {
		bad("label_length_bias must be finite, got %g", c.LabelLengthBias)
	}
	switch c.PairSource {
	case "", PairsFromReference, PairsUniform, PairsFromExpert:
	default:
		bad("pair_source must be one of %q, %q, %q, got %q", PairsFromReference, PairsUniform, PairsFromExpert, c.PairSource)
	}
	switch {
	case c.PairSource == PairsFromExpert && !(c.PairNoise > 0 && c.PairNoise <= 1):
		bad("pair_noise must be in (0, 1] with pair_source = %q, got %g", PairsFromExpert, c.PairNoise)
	case c.PairSource != PairsFromExpert && c.PairNoise != 0:
		bad("pair_noise needs pair_source = %q, got %g", PairsFromExpert, c.PairNoise)
	}
	if !(c.NormTolerance > 0 && c.NormTolerance <= 1e-2) {
		bad("norm_tolerance must be in (0, 0.01], got %g", c.NormTolerance)
	}
	return errors.Join(errs...)
}

// Pair sources: the values of Config.PairSource.
const (
	PairsFromReference = "reference"
	PairsUniform       = "uniform"
	PairsFromExpert    = "expert"
)

// Vocab returns the number of token ids: A, or A+1 with VariableLength.
func (c Config) Vocab() int {
	if c.VariableLength {
		return c.Alphabet + 1
	}
	return c.Alphabet
}

// countUpTo returns Σ_{l=0..length} base^l and true if it is ≤ limit, else
// false.
func countUpTo(base, length int, limit uint64) (uint64, bool) {
	total := uint64(0)
	for l := 0; l <= length; l++ {
		v, ok := power(base, l, limit)
		if !ok || v > limit-total {
			return 0, false
		}
		total += v
	}
	return total, true
}

// power returns base^exp and true if it is ≤ limit, else false.
func power(base, exp int, limit uint64) (uint64, bool) {
	v := uint64(1)
	for range exp {
		if v > limit/uint64(base) {
			return 0, false
		}
		v *= uint64(base)
	}
	return v, true
}
