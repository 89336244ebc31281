"""Length-bucketed batches: little padding, random batch order."""

from __future__ import annotations

import random


def bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random, pool: int = 64) -> list[list[int]]:
    """Shuffle, sort each pool of `pool * batch_size` rows by length, cut into batches, shuffle batches.

    Rows of similar length share a batch, so little compute goes to padding, while batch order
    stays random. Every row appears exactly once.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    size = pool * batch_size
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
