"""The PyTorch adapter: gradients through a plugin equal native PyTorch
implementations, data parallelism reproduces the single-process run, a
plugin crash mid-run changes nothing, and no plugin outlives its host."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import torch

from prefopt import host
from prefopt.errors import ReplyError
from prefopt.torch import Objective
from tests import tinylm
from tests.util import DPOP, PYTHON_DIR, ROOT, prefopt_bin

# Go's and glibc's exp/log1p and the summation orders differ by a few ulps;
# gradients here are O(0.1-1), so 1e-12 absolute is ~1e3 ulps of margin.
GRAD_TOL = 1e-12
# Data-parallel runs reduce gradients in another order (gloo sums, then DDP
# divides): a few ulps per step in float64, far below float32's 1e-7.
DDP_TOL = 1e-10

TOKENPO = os.path.join(ROOT, "examples", "plugins", "python", "tokenpo", "tokenpo.py")
TOKENPO_PARAMS = {"beta": 0.5, "gamma": 0.8, "loss_type": ["sigmoid", "ipo"], "loss_weights": [1.0, 0.5],
                  "weight_column": "w"}

# name: (plugin, data, inputs, params, native loss)
SETUPS = {
    "dpo": (lambda: host.builtin("dpo"), tinylm.paired, tinylm.dpo_inputs, {"beta": 0.5},
            lambda i: tinylm.native_dpo(i, 0.5)),
    "kto": (lambda: host.builtin("kto"), tinylm.unpaired, tinylm.kto_inputs,
            {"beta": 0.5, "undesirable_weight": 1.5}, lambda i: tinylm.native_kto(i, 0.5, 1.0, 1.5)),
    "tokenpo": (lambda: host.launch(TOKENPO), tinylm.paired_tokens, tinylm.tokenpo_inputs, TOKENPO_PARAMS,
                lambda i: tinylm.native_tokenpo(i, 0.5, 0.8, [("sigmoid", 1.0), ("ipo", 0.5)])),
}


def train(name, steps, rows, global_n, plugin_hook=None, group=None, ddp=False):
    """Trains TinyLM with the built-in name for steps of plain SGD on the
    rows of each step's global batch; returns the final parameters."""
    launch, make_data, make_inputs, params, _ = SETUPS[name]
    policy, ref = tinylm.TinyLM(1), tinylm.TinyLM(2)
    model = torch.nn.parallel.DistributedDataParallel(policy) if ddp else policy
    opt = torch.optim.SGD(policy.parameters(), lr=0.5)
    with Objective(launch(), params, group=group) as obj:
        for step in range(steps):
            if plugin_hook:
                plugin_hook(step, obj.plugin)
            data = tinylm.take(make_data(100 + step, global_n), rows)
            loss, _ = obj(make_inputs(model, ref, data))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [p.detach().clone() for p in policy.parameters()]


def _ddp_worker(rank, world, init, name, steps, sizes, out):
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    start = sum(sizes[:rank])
    rows = torch.arange(start, start + sizes[rank])
    final = train(name, steps, rows, sum(sizes), ddp=True)
    torch.save(final, os.path.join(out, "rank%d.pt" % rank))
    torch.distributed.destroy_process_group()


class TestTorch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prefopt_bin()

    def test_gradient_equals_native(self):
        for name, (launch, make_data, make_inputs, params, native) in SETUPS.items():
            with self.subTest(name), Objective(launch(), params) as obj:
                policy, ref = tinylm.TinyLM(1), tinylm.TinyLM(2)
                data = make_data(7, 9)
                loss, metrics = obj(make_inputs(policy, ref, data))
                loss.backward()
                got = [p.grad.clone() for p in policy.parameters()]
                policy.zero_grad()
                want_loss = native(make_inputs(policy, ref, data))
                want_loss.backward()
                self.assertEqual(loss.dtype, torch.float64)
                self.assertAlmostEqual(loss.item(), want_loss.item(), delta=1e-14)
                for g, p in zip(got, policy.parameters()):
                    self.assertGreater(p.grad.abs().max().item(), 1e-3, "a parameter without gradient proves nothing")
                    self.assertLessEqual((g - p.grad).abs().max().item(), GRAD_TOL)
                self.assertIn("rewards/chosen", metrics)

    def test_per_token_forms(self):
        # A list of 1-D tensors and a padded 2-D tensor give the same
        # per-token gradients; the padding gets exactly zero.
        policy, ref = tinylm.TinyLM(1), tinylm.TinyLM(2)
        data = tinylm.paired_tokens(11, 6)
        with Objective(host.launch(TOKENPO), TOKENPO_PARAMS) as obj:
            padded = {k: (v.detach().clone().requires_grad_(k.startswith("policy")) if v.is_floating_point() else v)
                      for k, v in tinylm.tokenpo_inputs(policy, ref, data).items()}
            loss_p, _ = obj(padded)
            loss_p.backward()
            rows = {k: v for k, v in tinylm.tokenpo_inputs(policy, ref, data, form="list").items()}
            rows = {k: ([r.detach().clone().requires_grad_(k.startswith("policy")) for r in v]
                        if isinstance(v, list) else v) for k, v in rows.items()}
            loss_l, _ = obj(rows)
            loss_l.backward()
        self.assertEqual(loss_p.item(), loss_l.item())
        for name, lengths in [("policy_chosen_token_logps", data[2]), ("policy_rejected_token_logps", data[3])]:
            g = padded[name].grad
            mask = torch.arange(g.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
            self.assertTrue(torch.equal(g[~mask], torch.zeros_like(g[~mask])), "padding got a gradient")
            self.assertGreater(g[mask].abs().min().item(), 0, "every token has a gradient")
            for i, r in enumerate(rows[name]):
                self.assertTrue(torch.equal(r.grad, g[i, :len(r)]), "%s[%d]" % (name, i))

    def test_no_grad_and_dtype(self):
        with Objective(host.builtin("dpo")) as obj:
            policy, ref = tinylm.TinyLM(1), tinylm.TinyLM(2)
            data = tinylm.paired(3, 4)
            with torch.no_grad():
                loss, _ = obj(tinylm.dpo_inputs(policy, ref, data))
            self.assertFalse(loss.requires_grad)
            inputs = {k: v.detach().float().requires_grad_(k.startswith("policy"))
                      for k, v in tinylm.dpo_inputs(policy, ref, data).items()}
            loss, _ = obj(inputs)
            self.assertEqual(loss.dtype, torch.float32)
            loss.backward()
            self.assertEqual(inputs["policy_chosen_logps"].grad.dtype, torch.float32)
            self.assertIsNone(inputs["reference_chosen_logps"].grad)

    def test_bad_reply_raises_before_backward(self):
        faulty = os.path.join(PYTHON_DIR, "tests", "fixtures", "faulty.py")
        with Objective(host.launch(faulty), {"mode": "nan_loss"}) as obj:
            x = torch.tensor([-1.0, -2.0], dtype=torch.float64, requires_grad=True)
            with self.assertRaises(ReplyError):
                obj({"policy_logps": x, "labels": torch.tensor([True, False])})
            self.assertIsNone(x.grad)

    def test_third_party_plugin(self):
        with Objective(host.launch(DPOP), {"lambda": 0.0, "beta": 0.5}) as obj:
            policy, ref = tinylm.TinyLM(1), tinylm.TinyLM(2)
            data = tinylm.paired(8, 5)
            loss, _ = obj(tinylm.dpo_inputs(policy, ref, data))
            loss.backward()
            got = [p.grad.clone() for p in policy.parameters()]
            policy.zero_grad()
            tinylm.native_dpo(tinylm.dpo_inputs(policy, ref, data), 0.5).backward()
            for g, p in zip(got, policy.parameters()):
                self.assertLessEqual((g - p.grad).abs().max().item(), GRAD_TOL)

    def test_crash_mid_run_is_invisible(self):
        rows = torch.arange(6)
        want = train("kto", 4, rows, 6)

        seen = []

        def kill_at_2(step, plugin):
            seen.append(plugin)
            if step == 2:
                os.kill(plugin.pid, signal.SIGKILL)
                plugin._proc.wait()

        got = train("kto", 4, rows, 6, plugin_hook=kill_at_2)
        self.assertEqual(seen[-1].restarts, 1)
        for g, w in zip(got, want):
            self.assertTrue(torch.equal(g, w), "weights differ after a restart")

    def test_data_parallel_equals_single_process(self):
        steps = 3
        for name, sizes in [("dpo", [3, 3]), ("kto", [2, 5]), ("tokenpo", [1, 4])]:
            with self.subTest(name, sizes=sizes), tempfile.TemporaryDirectory() as out:
                init = "file://" + os.path.join(out, "rendezvous")
                torch.multiprocessing.spawn(_ddp_worker, args=(2, init, name, steps, sizes, out), nprocs=2)
                want = train(name, steps, torch.arange(sum(sizes)), sum(sizes))
                initial = [p.detach() for p in tinylm.TinyLM(1).parameters()]
                for rank in range(2):
                    got = torch.load(os.path.join(out, "rank%d.pt" % rank))
                    for g, w, i in zip(got, want, initial):
                        self.assertGreater((w - i).abs().max().item(), 1e-3, "training must move the weights")
                        self.assertLessEqual((g - w).abs().max().item(), DDP_TOL)


ORPHAN_SCRIPT = """
import sys, time
from prefopt import host
a = host.builtin("dpo")
b = host.launch(sys.argv[1])
print(a.pid, b.pid, flush=True)
time.sleep(60)
"""


class TestNoOrphans(unittest.TestCase):
    def test_killed_host_leaves_no_plugin(self):
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR, PREFOPT_BIN=prefopt_bin())
        proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, DPOP], stdout=subprocess.PIPE, env=env)
        pids = [int(x) for x in proc.stdout.readline().split()]
        self.assertEqual(len(pids), 2)
        for pid in pids:
            self.assertTrue(_alive(pid))
        proc.kill()
        proc.wait()
        proc.stdout.close()
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse([p for p in pids if _alive(p)], "plugins outlived their host")


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    unittest.main()
