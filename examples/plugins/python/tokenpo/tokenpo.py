#!/usr/bin/python3
"""TokenPO: a mix of DPO-family losses on discounted per-token log-ratios, as
a prefopt objective plugin written in Python. It shows the protocol's
per-token inputs, list parameters and data columns.

For pair i, with π_t, r_t the policy and reference log-probs of token t of a
completion of L tokens (t = 0 … L−1) and γ = gamma, the completion's
log-ratio is the discounted mean

    a = Σ_t w_t·(π_t − r_t),   w_t = γ^t / Σ_s γ^s

(γ = 1: the plain mean over tokens, as SimPO/IPO length normalisation).
With h_i = a_chosen − a_rejected, β = beta, z = β·h_i, loss types k with
weights λ_k (loss_type, loss_weights, as TRL's multi-loss DPOConfig):

    sigmoid: −log σ(z)            (DPO, Rafailov et al. 2023)
    hinge:   max(0, 1 − z)        (SLiC, Zhao et al. 2023)
    ipo:     (h_i − 1/(2β))²      (IPO, Azar et al. 2023, τ = β)

    ℓ_i = c_i · Σ_k λ_k·loss_k(h_i),   Loss = (1/N)·Σ_i ℓ_i

a value to minimise, where c_i is the data column weight_column of pair i
(≥ 0; 1 when weight_column is ""). Nothing is detached; reference inputs,
lengths and the column get no gradient. With g_i = c_i·Σ_k λ_k·∂loss_k/∂h
(∂/∂h of the three: −β·σ(−z), −β·[z < 1] — 0 at the kink, as torch.relu —,
and 2·(h − 1/(2β))):

    ∂Loss/∂π_chosen,t = g_i·w_t / N,   ∂Loss/∂π_rejected,t = −g_i·w_t / N

Metrics (TRL names): rewards/chosen, rewards/rejected (means of β·a),
rewards/margins, rewards/accuracies.

References: Rafailov et al., arXiv:2305.18290; Zhao et al. (SLiC-HF),
arXiv:2305.10425; Azar et al. (IPO), arXiv:2310.12036; trl.DPOTrainer's
loss_type list with loss_weights.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "..", "python"))

import numpy as np  # noqa: E402

from prefopt import inputs as names  # noqa: E402
from prefopt import plugin  # noqa: E402
from prefopt.spec import FLOAT_LIST, STRING_LIST  # noqa: E402

LOSS_TYPES = ("sigmoid", "hinge", "ipo")


def _log_sigmoid(x):
    # log σ(x) = −log(1 + e^(−x)), stable for both signs.
    return -np.logaddexp(0.0, -x)


def discount_weights(rows, gamma):
    """Returns w_t = γ^t / Σ_s γ^s for every packed token of the Ragged rows."""
    t = np.arange(len(rows.values)) - rows.offsets[:-1][rows.row_ids()]
    w = np.power(gamma, t.astype(np.float64))
    return w / rows.row_sums(w)[rows.row_ids()]


class TokenPO(plugin.Objective):
    spec = plugin.Spec(
        name="tokenpo",
        version="1.0.0",
        doc="Weighted mix of sigmoid (DPO), hinge (SLiC) and IPO losses on the difference of discounted per-token "
            "mean log-ratios, optionally weighted per pair by a data column.",
        params=[
            plugin.Param("beta", float, 0.1, min=0, min_exclusive=True,
                         doc="inverse temperature β (TRL DPOConfig default 0.1)"),
            plugin.Param("gamma", float, 1.0, min=0, max=1, min_exclusive=True,
                         doc="discount γ of token t's weight γ^t within a completion; 1 = plain mean"),
            plugin.Param("loss_type", STRING_LIST, ["sigmoid"], enum=LOSS_TYPES, min_items=1, max_items=3,
                         doc="losses to mix (TRL DPOConfig loss_type list)"),
            plugin.Param("loss_weights", FLOAT_LIST, [1.0], min=0, same_length_as="loss_type",
                         doc="weight λ_k of each loss_type (TRL DPOConfig loss_weights)"),
            plugin.Param("weight_column", str, "",
                         doc="data column c_i ≥ 0 multiplying pair i's loss; \"\" = none"),
        ],
    )

    def __init__(self, params):
        self.beta, self.gamma = params["beta"], params["gamma"]
        self.losses = list(zip(params["loss_type"], params["loss_weights"]))
        key = params["weight_column"]
        self.column = ""
        if key:
            if names.column_of(names.column(key)) is None:
                raise plugin.ParamError("weight_column", "must be a data column key of letters, digits, '_' or "
                                                         "'-', got %r" % key)
            self.column = names.column(key)
        self.inputs = [names.CHOSEN_LENGTHS, names.REJECTED_LENGTHS,
                       names.POLICY_CHOSEN_TOKEN_LOGPS, names.POLICY_REJECTED_TOKEN_LOGPS,
                       names.REFERENCE_CHOSEN_TOKEN_LOGPS, names.REFERENCE_REJECTED_TOKEN_LOGPS]
        if self.column:
            self.inputs.append(self.column)

    def compute(self, batch):
        plugin.require_positive(batch, names.CHOSEN_LENGTHS)
        plugin.require_positive(batch, names.REJECTED_LENGTHS)
        pc, pr = batch[names.POLICY_CHOSEN_TOKEN_LOGPS], batch[names.POLICY_REJECTED_TOKEN_LOGPS]
        rc, rr = batch[names.REFERENCE_CHOSEN_TOKEN_LOGPS], batch[names.REFERENCE_REJECTED_TOKEN_LOGPS]
        n = len(pc)
        c = np.ones(n)
        if self.column:
            c = batch[self.column]
            bad = np.flatnonzero(c < 0)
            if bad.size:
                i = int(bad[0])
                raise plugin.InputError(plugin.Code.OUT_OF_RANGE, self.column, "must be >= 0: it weights a loss",
                                        index=i, value=float(c[i]))
        wc, wr = discount_weights(pc, self.gamma), discount_weights(pr, self.gamma)
        ac = pc.row_sums(wc * (pc.values - rc.values))
        ar = pr.row_sums(wr * (pr.values - rr.values))
        h = ac - ar
        z = self.beta * h
        loss, dh = np.zeros(n), np.zeros(n)
        for kind, lam in self.losses:
            if kind == "sigmoid":
                loss += lam * -_log_sigmoid(z)
                dh += lam * -self.beta * np.exp(_log_sigmoid(-z))
            elif kind == "hinge":
                loss += lam * np.maximum(0.0, 1.0 - z)
                dh += lam * -self.beta * (z < 1.0)
            else:
                d = h - 1.0 / (2.0 * self.beta)
                loss += lam * d * d
                dh += lam * 2.0 * d
        losses = c * loss
        g = c * dh / n
        return plugin.Result(
            loss=float(losses.mean()),
            losses=losses,
            grads={names.POLICY_CHOSEN_TOKEN_LOGPS: pc.like(g[pc.row_ids()] * wc),
                   names.POLICY_REJECTED_TOKEN_LOGPS: pr.like(-g[pr.row_ids()] * wr)},
            metrics={"rewards/chosen": float((self.beta * ac).mean()),
                     "rewards/rejected": float((self.beta * ar).mean()),
                     "rewards/margins": float(z.mean()),
                     "rewards/accuracies": float((h > 0).mean())},
        )


if __name__ == "__main__":
    plugin.serve(TokenPO)
