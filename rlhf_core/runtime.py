"""Seeding and device choice, shared by every stage."""

from __future__ import annotations

import math
import os
import random

import torch

from rlhf_core.errors import RlhfError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, torch (CPU and CUDA); return a fresh CPU generator for sampling and shuffling."""
    random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return torch.Generator().manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RlhfError("params.yaml: device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def check_finite(step: int, stats: dict, checkpoint: str | None = None) -> None:
    """Stop a training loop at the first NaN/inf statistic instead of training on garbage.

    `checkpoint` says where the last good state is (`Resume.where()`); without it, nothing was saved."""
    bad = [k for k, v in stats.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        where = checkpoint or "no checkpoint was saved for this run"
        raise RlhfError(
            f"non-finite {', '.join(bad)} at step {step} ({where}); lower the learning rate "
            "or check the checkpoint the run started from"
        )
