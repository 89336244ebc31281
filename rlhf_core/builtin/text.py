"""Text normalisation and matching shared by every family's judge.

Everything is compared on normalised tokens: ASCII-folded, lowercased, apostrophes dropped
("can't" -> "cant"), other punctuation turned into spaces, and a light plural stem applied, so
"Tents!" and "tent" match. Phrases are matched as contiguous token runs, never as raw substrings,
so "cat" does not match inside "category".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_DIGIT_GROUPING = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# Splits a response into list entries / sentences: newlines, "1." / "2)" markers, bullets,
# and sentence-final punctuation that is followed by a space (so "3.5" stays whole).
_SEGMENT_SPLIT = re.compile(r"\n+|(?:^|(?<=\s))\d{1,2}[.)](?=\s)|(?:^|(?<=\s))[-*\u2022](?=\s)|[.!?;]+(?=\s|$)")
# A finer split for comma lists: additionally commas and the words "and" / "or".
_LIST_SPLIT = re.compile(r",|\band\b|\bor\b|&")

UNIT_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """Strip a simple English plural; applied to both sides of every comparison."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Superscript and subscript digits are exponents and indices: folded to ASCII they would glue onto the number
# before them ("2\u2075" would read as 25), so they stay apart ("2 ^5").
SCRIPT_DIGITS = str.maketrans(
    {
        c: f" ^{i} "
        for s in (
            "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079",
            "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089",
        )
        for i, c in enumerate(s)
    }
)


def normalize(text: str) -> str:
    """Lowercase ASCII text with punctuation replaced by single spaces (no stemming)."""
    text = _DEGREE.sub(" degrees ", text)  # "100°C": the sign would vanish and glue the number to its unit
    text = text.translate(SCRIPT_DIGITS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _APOSTROPHES.sub("", text.lower())
    text = _DIGIT_GROUPING.sub("", text)
    return _NON_ALNUM.sub(" ", text).strip()


_DEGREE = re.compile("(?<=\\d)\\s*[\u00b0\u00ba]")


def tokens(text: str) -> list[str]:
    return list(_tokens(text))


@lru_cache(maxsize=1 << 15)
def _tokens(text: str) -> tuple[str, ...]:
    # cached: the claim readers tokenise the same units, phrases and references many times per answer
    return tuple(stem(t) for t in normalize(text).split())


@lru_cache(maxsize=1 << 16)
def phrase(text: str) -> str:
    """A phrase in matching form: stemmed tokens joined by single spaces."""
    return " ".join(tokens(text))


@lru_cache(maxsize=1 << 14)
def word_count(text: str) -> int:
    return len(normalize(text).split())


class Doc:
    """A response (or reference) prepared for matching."""

    __slots__ = ("raw", "tokens", "padded")

    def __init__(self, raw: str):
        self.raw = raw or ""
        self.tokens = tokens(self.raw)
        self.padded = " " + " ".join(self.tokens) + " "

    def __len__(self) -> int:
        return len(self.tokens)

    def has(self, text: str) -> bool:
        p = phrase(text)
        return bool(p) and f" {p} " in self.padded

    def has_any(self, texts: Iterable[str]) -> bool:
        return any(self.has(t) for t in texts)

    def count_any(self, texts: Iterable[str]) -> int:
        return sum(1 for t in texts if self.has(t))

    def positions(self, text: str) -> list[int]:
        """Token indices where the phrase starts."""
        p = phrase(text)
        if not p:
            return []
        needle, out, start = f" {p} ", [], 0
        while (off := self.padded.find(needle, start)) >= 0:
            out.append(self.padded.count(" ", 0, off + 1) - 1)
            start = off + 1
        return out

    def numbers(self) -> list[int]:
        return parse_numbers(self.tokens)


def parse_numbers(toks: list[str]) -> list[int]:
    """Integers written as digits or as English words up to the hundreds ("sixty eight")."""
    return [value for _, value in numbers_at(toks)]


def numbers_at(toks: list[str]) -> list[tuple[int, int]]:
    """(token position, value) of every integer written as digits or English words."""
    return [(start, value) for start, _, value in number_spans(toks)]


def number_spans(toks: list[str]) -> list[tuple[int, int, int]]:
    """(first token, one past the last token, value) of every integer written as digits or English words."""
    out: list[tuple[int, int, int]] = []
    i, n = 0, len(toks)
    while i < n:
        t, start = toks[i], i
        if t.isdigit():
            out.append((i, i + 1, int(t)))
            i += 1
            continue
        if t not in UNIT_WORDS and t not in _TENS:
            i += 1
            continue
        value, i = _parse_below_100(toks, i)
        if i < n and toks[i] == "hundred" and 10 < value < 100 and value % 10:
            value *= 100  # "seventy-nine hundred" is 7,900
            i += 1
        elif i < n and toks[i] == "hundred" and 0 < value < 10:
            value *= 100
            i += 1
            if i + 1 < n and toks[i] == "and" and (toks[i + 1] in UNIT_WORDS or toks[i + 1] in _TENS):
                i += 1
            if i < n and (toks[i] in UNIT_WORDS or toks[i] in _TENS):
                rest, i = _parse_below_100(toks, i)
                value += rest
        out.append((start, i, value))
    return out


def _parse_below_100(toks: list[str], i: int) -> tuple[int, int]:
    t = toks[i]
    if t in UNIT_WORDS:
        return UNIT_WORDS[t], i + 1
    value = _TENS[t]
    if i + 1 < len(toks) and 0 < UNIT_WORDS.get(toks[i + 1], 0) < 10:
        return value + UNIT_WORDS[toks[i + 1]], i + 2
    return value, i + 1


def segments(text: str, commas: bool = False) -> list[str]:
    """Normalised list entries / sentences of a response; with commas=True also comma items."""
    parts = _SEGMENT_SPLIT.split(text or "")
    if commas:
        parts = [q for p in parts for q in _LIST_SPLIT.split(p)]
    return [s for s in (normalize(p) for p in parts) if s]


def repeated_share(toks: list[str], n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one (0 = no repetition)."""
    grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
    if len(grams) < 2:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)
