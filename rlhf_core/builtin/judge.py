"""The gold judge: score = content x family penalty x repetition factor x length factor, in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import RlhfError
from .families import FAMILIES
from .text import Doc, repeated_share, segments, word_count

REPEAT_ALLOWANCE = 0.1  # a little repetition is normal prose ("she had to ... she had to")
LENGTH_ALLOWANCE = 3.0  # up to 3x the reference's words is free ...
MIN_BUDGET = 20  # ... and never less than 20 words, so short answers may add a sentence


@dataclass(frozen=True)
class JudgeResult:
    score: float
    parts: dict[str, float] = field(default_factory=dict)


def repetition_factor(doc: Doc) -> float:
    """1 for fresh text, falling to 0 as repeated 4-grams or repeated sentences/entries dominate.
    4-grams, not 3-grams, so that list answers ("X is an animal, Y is an animal") stay clean."""
    segs = segments(doc.raw)
    dup_entries = 1.0 - len(set(segs)) / len(segs) if len(segs) >= 2 else 0.0
    rep = max(repeated_share(doc.tokens, 4), dup_entries)
    return min(1.0, max(0.0, 1.0 - 2.0 * (rep - REPEAT_ALLOWANCE)))


def length_factor(n_words: int, ref_words: int) -> float:
    """1 up to the budget, then a smooth fall: twice the budget gives 1/3."""
    budget = max(LENGTH_ALLOWANCE * ref_words, MIN_BUDGET)
    if n_words <= budget:
        return 1.0
    over = (n_words - budget) / budget
    return 1.0 / (1.0 + 2.0 * over * over)


def judge(row: dict[str, Any], response: str) -> JudgeResult:
    family = FAMILIES.get(row.get("family", ""))
    if family is None:
        raise RlhfError(
            f"gold judge: row {row.get('id', '?')!r} has family {row.get('family')!r}, which is not a builtin "
            f"family ({', '.join(FAMILIES)}); only rows from the builtin suite can be judged"
        )
    doc = Doc(response if isinstance(response, str) else "")
    if not doc.tokens:
        return JudgeResult(0.0, {"content": 0.0, "penalty": 1.0, "repetition": 1.0, "length": 1.0})
    content, penalty, detail = family.content(row, doc)
    repetition = repetition_factor(doc)
    length = length_factor(len(doc), word_count(row["output"]))
    score = min(1.0, max(0.0, content * penalty * repetition * length))
    parts = {"content": content, **detail, "penalty": penalty, "repetition": repetition, "length": length}
    return JudgeResult(round(score, 6), {k: round(float(v), 6) for k, v in parts.items()})


def gold_score(row: dict[str, Any], response: str) -> float:
    return judge(row, response).score
