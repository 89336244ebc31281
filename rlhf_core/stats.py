"""Small statistics the stages and the report share: a prompt-level bootstrap interval and Spearman's
rho. Pure functions, kept apart from the models so that the report depends on them alone."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def bootstrap_ci(values: list[float], *, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one value per prompt: resampling
    prompts, not answers, since answers to one prompt are correlated)."""
    if len(values) == 0:
        return float("nan"), float("nan")
    x = torch.tensor(list(map(float, values)), dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(x), (n_boot, len(x)), generator=g)
    means = x[idx].mean(dim=1).sort().values
    lo = int((1 - ci) / 2 * (n_boot - 1))
    hi = int(round((1 + ci) / 2 * (n_boot - 1)))
    return means[lo].item(), means[hi].item()


def average_ranks(x: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the average of the ranks they span."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of average ranks (ties handled). NaN when undefined
    (fewer than 2 values, or either side constant)."""
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} vs {len(y)} values")
    n = len(x)
    if n < 2:
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)
