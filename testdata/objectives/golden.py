#!/usr/bin/env python3
"""Independent reference values for the prefopt objectives.

Regenerate golden.json (from the repository root) with

    python3 testdata/objectives/golden.py > testdata/objectives/golden.json

Python 3 standard library only. Every objective is written the way TRL's
PyTorch code reads (trl DPOTrainer._compute_loss with every loss type,
loss_weights, f_divergence_type, use_weighting and ld_alpha, and
KTOTrainer's kto and apo_zero_unpaired losses, at huggingface/trl f2cd577;
ORPOTrainer.odds_ratio_loss, CPOTrainer.cpo_loss with loss_type "simpo", and
SimPOTrainer.simpo_loss from github.com/princeton-nlp/SimPO; χPO from
Algorithm 1 of arXiv:2407.13399; Cal-DPO from github.com/Cal-DPO/Cal-DPO), on
whole-batch lists, in decimal arithmetic at 50 significant digits (more for
losses above 1, see evaluate). Inputs are the exact binary values of the
float64 literals below (Decimal(float)); per-token inputs are floats computed
once by split_tokens.

Gradients are NOT hand-derived: they are central finite differences of the
batch loss in 50-digit decimal arithmetic with step 1e-20 (truncation error
~h^2 = 1e-40, rounding error ~1e-50/1e-20 = 1e-30), so they check the Go
closed forms independently. Quantities TRL detaches (KTO's KL estimate) are
computed once from the unperturbed batch and held fixed, as .detach() does.

Each case records the loss, per-example losses (the decomposition whose mean
is the loss), gradients for each policy input (token_grads for per-token
inputs), and TRL-named metrics, each rounded once to the nearest float64. The "mathx" section holds reference
values of sigmoid, log-sigmoid and log(1-e^x).
"""

import json
import sys
from decimal import Decimal as D, getcontext, localcontext

getcontext().prec = 50

STEP = D("1e-20")
ONE, ZERO, HALF = D(1), D(0), D("0.5")


def exp(x):
    return x.exp()


def log(x):
    return x.ln()


# Both branches are exact identities; the split keeps exp's argument
# non-positive, so scores of order e^300 (alpha_divergence) do not overflow
# the decimal context.
def sigmoid(x):
    if x >= 0:
        return ONE / (ONE + exp(-x))
    return exp(x) / (ONE + exp(x))


def logsigmoid(x):
    if x >= 0:
        return -log(ONE + exp(-x))
    return x - log(ONE + exp(x))


def softplus(x):
    return -logsigmoid(-x)


def relu(x):
    return x if x > 0 else ZERO


def mean(xs):
    return sum(xs, ZERO) / D(len(xs))


def dec(xs):
    return [D(x) for x in xs]


# ---------------------------------------------------------------- objectives
# Each takes a batch dict of Decimal lists (lengths as ints) and params, and
# returns (loss, per-example losses, metrics).

def paired_metrics(chosen_rewards, rejected_rewards, chosen_logps, rejected_logps):
    return {
        "rewards/chosen": mean(chosen_rewards),
        "rewards/rejected": mean(rejected_rewards),
        "rewards/accuracies": mean([ONE if c > r else ZERO for c, r in zip(chosen_rewards, rejected_rewards)]),
        "rewards/margins": mean([c - r for c, r in zip(chosen_rewards, rejected_rewards)]),
        "logps/chosen": mean(chosen_logps),
        "logps/rejected": mean(rejected_logps),
    }


def ld_aggregate(tokens, shared, ld_alpha):
    # dpo_trainer._compute_loss: shared_logps + ld_alpha * tail_logps, where the
    # shared mask holds completion positions 1..min(len_c, len_r).
    return sum(tokens[:shared], ZERO) + ld_alpha * sum(tokens[shared:], ZERO)


def f_scores(logratios, p):
    # dpo_trainer._compute_loss, f_divergence_type branch. forward_kl takes the
    # alpha_divergence clamp (exponent <= 80) that prefopt documents; TRL has
    # none there.
    fdiv = p.get("f_divergence_type", "reverse_kl")
    if fdiv == "reverse_kl":
        return list(logratios)
    if fdiv == "forward_kl":
        return [-exp(min(-r, D(80))) for r in logratios]
    if fdiv == "js_divergence":
        return [logsigmoid(r) for r in logratios]
    if fdiv == "alpha_divergence":
        a = D(p.get("f_alpha_divergence_coef", 0.5))
        if abs(a - 1) < D("1e-6"):
            return list(logratios)
        coef = 1 / (a - 1)
        return [exp(min((a - 1) * r, D(80))) * coef for r in logratios]
    raise ValueError(fdiv)


def dpo(b, p):
    """trl/trainer/dpo_trainer.py _compute_loss at huggingface/trl f2cd577."""
    beta = D(p.get("beta", 0.1))
    ls = D(p.get("label_smoothing", 0.0))
    loss_types = p.get("loss_type", ["sigmoid"])
    loss_weights = [D(w) for w in p.get("loss_weights", [1.0] * len(loss_types))]
    ld_alpha = p.get("ld_alpha")
    ref_free = p.get("reference_free", False)
    if ld_alpha is None:
        chosen_logps = b["policy_chosen_logps"]
        rejected_logps = b["policy_rejected_logps"]
        n = len(chosen_logps)
        if ref_free:
            ref_chosen_logps, ref_rejected_logps = [ZERO] * n, [ZERO] * n
        else:
            ref_chosen_logps, ref_rejected_logps = b["reference_chosen_logps"], b["reference_rejected_logps"]
        chosen_token_total = sum(chosen_logps, ZERO)
    else:
        a = D(ld_alpha)
        shared = [min(c, r) for c, r in zip(b["chosen_lengths"], b["rejected_lengths"])]
        chosen_logps = [ld_aggregate(t, s, a) for t, s in zip(b["policy_chosen_token_logps"], shared)]
        rejected_logps = [ld_aggregate(t, s, a) for t, s in zip(b["policy_rejected_token_logps"], shared)]
        n = len(chosen_logps)
        if ref_free:
            ref_chosen_logps, ref_rejected_logps = [ZERO] * n, [ZERO] * n
        else:
            ref_chosen_logps = [ld_aggregate(t, s, a) for t, s in zip(b["reference_chosen_token_logps"], shared)]
            ref_rejected_logps = [ld_aggregate(t, s, a) for t, s in zip(b["reference_rejected_token_logps"], shared)]
        chosen_token_total = sum([sum(t, ZERO) for t in b["policy_chosen_token_logps"]], ZERO)
    chosen_logratios = [c - r for c, r in zip(chosen_logps, ref_chosen_logps)]
    rejected_logratios = [c - r for c, r in zip(rejected_logps, ref_rejected_logps)]
    chosen_scores = f_scores(chosen_logratios, p)
    rejected_scores = f_scores(rejected_logratios, p)
    delta_score = [c - r for c, r in zip(chosen_scores, rejected_scores)]

    def smoothed(delta):
        return [-logsigmoid(beta * d) * (1 - ls) - logsigmoid(-beta * d) * ls for d in delta]

    loss, losses = ZERO, [ZERO] * n
    for loss_type, w in zip(loss_types, loss_weights):
        if loss_type == "sigmoid":
            # prefopt keeps conservative DPO's label smoothing; TRL ignores it here.
            psl = smoothed(delta_score)
        elif loss_type == "hinge":
            for x in delta_score:
                assert abs(1 - beta * x) > D("1e-6"), "hinge kink too close to a golden point"
            psl = [relu(1 - beta * x) for x in delta_score]
        elif loss_type in ("ipo", "sigmoid_norm"):
            q = [c / D(lc) - r / D(lr) for c, r, lc, lr in
                 zip(chosen_scores, rejected_scores, b["chosen_lengths"], b["rejected_lengths"])]
            if loss_type == "ipo":
                psl = [(x - 1 / (2 * beta)) ** 2 for x in q]
            else:
                psl = [-logsigmoid(beta * x) for x in q]
        elif loss_type == "exo_pair":
            psl = [sigmoid(beta * x) * (logsigmoid(beta * x) - log(1 - ls))
                   + sigmoid(-beta * x) * (logsigmoid(-beta * x) - log(ls)) for x in delta_score]
        elif loss_type == "nca_pair":
            psl = [-logsigmoid(beta * c) - HALF * logsigmoid(-beta * c) - HALF * logsigmoid(-beta * r)
                   for c, r in zip(chosen_scores, rejected_scores)]
        elif loss_type == "robust":
            psl = [(-(1 - ls) * logsigmoid(beta * x) + ls * logsigmoid(-beta * x)) / (1 - 2 * ls) for x in delta_score]
        elif loss_type == "bco_pair":
            psl = [-logsigmoid(beta * c) - logsigmoid(-beta * r) for c, r in zip(chosen_scores, rejected_scores)]
        elif loss_type == "sppo_hard":
            psl = [(c - HALF / beta) ** 2 + (r + HALF / beta) ** 2 for c, r in zip(chosen_scores, rejected_scores)]
        elif loss_type == "aot":
            logratios = sorted(c - r for c, r in zip(chosen_logps, rejected_logps))
            ref_logratios = sorted(c - r for c, r in zip(ref_chosen_logps, ref_rejected_logps))
            psl = smoothed([a - r for a, r in zip(logratios, ref_logratios)])
        elif loss_type == "aot_unpaired":
            psl = smoothed([c - r for c, r in zip(sorted(chosen_logratios), sorted(rejected_logratios))])
        elif loss_type == "apo_zero":
            psl = [1 - sigmoid(beta * c) + sigmoid(beta * r) for c, r in zip(chosen_logratios, rejected_logratios)]
        elif loss_type == "apo_down":
            psl = [sigmoid(beta * c) + 1 - sigmoid(beta * x) for c, x in zip(chosen_logratios, delta_score)]
        elif loss_type == "discopop":
            tau = D(p.get("discopop_tau", 0.05))
            psl = []
            for x in delta_score:
                logits = x * beta
                m = sigmoid(logits / tau)
                # TRL: exp(-logits) * m, which is exp(-logits - softplus(-logits/tau)); the
                # latter form stays finite for logits far below 0, where TRL's is inf * 0.
                psl.append(-logsigmoid(logits) * (1 - m) + exp(-logits - softplus(-logits / tau)))
        elif loss_type == "sft":
            psl = [-chosen_token_total / D(sum(b["chosen_lengths"]))] * n
        else:
            raise ValueError(loss_type)
        if p.get("use_weighting", False):
            # TRL: policy_weights = clamp(exp(mean_c + mean_r), max=1), the
            # inputs being means over completion tokens.
            weights = [min(D(1), exp(D(wc) + D(wr))) for wc, wr in
                       zip(b["policy_chosen_wpo_logps"], b["policy_rejected_wpo_logps"])]
            psl = [x * v for x, v in zip(psl, weights)]
        loss += mean(psl) * w
        losses = [l + w * x for l, x in zip(losses, psl)]
    chosen_rewards = [beta * r for r in chosen_logratios]
    rejected_rewards = [beta * r for r in rejected_logratios]
    metrics = paired_metrics(chosen_rewards, rejected_rewards, chosen_logps, rejected_logps)
    return loss, losses, metrics


def ipo(b, p):
    beta = D(p.get("beta", 0.1))
    keys = ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps"]
    lp = {k: list(b[k]) for k in keys}
    if p.get("length_normalize", True):
        # concatenated_forward: all_logps / size_completion for loss_type ipo,
        # for the policy and the reference model alike.
        for k in keys:
            lens = b["chosen_lengths"] if "chosen" in k else b["rejected_lengths"]
            lp[k] = [x / D(n) for x, n in zip(lp[k], lens)]
    pi_logratios = [c - r for c, r in zip(lp["policy_chosen_logps"], lp["policy_rejected_logps"])]
    ref_logratios = [c - r for c, r in zip(lp["reference_chosen_logps"], lp["reference_rejected_logps"])]
    logits = [a - r for a, r in zip(pi_logratios, ref_logratios)]
    losses = [(x - 1 / (2 * beta)) ** 2 for x in logits]
    chosen_rewards = [beta * (c - r) for c, r in zip(lp["policy_chosen_logps"], lp["reference_chosen_logps"])]
    rejected_rewards = [beta * (c - r) for c, r in zip(lp["policy_rejected_logps"], lp["reference_rejected_logps"])]
    metrics = paired_metrics(chosen_rewards, rejected_rewards, lp["policy_chosen_logps"], lp["policy_rejected_logps"])
    return mean(losses), losses, metrics


def kto_kl(b):
    kl = mean([a - r for a, r in zip(b["policy_kl_logps"], b["reference_kl_logps"])])
    return max(kl, ZERO)  # .clamp(min=0), then detached


def kto(b, p, kl):
    beta = D(p.get("beta", 0.1))
    dw = D(p.get("desirable_weight", 1.0))
    uw = D(p.get("undesirable_weight", 1.0))
    # Rows of the batch in order; TRL concatenates chosen then rejected losses
    # and takes the mean, which equals the mean over rows in any order.
    losses, rewards = [], []
    for pol, ref, label in zip(b["policy_logps"], b["reference_logps"], b["labels"]):
        logratio = pol - ref
        if p.get("loss_type", "kto") == "apo_zero_unpaired":
            # kto_trainer: 1 - sigmoid(beta * chosen_logratios), sigmoid(beta * rejected_logratios)
            if label:
                losses.append(dw * (1 - sigmoid(beta * logratio)))
            else:
                losses.append(uw * sigmoid(beta * logratio))
        elif label:
            losses.append(dw * (1 - sigmoid(beta * (logratio - kl))))
        else:
            losses.append(uw * (1 - sigmoid(beta * (kl - logratio))))
        rewards.append(beta * logratio)
    chosen = [i for i, l in enumerate(b["labels"]) if l]
    rejected = [i for i, l in enumerate(b["labels"]) if not l]
    metrics = {"kl": kl, "count/chosen": D(len(chosen)), "count/rejected": D(len(rejected))}
    if chosen:
        metrics["rewards/chosen"] = mean([rewards[i] for i in chosen])
        metrics["logps/chosen"] = mean([b["policy_logps"][i] for i in chosen])
    if rejected:
        metrics["rewards/rejected"] = mean([rewards[i] for i in rejected])
        metrics["logps/rejected"] = mean([b["policy_logps"][i] for i in rejected])
    if chosen and rejected:
        metrics["rewards/margins"] = metrics["rewards/chosen"] - metrics["rewards/rejected"]
    return mean(losses), losses, metrics


def orpo(b, p):
    beta = D(p.get("beta", 0.1))
    # get_batch_logps(average_log_prob=True)
    chosen_logps = [x / D(n) for x, n in zip(b["policy_chosen_logps"], b["chosen_lengths"])]
    rejected_logps = [x / D(n) for x, n in zip(b["policy_rejected_logps"], b["rejected_lengths"])]
    log_odds = [(c - r) - (log(1 - exp(c)) - log(1 - exp(r))) for c, r in zip(chosen_logps, rejected_logps)]
    ratio = [logsigmoid(x) for x in log_odds]
    or_losses = [beta * r for r in ratio]
    # cross_entropy over the chosen prompt + completion tokens, mean over all of them
    total_logp = sum(b["policy_chosen_prompt_logps"], ZERO) + sum(b["policy_chosen_logps"], ZERO)
    total_tokens = D(sum(b["chosen_prompt_lengths"]) + sum(b["chosen_lengths"]))
    nll = -total_logp / total_tokens
    loss = nll - mean(or_losses)
    n = D(len(chosen_logps))
    losses = [-l - n * (pp + c) / total_tokens
              for l, pp, c in zip(or_losses, b["policy_chosen_prompt_logps"], b["policy_chosen_logps"])]
    metrics = paired_metrics([beta * c for c in chosen_logps], [beta * r for r in rejected_logps],
                             chosen_logps, rejected_logps)
    metrics["nll_loss"] = nll
    metrics["log_odds_ratio"] = mean(ratio)
    metrics["log_odds_chosen"] = mean(log_odds)
    return loss, losses, metrics


def simpo(b, p):
    beta = D(p.get("beta", 2.0))
    ls = D(p.get("label_smoothing", 0.0))
    sft_weight = D(p.get("sft_weight", 0.0))
    chosen_logps = [x / D(n) for x, n in zip(b["policy_chosen_logps"], b["chosen_lengths"])]
    rejected_logps = [x / D(n) for x, n in zip(b["policy_rejected_logps"], b["rejected_lengths"])]
    pi_logratios = [c - r for c, r in zip(chosen_logps, rejected_logps)]
    if "gamma" in p:
        # trl CPOTrainer: logits = pi_logratios - simpo_gamma / beta
        logits = [x - D(p["gamma"]) / beta for x in pi_logratios]
    else:
        # SimPOTrainer.simpo_loss: logits = pi_logratios - gamma_beta_ratio
        logits = [x - D(p.get("gamma_beta_ratio", 0.5)) for x in pi_logratios]
    losses = [-logsigmoid(beta * x) * (1 - ls) - logsigmoid(-beta * x) * ls for x in logits]
    total_tokens = D(sum(b["chosen_lengths"]))
    nll = -sum(b["policy_chosen_logps"], ZERO) / total_tokens
    loss = mean(losses) + sft_weight * nll
    n = D(len(losses))
    per_example = [l - sft_weight * n * c / total_tokens for l, c in zip(losses, b["policy_chosen_logps"])]
    metrics = paired_metrics([beta * c for c in chosen_logps], [beta * r for r in rejected_logps],
                             chosen_logps, rejected_logps)
    if sft_weight > 0:
        metrics["nll_loss"] = nll
    return loss, per_example, metrics


def chipo(b, p):
    """Algorithm 1 of Huang et al. 2024 (arXiv:2407.13399): -log sigmoid of
    clip_{2 R_max}[beta*phi(pi_c/ref_c) - beta*phi(pi_r/ref_r)], phi(z) = z + log z."""
    beta = D(p.get("beta", 0.1))
    bound = 2 * D(p.get("r_max", 1.0))
    rc = [c - r for c, r in zip(b["policy_chosen_logps"], b["reference_chosen_logps"])]
    rr = [c - r for c, r in zip(b["policy_rejected_logps"], b["reference_rejected_logps"])]
    phi = lambda r: exp(r) + r  # noqa: E731  z + log z at z = exp(r)
    logits = [max(min(beta * phi(c) - beta * phi(r), bound), -bound) for c, r in zip(rc, rr)]
    losses = [-logsigmoid(x) for x in logits]
    metrics = paired_metrics([beta * x for x in rc], [beta * x for x in rr],
                             b["policy_chosen_logps"], b["policy_rejected_logps"])
    return mean(losses), losses, metrics


def caldpo(b, p):
    """Cal-DPO (Xiao et al. 2024, arXiv:2412.14516), as preference_loss in
    Cal-DPO/Cal-DPO Pythia-2.8b-exp/trainers.py with shift 0.5: -log sigmoid(h_c - h_r)
    + (h_c - 1/(2 beta))^2 + (h_r + 1/(2 beta))^2 with h = log(pi/ref)."""
    beta = D(p.get("beta", 0.1))
    hc = [c - r for c, r in zip(b["policy_chosen_logps"], b["reference_chosen_logps"])]
    hr = [c - r for c, r in zip(b["policy_rejected_logps"], b["reference_rejected_logps"])]
    losses = [-logsigmoid(c - r) + (c - HALF / beta) ** 2 + (r + HALF / beta) ** 2 for c, r in zip(hc, hr)]
    metrics = paired_metrics([beta * x for x in hc], [beta * x for x in hr],
                             b["policy_chosen_logps"], b["policy_rejected_logps"])
    return mean(losses), losses, metrics


# -------------------------------------------------------------------- inputs

def dpo_reads(p):
    """The inputs objectives/dpo reads under params p (its Inputs)."""
    lt = p.get("loss_type", ["sigmoid"])
    if p.get("ld_alpha") is not None:
        reads = ["policy_chosen_token_logps", "policy_rejected_token_logps", "chosen_lengths", "rejected_lengths"]
        if not p.get("reference_free"):
            reads += ["reference_chosen_token_logps", "reference_rejected_token_logps"]
    else:
        reads = ["policy_chosen_logps", "policy_rejected_logps"]
        if not p.get("reference_free"):
            reads += ["reference_chosen_logps", "reference_rejected_logps"]
    if "sft" in lt:
        reads += ["chosen_lengths"]
    if "ipo" in lt or "sigmoid_norm" in lt:
        reads += ["chosen_lengths", "rejected_lengths"]
    if p.get("use_weighting"):
        reads += ["policy_chosen_wpo_logps", "policy_rejected_wpo_logps"]
    return reads


POLICY = {
    "dpo": lambda p: (["policy_chosen_token_logps", "policy_rejected_token_logps"] if p.get("ld_alpha") is not None
                      else ["policy_chosen_logps", "policy_rejected_logps"]),
    "ipo": lambda p: ["policy_chosen_logps", "policy_rejected_logps"],
    "orpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "policy_chosen_prompt_logps"],
    "simpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps"],
    "kto": lambda p: ["policy_logps"] + ([] if p.get("loss_type") == "apo_zero_unpaired" else ["policy_kl_logps"]),
    "chipo": lambda p: ["policy_chosen_logps", "policy_rejected_logps"],
    "caldpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps"],
}


def split_tokens(total, length, salt):
    """Deterministic per-token log-probs of one completion: total spread over
    length tokens with weights cycling through 0.5 .. 1.5 (float arithmetic;
    the floats are the inputs, their sum need not equal total)."""
    w = [0.5 + 0.25 * ((3 * t + salt) % 5) for t in range(length)]
    return [total * x / sum(w) for x in w]


def with_tokens(batch, wpo_chosen, wpo_rejected):
    out = dict(batch)
    for side in ("chosen", "rejected"):
        for model, salt in (("policy", 1), ("reference", 2)):
            out[f"{model}_{side}_token_logps"] = [
                split_tokens(x, n, salt + i) for i, (x, n) in
                enumerate(zip(batch[f"{model}_{side}_logps"], batch[f"{side}_lengths"]))]
    out["policy_chosen_wpo_logps"] = wpo_chosen
    out["policy_rejected_wpo_logps"] = wpo_rejected
    return out


PAIRED = {
    "paired_a": with_tokens({
        "policy_chosen_logps": [-12.5, -30.25, -7.0],
        "policy_rejected_logps": [-14.0, -28.5, -9.75],
        "reference_chosen_logps": [-13.0, -29.0, -8.0],
        "reference_rejected_logps": [-13.5, -29.5, -9.0],
        "chosen_lengths": [10, 25, 6],
        "rejected_lengths": [12, 20, 8],
        "policy_chosen_prompt_logps": [-20.5, -15.25, -30.0],
        "chosen_prompt_lengths": [8, 5, 12],
    }, wpo_chosen=[-4.5, -20.0, -1.5], wpo_rejected=[-9.0, -12.5, -3.0]),
    # Pair 0 is a tie (equal rewards): rewards/accuracies counts it as wrong.
    "paired_b": with_tokens({
        "policy_chosen_logps": [-3.1, -45.7, -0.9, -18.2],
        "policy_rejected_logps": [-3.1, -40.2, -6.3, -22.9],
        "reference_chosen_logps": [-3.4, -44.1, -1.7, -19.0],
        "reference_rejected_logps": [-3.4, -41.0, -5.2, -21.5],
        "chosen_lengths": [3, 40, 2, 15],
        "rejected_lengths": [3, 33, 7, 20],
        "policy_chosen_prompt_logps": [-11.3, -9.8, -25.1, -4.4],
        "chosen_prompt_lengths": [6, 4, 15, 3],
    }, wpo_chosen=[-0.5, -60.0, -0.25, -30.0], wpo_rejected=[-0.75, -50.0, -10.0, -45.0]),
}

# Log-ratio margins of about ±3000 nats (as in core/conformance's extreme
# batches, with shorter completions), WPO logs near 0 and −30. Only the
# variants listed with it use it.
PAIRED_EXTREME = {
    "paired_extreme": with_tokens({
        "policy_chosen_logps": [-1.0, -5000.0, -0.5, -3000.0],
        "reference_chosen_logps": [-2.0, -2000.0, -3000.0, -0.5],
        "policy_rejected_logps": [-5000.0, -1.0, -4.0, -1.0],
        "reference_rejected_logps": [-2000.0, -2.0, -1.0, -4.0],
        "chosen_lengths": [1, 40, 1, 30],
        "rejected_lengths": [40, 1, 1, 30],
    }, wpo_chosen=[-1e-07, -30.0, -1e-07, -30.0], wpo_rejected=[-30.0, -1e-07, -30.0, -1e-07]),
}

_UNPAIRED_BASE = {
    "policy_logps": [-20.5, -33.25, -8.0, -51.0, -14.75],
    "reference_logps": [-21.0, -30.5, -9.5, -49.0, -15.0],
    "policy_kl_logps": [-40.0, -60.5, -22.25, -70.0, -35.5],
}
UNPAIRED = {
    # KL estimate mean(2, -1.5, 2.75, 1.5, 0.5) = 1.05 > 0.
    "unpaired_kl_positive": dict(_UNPAIRED_BASE, labels=[True, False, True, False, True],
                                 reference_kl_logps=[-42.0, -59.0, -25.0, -71.5, -36.0]),
    # KL estimate mean(-3, -4.5, -1.75, -2, -2.5) < 0, clamped to 0.
    "unpaired_kl_clamped": dict(_UNPAIRED_BASE, labels=[False, True, True, False, False],
                                reference_kl_logps=[-37.0, -56.0, -20.5, -68.0, -33.0]),
    "unpaired_all_desirable": dict(_UNPAIRED_BASE, labels=[True] * 5,
                                   reference_kl_logps=[-42.0, -59.0, -25.0, -71.5, -36.0]),
    "unpaired_all_undesirable": dict(_UNPAIRED_BASE, labels=[False] * 5,
                                     reference_kl_logps=[-37.0, -56.0, -20.5, -68.0, -33.0]),
}

ALL_DPO_TYPES = ["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                 "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm"]

# (variant name, params[, batch names]); batches default to every batch of
# the objective's layout except the extreme ones.
VARIANTS = {
    "dpo": [
        ("sigmoid", {}),
        ("sigmoid_smoothed", {"beta": 0.5, "label_smoothing": 0.2}),
        ("hinge", {"loss_type": ["hinge"], "beta": 0.3}),
        ("robust", {"loss_type": ["robust"], "label_smoothing": 0.1}),
        ("reference_free", {"reference_free": True}),
        ("ipo", {"loss_type": ["ipo"]}),
        ("exo_pair", {"loss_type": ["exo_pair"], "label_smoothing": 1e-3}),
        ("nca_pair", {"loss_type": ["nca_pair"], "beta": 0.5}),
        ("bco_pair", {"loss_type": ["bco_pair"]}),
        ("sppo_hard", {"loss_type": ["sppo_hard"]}),
        ("aot", {"loss_type": ["aot"], "label_smoothing": 0.1}),
        ("aot_unpaired", {"loss_type": ["aot_unpaired"], "beta": 0.5}),
        ("apo_zero", {"loss_type": ["apo_zero"]}),
        ("apo_down", {"loss_type": ["apo_down"], "beta": 0.3}),
        ("discopop", {"loss_type": ["discopop"]}),
        ("discopop_tau", {"loss_type": ["discopop"], "discopop_tau": 0.5, "beta": 0.5}),
        ("sft", {"loss_type": ["sft"]}),
        ("sigmoid_norm", {"loss_type": ["sigmoid_norm"], "beta": 2.0}),
        ("rpo", {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5]}),
        ("mpo", {"loss_type": ["sigmoid", "bco_pair", "sft"], "loss_weights": [0.8, 0.2, 1.0]}),
        ("every_type", {"loss_type": ALL_DPO_TYPES, "label_smoothing": 0.05,
                        "loss_weights": [0.1 * (k + 1) for k in range(len(ALL_DPO_TYPES))]}),
        ("forward_kl", {"f_divergence_type": "forward_kl",
                        "loss_type": ["sigmoid", "ipo", "nca_pair", "sppo_hard", "apo_down"]}),
        ("js_divergence", {"f_divergence_type": "js_divergence",
                           "loss_type": ["sigmoid", "sigmoid_norm", "bco_pair", "discopop", "aot_unpaired"]}),
        ("alpha_divergence", {"f_divergence_type": "alpha_divergence",
                              "loss_type": ["sigmoid", "hinge", "ipo", "sppo_hard", "apo_zero"], "beta": 0.05}),
        ("alpha_divergence_0.2", {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.2,
                                  "loss_type": ["exo_pair", "robust", "aot"], "label_smoothing": 0.1}),
        ("wpo", {"use_weighting": True}),
        ("wpo_rpo_ipo", {"use_weighting": True, "loss_type": ["sigmoid", "sft", "ipo"], "loss_weights": [1.0, 0.3, 2.0]}),
        ("ld", {"ld_alpha": 0.5}),
        ("ld_zero_mix", {"ld_alpha": 0.0, "loss_type": ["sigmoid_norm", "aot", "sft"]}),
        ("ld_one", {"ld_alpha": 1.0, "loss_type": ["ipo", "apo_zero"]}),
        ("ld_wpo_js", {"ld_alpha": 0.3, "use_weighting": True, "f_divergence_type": "js_divergence",
                       "loss_type": ["sigmoid", "sft", "nca_pair"]}),
        ("ld_reference_free", {"ld_alpha": 0.5, "reference_free": True}),
        ("extreme_sigmoid", {"label_smoothing": 0.2}, ["paired_extreme"]),
        ("extreme_discopop", {"loss_type": ["discopop"]}, ["paired_extreme"]),
        ("extreme_mix", {"loss_type": ["exo_pair", "robust", "nca_pair", "bco_pair", "apo_zero", "apo_down", "aot",
                                       "aot_unpaired"], "label_smoothing": 1e-3}, ["paired_extreme"]),
        ("extreme_forward_kl", {"f_divergence_type": "forward_kl", "loss_type": ["sigmoid", "sppo_hard", "ipo"]},
         ["paired_extreme"]),
        ("extreme_alpha", {"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.9,
                           "loss_type": ["sigmoid", "discopop"]}, ["paired_extreme"]),
        ("extreme_js_wpo", {"f_divergence_type": "js_divergence", "use_weighting": True,
                            "loss_type": ["sigmoid", "sft", "sigmoid_norm"]}, ["paired_extreme"]),
        ("extreme_ld", {"ld_alpha": 0.25, "loss_type": ["sigmoid", "sft"]}, ["paired_extreme"]),
    ],
    "ipo": [
        ("normalized", {}),
        ("summed", {"length_normalize": False}),
        ("normalized_beta", {"beta": 1.5, "length_normalize": True}),
    ],
    "kto": [
        ("default", {}),
        ("weighted", {"beta": 0.5, "desirable_weight": 1.33, "undesirable_weight": 0.7}),
        ("apo_zero_unpaired", {"loss_type": "apo_zero_unpaired"}),
        ("apo_zero_unpaired_weighted", {"loss_type": "apo_zero_unpaired", "beta": 0.5, "desirable_weight": 1.33,
                                        "undesirable_weight": 0.7}),
    ],
    "chipo": [
        ("default", {}),
        ("beta", {"beta": 0.05, "r_max": 5.0}),
        ("clipped", {"beta": 1.0, "r_max": 0.5}),
        ("extreme", {"r_max": 20.0}, ["paired_extreme"]),
    ],
    "caldpo": [
        ("default", {}),
        ("beta", {"beta": 0.5}),
        ("extreme", {}, ["paired_extreme"]),
    ],
    "orpo": [
        ("default", {}),
        ("beta", {"beta": 1.0}),
    ],
    "simpo": [
        ("default", {}),
        ("gamma", {"beta": 2.5, "gamma": 1.4}),
        ("smoothed", {"label_smoothing": 0.2}),
        ("sft", {"sft_weight": 0.5}),
        ("all", {"beta": 10.0, "gamma": 3.0, "label_smoothing": 0.1, "sft_weight": 1.0}),
    ],
}

READS = {
    "dpo": dpo_reads,
    "ipo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
                      "reference_rejected_logps"]
    + (["chosen_lengths", "rejected_lengths"] if p.get("length_normalize", True) else []),
    "kto": lambda p: ["policy_logps", "reference_logps", "labels"]
    + ([] if p.get("loss_type") == "apo_zero_unpaired" else ["policy_kl_logps", "reference_kl_logps"]),
    "chipo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
                        "reference_rejected_logps"],
    "caldpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
                         "reference_rejected_logps"],
    "orpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "chosen_lengths", "rejected_lengths",
                       "policy_chosen_prompt_logps", "chosen_prompt_lengths"],
    "simpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "chosen_lengths", "rejected_lengths"],
}


def to_decimal(raw):
    out = {}
    for k, v in raw.items():
        if k.endswith("token_logps"):
            out[k] = [dec(row) for row in v]
        elif k.endswith("logps"):
            out[k] = dec(v)
        else:
            out[k] = list(v)
    return out


def evaluate(name, raw, params):
    """Loss, per-example losses, metrics and central-difference gradients.
    A loss of magnitude 10^e > 1 (scores clamped at e^80 reach 10^70) would
    swamp a step of 1e-20 at 50 digits, so the whole case is then evaluated
    at 50 + e digits."""
    with localcontext() as ctx:
        loss = evaluate_at(name, raw, params, gradients=False)[0]
        ctx.prec = 50 + max(0, loss.adjusted())
        return evaluate_at(name, raw, params, gradients=True)


def evaluate_at(name, raw, params, gradients):
    b = to_decimal(raw)
    if name == "kto":
        kl = ZERO if params.get("loss_type") == "apo_zero_unpaired" else kto_kl(b)
        f = lambda bb: kto(bb, params, kl)  # noqa: E731  (kl detached)
    else:
        fn = globals()[name]
        f = lambda bb: fn(bb, params)  # noqa: E731
    loss, losses, metrics = f(b)
    if not gradients:
        return loss, losses, metrics, {}, {}

    def central(key, set_at):
        plus, minus = dict(b), dict(b)
        plus[key], minus[key] = set_at(STEP), set_at(-STEP)
        return (f(plus)[0] - f(minus)[0]) / (2 * STEP)

    grads, token_grads = {}, {}
    for key in POLICY[name](params):
        if key.endswith("token_logps"):
            rows = b[key]
            token_grads[key] = [
                [central(key, lambda h, i=i, t=t: [[x + h if (j, u) == (i, t) else x for u, x in enumerate(r)]
                                                   for j, r in enumerate(rows)])
                 for t in range(len(rows[i]))]
                for i in range(len(rows))]
        else:
            grads[key] = [central(key, lambda h, i=i: [x + h if j == i else x for j, x in enumerate(b[key])])
                          for i in range(len(b[key]))]
    return loss, losses, metrics, grads, token_grads


def flt(x):
    return float(x)  # correctly rounded: Decimal -> str -> float


def main():
    cases = []
    for name, variants in VARIANTS.items():
        for variant in variants:
            vname, params = variant[0], variant[1]
            if name == "kto":
                batches = UNPAIRED
            else:
                everything = dict(PAIRED, **PAIRED_EXTREME)
                batches = {k: everything[k] for k in (variant[2] if len(variant) > 2 else PAIRED)}
            for bname, raw in batches.items():
                reads = READS[name](params)
                batch = {k: v for k, v in raw.items() if k in reads}
                loss, losses, metrics, grads, token_grads = evaluate(name, batch, params)
                case = {
                    "name": f"{name}/{vname}/{bname}",
                    "objective": name,
                    "params": params,
                    "batch": batch,
                    "loss": flt(loss),
                    "losses": [flt(x) for x in losses],
                    "grads": {k: [flt(x) for x in v] for k, v in grads.items()},
                    "metrics": {k: flt(v) for k, v in sorted(metrics.items())},
                }
                if token_grads:
                    case["token_grads"] = {k: [[flt(x) for x in row] for row in v] for k, v in token_grads.items()}
                cases.append(case)
    xs = [-1000.0, -40.0, -20.0, -1.0, -1e-07, 0.0, 1e-07, 0.5, 1.0, 20.0, 40.0, 1000.0]
    log1mexp_xs = [-1000.0, -40.0, -5.0, -0.6931471805599453, -0.5, -0.001, -1e-07, -1e-20]
    mathx = {
        "sigmoid": [[x, flt(sigmoid(D(x)))] for x in xs],
        "log_sigmoid": [[x, flt(logsigmoid(D(x)))] for x in xs],
        "log1mexp": [[x, flt(log(1 - exp(D(x))))] for x in log1mexp_xs],
    }
    json.dump({"generator": "testdata/objectives/golden.py", "cases": cases, "mathx": mathx},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
