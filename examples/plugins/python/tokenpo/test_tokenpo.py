"""Tests of the TokenPO example: the loss against an independent scalar
evaluation of its formula, per-token gradients against central finite
differences, and the same batch through prefopt's Go host (a batch JSON of
arrays of arrays) and through the Python host."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "python"))

from prefopt import host  # noqa: E402
from prefopt.errors import Code, InputError  # noqa: E402
from prefopt.ragged import Ragged  # noqa: E402
from prefopt.spec import Params  # noqa: E402

_spec = importlib.util.spec_from_file_location("tokenpo", os.path.join(HERE, "tokenpo.py"))
tokenpo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tokenpo)

PLUGIN = os.path.join(HERE, "tokenpo.py")
TOKENS = ("policy_chosen_token_logps", "policy_rejected_token_logps",
          "reference_chosen_token_logps", "reference_rejected_token_logps")

# Central differences with step H on losses of O(1) have truncation error
# O(H²·f''') ≈ 1e-12 and rounding error O(eps/H) ≈ 1e-10: 1e-8 has margin.
H, FD_TOL = 1e-6, 1e-8
# The scalar formula sums in another order than numpy: a few ulps of ~1.
LOSS_TOL = 1e-13

SETTINGS = [
    dict(beta=0.1, gamma=1.0, loss_type=["sigmoid"], loss_weights=[1.0], weight_column=""),
    dict(beta=0.5, gamma=0.8, loss_type=["sigmoid", "hinge", "ipo"], loss_weights=[1.0, 0.5, 0.25],
         weight_column="w"),
    dict(beta=2.0, gamma=0.3, loss_type=["ipo"], loss_weights=[2.0], weight_column=""),
]


def make(**kw):
    return tokenpo.TokenPO(Params(kw, []))


def batch(seed, n):
    """n pairs with 1 to 9 tokens per completion and a weight column."""
    rng = np.random.default_rng(seed)
    lc, lr = rng.integers(1, 10, n), rng.integers(1, 10, n)
    b = {"chosen_lengths": lc, "rejected_lengths": lr, "column.w": rng.uniform(0.1, 3, n)}
    for name in TOKENS:
        lens = lc if "chosen" in name else lr
        b[name] = Ragged.from_rows([rng.uniform(-4, -0.05, k) for k in lens])
    return b


def scalar_losses(b, s):
    """The docstring's formula, one pair and one token at a time."""
    out = []
    for i in range(len(b["chosen_lengths"])):
        a = []
        for pol, ref in (TOKENS[0::2], TOKENS[1::2]):
            p, r = b[pol][i].tolist(), b[ref][i].tolist()
            norm = sum(s["gamma"] ** t for t in range(len(p)))
            a.append(sum(s["gamma"] ** t / norm * (p[t] - r[t]) for t in range(len(p))))
        h = a[0] - a[1]
        z = s["beta"] * h
        total = 0.0
        for kind, lam in zip(s["loss_type"], s["loss_weights"]):
            if kind == "sigmoid":
                total += lam * (math.log1p(math.exp(-z)) if z > 0 else -z + math.log1p(math.exp(z)))
            elif kind == "hinge":
                total += lam * max(0.0, 1 - z)
            else:
                total += lam * (h - 1 / (2 * s["beta"])) ** 2
        c = b["column.w"][i] if s["weight_column"] else 1.0
        out.append(c * total)
    return out


class TestTokenPO(unittest.TestCase):
    def test_loss_matches_scalar_formula(self):
        for s in SETTINGS:
            for seed, n in [(1, 1), (2, 5), (3, 32)]:
                b = batch(seed, n)
                r = make(**s).compute(b)
                want = scalar_losses(b, s)
                np.testing.assert_allclose(r.losses, want, rtol=0, atol=LOSS_TOL)
                self.assertAlmostEqual(r.loss, sum(want) / n, delta=LOSS_TOL)

    def test_token_gradients_against_finite_differences(self):
        for s in SETTINGS:
            obj = make(**s)
            b = batch(4, 4)
            r = obj.compute(b)
            for name in TOKENS[:2]:
                g = r.grads[name]
                self.assertIsInstance(g, Ragged)
                np.testing.assert_array_equal(g.lengths, b[name].lengths)
                for k in range(len(g.values)):
                    vals = []
                    for step in (H, -H):
                        v = b[name].values.copy()
                        v[k] += step
                        vals.append(obj.compute(dict(b, **{name: b[name].like(v)})).loss)
                    fd = (vals[0] - vals[1]) / (2 * H)
                    self.assertLessEqual(abs(fd - g.values[k]), FD_TOL, "%s token %d" % (name, k))
                self.assertGreater(np.abs(g.values).max(), 1e-4, "a zero gradient proves nothing")

    def test_go_host_and_python_host_agree(self):
        bin_ = os.environ.get("PREFOPT_BIN")
        if not bin_:
            self.skipTest("PREFOPT_BIN unset (python/run_tests.sh sets it)")
        b = batch(5, 3)
        doc = {k: (v.tolist() if isinstance(v, (Ragged, np.ndarray)) else v) for k, v in b.items()
               if k != "column.w"}
        r = subprocess.run([bin_, "objective", "eval", "--plugin", PLUGIN, "--param", "gamma=0.7", "--input", "-"],
                           input=json.dumps(doc).encode(), capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = json.loads(r.stdout)
        with host.launch(PLUGIN) as p:
            p.configure({"gamma": 0.7})
            want = p.compute(doc)
        self.assertEqual(out["loss"], want.loss)
        self.assertEqual(out["losses"], want.losses.tolist())
        for name in TOKENS[:2]:
            self.assertEqual(out["token_grads"][name], want.grads[name].tolist())

    def test_bad_batches_read_as_go(self):
        bin_ = os.environ.get("PREFOPT_BIN")
        if not bin_:
            self.skipTest("PREFOPT_BIN unset (python/run_tests.sh sets it)")
        good = {k: (v.tolist() if isinstance(v, (Ragged, np.ndarray)) else v) for k, v in batch(6, 3).items()}
        long_row = json.loads(json.dumps(good))
        long_row["policy_rejected_token_logps"][1].append(-1.0)
        nan_token = json.loads(json.dumps(good))
        nan_token["reference_chosen_token_logps"][2][0] = float("nan")
        short_column = json.loads(json.dumps(good))
        short_column["column.w"] = short_column["column.w"][:2]
        zero = json.loads(json.dumps(good))
        zero["chosen_lengths"][1] = 0
        for name in TOKENS[0::2]:
            zero[name][1] = []
        cases = [("long_row", long_row, Code.LENGTH_MISMATCH), ("nan_token", nan_token, Code.NON_FINITE),
                 ("short_column", short_column, Code.LENGTH_MISMATCH), ("zero_length", zero, Code.OUT_OF_RANGE)]
        with host.launch(PLUGIN) as p:
            p.configure({"weight_column": "w"})
            for label, doc, code in cases:
                with self.subTest(label):
                    with self.assertRaises(InputError) as cm:
                        p.compute(doc)
                    self.assertEqual(cm.exception.code, code)
                    if label == "nan_token":
                        continue  # JSON has no NaN: the Go host cannot be given this batch
                    # The Go host checks the batch itself (core.Batch.Check)
                    # or relays the plugin's diagnostic: the text must match.
                    r = subprocess.run([bin_, "objective", "eval", "--plugin", PLUGIN, "--param", "weight_column=w",
                                        "--input", "-"], input=json.dumps(doc).encode(), capture_output=True)
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn(": " + str(cm.exception) + "\n", r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
