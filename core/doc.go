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
// surrogate cost Σ_x Σ_i Grads[x][i]·x_i.
//
// # Forward compatibility
//
// Inputs are named (see [Fields]). An objective declares, once configured,
// the names it reads ([Objective.Inputs]); the host computes only those and
// refuses an objective that needs a name it does not know. New inputs are new
// names: old objectives never ask for them and old hosts refuse new objectives
// with a clear message instead of sending them a batch they cannot use.
package core
