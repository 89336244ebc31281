"""The Family record, the fact-table loader and small helpers shared by the family modules."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .text import Doc

FACTS_DIR = Path(__file__).parent / "facts"

# A family's content function returns (content in [0, 1], penalty factor in (0, 1], parts) or, with a short
# human reason per part name, (content, penalty, parts, why).
Content = tuple[float, float, dict[str, float]] | tuple[float, float, dict[str, float], dict[str, str]]


@dataclass(frozen=True)
class Family:
    name: str
    description: str  # one line: what the task is
    credit: str  # one line: what earns credit
    penalties: str  # one line: what the family-specific penalty factor punishes
    generate: Callable[[random.Random], dict[str, Any]]  # a row without its id
    content: Callable[[dict[str, Any], Doc], Content]
    # Why rules cannot verify this family's answers ("" = they can). The judge still reports its rule score
    # for a person to read, but gives no gold: eval, the RM's pairs and the report treat such rows as hub
    # rows, without a gold judge.
    unverifiable: str = ""

    @property
    def verifiable(self) -> bool:
        return not self.unverifiable


@cache
def load_facts(name: str) -> Any:
    """A fact table from facts/<name>.json (read once per process)."""
    with open(FACTS_DIR / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def make_row(family: str, instruction: str, input: str, output: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"instruction": instruction, "input": input, "output": output, "family": family, "meta": meta}


def frac_matched(doc: Doc, groups: list[list[str]]) -> float:
    """Share of synonym groups with at least one member present in the response."""
    if not groups:
        return 0.0
    return sum(1 for g in groups if doc.has_any(g)) / len(groups)


def join_and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capitalize(s: str) -> str:
    return s[:1].upper() + s[1:]
