package testbed

import (
	"math"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultsValidate(t *testing.T) {
	require.NoError(t, Defaults().Validate())
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"alphabet too small", func(c *Config) { c.Alphabet = 1 }, []string{"testbed: alphabet must be ≥ 2, got 1"}},
		{"prompt_len zero", func(c *Config) { c.PromptLen = 0 }, []string{"prompt_len must be ≥ 1, got 0"}},
		{"completion_len zero", func(c *Config) { c.CompletionLen = 0 }, []string{"completion_len must be ≥ 1, got 0"}},
		{"too many completions", func(c *Config) { c.CompletionLen = 9 }, []string{"alphabet^completion_len must be ≤ 65536 in exact mode, got 4^9"}},
		{"prompt space overflow", func(c *Config) { c.PromptLen = 40 }, []string{"alphabet^prompt_len must be ≤ 2^62, got 4^40"}},
		{"too many prompts", func(c *Config) { c.TrainPrompts, c.EvalPrompts = 250, 7 }, []string{"train_prompts + eval_prompts must be ≤ alphabet^prompt_len = 256, got 257"}},
		{"no train prompts", func(c *Config) { c.TrainPrompts = 0 }, []string{"train_prompts must be ≥ 1, got 0"}},
		{"no eval prompts", func(c *Config) { c.EvalPrompts = -3 }, []string{"eval_prompts must be ≥ 1, got -3"}},
		{"no samples", func(c *Config) { c.SamplesPerPrompt = 0 }, []string{"samples_per_prompt must be ≥ 1, got 0"}},
		{"copy reward NaN", func(c *Config) { c.CopyReward = math.NaN() }, []string{"copy_reward must be finite, got NaN"}},
		{"negative penalty", func(c *Config) { c.RepeatPenalty = -1 }, []string{"repeat_penalty must be finite and ≥ 0, got -1"}},
		{"negative temperature", func(c *Config) { c.LabelTemperature = -0.5 }, []string{"label_temperature must be finite and ≥ 0, got -0.5"}},
		{"beta zero", func(c *Config) { c.Beta = 0 }, []string{"beta must be finite and > 0, got 0"}},
		{"beta NaN", func(c *Config) { c.Beta = math.NaN() }, []string{"beta must be finite and > 0, got NaN"}},
		{"beta Inf", func(c *Config) { c.Beta = math.Inf(1) }, []string{"beta must be finite and > 0, got +Inf"}},
		{"noise above one", func(c *Config) { c.DemoNoise = 1.5 }, []string{"demo_noise must be in [0, 1], got 1.5"}},
		{"tolerance zero", func(c *Config) { c.NormTolerance = 0 }, []string{"norm_tolerance must be in (0, 0.01], got 0"}},
		{"two problems reported together", func(c *Config) { c.Beta, c.DemoNoise = -1, -1 },
			[]string{"beta must be finite and > 0, got -1", "demo_noise must be in [0, 1], got -1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			tc.edit(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			_, err = New(cfg)
			assert.Error(t, err, "New must refuse what Validate refuses")
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"every prompt used", func(c *Config) { c.Alphabet, c.PromptLen, c.TrainPrompts, c.EvalPrompts = 2, 3, 5, 3 }},
		{"largest exact space", func(c *Config) { c.CompletionLen = 8 }},
		{"large space when not exact", func(c *Config) { c.Exact, c.CompletionLen = false, 100 }},
		{"deterministic labels", func(c *Config) { c.LabelTemperature = 0 }},
		{"noiseless demonstrations", func(c *Config) { c.DemoNoise = 0 }},
		{"single-token completions", func(c *Config) { c.CompletionLen = 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			tc.edit(&cfg)
			assert.NoError(t, cfg.Validate())
		})
	}
}

func TestConfigTOMLKeys(t *testing.T) {
	const doc = `
alphabet = 3
prompt_len = 2
completion_len = 6
exact = false
train_prompts = 5
eval_prompts = 4
samples_per_prompt = 7
copy_reward = 2.5
repeat_penalty = 0.75
label_temperature = 0.25
beta = 0.1
demo_noise = 0.2
norm_tolerance = 1e-6
seed = 42
`
	cfg := Defaults()
	md, err := toml.Decode(doc, &cfg)
	require.NoError(t, err)
	require.Empty(t, md.Undecoded())
	want := Config{
		Alphabet: 3, PromptLen: 2, CompletionLen: 6, Exact: false, TrainPrompts: 5, EvalPrompts: 4,
		SamplesPerPrompt: 7, CopyReward: 2.5, RepeatPenalty: 0.75, LabelTemperature: 0.25, Beta: 0.1,
		DemoNoise: 0.2, NormTolerance: 1e-6, Seed: 42,
	}
	assert.Equal(t, want, cfg)
	assert.NoError(t, cfg.Validate())
}
