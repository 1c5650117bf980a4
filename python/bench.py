#!/usr/bin/python3
"""Measures the cost of calling objectives from Python, per step.

For each batch size: the median Compute round trip from this Python host
to the Go built-in dpo and to the Python DPOP example (λ = 0, so the same
math), and, through prefopt.torch, a full loss + backward on leaf tensors
against the same DPO written natively in torch: the difference is the RPC
overhead a PyTorch trainer pays per step. Then the same for per-token
inputs: the Python tokenpo example on pairs of 64-token completions (padded
[N, 64] tensors), against tokenpo written natively in torch.

Usage: PREFOPT_BIN=/path/to/prefopt /usr/bin/python3 python/bench.py [--calls N]
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from prefopt import host  # noqa: E402
from prefopt.torch import Objective  # noqa: E402

DPOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "plugins", "python", "dpop",
                    "dpop.py")
NAMES = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps")


def median_us(fn, calls):
    for _ in range(min(20, calls)):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e6 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    go, py = host.builtin("dpo"), host.launch(DPOP)
    go.configure({"beta": 0.1})
    py.configure({"beta": 0.1, "lambda": 0.0})
    dpo = Objective(host.builtin("dpo"), {"beta": 0.1})
    print("%6s %14s %14s %14s %14s %14s" % ("n", "go-dpo µs", "py-dpop µs", "torch+plugin", "torch native",
                                            "overhead µs"))
    for n in (16, 64, 1024):
        batch = {k: rng.uniform(-30, -1, n) for k in NAMES}
        t_go = median_us(lambda: go.compute(batch), args.calls)
        t_py = median_us(lambda: py.compute(batch), args.calls)
        leaves = {k: torch.tensor(v, requires_grad=k.startswith("policy")) for k, v in batch.items()}

        def through_plugin():
            loss, _ = dpo(leaves)
            loss.backward()

        def native():
            h = (leaves[NAMES[0]] - leaves[NAMES[2]]) - (leaves[NAMES[1]] - leaves[NAMES[3]])
            (-torch.nn.functional.logsigmoid(0.1 * h).mean()).backward()

        t_tp = median_us(through_plugin, args.calls)
        t_nat = median_us(native, args.calls)
        print("%6d %14.0f %14.0f %14.0f %14.0f %14.0f" % (n, t_go, t_py, t_tp, t_nat, t_tp - t_nat))
    for p in (go, py, dpo):
        p.close()
    per_token(rng, args.calls)


TOKENPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "plugins", "python", "tokenpo",
                       "tokenpo.py")


def per_token(rng, calls, width=64):
    from tests import tinylm
    obj = Objective(host.launch(TOKENPO), {"beta": 0.1})
    print("\nper-token, %d tokens per completion" % width)
    print("%6s %14s %14s %14s %14s" % ("n", "py-tokenpo µs", "torch+plugin", "torch native", "overhead µs"))
    for n in (16, 64, 1024):
        leaves = {"chosen_lengths": torch.full((n,), width), "rejected_lengths": torch.full((n,), width),
                  "column.w": torch.ones(n, dtype=torch.float64)}
        for k in ("policy_chosen_token_logps", "policy_rejected_token_logps", "reference_chosen_token_logps",
                  "reference_rejected_token_logps"):
            leaves[k] = torch.tensor(rng.uniform(-3, -0.01, (n, width)), requires_grad=k.startswith("policy"))
        batch = {k: v.detach().numpy() for k, v in leaves.items()}
        for k in batch:
            if k.endswith("token_logps"):
                batch[k] = list(batch[k])
        t_py = median_us(lambda: obj.plugin.compute(batch), calls)

        def through_plugin():
            loss, _ = obj(leaves)
            loss.backward()

        def native():
            tinylm.native_tokenpo(leaves, 0.1, 1.0, [("sigmoid", 1.0)]).backward()

        t_tp = median_us(through_plugin, calls)
        t_nat = median_us(native, calls)
        print("%6d %14.0f %14.0f %14.0f %14.0f" % (n, t_py, t_tp, t_nat, t_tp - t_nat))
    obj.close()


if __name__ == "__main__":
    main()
