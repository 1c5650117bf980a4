// Package core is the contract between the prefopt host and a preference
// objective: the batch an objective reads, the result it returns, the spec it
// publishes, and the errors both sides exchange. It knows nothing about models
// or training.
//
// # The math contract
//
// Every objective is a function of per-sequence log-probabilities. For a
// completion y of a prompt x, the host supplies log π(y|x) **summed over the
// completion tokens** (prompt and padding excluded) under the policy and, when
// asked, under the frozen reference model, together with the completion token
// counts. An objective that averages per token divides by those counts itself.
// ORPO-style objectives may also ask for the chosen prompt's summed log-prob
// and its token count.
//
// An objective returns
//   - Loss: a scalar to minimise;
//   - Losses: one value per example (per pair for paired data, per completion
//     for unpaired data) whose arithmetic mean is Loss;
//   - Grads: ∂Loss/∂x for every policy input x it read, one slice per input
//     with one entry per element of that input (zeros where the input does not
//     influence the loss, e.g. KTO's detached KL estimate);
//   - Metrics: scalars named as TRL names them ("rewards/chosen", ...).
//
// Reference log-probs, and anything an objective treats as a constant (KTO's
// KL reference point z0, for instance), receive no gradient: they are not
// keys of Grads. The host back-propagates through the model with the
// surrogate cost Σ_x Σ_i Grads[x][i]·x_i + Σ_x Σ_i Σ_t TokenGrads[x][i][t]·x_i,t.
//
// # Per-token inputs
//
// An objective that weighs tokens individually may ask for per-token
// log-probs (policy_chosen_token_logps, ...; Kind TokenFloat): for example i
// an array of exactly Lengths[i] values, the log-prob of each completion
// token in order, where Lengths is the field's length input
// (chosen_lengths, ...), which the objective then reads too. The gradient of
// a per-token policy input is returned in Result.TokenGrads with the same
// ragged shape. WPO-style weights computed by the host without gradient
// (policy_chosen_wpo_logps, ...) are ordinary per-example inputs.
//
// # Data columns
//
// An objective may read numeric per-example columns of the data set, such
// as a pair's score_chosen and score_rejected, as the inputs
// "column.<key>" (see [ColumnPrefix]). They are floats, one per example in
// the layout of the objective's other inputs, finite, and never receive a
// gradient. The host reads exactly the columns the objectives ask for.
//
// # Parameters
//
// Parameters are scalars (float, int, bool, string) or lists of floats, ints
// or strings (TRL's loss_type = ["sigmoid", "sft"] with loss_weights =
// [1.0, 0.5]). Bounds and enums of a list apply to each element; a list may
// bound its length and require the length of another list. Configuration
// files give lists as TOML arrays, command lines as JSON ([ParseParamJSON]).
//
// # Forward compatibility
//
// Inputs are named (see [Fields]). An objective declares, once configured,
// the names it reads ([Objective.Inputs]); the host computes only those and
// refuses an objective that needs a name it does not know. New inputs are new
// names: old objectives never ask for them and old hosts refuse new objectives
// with a clear message instead of sending them a batch they cannot use.
// Per-token inputs, data columns and list parameters were added this way
// within protocol version 1.
package core
