"""What an answer says about a thing it names: recommended or advised against, kept or left out.

The list and free-text families credit a fact only where the answer asserts it. "Avoid drinking water"
names water but advises against it; "you don't need a tent" names a tent but leaves it out. These helpers
find a phrase in a clause and tell whether the clause turns it around. They work on the normalised,
stemmed tokens of text.py; everything is linear in the answer's length.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .claims import NEGATORS
from .text import normalize, tokens

# Words and phrases that advise against, remove or reduce what follows them in a clause. Stemmed forms
# (tokens() strips plurals) so "less", "fewer" and "avoids" all match.
REDUCERS = frozenset(
    "avoid avoiding stop stopping quit quitting skip skipping limit limiting reduce reducing cut cutting lower "
    "lowering less fewer without ban banning forget forgetting cancel cancelling unplug unplugging minimise "
    "minimize shorter decrease decreasing remove removing fix fixing repair repairing ditch drop prune trim "
    "ignore neglect weak junk unhealthy poor bad unsafe insecure irregular".split()
) | NEGATORS
# In a list scope also: "leave these at home: ..." ("leave" is not advice-reversing: "leaves" stems to it).
LIST_REDUCERS = REDUCERS | {"leave", "except", "excluding"}
REDUCER_PHRASES = ("turn off", "switch off", "give up", "cut down", "cut back", "instead of", "rather than",
                   "away from", "no more", "get rid of", "stay away", "keep away", "say no")
# After the phrase: "sleep is not important", "drive less", "turn the lights off".
POST_REDUCERS = frozenset("not isnt arent wasnt werent dont doesnt less fewer down off away never overrated "
                          "unimportant useless pointless unnecessary harmful bad waste dangerous unhealthy".split())
# Verbs that keep a thing in check: "manage your stress" and "reduce stress" are both fine advice.
NEUTRAL_VERBS = frozenset("manage managing control controlling handle handling watch check monitor".split())
# Clause breaks for advice: punctuation and the connectives that start a new piece of advice.
_CLAUSE = re.compile(r"[,;:.!?\n()\[\]]+|\s[-\u2013\u2014]+\s|\b(?:but|while|although|though|however|because|"
                     r"since|so|by|whereas|then)\b", re.I)
_SENTENCE = re.compile(r"[;.!?\n]+(?=\s|$)|\n|(?:^|(?<=\s))\d{1,2}[.)](?=\s)|(?:^|(?<=\s))[-*\u2022](?=\s)|\bbut\b",
                       re.I)
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+")


@lru_cache(maxsize=1 << 14)
def key_tokens(text: str) -> tuple[str, ...]:
    return tuple(tokens(text))


def find(toks: list[str], key: tuple[str, ...]) -> list[int]:
    n = len(key)
    if not n:
        return []
    return [i for i in range(len(toks) - n + 1) if toks[i] == key[0] and tuple(toks[i : i + n]) == key]


_BARE_DENIALS = frozenset("no nope never not nah".split())


def advice_clauses(raw: str) -> list[list[str]]:
    """Token lists of the answer's clauses (cut at commas, colons, sentence ends and connectives). A clause
    that is only a denial ("Exercise? No.") is folded into the one before it as a trailing "not"."""
    out: list[list[str]] = []
    for line in (raw or "").split("\n"):
        line = _LIST_MARKER.sub("", line)
        for c in _CLAUSE.split(line):
            t = tokens(c)
            if t and out and all(w in _BARE_DENIALS for w in t):
                out[-1] = out[-1] + ["not"]
            elif t:
                out.append(t)
    return out


def sentences(raw: str) -> list[list[str]]:
    """Token lists of sentences / list entries (not cut at commas: "no tent, no stove" is one scope)."""
    out = []
    for line in (raw or "").split("\n"):
        for s in _SENTENCE.split(_LIST_MARKER.sub("", line)):
            t = tokens(s)
            if t:
                out.append(t)
    return out


def _reducers(toks: list[str], lo: int, hi: int, skip: range, words: frozenset[str] = REDUCERS) -> list[int]:
    """Positions of reducer words / phrases in toks[lo:hi], outside the phrase itself."""
    out, i = [], lo
    while i < hi:
        if i in skip:
            i += 1
            continue
        two, three = " ".join(toks[i : i + 2]), " ".join(toks[i : i + 3])
        if two in REDUCER_PHRASES or three in REDUCER_PHRASES:
            out.append(i)
            i += 2 if two in REDUCER_PHRASES else 3
            continue
        if toks[i] in words:
            out.append(i)
        i += 1
    return out


def reversed_at(toks: list[str], pos: int, length: int, parity: bool = True) -> bool | None:
    """True when the clause advises against / leaves out the phrase at toks[pos:pos+length]. With parity
    (advice): the reducers nearest before it decide: "never exercise" is against, "don't skip sleep" is a
    run of two and so for it, "avoid smoking and limit alcohol" is against both. Without parity (a list
    scope: "no sunscreen, no towel") any reducer before it leaves it out, except a reminder ("don't
    forget"). Either way a negator right after it turns it ("sleep is not important", "drive less").
    None when only a reducer across "and" / "or" would turn it: "avoid cigarettes and alcohol" and "limit
    alcohol and exercise" read the same, so the caller gives it the reading the reference has."""
    span = range(pos, pos + length)
    found = _reducers(toks, 0, pos, span, REDUCERS if parity else LIST_REDUCERS)
    if parity:
        run = 0
        for j in reversed(found):  # the run of reducers closest to the phrase, each within 2 tokens of the next
            if run and j < last - 2:
                break
            run, last = run + 1, j
        rev = run % 2 == 1
        if rev and any(t in ("and", "or") for t in toks[found[-1] : pos]):
            rev = None
    else:
        joined = " ".join(toks[:pos])
        reminders = joined.count("dont forget") + joined.count("not forget") + joined.count("never forget")
        rev = len(found) - 2 * reminders > 0
    after = []
    for t in toks[pos + length : pos + length + 4]:
        if t in ("and", "or", "to", "for", "with"):
            break
        after.append(t)
    if any(t in POST_REDUCERS for t in after):
        rev = True if rev is None else not rev
    return rev


def neutral_before(toks: list[str], pos: int) -> bool:
    return any(t in NEUTRAL_VERBS for t in toks[max(0, pos - 2) : pos])


_ARTICLES = frozenset("a an the some more and or".split())


def only_keywords(toks: list[str], covered: set[int]) -> bool:
    """A clause that is nothing but the matched key words (a bare keyword, not advice)."""
    words = [i for i, t in enumerate(toks) if t not in _ARTICLES]
    return len(words) == 1 and words[0] in covered


def first_norm(text: str) -> str:
    return normalize(text).split(" ")[0] if normalize(text) else ""


def keyword_run(toks: list[str], covered: set[int]) -> bool:
    """A clause made only of key words (and articles, "and", "or"): "diet exercise sleep water"."""
    words = [i for i, t in enumerate(toks) if t not in _ARTICLES]
    return bool(words) and all(i in covered for i in words)


def copied_count(toks: list[str], prompt: list[str], n: int = 4) -> int:
    """How many of `toks` lie in runs of >= n tokens that also occur in the prompt."""
    if len(toks) < n or len(prompt) < n:
        return 0
    grams = {tuple(prompt[i : i + n]) for i in range(len(prompt) - n + 1)}
    covered = [False] * len(toks)
    for i in range(len(toks) - n + 1):
        if tuple(toks[i : i + n]) in grams:
            covered[i : i + n] = [True] * n
    return sum(covered)
