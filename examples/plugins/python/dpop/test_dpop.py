"""Tests of the DPOP example: gradients against central finite differences,
the loss against an independent scalar evaluation of the paper's formula,
and λ = 0 against prefopt's built-in DPO."""

import importlib.util
import math
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "python"))

from prefopt.spec import Params  # noqa: E402

_spec = importlib.util.spec_from_file_location("dpop", os.path.join(HERE, "dpop.py"))
dpop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dpop)

NAMES = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")

# Central differences with step H have truncation error O(H²·f''') ≈ 1e-12 and
# rounding error O(eps/H) ≈ 1e-10 at these magnitudes: 1e-8 has margin.
H, FD_TOL = 1e-6, 1e-8
# The scalar formula sums in another order than numpy: a few ulps of ~1.
LOSS_TOL = 1e-14


def make(beta=0.1, lam=50.0):
    return dpop.DPOP(Params({"beta": beta, "lambda": lam}, []))


def batch(seed, n):
    rng = np.random.default_rng(seed)
    b = {name: rng.uniform(-30, -1, n) for name in NAMES}
    # Some chosen log-probs exactly on, above and below the reference, away from the kink for FD.
    b["policy_chosen_logps"][0] = b["reference_chosen_logps"][0] + 0.5
    if n > 1:
        b["policy_chosen_logps"][1] = b["reference_chosen_logps"][1] - 0.5
    return b


def scalar_loss(b, beta, lam):
    """The paper's eq. (3), one pair at a time with the math module."""
    total = 0.0
    for pc, pr, rc, rr in zip(*(b[n] for n in NAMES)):
        z = beta * ((pc - rc) - (pr - rr) - lam * max(0.0, rc - pc))
        # −log σ(z) = log(1 + e^(−z)), written for both signs of z
        total += math.log1p(math.exp(-z)) if z > 0 else -z + math.log1p(math.exp(z))
    return total / len(b[NAMES[0]])


class TestDPOP(unittest.TestCase):
    def test_loss_matches_scalar_formula(self):
        for beta, lam in [(0.1, 50.0), (0.5, 0.0), (2.0, 5.0)]:
            for seed, n in [(1, 1), (2, 7), (3, 64)]:
                b = batch(seed, n)
                r = make(beta, lam).compute(b)
                self.assertAlmostEqual(r.loss, scalar_loss(b, beta, lam), delta=LOSS_TOL * max(1, r.loss))
                self.assertAlmostEqual(float(np.mean(r.losses)), r.loss, delta=1e-15 * max(1, r.loss))

    def test_gradient_finite_differences(self):
        for beta, lam in [(0.1, 50.0), (0.3, 1.0)]:
            obj = make(beta, lam)
            b = batch(4, 6)
            r = obj.compute(b)
            for name in ("policy_chosen_logps", "policy_rejected_logps"):
                for i in range(6):
                    up = {k: v.copy() for k, v in b.items()}
                    dn = {k: v.copy() for k, v in b.items()}
                    up[name][i] += H
                    dn[name][i] -= H
                    fd = (obj.compute(up).loss - obj.compute(dn).loss) / (2 * H)
                    with self.subTest(beta=beta, lam=lam, name=name, i=i):
                        self.assertTrue(math.isfinite(r.grads[name][i]))
                        self.assertAlmostEqual(r.grads[name][i], fd, delta=FD_TOL)

    def test_penalty_only_below_reference(self):
        # ∂/∂π_c = −(1 + λ·[r_c > π_c])·∂/∂π_r for every pair.
        b = batch(5, 2)
        r = make(0.1, 50.0).compute(b)
        ratio = r.grads["policy_chosen_logps"] / r.grads["policy_rejected_logps"]
        self.assertAlmostEqual(ratio[0], -1.0, delta=1e-15)  # π_c above the reference: no penalty
        self.assertAlmostEqual(ratio[1], -51.0, delta=1e-13)  # below: 1 + λ

    def test_lambda_zero_is_builtin_dpo(self):
        try:
            from prefopt import host
            p = host.builtin("dpo")
        except Exception as e:  # noqa: BLE001 - any failure to start means no binary here
            self.skipTest("no prefopt binary: %s" % e)
        with p:
            p.configure({"beta": 0.3})
            b = batch(6, 9)
            want = p.compute(b)
        got = make(0.3, 0.0).compute(b)
        # Go and numpy differ in exp/log1p and summation order: a few ulps.
        self.assertAlmostEqual(got.loss, want.loss, delta=1e-14)
        for name in ("policy_chosen_logps", "policy_rejected_logps"):
            np.testing.assert_allclose(got.grads[name], want.grads[name], rtol=1e-13, atol=0)


if __name__ == "__main__":
    unittest.main()
