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
CONTRASTS = (
    "unlike",
    "than",
    "rather than",
    "instead of",
    "except",
    "except for",
    "apart from",
    "other than",
    "compared to",
    "compared with",
    "as opposed to",
    "not like",
    "besides",
    "excluding",
)
# Beliefs reported of others set a phrase aside too ("many people guess Sydney, but ...").
CONTRASTS += (
    "people think",
    "people guess",
    "people say",
    "people believe",
    "some say",
    "some think",
    "mistaken for",
    "confused with",
    "confuse it with",
    "misconception",
    "not to be confused with",
)
# Roundabout negation sets a phrase aside too ("anything but a plant", "hardly an animal").
CONTRASTS += ("anything but", "far from", "hardly", "scarcely", "by no means", "in no way", "nowhere near")
# Negator phrases that do not negate ("no doubt", "not only ... but also").
_NOT_NEGATING = ("no doubt", "not only", "no question", "not just", "without doubt", "never mind")

HEDGES = frozenset("maybe perhaps perhap possibly probably might unsure".split())  # "perhap": the stemmed form
HEDGE_PHRASES = ("not sure", "i guess", "id guess", "my guess", "could be", "i am not certain", "im not certain")

# Clause breaks: sentence/clause punctuation and the connectives that start a new assertion.
_CLAUSE_SPLIT = re.compile(
    r"[.;:!?\n()\[\]]+(?=\s|$)|[;:!?\n()\[\]]|,|\s[-\u2013\u2014]+\s|"
    r"\b(?:but|while|whereas|although|though|however|instead|because|since|so|which|who)\b",
    re.I,
)
_SENTENCE_SPLIT = re.compile(r"\n+|(?:^|(?<=\s))\d{1,2}[.)](?=\s)|(?:^|(?<=\s))[-*\u2022](?=\s)|[.!?;]+(?=\s|$)")


# Assertion units: sentences, cut again where a contrastive or causal connective starts a new assertion.
# Commas do not cut a unit, so "not red, blue and yellow" keeps all three colours in the negation's scope.
_UNIT_SPLIT = re.compile(
    r"[.;!?\n]+(?=\s|$)|[;!?\n]|:(?=\s)|,\s*(?:no|nope|wait|no wait|actually|or rather|i mean)\s*,|"
    r"\b(?:but|while|whereas|although|though|however|instead|because|since|which|so|therefore|thus|hence)\b",
    re.I,
)
# An interjection at the start of a unit ("No, it is Paris.") answers something else: it negates nothing.
_INTERJECTION = re.compile(r"^\s*(?:no|nope|not quite|not really)\s*[,:\u2013\u2014-]+\s*", re.I)
# Chunks of a coordinated list: commas, slashes and the words "and" / "or".
_CHUNK_SPLIT = re.compile(r",|/|\bor\b|\band\b|&", re.I)
_VERBS = frozenset("is are was were be been do doe did does has have had it that this".split())


def units(raw: str) -> list[str]:
    """Raw assertion units (see _UNIT_SPLIT); a leading "No," is dropped."""
    return list(_units(raw or ""))


@lru_cache(maxsize=1 << 12)
def _units(raw: str) -> tuple[str, ...]:
    out = []
    for u in _UNIT_SPLIT.split(raw or ""):
        u = _INTERJECTION.sub("", u or "").strip()
        if normalize(u):
            out.append(u)
    return tuple(out)


def chunks(raw: str) -> list[str]:
    """The raw chunks of a coordinated list ("Paris, Lyon or Nice" -> Paris / Lyon / Nice)."""
    return [c.strip() for c in _CHUNK_SPLIT.split(raw or "") if c and normalize(c)]


AFFIRMED, NEGATED, CONTRAST = "affirmed", "negated", "contrast"


def status(toks: list[str], pos: int, n: int = 1) -> str:
    """What a unit says of the phrase at toks[pos:pos+n]: NEGATED when a negator stands anywhere before it
    in the unit ("not red, blue and yellow") or right after it as the subject ("Paris is not ..."),
    CONTRAST when a contrast marker stands just before it ("unlike X", "bigger than X"), else AFFIRMED."""
    if any(t in NEGATORS for t in toks[:pos]) and any(_negator_at(toks, i) for i in range(pos)):
        return NEGATED
    j = pos + n
    while j < len(toks) and j < pos + n + 3 and toks[j] in _VERBS:
        j += 1
    if j < len(toks) and j > pos + n and _negator_at(toks, j):
        return NEGATED
    if j < len(toks) and j == pos + n and toks[j] in ("isnt", "arent", "wasnt", "doesnt", "didnt", "dont"):
        return NEGATED
    if j == pos + n and _list_subject_negated(toks, j):
        return NEGATED
    return CONTRAST if _contrast_before(toks, pos, 3) else AFFIRMED


_LIST_JOINERS = frozenset({"and", "or"})
_NEGATED_VERBS = frozenset({"isnt", "arent", "wasnt", "werent", "doesnt", "didnt", "dont"})


def _list_subject_negated(toks: list[str], j: int) -> bool:
    """The phrase is one item of a listed subject whose verb is negated: "red, blue and yellow are not ..."."""
    k, joined = j, False
    while k < len(toks) and k < j + 6 and toks[k] not in _VERBS and toks[k] not in _NEGATED_VERBS:
        if toks[k] in NEGATORS:
            return False
        joined |= toks[k] in _LIST_JOINERS
        k += 1
    if not joined or k >= len(toks) or k == j:
        return False
    if toks[k] in _NEGATED_VERBS:
        return True
    v = k
    while v < len(toks) and v < k + 3 and toks[v] in _VERBS:
        v += 1
    return v < len(toks) and v > k and _negator_at(toks, v)


def mentions(raw: str, phrases: dict[str, list[str]]) -> list[tuple[str, str, int]]:
    """(name, status, unit index) of every mention of each named group of phrases, unit by unit."""
    out = []
    for ui, unit in enumerate(units(raw)):
        toks = tokens(unit)
        for name, group in phrases.items():
            for ph in group:
                pt = _phrase_tokens(ph)
                for pos in _find(toks, pt):
                    out.append((name, status(toks, pos, len(pt)), ui))
    return out


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
    if not n or needle[0] not in toks:
        return []
    return [i for i in range(start, len(toks) - n + 1) if toks[i] == needle[0] and tuple(toks[i : i + n]) == needle]


class PhraseIndex:
    """Many named phrases, found in one pass over a token list (indexed by their first token)."""

    def __init__(self, named: dict[str, list[str]]):
        self.by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for name, group in named.items():
            for ph in group:
                pt = _phrase_tokens(ph)
                if pt:
                    self.by_first.setdefault(pt[0], []).append((name, pt))

    def scan(self, toks: list[str]) -> list[tuple[str, int, int]]:
        """(name, position, length) of every match."""
        out = []
        for i, t in enumerate(toks):
            for name, pt in self.by_first.get(t, ()):
                if tuple(toks[i : i + len(pt)]) == pt:
                    out.append((name, i, len(pt)))
        return out


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
    return any(_negator_at(toks, i) for i in range(lo, pos)) or _contrast_before(toks, pos, window)


@lru_cache(maxsize=1)
def _contrasts_by_last() -> dict[str, tuple[tuple[str, ...], ...]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for c in CONTRASTS:
        ct = _phrase_tokens(c)
        out.setdefault(ct[-1], []).append(ct)
    return {k: tuple(v) for k, v in out.items()}


def _contrast_before(toks: list[str], pos: int, window: int) -> bool:
    """A contrast phrase ending within `window` tokens before `pos`."""
    by_last = _contrasts_by_last()
    for j in range(max(0, pos - window), pos):
        for ct in by_last.get(toks[j], ()):
            if j + 1 >= len(ct) and tuple(toks[j + 1 - len(ct) : j + 1]) == ct:
                return True
    return False


def clause_negated(toks: list[str]) -> bool:
    """True when the clause holds a negator anywhere ("Paris is not the capital", "it is not Paris")."""
    return any(_negator_at(toks, i) for i in range(len(toks)))


def hedged(toks: list[str]) -> bool:
    text = f" {' '.join(toks)} "
    return any(t in HEDGES for t in toks) or any(f" {h} " in text for h in HEDGE_PHRASES)


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


def longest_copied_run(response: list[str], prompt: tuple[str, ...], n: int = 4) -> int:
    """Tokens in the longest stretch of the response whose every n-gram also occurs in the prompt."""
    if len(response) < n or len(prompt) < n:
        return 0
    grams = _grams(prompt, n)
    best = run = 0
    for i in range(len(response) - n + 1):
        run = run + 1 if tuple(response[i : i + n]) in grams else 0
        best = max(best, run)
    return best + n - 1 if best else 0


def copied_tokens(response: list[str], prompt: tuple[str, ...], n: int = 4) -> tuple[int, int]:
    """(copied, new): tokens of the response inside runs of >= n tokens that also occur in the prompt, and
    content tokens of the response outside such runs."""
    if len(response) < n or len(prompt) < n:
        return 0, len(content_tokens(response))
    grams = _grams(prompt, n)
    covered = [False] * len(response)
    for i in range(len(response) - n + 1):
        if tuple(response[i : i + n]) in grams:
            covered[i : i + n] = [True] * n
    return sum(covered), len(content_tokens([t for t, c in zip(response, covered) if not c]))


@lru_cache(maxsize=1 << 12)
def _grams(prompt: tuple[str, ...], n: int) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(prompt[i : i + n]) for i in range(len(prompt) - n + 1))
