"""Claim helpers shared by the family judges: clauses, negation scope, hedging, numbers, "X - y" pairs.

A family judge grades what a response *asserts*, so it needs to know, for a phrase it found, whether the
response affirms it, denies it ("not Paris", "Paris is not ..."), sets it aside as a contrast ("unlike X",
"rather than X", "bigger than X"), or offers it as one of several hedged candidates ("Paris or Lyon").
Everything here works on the normalised tokens of text.py, with a few passes over the raw text where
punctuation carries the structure (clause breaks, "X: y" layouts, "23 + 45 = 68").
"""

from __future__ import annotations

import re
from functools import lru_cache

from .text import normalize, numbers_at, tokens  # noqa: F401  (numbers_at is re-exported)

# Words that name no fact: function words, connectives, politeness and filler. A response made only of
# these ("I or because finally.") asserts nothing.
STOP_WORDS = frozenset(
    """a an the and or but if then so because since as while whereas although though however therefore thus
    hence also too very really just only even still yet finally first second third next last lastly overall
    i me my mine we us our you your he him his she her it its they them their theirs this that these those
    there here who whom whose which what when where why how whether
    is are was were be been being am do doe did done doing have ha had having will would shall should can
    could may might must
    of in on at to for from by with about into onto over under after before between through during without
    within upon off out up down than like
    not no nor yes
    all any some each every both either neither other others another such same own more most much many few
    less least
    sure certainly absolutely definitely indeed course well okay ok great good nice happy glad thank thanks
    please hello hi dear sorry let lets im ive id youre thats theres heres whats its dont doesnt
    answer question response reply say said tell told think believe know guess see note mean clear obvious
    simple simply easy basically actually really truly quite rather etc thing something anything everything
    nothing way kind sort lot one""".split()
)

NEGATORS = frozenset(
    "not no never neither nor none nothing nobody cannot cant isnt arent wasnt werent dont doesnt didnt wont "
    "wouldnt shouldnt couldnt hasnt havent hadnt aint false wrong incorrect untrue nope".split()
)
# Phrases before a span that set it aside: it is the thing compared against, not the thing asserted.
CONTRASTS = ("unlike", "than", "rather than", "instead of", "except", "except for", "apart from", "other than",
             "compared to", "compared with", "as opposed to", "not like", "besides", "excluding")
# Negator phrases that do not negate ("no doubt", "not only ... but also").
_NOT_NEGATING = ("no doubt", "not only", "no question", "not just", "without doubt", "never mind")

HEDGES = frozenset("maybe perhaps possibly probably might guess unsure either".split())

# Clause breaks: sentence/clause punctuation and the connectives that start a new assertion.
_CLAUSE_SPLIT = re.compile(
    r"[.;:!?\n()\[\]]+(?=\s|$)|[;:!?\n()\[\]]|,|\s[-\u2013\u2014]+\s|"
    r"\b(?:but|while|whereas|although|though|however|instead|because|since|so|which|who)\b",
    re.I,
)
_SENTENCE_SPLIT = re.compile(r"\n+|(?:^|(?<=\s))\d{1,2}[.)](?=\s)|(?:^|(?<=\s))[-*\u2022](?=\s)|[.!?;]+(?=\s|$)")


def content_tokens(toks: list[str]) -> list[str]:
    """The tokens that could name a fact: not stop words (numbers always count)."""
    return [t for t in toks if t.isdigit() or t not in STOP_WORDS]


def sentences(raw: str) -> list[str]:
    """Raw sentences / list entries (newlines, list markers, sentence-final punctuation)."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(raw or "") if s and s.strip()]


def clauses(raw: str) -> list[str]:
    """Raw clauses: sentences further cut at commas, dashes, colons and clause-starting connectives."""
    return [c.strip() for c in _CLAUSE_SPLIT.split(raw or "") if c and c.strip() and normalize(c)]


@lru_cache(maxsize=1 << 12)
def _phrase_tokens(text: str) -> tuple[str, ...]:
    return tuple(tokens(text))


def _find(toks: list[str], needle: tuple[str, ...], start: int = 0) -> list[int]:
    n = len(needle)
    if not n:
        return []
    return [i for i in range(start, len(toks) - n + 1) if toks[i] == needle[0] and tuple(toks[i : i + n]) == needle]


def find_all(toks: list[str], text: str) -> list[int]:
    """Token positions where the phrase (matching form) starts."""
    return _find(toks, _phrase_tokens(text))


def _negator_at(toks: list[str], i: int) -> bool:
    if toks[i] not in NEGATORS:
        return False
    pair = " ".join(toks[i : i + 2])
    return not any(pair == p or pair.startswith(p + " ") for p in _NOT_NEGATING)


def negated_at(toks: list[str], pos: int, window: int = 4) -> bool:
    """True when a negator or a contrast marker stands up to `window` tokens before token `pos`
    ("not Paris", "isn't a plant", "unlike Twitter", "bigger than Saturn")."""
    lo = max(0, pos - window)
    if any(_negator_at(toks, i) for i in range(lo, pos)):
        return True
    for c in CONTRASTS:
        ct = _phrase_tokens(c)
        for i in range(max(0, pos - window - len(ct)), pos - len(ct) + 1):
            if tuple(toks[i : i + len(ct)]) == ct:
                return True
    return False


def clause_negated(toks: list[str]) -> bool:
    """True when the clause holds a negator anywhere ("Paris is not the capital", "it is not Paris")."""
    return any(_negator_at(toks, i) for i in range(len(toks)))


def hedged(toks: list[str]) -> bool:
    return any(t in HEDGES for t in toks) or "not sure" in " ".join(toks)


# "X - y", "X: y", "X = y", "X -> y", "X (y)": a left part and a right part of one line or comma item.
_PAIR = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])?\s*(.+?)\s*(?:[:=\u2013\u2014]|\s-+>?\s|->|=>|\s-\s)\s*(.+?)\s*$")
_PAREN = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])?\s*(.+?)\s*\((.+?)\)\s*$")


def pairs(raw: str) -> list[tuple[str, str]]:
    """(left, right) for every line of the form "X - y", "X: y", "X = y", "X -> y" or "X (y)";
    lines split at newlines and semicolons."""
    out: list[tuple[str, str]] = []
    for line in re.split(r"[\n;]+", raw or ""):
        m = _PAIR.match(line) or _PAREN.match(line)
        if m and normalize(m[1]) and normalize(m[2]):
            out.append((m[1], m[2]))
    return out


def copied_share(response: list[str], prompt: list[str], n: int = 4) -> tuple[int, int]:
    """(copied, outside): tokens of the response inside runs of >= n tokens that also occur in the prompt,
    and content tokens of the response outside such runs."""
    if len(response) < n or len(prompt) < n:
        return 0, len(content_tokens(response))
    grams = {tuple(prompt[i : i + n]) for i in range(len(prompt) - n + 1)}
    covered = [False] * len(response)
    for i in range(len(response) - n + 1):
        if tuple(response[i : i + n]) in grams:
            for j in range(i, i + n):
                covered[j] = True
    copied = sum(covered)
    outside = content_tokens([t for t, c in zip(response, covered) if not c])
    return copied, len(outside)
