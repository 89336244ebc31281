"""The optimiser and learning-rate schedule shared by the SFT and reward-model loops."""

from __future__ import annotations

import math

import torch

from rlhf_core.params import RMParams, SFTParams


def lr_at(step: int, *, lr: float, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to `lr`, then cosine decay to `min_ratio * lr` at `total` steps (step is 0-based)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: torch.nn.Module, p: SFTParams | RMParams, lr: float | None = None) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (linear and embedding weights), not on norm gains."""
    decay = [t for t in model.parameters() if t.requires_grad and t.dim() >= 2]
    no_decay = [t for t in model.parameters() if t.requires_grad and t.dim() < 2]
    groups = [{"params": decay, "weight_decay": p.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr or p.lr, betas=(p.beta1, p.beta2))


def num_steps(n_examples: int, p: SFTParams | RMParams) -> int:
    """Optimiser steps for `p.epochs` passes of `p.batch_size`, capped at `p.max_steps`."""
    per_epoch = math.ceil(n_examples / p.batch_size)
    return max(1, min(p.max_steps, math.ceil(p.epochs * per_epoch)))
