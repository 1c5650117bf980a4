// Package testexp holds experiment files small enough for unit tests.
package testexp

import "fmt"

// Tiny returns a comparison on the built-in task small enough for a unit
// test: 2 symbols, 8 completions per prompt, a one-layer width-8 model, DPO
// and KTO for one epoch, evaluated and logged every step. run is the body
// of its [run] table; checkpointEvery is train.checkpoint_every.
func Tiny(run string, checkpointEvery int) string {
	return fmt.Sprintf(`
[run]
%s
[task]
alphabet = 2
prompt_len = 2
completion_len = 3
train_prompts = 3
eval_prompts = 1
samples_per_prompt = 8
demonstrations = 64
sft_steps = 10
sft_batch = 16
sft_lr = 1e-2
frontier_betas = [2.0, 0.5, 0.1]
[model]
context = 5
width = 8
heads = 2
layers = 1
mlp_mult = 2
[optimizer]
lr = 1e-2
[train]
epochs = 1
batch_size = 8
schedule = "constant"
log_every = 1
eval_every = 1
checkpoint_every = %d
[[objective]]
name = "dpo"
[objective.params]
beta = 0.5
[[objective]]
name = "kto"
[objective.params]
beta = 0.5
`, run, checkpointEvery)
}
