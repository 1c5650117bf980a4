#!/usr/bin/env python3
"""Independent reference values for the prefopt objectives.

Regenerate golden.json (from the repository root) with

    python3 testdata/objectives/golden.py > testdata/objectives/golden.json

Python 3 standard library only. Every objective is written the way TRL's
PyTorch code reads (trl DPOTrainer.dpo_loss, KTOTrainer.kto_loss,
ORPOTrainer.odds_ratio_loss, CPOTrainer.cpo_loss with loss_type "simpo", and
SimPOTrainer.simpo_loss from github.com/princeton-nlp/SimPO), on whole-batch
lists, in decimal arithmetic at 50 significant digits. Inputs are the exact
binary values of the float64 literals below (Decimal(float)).

Gradients are NOT hand-derived: they are central finite differences of the
batch loss in 50-digit decimal arithmetic with step 1e-20 (truncation error
~h^2 = 1e-40, rounding error ~1e-50/1e-20 = 1e-30), so they check the Go
closed forms independently. Quantities TRL detaches (KTO's KL estimate) are
computed once from the unperturbed batch and held fixed, as .detach() does.

Each case records the loss, per-example losses (the decomposition whose mean
is the loss), gradients for each policy input, and TRL-named metrics, each
rounded once to the nearest float64. The "mathx" section holds reference
values of sigmoid, log-sigmoid and log(1-e^x).
"""

import json
import sys
from decimal import Decimal as D, getcontext

getcontext().prec = 50

STEP = D("1e-20")
ONE, ZERO, HALF = D(1), D(0), D("0.5")


def exp(x):
    return x.exp()


def log(x):
    return x.ln()


def sigmoid(x):
    return ONE / (ONE + exp(-x))


def logsigmoid(x):
    return -log(ONE + exp(-x))


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


def dpo(b, p):
    beta = D(p.get("beta", 0.1))
    ls = D(p.get("label_smoothing", 0.0))
    loss_type = p.get("loss_type", "sigmoid")
    policy_chosen_logps = b["policy_chosen_logps"]
    policy_rejected_logps = b["policy_rejected_logps"]
    if p.get("reference_free", False):
        reference_chosen_logps = [ZERO] * len(policy_chosen_logps)
        reference_rejected_logps = [ZERO] * len(policy_chosen_logps)
    else:
        reference_chosen_logps = b["reference_chosen_logps"]
        reference_rejected_logps = b["reference_rejected_logps"]
    pi_logratios = [c - r for c, r in zip(policy_chosen_logps, policy_rejected_logps)]
    ref_logratios = [c - r for c, r in zip(reference_chosen_logps, reference_rejected_logps)]
    logits = [a - r for a, r in zip(pi_logratios, ref_logratios)]
    if loss_type == "sigmoid":
        losses = [-logsigmoid(beta * x) * (1 - ls) - logsigmoid(-beta * x) * ls for x in logits]
    elif loss_type == "hinge":
        for x in logits:
            assert abs(1 - beta * x) > D("1e-6"), "hinge kink too close to a golden point"
        losses = [relu(1 - beta * x) for x in logits]
    elif loss_type == "robust":
        losses = [(-logsigmoid(beta * x) * (1 - ls) + logsigmoid(-beta * x) * ls) / (1 - 2 * ls) for x in logits]
    else:
        raise ValueError(loss_type)
    chosen_rewards = [beta * (c - r) for c, r in zip(policy_chosen_logps, reference_chosen_logps)]
    rejected_rewards = [beta * (c - r) for c, r in zip(policy_rejected_logps, reference_rejected_logps)]
    metrics = paired_metrics(chosen_rewards, rejected_rewards, policy_chosen_logps, policy_rejected_logps)
    return mean(losses), losses, metrics


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
        if label:
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


# -------------------------------------------------------------------- inputs

POLICY = {
    "dpo": ["policy_chosen_logps", "policy_rejected_logps"],
    "ipo": ["policy_chosen_logps", "policy_rejected_logps"],
    "orpo": ["policy_chosen_logps", "policy_rejected_logps", "policy_chosen_prompt_logps"],
    "simpo": ["policy_chosen_logps", "policy_rejected_logps"],
    "kto": ["policy_logps", "policy_kl_logps"],
}

PAIRED = {
    "paired_a": {
        "policy_chosen_logps": [-12.5, -30.25, -7.0],
        "policy_rejected_logps": [-14.0, -28.5, -9.75],
        "reference_chosen_logps": [-13.0, -29.0, -8.0],
        "reference_rejected_logps": [-13.5, -29.5, -9.0],
        "chosen_lengths": [10, 25, 6],
        "rejected_lengths": [12, 20, 8],
        "policy_chosen_prompt_logps": [-20.5, -15.25, -30.0],
        "chosen_prompt_lengths": [8, 5, 12],
    },
    # Pair 0 is a tie (equal rewards): rewards/accuracies counts it as wrong.
    "paired_b": {
        "policy_chosen_logps": [-3.1, -45.7, -0.9, -18.2],
        "policy_rejected_logps": [-3.1, -40.2, -6.3, -22.9],
        "reference_chosen_logps": [-3.4, -44.1, -1.7, -19.0],
        "reference_rejected_logps": [-3.4, -41.0, -5.2, -21.5],
        "chosen_lengths": [3, 40, 2, 15],
        "rejected_lengths": [3, 33, 7, 20],
        "policy_chosen_prompt_logps": [-11.3, -9.8, -25.1, -4.4],
        "chosen_prompt_lengths": [6, 4, 15, 3],
    },
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

VARIANTS = {
    "dpo": [
        ("sigmoid", {}),
        ("sigmoid_smoothed", {"beta": 0.5, "label_smoothing": 0.2}),
        ("hinge", {"loss_type": "hinge", "beta": 0.3}),
        ("robust", {"loss_type": "robust", "label_smoothing": 0.1}),
        ("reference_free", {"reference_free": True}),
    ],
    "ipo": [
        ("normalized", {}),
        ("summed", {"length_normalize": False}),
        ("normalized_beta", {"beta": 1.5, "length_normalize": True}),
    ],
    "kto": [
        ("default", {}),
        ("weighted", {"beta": 0.5, "desirable_weight": 1.33, "undesirable_weight": 0.7}),
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
    "dpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps"]
    + ([] if p.get("reference_free") else ["reference_chosen_logps", "reference_rejected_logps"]),
    "ipo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
                      "reference_rejected_logps"]
    + (["chosen_lengths", "rejected_lengths"] if p.get("length_normalize", True) else []),
    "kto": lambda p: ["policy_logps", "reference_logps", "labels", "policy_kl_logps", "reference_kl_logps"],
    "orpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "chosen_lengths", "rejected_lengths",
                       "policy_chosen_prompt_logps", "chosen_prompt_lengths"],
    "simpo": lambda p: ["policy_chosen_logps", "policy_rejected_logps", "chosen_lengths", "rejected_lengths"],
}


def to_decimal(raw):
    out = {}
    for k, v in raw.items():
        if k.endswith("logps"):
            out[k] = dec(v)
        else:
            out[k] = list(v)
    return out


def evaluate(name, raw, params):
    b = to_decimal(raw)
    if name == "kto":
        kl = kto_kl(b)
        f = lambda bb: kto(bb, params, kl)  # noqa: E731  (kl detached)
    else:
        fn = globals()[name]
        f = lambda bb: fn(bb, params)  # noqa: E731
    loss, losses, metrics = f(b)
    grads = {}
    for key in POLICY[name]:
        g = []
        for i in range(len(b[key])):
            plus, minus = dict(b), dict(b)
            plus[key] = list(b[key])
            minus[key] = list(b[key])
            plus[key][i] += STEP
            minus[key][i] -= STEP
            g.append((f(plus)[0] - f(minus)[0]) / (2 * STEP))
        grads[key] = g
    return loss, losses, metrics, grads


def flt(x):
    return float(x)  # correctly rounded: Decimal -> str -> float


def main():
    cases = []
    for name, variants in VARIANTS.items():
        batches = UNPAIRED if name == "kto" else PAIRED
        for vname, params in variants:
            for bname, raw in batches.items():
                reads = READS[name](params)
                batch = {k: v for k, v in raw.items() if k in reads}
                loss, losses, metrics, grads = evaluate(name, batch, params)
                cases.append({
                    "name": f"{name}/{vname}/{bname}",
                    "objective": name,
                    "params": params,
                    "batch": batch,
                    "loss": flt(loss),
                    "losses": [flt(x) for x in losses],
                    "grads": {k: [flt(x) for x in v] for k, v in grads.items()},
                    "metrics": {k: flt(v) for k, v in sorted(metrics.items())},
                })
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
