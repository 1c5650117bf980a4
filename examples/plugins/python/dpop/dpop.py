#!/usr/bin/python3
"""DPOP (DPO-Positive) as a prefopt objective plugin written in Python.

With π_c, π_r the policy and r_c, r_r the reference log-probs of the chosen
and rejected completions (summed over tokens), β = beta and λ = lambda, the
per-pair loss, a value to minimise, is

    h_i = (π_c − r_c) − (π_r − r_r) − λ·max(0, r_c − π_c)
    ℓ_i = −log σ(β·h_i)

with the penalty inside the sigmoid, as the paper defines it, and
Loss = (1/N)·Σ_i ℓ_i. Nothing is detached (the reference inputs get no
gradient: they are not policy inputs). With s_i = σ(−β·h_i):

    ∂Loss/∂π_c = −β·s_i·(1 + λ·[r_c > π_c]) / N,   ∂Loss/∂π_r = +β·s_i / N

At π_c = r_c the penalty's subgradient 0 is used (torch.relu's choice).
With λ = 0 it is DPO's sigmoid loss.

Metrics (TRL names): rewards/chosen, rewards/rejected (means of β(π−r)),
rewards/margins, rewards/accuracies, logps/chosen, logps/rejected, and
dpop/penalty, the mean of max(0, r_c − π_c).

Parameters: beta, β = 0.1 (the DPO default of TRL's DPOConfig); lambda,
λ = 50 (the value Pal et al. use in their experiments).

References: Pal, Karkhanis, Dooley, Roberts, Naidu, White, "Smaug: Fixing
Failure Modes of Preference Optimisation with DPO-Positive",
arXiv:2402.13228 (2024), eq. (3).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "..", "..", "python"))

import numpy as np  # noqa: E402

from prefopt import inputs as names  # noqa: E402
from prefopt import plugin  # noqa: E402


def _log_sigmoid(x):
    # log σ(x) = −log(1 + e^(−x)), stable for both signs.
    return -np.logaddexp(0.0, -x)


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


class DPOP(plugin.Objective):
    spec = plugin.Spec(
        name="dpop",
        version="1.0.0",
        doc="DPO-Positive: mean of −log σ(β·[(π_c−r_c) − (π_r−r_r) − λ·max(0, r_c−π_c)]), log-probs summed "
            "(Pal et al. 2024, arXiv:2402.13228).",
        params=[
            plugin.Param("beta", float, 0.1, min=0, min_exclusive=True,
                         doc="inverse temperature β of the implicit reward (TRL DPOConfig default 0.1)"),
            plugin.Param("lambda", float, 50.0, min=0,
                         doc="weight λ of the penalty on the chosen log-prob falling below the reference "
                             "(Pal et al. 2024 use 50)"),
        ],
    )

    inputs = (names.POLICY_CHOSEN_LOGPS, names.POLICY_REJECTED_LOGPS,
              names.REFERENCE_CHOSEN_LOGPS, names.REFERENCE_REJECTED_LOGPS)

    def __init__(self, params):
        self.beta = params["beta"]
        self.lam = params["lambda"]

    def compute(self, batch):
        pc, pr = batch[names.POLICY_CHOSEN_LOGPS], batch[names.POLICY_REJECTED_LOGPS]
        rc, rr = batch[names.REFERENCE_CHOSEN_LOGPS], batch[names.REFERENCE_REJECTED_LOGPS]
        n = len(pc)
        drop = rc - pc
        penalty = np.maximum(0.0, drop)
        h = (pc - rc) - (pr - rr) - self.lam * penalty
        losses = -_log_sigmoid(self.beta * h)
        s = _sigmoid(-self.beta * h)
        g_pc = -self.beta * s * (1.0 + self.lam * (drop > 0)) / n
        g_pr = self.beta * s / n
        reward_c, reward_r = self.beta * (pc - rc), self.beta * (pr - rr)
        return plugin.Result(
            loss=float(np.mean(losses)),
            losses=losses,
            grads={names.POLICY_CHOSEN_LOGPS: g_pc, names.POLICY_REJECTED_LOGPS: g_pr},
            metrics={
                "rewards/chosen": float(np.mean(reward_c)),
                "rewards/rejected": float(np.mean(reward_r)),
                "rewards/margins": float(np.mean(reward_c - reward_r)),
                "rewards/accuracies": float(np.mean(reward_c > reward_r)),
                "logps/chosen": float(np.mean(pc)),
                "logps/rejected": float(np.mean(pr)),
                "dpop/penalty": float(np.mean(penalty)),
            },
        )


if __name__ == "__main__":
    plugin.serve(DPOP)
