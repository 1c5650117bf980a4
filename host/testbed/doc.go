// Package testbed builds a preference-optimisation task small enough to
// enumerate every completion, so the KL-regularised optimum and each policy's
// distance from it are exact numbers rather than estimates.
//
// # Token space
//
// The vocabulary is the alphabet alone: ids 0..A−1, with no EOS, padding or
// separator. A prompt is a fixed-length sequence of P ids and a completion a
// fixed-length sequence of L ids, so a model whose next-token softmax ranges
// over exactly the A symbols defines a proper distribution over the A^L
// completions of every prompt: Σ_y π(y|x) = 1 with no mass lost to other
// lengths. Completions are enumerated in canonical order, completion
// y = (y_0..y_{L−1}) having index Σ_j y_j·A^{L−1−j} (base-A digits, y_0 most
// significant). Exact mode (the default) requires A^L ≤ [MaxCompletions].
//
// # Variable lengths
//
// With variable_length the vocabulary gains an end-of-sequence id A (the
// experiment's task tokenizer shows it as <eos>). A completion is l ∈ [0, L]
// symbols y = (y_0..y_{l−1}) followed by EOS when l < L; at l = L the
// sequence ends without one. Every path of a next-token distribution over
// the A+1 ids then ends in exactly one completion (an EOS ends it, and so
// does the L-th symbol: a sampler stops there), so Σ_y π(y|x) = 1 still
// holds exactly over the Σ_{l=0..L} A^l completions, whose token sequences
// hold P + L tokens at most. The canonical order is shortlex: shorter
// completions first, then base-A value, so completion y of l symbols has
// index Σ_{i<l} A^i + Σ_{j<l} y_j·A^{l−1−j} (the empty completion, EOS
// alone, is 0). [Task.Completion] returns the tokens with their EOS,
// [Task.Len] gives |y| = l, and a length-normalised objective sees l + 1
// tokens for l < L. Demonstrations end before each position with
// probability demo_stop.
//
// # Reward
//
// The ground-truth reward of completion y for prompt x is
//
//	r*(x,y) = c·(1/L)·Σ_j [y_j = x_{j mod P}] − ρ·(1/(L−1))·Σ_{j≥1} [y_j = y_{j−1}]
//
// with c = copy_reward and ρ = repeat_penalty (the second term is absent when
// L = 1). With variable lengths both sums run over the completion's own l
// symbols but keep the divisors L and L−1, so a longer completion can earn
// more copy reward; EOS earns nothing. The first feature rewards copying the prompt cyclically, which the
// reference learns from noisy-copy demonstrations and a small transformer
// learns easily; the second penalises immediate repeats, which the
// demonstrations never teach and which conflicts with copying wherever the
// prompt itself repeats a symbol (including across the cyclic wrap), so the
// optimum must trade reward against distance from the reference.
//
// # The optimum
//
// For temperature β > 0 the maximiser of J_β(π) = E_π[r*] − β·KL(π‖π_ref) is
//
//	π*_β(y|x) = π_ref(y|x)·exp(r*(x,y)/β) / Z_β(x),  Z_β(x) = Σ_y π_ref(y|x)·exp(r*(x,y)/β)
//
// and for every π, β·log Z_β(x) − J_β(π) = β·KL(π‖π*_β) ≥ 0 (the free-energy
// gap). [Task.Evaluate] computes all of these exactly, in nats, per eval
// prompt and averaged over eval prompts.
//
// # Preference labels
//
// Pairs are labelled by Bradley–Terry with r*: P(y1 ≻ y2) = σ((r*(y1) −
// r*(y2))/t) for label temperature t > 0; t = 0 always prefers the higher
// reward and breaks exact ties by a fair coin. At t = 1, r* is the
// Bradley–Terry reward in its own units, so DPO at β trained on these labels
// has π*_β as its population optimum.
//
// Three knobs make the training labels depart from that: label_length_bias
// b labels by Bradley–Terry on r*(y) + b·|y|/L (labellers who favour long
// answers), label_flip f flips each label with probability f, and
// pair_source draws the two completions from the uniform distribution or a
// copier of noise pair_noise instead of π_ref. With unbiased labels at
// t = 1 DPO's population optimum is π*_β for any source that gives every
// completion mass; finite off-policy data is another matter. The evaluation always uses r*, and eval pairs keep
// π_ref and unbiased labels.
//
// # Monte Carlo
//
// Exact evaluation is the default. A task built with exact = false may have
// any completion length; only sampling-based quantities are then available
// ([Task.EstimateMC], [Task.Demonstrations], [Task.Reward]), and every
// method that enumerates completions reports [ErrNotExact] or panics as its
// documentation says.
package testbed
