"""prefopt objectives as autograd-aware PyTorch losses.

::

    from prefopt import host
    from prefopt.torch import Objective

    dpo = Objective(host.builtin("dpo"), {"beta": 0.1})
    loss, metrics = dpo({"policy_chosen_logps": pc, "policy_rejected_logps": pr,
                         "reference_chosen_logps": rc, "reference_rejected_logps": rr})
    loss.backward()

Contract of a call: ``inputs`` maps input names to one-dimensional tensors
(extra names are ignored). The plugin computes in float64 on the CPU; the
returned loss is a 0-dim tensor with the dtype and device of the policy
inputs, and its backward multiplies the upstream gradient by the plugin's
d loss / d input into each policy tensor. Every other input (reference
log-probs, lengths, labels) is detached. Under ``torch.no_grad`` (or when no
policy tensor requires grad) the loss carries no graph. A bad reply (NaN,
wrong length) raises ReplyError before any backward can use it.

Data parallelism (torch.distributed initialised, world size W > 1): every
rank passes its own slice, of any size. The call all-gathers the inputs
(sizes first, then one padded tensor per rank, in rank order), and every
rank calls its own plugin on the identical global batch — the objective is
deterministic, so all ranks get the same loss and metrics without a
broadcast, and no rank waits on another's plugin. The returned loss is the
global-batch loss; the gradient handed to rank r's tensors is W times the
global gradient of its slice, so averaging parameter gradients over ranks
(what DistributedDataParallel does) gives exactly the single-process
gradient of the global batch. Batch-coupled objectives (KTO's z0, any
mean over the batch) are therefore exact. All ranks must call with the same
input names.
"""

import numpy as np
import torch

from . import inputs as vocab

try:
    import torch.distributed as _dist
except ImportError:  # pragma: no cover - torch built without distributed
    _dist = None


def _world(group):
    if _dist is None or not _dist.is_available() or not _dist.is_initialized():
        return 1, 0
    return _dist.get_world_size(group), _dist.get_rank(group)


class _PluginLoss(torch.autograd.Function):
    """Identity on a precomputed loss whose backward is the plugin's gradient."""

    @staticmethod
    def forward(ctx, grads, loss, *policy):
        ctx.grads = grads
        return loss.clone()

    @staticmethod
    def backward(ctx, gout):
        return (None, None, *[gout * g for g in ctx.grads])


class Objective:
    """A configured plugin objective callable on tensors.

    plugin: a :class:`prefopt.host.Plugin` (it is configured here with
    params, and closed by :meth:`close`); group: the torch.distributed
    process group (default: the world, when initialised)."""

    def __init__(self, plugin, params=None, *, group=None):
        self.plugin = plugin
        self.params = plugin.configure(params)
        self.group = group
        self.last = None  # the Result of the latest call (global batch)

    @property
    def inputs(self):
        """The input names the objective reads."""
        return self.plugin.inputs

    def close(self):
        self.plugin.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __call__(self, inputs):
        """Returns (loss, metrics) for inputs, a dict of 1-D tensors."""
        names = [n for n in self.plugin.inputs if n in inputs]
        policy = [n for n in names if vocab.is_policy(n)]
        like = inputs[policy[0]] if policy else next(iter(inputs.values()))
        world, rank = _world(self.group)
        if world > 1:
            batch, slices = self._gather(inputs, names, world, rank, like.device)
        else:
            batch = {n: inputs[n].detach().cpu().numpy() for n in names}
            slices = {n: slice(0, len(batch[n])) for n in names}
        r = self.plugin.compute(batch)
        self.last = r
        loss = torch.tensor(r.loss, dtype=like.dtype if like.is_floating_point() else torch.float64,
                            device=like.device)
        tracked = [n for n in policy if inputs[n].requires_grad]
        if not torch.is_grad_enabled() or not tracked:
            return loss, dict(r.metrics)
        grads = [torch.as_tensor(world * r.grads[n][slices[n]], device=inputs[n].device).to(inputs[n].dtype)
                 for n in tracked]
        return _PluginLoss.apply(grads, loss, *[inputs[n] for n in tracked]), dict(r.metrics)

    def _gather(self, inputs, names, world, rank, device):
        """All-gathers the named inputs; returns the global batch as numpy
        arrays and this rank's slice of each."""
        local = [inputs[n].detach().reshape(-1) for n in names]
        sizes = torch.tensor([len(t) for t in local], dtype=torch.int64, device=device)
        all_sizes = [torch.empty_like(sizes) for _ in range(world)]
        _dist.all_gather(all_sizes, sizes, group=self.group)
        all_sizes = torch.stack(all_sizes).cpu().numpy()  # [world, len(names)]
        width = int(all_sizes.max()) if all_sizes.size else 0
        # One float64 row per input: log-probs, counts (< 2^53) and labels are
        # all exact in float64, so one collective carries the whole batch.
        mine = torch.zeros(len(names), width, dtype=torch.float64, device=device)
        for i, t in enumerate(local):
            mine[i, :len(t)] = t.to(torch.float64)
        rows = [torch.empty_like(mine) for _ in range(world)]
        _dist.all_gather(rows, mine, group=self.group)
        rows = [x.cpu().numpy() for x in rows]
        batch, slices = {}, {}
        for i, n in enumerate(names):
            parts = [rows[r][i, :all_sizes[r, i]] for r in range(world)]
            a = np.concatenate(parts)
            kind = vocab.lookup(n).kind if vocab.lookup(n) else None
            if kind == vocab.BOOL or (kind is None and inputs[n].dtype == torch.bool):
                a = a != 0
            elif kind == vocab.COUNT or (kind is None and not inputs[n].is_floating_point()):
                a = a.astype(np.int64)
            batch[n] = a
            start = int(all_sizes[:rank, i].sum())
            slices[n] = slice(start, start + int(all_sizes[rank, i]))
        return batch, slices
