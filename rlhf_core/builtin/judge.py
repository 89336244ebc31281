"""The gold judge: score = content x family penalty x guard x grounding x phrasing x repetition x length factor, in
[0, 1]."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import RlhfError
from .claims import STOP_WORDS, copied_tokens, longest_copied_run
from .families import FAMILIES
from .grounding import grounding_with_strays
from .phrasing import phrasing
from .text import Doc, repeated_share, segments, tokens, word_count

REPEAT_ALLOWANCE = 0.1  # a little repetition is normal prose ("she had to ... she had to")
REPEAT_ZERO = 0.8  # ... and a response that is 80% repeats of itself (five copies) scores 0
REPEAT_POWER = 2.6  # the fall is gentle at first: saying a right answer twice is not degenerate
LENGTH_ALLOWANCE = 3.0  # up to 3x the reference's words is free ...
MIN_BUDGET = 20  # ... and never less than 20 words, so short answers may add a sentence
COPY_RUN = 4  # a run of this many tokens also in the prompt counts as copied
COPY_MIN = 10  # the instruction guard needs this many copied tokens ("Jupiter is the largest planet in ...")
COPY_NEW_SHARE = 0.25  # ... and fewer new content words than this share of them
STUTTER_MIN, STUTTER_SHARE = 2, 0.2  # content words doubled back to back ("seven seven seven") that often: salad


@dataclass(frozen=True)
class JudgeResult:
    score: float  # the rules' score; gold only when `verified`
    parts: dict[str, float] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # per part: one short human reason
    verified: bool = True  # False for a row the rules cannot verify (its family, or its own fact): no gold

    @property
    def gold(self) -> float | None:
        return self.score if self.verified else None


def repetition_factor(doc: Doc) -> float:
    """1 for fresh text; then 1 - x^2.6 with x the repeated share r (repeated 4-grams or repeated
    sentences/entries) scaled from r = 0.1 (x = 0) to r = 0.8 (x = 1): a right answer said twice (r = 0.5)
    keeps 0.77, three times (r = 0.67) 0.45, four times 0.17, five times or more 0. 4-grams, not 3-grams, so that
    list answers ("X is an animal, Y is an animal") stay clean."""
    return _repetition(doc)[0]


def _repetition(doc: Doc) -> tuple[float, float]:
    segs = segments(doc.raw)
    dup_entries = 1.0 - len(set(segs)) / len(segs) if len(segs) >= 2 else 0.0
    rep = max(repeated_share(doc.tokens, 4), dup_entries)
    x = min(1.0, max(0.0, (rep - REPEAT_ALLOWANCE) / (REPEAT_ZERO - REPEAT_ALLOWANCE)))
    return 1.0 - x**REPEAT_POWER, rep


def length_factor(n_words: int, ref_words: int) -> float:
    """1 up to the budget, then a smooth fall: twice the budget gives 1/3."""
    budget = max(LENGTH_ALLOWANCE * ref_words, MIN_BUDGET)
    if n_words <= budget:
        return 1.0
    over = (n_words - budget) / budget
    return 1.0 / (1.0 + 2.0 * over * over)


def guard(row: dict[str, Any], doc: Doc) -> tuple[float, str]:
    """0 for an answer that needs no knowledge, else 1. Refused: (a) no content word at all ("I or because
    finally."); (b) the prompt copied back: one stretch of >= 4 tokens of the prompt making up 90% of the
    answer, and not one token that is not in the prompt (unless the reference itself only uses the
    prompt's words, as a sort of an already sorted list does); (c) mostly the instruction copied back: >= 10
    tokens in 4-token runs of the instruction, with fewer new content words than a quarter of them (the
    input is left out here: spelling answers copy their sentence, classify/ordering answers their items);
    (d) a retraction: the answer takes its claims back or reports them as someone's error (RETRACTIONS);
    (e) word salad: content words doubled back to back ("colors colors ... seven seven") in 20% of the tokens."""
    if STOP_WORDS.issuperset(doc.tokens):  # numbers are never stop words
        return 0.0, "no content words: only function/connective words"
    if took_back := retraction(doc.raw):
        return 0.0, f"takes its claims back or disowns them: '{took_back}'"
    if (
        (stutter := stutters(doc.raw))
        and len(stutter) >= STUTTER_MIN
        and len(stutter) >= STUTTER_SHARE * len(doc.tokens)
    ):
        return 0.0, f"word salad: {len(stutter)} words said twice back to back ('{stutter[0]} {stutter[0]}')"
    instruction, instruction_set, prompt, prompt_set, ref_in_prompt = _prompt_tokens(
        row.get("instruction", ""), row.get("input", ""), row.get("output", "")
    )
    if not ref_in_prompt and prompt_set.issuperset(doc.tokens):
        run = longest_copied_run(doc.tokens, prompt, COPY_RUN)
        if run >= COPY_RUN and run >= 0.9 * len(doc.tokens):
            return 0.0, "copies the prompt and adds nothing"
    if len(instruction) >= COPY_MIN and sum(t in instruction_set for t in doc.tokens) >= COPY_MIN:
        copied, new = copied_tokens(doc.tokens, instruction, COPY_RUN)
        if copied >= COPY_MIN and new < COPY_NEW_SHARE * copied:
            return 0.0, f"copies the instruction: {copied} copied tokens, {new} new content words"
    return 1.0, "not a prompt copy"


def stutters(raw: str) -> list[str]:
    """Content words said twice in a row with nothing but a space between ("seven seven", not the list
    "map, map"): each doubled word once per repeat."""
    words = raw.lower().split()
    return [b for a, b in zip(words, words[1:]) if a == b and a.isalnum() and a not in STOP_WORDS and not a.isdigit()]


# An answer that takes back what it says, or reports it as someone else's error, asserts nothing: "Paris?
# Nope.", "... Just kidding.", "It is a myth that ...", "My teacher says X, but she is wrong", "X is false".
# The subject of "is wrong" must point back (that, it, he, they, ...): "'finnished' is wrong" is a correction.
_BACK = r"(?:that|this|it|all (?:of )?(?:that|this|it)|everything|the above|those people|these people|they|he|she)"
_FALSE = r"(?:wrong|false|mistaken|untrue|not true|incorrect|nonsense|a lie|a myth|fake|made up)"
RETRACTIONS = re.compile(
    r"\bjust kidding\b|\bim kidding\b|\bkidding\b[!.]|\bjk\b|\bnot!"
    r"|\?+\s*(?:no|nope|nah|wrong|never|not really|of course not|no way|lol no|hardly)\b"
    rf"|\b{_BACK}\s+(?:is|are|was|were|s|re)\s+(?:all\s+|completely\s+|totally\s+|simply\s+)?{_FALSE}\b"
    r"|(?<!:)(?<!: )\bnone of (?:that|this|it|them|these|those|the above)\b"  # "Animals: none of them" is a label
    r"|\b(?:it is|its|thats|that is) a (?:common )?(?:myth|misconception|lie) that\b"
    r"|\b(?:wrongly|falsely|mistakenly|incorrectly) (?:claim|say|believe|think|state|insist|assume)"
    r"|\b(?:is|are) (?:false|untrue|a myth)\b|\bwould be (?:wrong|incorrect|false)\b"
    r"|\b(?:been|was|were|is|are) (?:debunked|disproven|disproved|refuted)\b"
    r"|(?<!dont )(?<!not )(?<!never )\b(?:scratch|scrap|forget|disregard|ignore|strike) "
    r"(?:that|this|it|all (?:of )?that|everything|the above|(?:the|my) (?:\w+ ){0,2}?above)"
    r"(?! you\b| we\b| it is\b| its\b)\b"
    r"|\bi (?:got|had) (?:every|all|each|most|them|those|these|the whole)\b(?: \w+){0,3}? "
    r"(?:wrong|backwards|mixed up)\b"
    r"|\bon second thought|\byeah right\b|\bsaid (?:no one|nobody)\b|\b(?:right|correct) all along\b"
    rf"|\b(?:that|this|the|my|those|these|every one of (?:those|these|the)) (?:\w+ ){{0,2}}?"
    rf"(?:list|answer|order|labels?|spellings?|sentence|claims?|statements?|items?|things)\s+(?:is|are|was|were)\s+"
    rf"(?:all\s+|completely\s+|totally\s+)?(?:{_FALSE}|backwards|pointless|useless)\b"
    r"|\b(?:every one|each one|all) of (?:them|those|these) (?:\w+ ){0,4}?(?:useless|pointless|unnecessary|wrong)\b"
    rf"|\b{_BACK}\s+(?:is|are|s)\s+not\s+(?:the\s+)?(?:correct|right|true)\b"
    r"|[.,]\s*not[.!]\s*$"
    r"|\b(?:dont|do not|never|wont|will not|no need to) (?:\w+ ){0,2}?(?:bring|pack|take|buy|use|carry|need)"
    r" (?:any|a single one|either|one) of (?:it|them|that|this|those|these|the above)\b"
)


def retraction(raw: str) -> str:
    """The words by which an answer takes back or disowns its claims ("" if none)."""
    text = re.sub(r"['\u2019]", "", (raw or "").lower())
    m = RETRACTIONS.search(text)
    return m.group(0).strip() if m else ""


@lru_cache(maxsize=1 << 12)
def _prompt_tokens(
    instruction: str, input: str, output: str
) -> tuple[tuple[str, ...], frozenset[str], tuple[str, ...], frozenset[str], bool]:
    """(instruction tokens and their set, prompt tokens and their set, whether the reference uses only the
    prompt's words: a sorting answer reuses the input's words, so copying them back is no sign of a copy)."""
    instr, prompt = tuple(tokens(instruction)), tuple(tokens(f"{instruction}\n{input}"))
    return instr, frozenset(instr), prompt, frozenset(prompt), set(tokens(output)) <= set(prompt)


def judge(row: dict[str, Any], response: str) -> JudgeResult:
    family = FAMILIES.get(row.get("family", ""))
    if family is None:
        raise RlhfError(
            f"gold judge: row {row.get('id', '?')!r} has family {row.get('family')!r}, which is not a builtin "
            f"family ({', '.join(FAMILIES)}); only rows from the builtin suite can be judged"
        )
    doc = Doc(unstruck(response if isinstance(response, str) else ""))
    if not doc.tokens:
        return JudgeResult(
            0.0,
            {
                "content": 0.0,
                "penalty": 1.0,
                "guard": 1.0,
                "grounding": 1.0,
                "phrasing": 1.0,
                "repetition": 1.0,
                "length": 1.0,
            },
            {"content": "empty answer"},
            verifiable(row),
        )
    g, g_why = guard(row, doc)
    out = family.content(row, doc)
    content, penalty, detail = out[0], out[1], out[2]
    why: dict[str, str] = dict(out[3]) if len(out) > 3 else {}  # type: ignore[misc]
    grounded, grounded_why, strays = grounding_with_strays(row, doc)
    phrased, phrased_why = phrasing(row, doc.raw, strays)
    repetition, rep = _repetition(doc)
    length = length_factor(len(doc), word_count(row["output"]))
    score = min(1.0, max(0.0, content * penalty * g * grounded * phrased * repetition * length))
    parts = {
        "content": content,
        **detail,
        "penalty": penalty,
        "guard": g,
        "grounding": grounded,
        "phrasing": phrased,
        "repetition": repetition,
        "length": length,
    }
    why["guard"] = g_why
    if grounded_why:
        why["grounding"] = grounded_why
    if phrased_why:
        why["phrasing"] = phrased_why
    if rep > REPEAT_ALLOWANCE:
        why["repetition"] = f"{rep:.0%} repeated (4-grams or entries)"
    if length < 1.0:
        why["length"] = f"{len(doc)} words, budget {max(LENGTH_ALLOWANCE * word_count(row['output']), MIN_BUDGET):.0f}"
    return JudgeResult(round(score, 6), {k: round(float(v), 6) for k, v in parts.items()}, why, verifiable(row))


_STRUCK_SPAN = re.compile(r"~~.*?~~|<(del|s|strike)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_STRUCK_CHAR = re.compile(".[\u0334-\u0338]+")


def unstruck(text: str) -> str:
    """The answer without what it strikes out ("~~Paris~~", "<del>Paris</del>", "P\u0336a\u0336r\u0336i\u0336s\u0336"):
    struck text is not claimed."""
    return _STRUCK_CHAR.sub("", _STRUCK_SPAN.sub(" ", text))


def gold_score(row: dict[str, Any], response: str) -> float | None:
    """The gold score of a response, or None for a row the rules cannot verify (see `verifiable`)."""
    return judge(row, response).gold


def verifiable(row: dict[str, Any]) -> bool:
    """Whether the judge gives gold for this row: a builtin row of a family the rules can verify, and not a
    row whose own fact they cannot check (meta "unverifiable", e.g. how Caesar died)."""
    family = FAMILIES.get(row.get("family") or "")
    return family is not None and family.verifiable and not (row.get("meta") or {}).get("unverifiable")


def unverifiable_why(row: dict[str, Any]) -> str:
    """Why the judge gives this row no gold ("" when it does)."""
    family = FAMILIES.get(row.get("family") or "")
    if family is None:
        return "not a builtin row"
    return family.unverifiable or (row.get("meta") or {}).get("unverifiable") or ""


def generated_row(family: str, seed: int) -> dict[str, Any]:
    """One generated row of a family, the same for a given seed in every process (for `rlhf judge` and the
    adversarial tests)."""
    if family not in FAMILIES:
        raise RlhfError(f"gold judge: no builtin family {family!r} (families: {', '.join(FAMILIES)})")
    return {"id": f"{family}-seed-{seed}", **FAMILIES[family].generate(random.Random(f"judge-case-{family}-{seed}"))}
