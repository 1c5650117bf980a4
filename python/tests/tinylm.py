"""A tiny causal LM and data for the PyTorch tests (float64)."""

import torch

VOCAB, DIM = 13, 8


class TinyLM(torch.nn.Module):
    """Embedding, one tanh layer over the running mean of the prefix, and an
    output projection: small, causal and non-linear."""

    def __init__(self, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Parameter(torch.randn(VOCAB, DIM, generator=g, dtype=torch.float64) * 0.5)
        self.w = torch.nn.Parameter(torch.randn(DIM, DIM, generator=g, dtype=torch.float64) * 0.5)
        self.out = torch.nn.Parameter(torch.randn(DIM, VOCAB, generator=g, dtype=torch.float64) * 0.5)

    def forward(self, tokens, mask=None):
        """Sum over positions t with mask[t+1] of log p(tokens[t+1] | tokens[≤t]):
        one log-prob per row; without mask, every position's log-prob
        (token_logps)."""
        if mask is None:
            return self.token_logps(tokens)
        return (self.token_logps(tokens) * mask[:, 1:]).sum(-1)

    def token_logps(self, tokens):
        """log p(tokens[t+1] | tokens[≤t]) for every position t: [B, T-1]."""
        x = self.emb[tokens[:, :-1]]  # [B, T-1, D]
        steps = torch.arange(1, x.shape[1] + 1, dtype=x.dtype).view(1, -1, 1)
        h = torch.tanh((x.cumsum(1) / steps) @ self.w)
        logp = torch.log_softmax(h @ self.out, -1)
        return logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)


def paired(seed, n, prompt=3, completion=4):
    """n (chosen, rejected) token rows sharing prompts, and the completion mask."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randint(0, VOCAB, (n, prompt), generator=g)
    c = torch.cat([p, torch.randint(0, VOCAB, (n, completion), generator=g)], 1)
    r = torch.cat([p, torch.randint(0, VOCAB, (n, completion), generator=g)], 1)
    mask = torch.cat([torch.zeros(n, prompt), torch.ones(n, completion)], 1).to(torch.float64)
    return c, r, mask


def unpaired(seed, n, prompt=3, completion=4):
    """n completions with labels, the KL rows (prompt i, completion i−1), and the mask."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randint(0, VOCAB, (n, prompt), generator=g)
    comp = torch.randint(0, VOCAB, (n, completion), generator=g)
    x = torch.cat([p, comp], 1)
    kl = torch.cat([p, comp.roll(1, 0)], 1)
    labels = torch.rand(n, generator=g) < 0.5
    labels[0], labels[-1] = True, False
    mask = torch.cat([torch.zeros(n, prompt), torch.ones(n, completion)], 1).to(torch.float64)
    return x, kl, labels, mask


def dpo_inputs(policy, ref, data):
    """The DPO inputs of data, with one policy forward over chosen and rejected rows."""
    c, r, mask = data
    n = len(c)
    rows, masks = torch.cat([c, r]), torch.cat([mask, mask])
    with torch.no_grad():
        ref_logps = ref(rows, masks)
    pol = policy(rows, masks)
    return {"policy_chosen_logps": pol[:n], "policy_rejected_logps": pol[n:],
            "reference_chosen_logps": ref_logps[:n], "reference_rejected_logps": ref_logps[n:]}


def kto_inputs(policy, ref, data):
    """The KTO inputs of data, with one policy forward over completion and KL rows."""
    x, kl, labels, mask = data
    n = len(x)
    rows, masks = torch.cat([x, kl]), torch.cat([mask, mask])
    with torch.no_grad():
        ref_logps = ref(rows, masks)
    pol = policy(rows, masks)
    return {"policy_logps": pol[:n], "reference_logps": ref_logps[:n], "labels": labels,
            "policy_kl_logps": pol[n:], "reference_kl_logps": ref_logps[n:]}


def native_dpo(i, beta):
    """DPO's sigmoid loss written out in torch (Rafailov et al. 2023)."""
    h = (i["policy_chosen_logps"] - i["reference_chosen_logps"]) - (
        i["policy_rejected_logps"] - i["reference_rejected_logps"])
    return -torch.nn.functional.logsigmoid(beta * h).mean()


def native_kto(i, beta, wd=1.0, wu=1.0):
    """KTO written out in torch (Ethayarajh et al. 2024; trl.KTOTrainer.kto_loss)."""
    z0 = (i["policy_kl_logps"] - i["reference_kl_logps"]).mean().clamp(min=0).detach()
    r = i["policy_logps"] - i["reference_logps"]
    lab = i["labels"]
    loss = torch.where(lab, wd * (1 - torch.sigmoid(beta * (r - z0))), wu * (1 - torch.sigmoid(beta * (z0 - r))))
    return loss.mean()


PROMPT = 3


def paired_tokens(seed, n, completion=6):
    """n (chosen, rejected) token rows sharing prompts of PROMPT tokens, with
    completions of 1 to completion tokens (the rest is padding), their
    lengths, and a positive per-pair weight."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randint(0, VOCAB, (n, PROMPT), generator=g)
    c = torch.cat([p, torch.randint(0, VOCAB, (n, completion), generator=g)], 1)
    r = torch.cat([p, torch.randint(0, VOCAB, (n, completion), generator=g)], 1)
    lc = torch.randint(1, completion + 1, (n,), generator=g)
    lr = torch.randint(1, completion + 1, (n,), generator=g)
    w = torch.rand(n, generator=g, dtype=torch.float64) * 2 + 0.1
    return c, r, lc, lr, w


def tokenpo_inputs(policy, ref, data, form="padded"):
    """The per-token inputs of data: padded [N, max length] tensors (the
    padding holds the log-probs of the padding tokens), or lists of 1-D
    tensors with form="list"; one policy forward over chosen and rejected."""
    c, r, lc, lr, w = data
    n = len(c)
    rows = torch.cat([c, r])
    with torch.no_grad():
        ref_tok = ref(rows)[:, PROMPT - 1:]
    pol_tok = policy(rows)[:, PROMPT - 1:]
    width = int(torch.cat([lc, lr]).max())
    pol_tok, ref_tok = pol_tok[:, :width], ref_tok[:, :width]
    out = {"chosen_lengths": lc, "rejected_lengths": lr, "column.w": w,
           "policy_chosen_token_logps": pol_tok[:n], "policy_rejected_token_logps": pol_tok[n:],
           "reference_chosen_token_logps": ref_tok[:n], "reference_rejected_token_logps": ref_tok[n:]}
    if form == "list":
        for name in list(out):
            if name.endswith("token_logps"):
                lens = lc if "chosen" in name else lr
                out[name] = [row[:k] for row, k in zip(out[name], lens.tolist())]
    return out


def native_tokenpo(i, beta, gamma, losses):
    """TokenPO (examples/plugins/python/tokenpo) written out in torch on
    padded inputs: the discounted per-token mean log-ratio of each side,
    the weighted mix of losses on their difference, times column.w."""

    def ratio(pol, ref, lengths):
        t = torch.arange(pol.shape[1], dtype=torch.float64)
        mask = t.unsqueeze(0) < lengths.unsqueeze(1)
        w = torch.where(mask, gamma ** t, torch.zeros(()))
        return (w / w.sum(1, keepdim=True) * torch.where(mask, pol - ref, torch.zeros(()))).sum(1)

    h = ratio(i["policy_chosen_token_logps"], i["reference_chosen_token_logps"], i["chosen_lengths"]) - ratio(
        i["policy_rejected_token_logps"], i["reference_rejected_token_logps"], i["rejected_lengths"])
    z = beta * h
    loss = torch.zeros_like(h)
    for kind, lam in losses:
        if kind == "sigmoid":
            loss = loss + lam * -torch.nn.functional.logsigmoid(z)
        elif kind == "hinge":
            loss = loss + lam * torch.relu(1 - z)
        else:
            loss = loss + lam * (h - 1 / (2 * beta)) ** 2
    return (i["column.w"] * loss).mean()


def take(data, idx):
    """The rows idx of every tensor of data."""
    return tuple(t[idx] for t in data)
