"""prefopt objectives as autograd-aware PyTorch losses.

::

    from prefopt import host
    from prefopt.torch import Objective

    dpo = Objective(host.builtin("dpo"), {"beta": 0.1})
    loss, metrics = dpo({"policy_chosen_logps": pc, "policy_rejected_logps": pr,
                         "reference_chosen_logps": rc, "reference_rejected_logps": rr})
    loss.backward()

Contract of a call: ``inputs`` maps input names to one-dimensional tensors
(extra names are ignored); a data column ``column.<key>`` is a float tensor
like any other input. A per-token input (``policy_chosen_token_logps``, ...)
is either a list of 1-D tensors, one per example, or a padded 2-D tensor
[N, T] whose row i holds example i's tokens in its first ``lengths[i]``
entries, ``lengths`` being the input's count input (``chosen_lengths``, ...;
an objective that reads per-token inputs reads it too, so it is in
``inputs`` anyway). The padding is ignored and gets a zero gradient.

The plugin computes in float64 on the CPU; the returned loss is a 0-dim
tensor with the dtype and device of the policy inputs, and its backward
multiplies the upstream gradient by the plugin's d loss / d input into each
policy tensor (per token for a per-token input). Every other input
(reference log-probs, lengths, labels, data columns) is detached. Under
``torch.no_grad`` (or when no policy tensor requires grad) the loss carries
no graph. A bad reply (NaN, wrong length) raises ReplyError before any
backward can use it.

Data parallelism (torch.distributed initialised, world size W > 1): every
rank passes its own slice, of any size. The call all-gathers the inputs
(sizes first, then one padded tensor per rank, in rank order), and every
rank calls its own plugin on the identical global batch (a per-token input
travels as its packed tokens and its row lengths, so ragged rows of any
length gather exactly) — the objective is deterministic, so all ranks get
the same loss and metrics without a broadcast, and no rank waits on
another's plugin. The returned loss is the global-batch loss; the gradient
handed to rank r's tensors is W times the global gradient of its slice, so
averaging parameter gradients over ranks (what DistributedDataParallel does)
gives exactly the single-process gradient of the global batch. Batch-coupled objectives (KTO's z0, any
mean over the batch) are therefore exact. All ranks must call with the same
input names.
"""

import numpy as np
import torch

from . import inputs as vocab
from .ragged import Ragged

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
        """Returns (loss, metrics) for inputs: 1-D tensors, and per-token
        inputs as a list of 1-D tensors or a padded 2-D tensor (see the
        module documentation)."""
        names = [n for n in self.plugin.inputs if n in inputs]
        flat, rows = {}, {}
        for n in names:
            flat[n], lens = _flatten(n, inputs)
            if lens is not None:
                rows[n] = lens
        policy = [n for n in names if vocab.is_policy(n)]
        like = flat[policy[0]] if policy else next(iter(flat.values()))
        world, rank = _world(self.group)
        if world > 1:
            batch, slices = self._gather(flat, rows, names, world, rank, like.device)
        else:
            batch, slices = {}, {}
            for n in names:
                a = flat[n].detach().cpu().numpy()
                batch[n] = Ragged(a, rows[n].cpu().numpy()) if n in rows else a
                slices[n] = slice(0, len(a))
        r = self.plugin.compute(batch)
        self.last = r
        loss = torch.tensor(r.loss, dtype=like.dtype if like.is_floating_point() else torch.float64,
                            device=like.device)
        tracked = [n for n in policy if flat[n].requires_grad]
        if not torch.is_grad_enabled() or not tracked:
            return loss, dict(r.metrics)
        grads = []
        for n in tracked:
            g = r.grads[n]
            g = g.values if isinstance(g, Ragged) else g
            grads.append(torch.as_tensor(world * g[slices[n]], device=flat[n].device).to(flat[n].dtype))
        return _PluginLoss.apply(grads, loss, *[flat[n] for n in tracked]), dict(r.metrics)

    def _gather(self, flat, rows, names, world, rank, device):
        """All-gathers the named inputs (for a per-token input, its packed
        values and its row lengths); returns the global batch as numpy
        arrays and Ragged values, and this rank's slice of each input's
        (packed) values."""
        keys = list(names) + [(n, "rows") for n in names if n in rows]
        local = [flat[k].detach().reshape(-1) if isinstance(k, str) else rows[k[0]] for k in keys]
        sizes = torch.tensor([len(t) for t in local], dtype=torch.int64, device=device)
        all_sizes = [torch.empty_like(sizes) for _ in range(world)]
        _dist.all_gather(all_sizes, sizes, group=self.group)
        all_sizes = torch.stack(all_sizes).cpu().numpy()  # [world, len(keys)]
        width = int(all_sizes.max()) if all_sizes.size else 0
        # One float64 row per input: log-probs, counts and row lengths
        # (< 2^53) and labels are all exact in float64, so one collective
        # carries the whole batch.
        mine = torch.zeros(len(keys), width, dtype=torch.float64, device=device)
        for i, t in enumerate(local):
            mine[i, :len(t)] = t.to(device=device, dtype=torch.float64)
        gathered = [torch.empty_like(mine) for _ in range(world)]
        _dist.all_gather(gathered, mine, group=self.group)
        gathered = [x.cpu().numpy() for x in gathered]
        cat = {k: np.concatenate([gathered[r][i, :all_sizes[r, i]] for r in range(world)]) for i, k in enumerate(keys)}
        batch, slices = {}, {}
        for i, n in enumerate(names):
            a = cat[n]
            f = vocab.lookup(n)
            kind = f.kind if f else None
            if kind == vocab.TOKEN_FLOAT:
                a = Ragged(a, cat[(n, "rows")].astype(np.int64))
            elif kind == vocab.BOOL or (kind is None and flat[n].dtype == torch.bool):
                a = a != 0
            elif kind == vocab.COUNT or (kind is None and not flat[n].is_floating_point()):
                a = a.astype(np.int64)
            batch[n] = a
            start = int(all_sizes[:rank, i].sum())
            slices[n] = slice(start, start + int(all_sizes[rank, i]))
        return batch, slices


def _flatten(name, inputs):
    """Returns input name as a 1-D tensor and, for a per-token input, the
    int64 tensor of its row lengths (None otherwise). The packing
    of a per-token input is differentiable, so the gradient of the packed
    values reaches the caller's tensors."""
    x = inputs[name]
    f = vocab.lookup(name)
    if f is None or f.kind != vocab.TOKEN_FLOAT:
        if not torch.is_tensor(x):
            x = torch.as_tensor(x)
        return x.reshape(-1), None
    if isinstance(x, (list, tuple)):
        ts = [t if torch.is_tensor(t) else torch.as_tensor(t, dtype=torch.float64) for t in x]
        for i, t in enumerate(ts):
            if t.dim() != 1:
                raise ValueError("prefopt.torch: input %s: row %d must be one-dimensional, got shape %s"
                                 % (name, i, tuple(t.shape)))
        lens = torch.tensor([len(t) for t in ts], dtype=torch.int64)
        return (torch.cat(ts) if ts else torch.zeros(0, dtype=torch.float64)), lens
    if not torch.is_tensor(x) or x.dim() != 2:
        raise ValueError("prefopt.torch: input %s: want a list of 1-D tensors or a padded 2-D tensor, got %s"
                         % (name, tuple(x.shape) if torch.is_tensor(x) else type(x).__name__))
    if f.lengths not in inputs:
        raise ValueError("prefopt.torch: input %s is a padded 2-D tensor: its lengths input %s is needed to unpad it"
                         % (name, f.lengths))
    lens = torch.as_tensor(inputs[f.lengths]).reshape(-1).to(device=x.device, dtype=torch.int64)
    if len(lens) != x.shape[0] or (len(lens) and (lens.min() < 0 or lens.max() > x.shape[1])):
        raise ValueError("prefopt.torch: input %s of shape %s: %s must hold %d lengths in [0, %d]"
                         % (name, tuple(x.shape), f.lengths, x.shape[0], x.shape[1]))
    mask = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lens.unsqueeze(1)
    return x[mask], lens.cpu()
