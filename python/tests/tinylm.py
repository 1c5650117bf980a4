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

    def forward(self, tokens, mask):
        """Sum over positions t with mask[t+1] of log p(tokens[t+1] | tokens[≤t]):
        one log-prob per row."""
        x = self.emb[tokens[:, :-1]]  # [B, T-1, D]
        steps = torch.arange(1, x.shape[1] + 1, dtype=x.dtype).view(1, -1, 1)
        h = torch.tanh((x.cumsum(1) / steps) @ self.w)
        logp = torch.log_softmax(h @ self.out, -1)
        tok = logp.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
        return (tok * mask[:, 1:]).sum(-1)


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


def take(data, idx):
    """The rows idx of every tensor of data."""
    return tuple(t[idx] for t in data)
