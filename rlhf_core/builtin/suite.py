"""build_suite: the deterministic train / held-out / study split of the builtin instruction suite."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..errors import RlhfError
from ..tokenizer import prompt_key
from .families import FAMILIES
from .study import study_rows

MAX_TRIES = 2000  # draws per row before a family counts as out of fresh prompts


@dataclass
class Suite:
    train: list[dict[str, Any]]
    heldout: list[dict[str, Any]]
    study: list[dict[str, Any]]
    seed: int


def _with_id(row_id: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row_id, **row}


def _draw(family: str, rng: random.Random, taken: set[str], split: str) -> dict[str, Any]:
    """One row of the family whose prompt is not in `taken` (set used for membership only)."""
    generate = FAMILIES[family].generate
    for _ in range(MAX_TRIES):
        row = generate(rng)
        if prompt_key(row) not in taken:
            return row
    raise RlhfError(
        f"builtin suite: family {family!r} ran out of fresh prompts for the {split} split; "
        "ask for fewer held-out rows (data.n_heldout)"
    )


def build_suite(n_train: int = 50_000, n_heldout: int = 512, seed: int = 0) -> Suite:
    for name, value in (("n_train", n_train), ("n_heldout", n_heldout)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RlhfError(f"builtin suite: {name} must be a non-negative integer, got {value!r}")
    names = list(FAMILIES)
    study = study_rows()
    taken = {prompt_key(r) for r in study}

    # Held-out: families in turn (balanced), every prompt new; string seeds hash the same in every process.
    rng = random.Random(f"builtin-heldout-{seed}")
    heldout = []
    for i in range(n_heldout):
        row = _draw(names[i % len(names)], rng, taken, "held-out")
        taken.add(prompt_key(row))
        heldout.append(_with_id(f"heldout-{i:04d}", row))

    # Train: balanced family counts in a shuffled order; prompts may repeat but never a held-out/study one.
    rng = random.Random(f"builtin-train-{seed}")
    order = [names[i % len(names)] for i in range(n_train)]
    rng.shuffle(order)
    train = [_with_id(f"train-{i:06d}", _draw(fam, rng, taken, "train")) for i, fam in enumerate(order)]
    return Suite(train=train, heldout=heldout, study=study, seed=seed)
