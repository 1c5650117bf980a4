#!/usr/bin/python3
"""Train a small byte-level causal transformer with a prefopt objective.

Single process:

    PREFOPT_BIN=/path/to/prefopt /usr/bin/python3 examples/torch/train.py --objective dpo
    /usr/bin/python3 examples/torch/train.py --plugin examples/plugins/python/dpop/dpop.py
    /usr/bin/python3 examples/torch/train.py --plugin examples/plugins/python/tokenpo/tokenpo.py \
        --param 'loss_type=["sigmoid","ipo"]' --param 'loss_weights=[1,0.5]'

Data parallel (gloo on CPU; the same code runs with NCCL on CUDA):

    /usr/bin/python3 -m torch.distributed.run --nproc_per_node 2 examples/torch/train.py --objective dpo

(Debian's torch 1.13 under Python 3.11 crashes in torch.distributed.run on
its default --redirects/--tee values; add ``--redirects 9:1 --tee 9:1``, a
mapping for a rank that does not exist, which leaves every stream as is.)

Each step takes --batch-size pairs in total; rank r of W trains on its share
(sizes may differ by one). The plugin sees the global batch on every rank
(prefopt.torch all-gathers it), so the run matches a single process on the
same batches up to float rounding. The reference model is a frozen copy of
the starting policy. The objective gets every paired input it may read:
summed log-probs, completion lengths, and per-token log-probs as padded
[N, T] tensors, each row's completion tokens first.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "python"))

from prefopt import host  # noqa: E402
from prefopt.torch import Objective  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..")
EOS = 256  # byte tokens 0..255, then end-of-sequence


class CausalLM(torch.nn.Module):
    """Byte-level transformer: token and position embeddings, causal
    self-attention blocks, a tied output projection."""

    def __init__(self, context=64, width=64, heads=4, layers=2):
        super().__init__()
        self.tok = torch.nn.Embedding(EOS + 1, width)
        self.pos = torch.nn.Embedding(context, width)
        block = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True,
                                                 norm_first=True)
        self.blocks = torch.nn.TransformerEncoder(block, layers)
        self.norm = torch.nn.LayerNorm(width)

    def forward(self, tokens, mask):
        """Returns the completion tokens' log-probs, left-aligned: row i
        holds log p(tokens[t] | tokens[<t]) for the positions t with
        mask[t], in order, then zeros."""
        t = tokens.shape[1]
        x = self.tok(tokens) + self.pos(torch.arange(t, device=tokens.device))
        causal = torch.triu(torch.full((t, t), float("-inf"), device=tokens.device), 1)
        h = self.norm(self.blocks(x, mask=causal))
        logp = torch.log_softmax(h[:, :-1] @ self.tok.weight.T, -1)
        tok = logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1) * mask[:, 1:]
        # A stable sort of "not in the completion" moves completion positions first, in order.
        first = torch.argsort((mask[:, 1:] == 0).to(torch.int64), dim=1, stable=True)
        return tok.gather(1, first)


def paired_inputs(pol, ref, lengths, n):
    """The paired inputs of the first n (chosen) and last n (rejected) rows
    of per-token log-probs pol and ref: summed, per token, and lengths."""
    width = int(lengths.max())
    out = {}
    for side, rows in (("chosen", slice(0, n)), ("rejected", slice(n, 2 * n))):
        out["policy_%s_logps" % side] = pol[rows].sum(-1)
        out["reference_%s_logps" % side] = ref[rows].sum(-1)
        out["%s_lengths" % side] = lengths[rows]
        out["policy_%s_token_logps" % side] = pol[rows, :width]
        out["reference_%s_token_logps" % side] = ref[rows, :width]
    return out


def encode(prompt, completion, context):
    """Tokens of prompt + completion + EOS, cut to context, and the mask of
    completion tokens."""
    p = list(prompt.encode())
    c = list(completion.encode()) + [EOS]
    ids = (p + c)[:context]
    mask = ([0] * len(p) + [1] * len(c))[:context]
    return ids, mask


def collate(rows, context):
    """Pads rows of (ids, mask) to one tensor pair."""
    n = max(len(ids) for ids, _ in rows)
    tokens = torch.full((len(rows), n), EOS, dtype=torch.long)
    mask = torch.zeros(len(rows), n)
    for i, (ids, m) in enumerate(rows):
        tokens[i, :len(ids)] = torch.tensor(ids)
        mask[i, :len(m)] = torch.tensor(m, dtype=torch.float)
    return tokens, mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objective", default="dpo", help="built-in objective served by the prefopt binary")
    ap.add_argument("--plugin", help="path of a third-party plugin (overrides --objective)")
    ap.add_argument("--param", action="append", default=[], help="key=value objective parameter (JSON value)")
    ap.add_argument("--data", default=os.path.join(ROOT, "testdata", "data", "paired.jsonl"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=5, help="pairs per step, over all ranks")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--context", type=int, default=64)
    args = ap.parse_args()

    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    world = torch.distributed.get_world_size() if distributed else 1
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else "cpu"

    with open(args.data) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    torch.manual_seed(args.seed)
    policy = CausalLM(context=args.context).to(device)
    reference = CausalLM(context=args.context).to(device)
    reference.load_state_dict(policy.state_dict())
    reference.requires_grad_(False)
    model = torch.nn.parallel.DistributedDataParallel(policy) if distributed else policy
    opt = torch.optim.AdamW(policy.parameters(), lr=args.lr, weight_decay=0.0)

    params = {}
    for kv in args.param:
        k, _, v = kv.partition("=")
        params[k] = json.loads(v)
    plugin = host.launch(args.plugin) if args.plugin else host.builtin(args.objective)
    objective = Objective(plugin, params)
    if rank == 0:
        print("objective %s %s, params %s, world %d" % (plugin.spec.name, plugin.spec.version,
                                                        dict(objective.params), world), flush=True)

    order = torch.Generator().manual_seed(args.seed)
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(pairs), (args.batch_size,), generator=order).tolist()
        mine = idx[rank::world]  # this rank's share of the global batch
        rows = [encode(pairs[i]["prompt"], pairs[i]["chosen"], args.context) for i in mine] + \
               [encode(pairs[i]["prompt"], pairs[i]["rejected"], args.context) for i in mine]
        tokens, mask = (t.to(device) for t in collate(rows, args.context))
        n = len(mine)
        with torch.no_grad():
            ref = reference(tokens, mask)
        pol = model(tokens, mask)
        lengths = mask[:, 1:].sum(-1).to(torch.int64)
        loss, metrics = objective(paired_inputs(pol, ref, lengths, n))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rank == 0 and (step % 5 == 0 or step == 1):
            shown = " ".join("%s %.4g" % (k, metrics[k]) for k in sorted(metrics)
                             if k in ("rewards/margins", "rewards/accuracies", "dpop/penalty"))
            print("step %d loss %.4f %s" % (step, loss.item(), shown), flush=True)
    objective.close()
    if distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
