"""The LM head fused with what every stage computes from it, a block of rows at a time.

With an 8,000-word vocabulary the (N, V) logits are the biggest tensors in every stage (64 rollouts x
64 tokens = 131 MB), and the passes over them (log-softmax, its backward, entropy, KL), not the
matmuls, were most of a PPO update. Here the logits only ever exist for `CHUNK_ROWS` rows, which stay
in cache while they are reduced, and are never kept for backward:

- `label_logprobs`: log pi(label) per row (+ entropy, no grad). Saves only h; backward recomputes
  each block's logits (one extra head matmul, cheaper here than writing and rereading N x V floats)
  and applies d log p_y / dz = onehot(y) - softmax(z).
- `linear_cross_entropy`: the SFT loss. Its upstream gradient is a scalar, so the whole gradient is
  formed in forward, block by block (the "fused linear cross-entropy" of Liger-Kernel, Hsu et al.
  2024), and backward only scales it: no recompute.
- `exact_kl_rows`: sum_v pi (log pi - log pi_ref) per row, from two models' hidden states (no grad).

The plain versions in `rlhf_core.losses` are the reference; tests check these against them.
"""

from __future__ import annotations

import torch

# Rows per block: 512 x 8,000 float32 logits = 16 MB, which stays in cache (L3) while it is reduced.
# The benchmark times 128-2,048 (its LM-head table): 512 is fastest for the loss; 128 leaves the
# head's matmul inefficient, 2,048 does not fit in cache (docs/performance.md).
CHUNK_ROWS = 512


def _blocks(n: int):
    for start in range(0, n, CHUNK_ROWS):
        yield slice(start, min(start + CHUNK_ROWS, n))


def _logits(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (h @ weight.t()).float()  # float32 like GPT.logits


class _LabelLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, labels, want_entropy: bool):
        n = h.shape[0]
        logp = torch.empty(n, dtype=torch.float32, device=h.device)
        ent = torch.empty_like(logp) if want_entropy else None
        for s in _blocks(n):
            ls = torch.log_softmax(_logits(h[s], weight), dim=-1)  # (rows, V), one fused kernel
            logp[s] = ls.gather(-1, labels[s, None]).squeeze(-1)
            if want_entropy:  # log-softmax of finite logits is finite: p = 0 entries add exactly 0
                ent[s] = -(ls.exp() * ls).sum(-1)
        ctx.save_for_backward(h, weight, labels)
        ent = logp.new_empty(0) if ent is None else ent  # outputs must be tensors
        ctx.mark_non_differentiable(ent)
        return logp, ent

    @staticmethod
    def backward(ctx, g, _g_ent):
        h, weight, labels = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        g = g.float()
        for s in _blocks(h.shape[0]):
            gz = torch.softmax(_logits(h[s], weight), dim=-1).mul_(-g[s, None])  # -g * softmax(z)
            gz.scatter_add_(-1, labels[s, None], g[s, None])  # + g * onehot(label)
            gz = gz.to(h.dtype)
            if need_h:
                grad_h[s] = gz @ weight
            if need_w:
                grad_w.addmm_(gz.t().float(), h[s].float())
        return grad_h, None if grad_w is None else grad_w.to(weight.dtype), None, None


def label_logprobs(
    h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, *, entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log softmax(h @ weight.T)[labels] per row, and optionally the entropy of each row's softmax.

    h (N, d), weight (V, d), labels (N,) -> float32 (N,), (N,) or None. Differentiable in h and
    weight through the log-probs; the entropy is a statistic (no gradient).
    """
    logp, ent = _LabelLogprobs.apply(h, weight, labels.long(), entropy)
    return logp, ent if entropy else None


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, labels, mean: bool, need: bool):
        n = h.shape[0]
        scale = 1.0 / max(n, 1) if mean else 1.0
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h) if need else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need else None
        for s in _blocks(n):
            ls = torch.log_softmax(_logits(h[s], weight), dim=-1)
            total -= ls.gather(-1, labels[s, None]).sum()
            if need:  # d(-log p_y)/dz = softmax(z) - onehot(y), scaled by the reduction
                gz = ls.exp_().mul_(scale)
                gz.scatter_add_(-1, labels[s, None], gz.new_full((gz.shape[0], 1), -scale))
                gz = gz.to(h.dtype)
                grad_h[s] = gz @ weight
                grad_w.addmm_(gz.t().float(), h[s].float())
        if need:
            ctx.save_for_backward(grad_h, grad_w.to(weight.dtype))
        return total * scale

    @staticmethod
    def backward(ctx, g):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * g.to(grad_h.dtype), grad_w * g.to(grad_w.dtype), None, None, None


def linear_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """F.cross_entropy(h @ weight.T, labels, reduction) for h (N, d), weight (V, d), labels (N,),
    without the (N, V) logits. reduction: "mean" | "sum". Returns a float32 scalar."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    # forward runs with grad mode off, so whether a gradient will be wanted is decided here
    need = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
    return _LinearCrossEntropy.apply(h, weight, labels.long(), reduction == "mean", need)


@torch.no_grad()
def logprobs_and_kl(
    h: torch.Tensor,
    weight: torch.Tensor,
    h_ref: torch.Tensor,
    weight_ref: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    entropy: bool = False,
) -> tuple[torch.Tensor | None, ...]:
    """Two models' log-probs of `labels`, the exact KL(pi || pi_ref) = sum_v pi(v) (log pi(v) -
    log pi_ref(v)) and pi's entropy per row, from each block's logits computed once; pi =
    softmax(h @ weight.T), pi_ref likewise. (N, d) x2, labels (N,) or None -> float32 (N,) tensors
    (logp, ref_logp, kl, entropy); the log-probs are None without labels, the entropy unless asked.

    The logits are finite, so log-softmax is finite and entries with pi(v) = 0 add exactly 0.
    """
    n = h.shape[0]
    kl = torch.empty(n, dtype=torch.float32, device=h.device)
    logp = torch.empty_like(kl) if labels is not None else None
    ref_logp = torch.empty_like(kl) if labels is not None else None
    ent = torch.empty_like(kl) if entropy else None
    for s in _blocks(n):
        lp = torch.log_softmax(_logits(h[s], weight), dim=-1)
        lq = torch.log_softmax(_logits(h_ref[s], weight_ref), dim=-1)
        if labels is not None:
            logp[s] = lp.gather(-1, labels[s, None]).squeeze(-1)
            ref_logp[s] = lq.gather(-1, labels[s, None]).squeeze(-1)
        diff = lp - lq
        p = lp.exp()
        kl[s] = (p * diff).sum(-1)
        if entropy:
            ent[s] = -(p.mul_(lp)).sum(-1)
    return logp, ref_logp, kl, ent


def exact_kl_rows(h: torch.Tensor, weight: torch.Tensor, h_ref: torch.Tensor, weight_ref: torch.Tensor) -> torch.Tensor:
    """KL(pi || pi_ref) per row (see `logprobs_and_kl`): (N, d) x2 -> (N,) float32."""
    return logprobs_and_kl(h, weight, h_ref, weight_ref)[2]
