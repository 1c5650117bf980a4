// Package data reads preference and fine-tuning data in TRL's JSONL formats,
// tokenizes and truncates it the way TRL's trainers do, and orders it into
// batches.
//
// # Formats
//
// One JSON object per line; blank lines are skipped; a UTF-8 byte order mark
// before the first line is ignored. The keys of an object select its format
// (TRL "standard" dataset types):
//
//	paired             {"prompt": str, "chosen": str, "rejected": str}
//	implicit           {"chosen": str, "rejected": str}
//	unpaired           {"prompt": str, "completion": str, "label": bool}
//	text               {"text": str}
//	prompt_completion  {"prompt": str, "completion": str}
//
// Reading is strict: every line of a file has the keys of the format of its
// first non-blank line (or of the format forced by [ReadOptions]), no other
// keys, no repeated key, values of the right JSON type, non-empty chosen,
// rejected, completion and text. Prompts may be empty. Every problem is a
// [*LineError] "FILE:LINE: message". TRL's conversational form (values that
// are lists of {"role", "content"} messages, or a "messages" key) is refused
// with a message saying so: it needs a model's chat template, which prefopt
// does not apply.
//
// # Data columns
//
// An objective may read numeric per-example columns of the data, such as
// UltraFeedback's "score_chosen" and "score_rejected". They are read only
// when [ReadOptions.Columns] names them: then every line must hold each as a
// finite JSON number (else a *LineError naming the line and the column),
// and the keys named are exempt from the strict key check. The values
// follow their example through [Unpair] (both halves of a pair keep them),
// tokenizing, truncation and Subset; [PairedSet] and [UnpairedSet] hold
// them by name in [Columns], one value per example. The host passes column
// c to an objective as the input core.ColumnInput(c).
//
// # Implicit prompts
//
// For the implicit format the prompt is extracted as TRL's extract_prompt
// does (trl/data_utils.py), on Unicode code points: see [ExtractPrompt].
//
// # Tokens and truncation
//
// A prompt is tokenized to BOS (when the tokenizer has one) followed by its
// ids; a completion to its ids followed by EOS (when the tokenizer has one).
// Preference data is then truncated by [Truncation.Truncate], the rule of
// TRL's DPOTrainer.tokenize_row up to TRL 0.11 (KTOTrainer's differs only in
// where BOS and EOS are added): the prompt is shortened first, then the
// completions. A completion left with no tokens
// is an error naming its line. Each example becomes a [Row]: its tokens and
// the number of leading prompt tokens.
//
// # Order
//
// [Batches] shuffles with a PCG generator seeded from (seed, epoch), so the
// same seed and epoch always give the same batches; [Split] draws a held-out
// evaluation set the same way.
package data
