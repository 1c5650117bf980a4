package cli

import (
	"github.com/spf13/cobra"

	"github.com/prefopt/prefopt/host/generate"
)

func generateCmd(e *env) *cobra.Command {
	o := generate.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "generate CHECKPOINT [--prompt TEXT | --prompts FILE.jsonl] [--n N] [--temperature T] [--json]",
		Short: "sample completions from a checkpoint, with their log-probs",
		Long: `Samples completions from the policy in CHECKPOINT (a checkpoint directory,
or a run directory: its latest checkpoint), with a KV cache, seeded and
reproducible bit for bit, and prints each with its log-prob under the
policy and, with --reference, under a reference checkpoint (and their
difference). Temperature 0 is greedy; --top-k and --top-p restrict the
sampled tokens. Generation stops at EOS, after --max-tokens tokens, or when
the sequence fills the model's context (the stop reason says which). A
prompt longer than the context is an error.`,
		Args: exactArgs(1, "one checkpoint"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Prompt != "" && o.Prompts != "" {
				return usagef("generate: give --prompt or --prompts, not both")
			}
			o.Checkpoint = args[0]
			return generate.Run(cmd.Context(), o, e.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Prompt, "prompt", o.Prompt, "prompt text")
	f.StringVar(&o.Prompts, "prompts", o.Prompts, "JSONL `FILE` of {\"prompt\": TEXT} lines")
	f.IntVar(&o.N, "n", o.N, "samples per prompt")
	f.Float64Var(&o.Temperature, "temperature", o.Temperature, "sampling temperature; 0 is greedy")
	f.IntVar(&o.TopK, "top-k", o.TopK, "sample among the k most likely tokens; 0 is off")
	f.Float64Var(&o.TopP, "top-p", o.TopP, "sample among the most likely tokens holding probability p; 1 is off")
	f.IntVar(&o.MaxTokens, "max-tokens", o.MaxTokens, "completion tokens at most, EOS included")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the sampling")
	f.StringVar(&o.Reference, "reference", o.Reference, "reference `CHECKPOINT` to score the samples under")
	f.BoolVar(&o.JSON, "json", o.JSON, "print one JSON object per sample")
	return cmd
}
