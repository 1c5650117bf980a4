// Package model is a decoder-only causal transformer built on gorgonia that
// scores token sequences: it returns sums of per-token log-probabilities and
// the gradient of any linear combination of those sums with respect to every
// parameter.
//
// Architecture (GPT-2 style, pre-LayerNorm):
//
//	x₀      = tok[ids] + pos[t]
//	xₗ'     = xₗ + Proj(Attn(LN₁(xₗ)))            causal, multi-head, qkv fused
//	xₗ₊₁    = xₗ' + Down(GELU(Up(LN₂(xₗ'))))      hidden width = Width·MLPMult
//	logits  = LN_f(x_L) · head                      head has no bias
//	log p   = logits − logsumexp(logits)
//
// LayerNorm uses ε = 1e-5 (PyTorch's default) and the biased variance.
// GELU is the tanh approximation, identical to PyTorch's
// nn.GELU(approximate="tanh"): 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))),
// computed as x·σ(2√(2/π)·(x+0.044715·x³)).
// Attention scores are scaled by 1/√(Width/Heads).
//
// Linear weights are stored [in, out] (the transpose of PyTorch's
// nn.Linear.weight), so a layer computes y = x·W + b.
//
// The training graph is gorgonia's, built from matrix products, adds and
// sums (ops whose gradients this package's tests check against finite
// differences) and from fused ops written here for the embeddings,
// LayerNorm, GELU, linear layers (alone and with their residual add),
// causal attention and the target log-probs, each with a hand-derived
// backward op also checked against finite differences. The machine runs
// on gorgonia's CPU engine with its Add shared over the cores, and the
// fused ops share their work over the cores through one pool of
// goroutines; neither changes any value. Softmax and log-softmax are formed from the row maximum,
// because gorgonia's SoftMax overflows on rows far from the tensor's first
// element.
//
// Three types do the work. [Weights] holds the parameters as named float32
// tensors. [Scorer] runs the forward pass only (reference model,
// evaluation, [Scorer.ScoreAll] for any number of sequences) without a
// graph, computing each distinct token prefix of a call once. [Runner]
// runs a training step in two calls: [Runner.Forward] returns the selected
// log-prob sums and pauses the machine; [Runner.Backward] takes
// g = ∂L/∂out from the objective and resumes the same run through the
// backward pass, so the forward pass is computed once per step.
//
// # One arithmetic for policy and reference
//
// At equal weights and dtype, [Runner.Forward], [Scorer.Score] and
// [Scorer.ScoreAll] give a sequence the same float64 sums bit for bit,
// whatever else is in the call, at whichever row, with whichever
// [WithLength]: a frozen reference that equals the policy scores exactly
// as the policy does, so margins and reward accuracies at step 0 are
// exactly those of equal models. Both run each position through the same
// functions, whose reduction orders depend only on the model's shape:
//
//	x₀       F(tok + pos)
//	LayerNorm μ, σ² and r = (σ²+ε)^(−1/2) in float64, row order;
//	         x̂ = F((x−μ)·r), then x̂·gain + bias in F
//	x·W + b  F(gemm) + b: gemm sums each element over k in an order set by
//	         n·k and k alone (never by the number of rows or a row's place)
//	attention per head: scores q·k_u and outputs Σ_u p_u·v_u as gemm
//	         kernel sums whatever the number of positions (gemmFixed);
//	         softmax in float64 (exponentials by exp32 for float32), keys
//	         ascending, weights rounded to F
//	residual F(x + y); GELU elementwise: in float64 rounded to F for
//	         float64, in float32 arithmetic with a polynomial exp for
//	         float32
//	log p    float64(logit_t) − logsumexp(logits) in float64, vocabulary order
//	outputs  float64 sums, spans in order, positions ascending
//
// F is float32, or float64 with [WithFloat64]. The padding after a
// shorter row is computed but never read by the row's positions, and
// prefixes shared by several rows are computed once by the scorer: both
// change no bit of any sum. Results are reproducible bit for bit on one
// machine and GOARCH; [NumericsVersion] changes whenever they could change.
//
// Matrix products run on packed AVX2+FMA kernels on amd64 CPUs that have
// them (gonum's pure-Go BLAS elsewhere). The package installs them as
// gorgonia's BLAS at init (gorgonia.Use), which is process-wide: every
// gorgonia graph in the process then uses them for Sgemm and Dgemm.
// Results are reproducible bit for bit on one machine; they differ from
// gonum's in the last bits.
//
// Outputs are defined by a [Batch]: rows of token ids and spans that add
// the log-probs of runs of tokens into outputs, e.g. completion sums of the
// chosen and rejected rows and, for ORPO, prompt sums of the chosen rows.
package model
