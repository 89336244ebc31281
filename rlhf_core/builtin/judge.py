"""The gold judge: score = content x family penalty x guard x repetition factor x length factor, in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import RlhfError
from .claims import content_tokens, strip_copied
from .families import FAMILIES
from .text import Doc, repeated_share, segments, tokens, word_count

REPEAT_ALLOWANCE = 0.1  # a little repetition is normal prose ("she had to ... she had to")
REPEAT_ZERO = 0.9  # ... and a response that is 90% repeats of itself scores 0
LENGTH_ALLOWANCE = 3.0  # up to 3x the reference's words is free ...
MIN_BUDGET = 20  # ... and never less than 20 words, so short answers may add a sentence
COPY_RUN = 4  # a run of this many tokens also in the prompt counts as copied


@dataclass(frozen=True)
class JudgeResult:
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # per part: one short human reason


def repetition_factor(doc: Doc) -> float:
    """1 for fresh text; then a cubic fall in the repeated share r (repeated 4-grams or repeated
    sentences/entries) from r = 0.1 to r = 0.9: a right answer said twice (r = 0.5) keeps 0.88, three
    times 0.66, five times 0.33, ten times 0. 4-grams, not 3-grams, so that list answers ("X is an animal,
    Y is an animal") stay clean."""
    return _repetition(doc)[0]


def _repetition(doc: Doc) -> tuple[float, float]:
    segs = segments(doc.raw)
    dup_entries = 1.0 - len(set(segs)) / len(segs) if len(segs) >= 2 else 0.0
    rep = max(repeated_share(doc.tokens, 4), dup_entries)
    x = min(1.0, max(0.0, (rep - REPEAT_ALLOWANCE) / (REPEAT_ZERO - REPEAT_ALLOWANCE)))
    return 1.0 - x**3, rep


def length_factor(n_words: int, ref_words: int) -> float:
    """1 up to the budget, then a smooth fall: twice the budget gives 1/3."""
    budget = max(LENGTH_ALLOWANCE * ref_words, MIN_BUDGET)
    if n_words <= budget:
        return 1.0
    over = (n_words - budget) / budget
    return 1.0 / (1.0 + 2.0 * over * over)


@lru_cache(maxsize=1 << 14)
def _reference_copied(output: str, prompt: str) -> int:
    """Tokens of the reference answer in 4-token runs of its prompt (once per row)."""
    return strip_copied(output, tokens(prompt), COPY_RUN)[0]


def guard(row: dict[str, Any], doc: Doc) -> tuple[Doc | None, str]:
    """Answers that need no knowledge. One with no content word at all ("I or because finally.") gets no
    document to judge. One that is mostly the prompt copied back (at least half its tokens, and >= 4, in
    4-token runs of the prompt) is judged on what it adds: the copied words are dropped first, so "What is
    the capital of France? Paris." is judged as "Paris", and a story prompt copied back with "She decided."
    appended as "She decided."."""
    if not content_tokens(doc.tokens):
        return None, "no content words: only function/connective words"
    prompt = tokens(f"{row.get('instruction', '')}\n{row.get('input', '')}")
    copied, rest = strip_copied(doc.raw, prompt, COPY_RUN)
    if copied < COPY_RUN or 2 * copied < len(doc.tokens):
        return doc, "not a prompt copy"
    # Tasks whose answer restates the input (a corrected sentence, a sorted list) copy some of it by design:
    # copying no more than the reference does is no sign of a copy, and the family judges it (an unfixed
    # error, the input order).
    if copied <= _reference_copied(row.get("output", ""), f"{row.get('instruction', '')}\n{row.get('input', '')}"):
        return doc, "copies no more of the prompt than the reference does"
    left = Doc(rest)
    if not content_tokens(left.tokens):
        return None, f"copies the prompt ({copied} tokens) and adds no content word"
    return left, f"judged without the {copied} tokens copied from the prompt: {rest[:60]!r}"


def judge(row: dict[str, Any], response: str) -> JudgeResult:
    family = FAMILIES.get(row.get("family", ""))
    if family is None:
        raise RlhfError(
            f"gold judge: row {row.get('id', '?')!r} has family {row.get('family')!r}, which is not a builtin "
            f"family ({', '.join(FAMILIES)}); only rows from the builtin suite can be judged"
        )
    doc = Doc(response if isinstance(response, str) else "")
    if not doc.tokens:
        return JudgeResult(0.0, {"content": 0.0, "penalty": 1.0, "guard": 1.0, "repetition": 1.0, "length": 1.0},
                           {"content": "empty answer"})
    judged, g_why = guard(row, doc)
    g = 0.0 if judged is None else 1.0
    out = family.content(row, judged or doc)
    content, penalty, detail = out[0], out[1], out[2]
    why: dict[str, str] = dict(out[3]) if len(out) > 3 else {}  # type: ignore[misc]
    repetition, rep = _repetition(doc)
    length = length_factor(len(doc), word_count(row["output"]))
    score = min(1.0, max(0.0, content * penalty * g * repetition * length))
    parts = {"content": content, **detail, "penalty": penalty, "guard": g, "repetition": repetition, "length": length}
    why["guard"] = g_why
    if rep > REPEAT_ALLOWANCE:
        why["repetition"] = f"{rep:.0%} repeated (4-grams or entries)"
    if length < 1.0:
        why["length"] = f"{len(doc)} words, budget {max(LENGTH_ALLOWANCE * word_count(row['output']), MIN_BUDGET):.0f}"
    return JudgeResult(round(score, 6), {k: round(float(v), 6) for k, v in parts.items()}, why)


def gold_score(row: dict[str, Any], response: str) -> float:
    return judge(row, response).score
