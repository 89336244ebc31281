"""What an answer says about a thing it names: recommended or advised against, kept or left out.

The list and free-text families credit a fact only where the answer asserts it. "Avoid drinking water"
names water but advises against it; "you don't need a tent" names a tent but leaves it out. These helpers
find a phrase in a clause and tell whether the clause turns it around. They work on the normalised,
stemmed tokens of text.py; everything is linear in the answer's length.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .claims import NEGATORS
from .text import _APOSTROPHES, _DIGIT_GROUPING, stem, tokens

# Words and phrases that advise against, remove or reduce what follows them in a clause. Stemmed forms
# (tokens() strips plurals) so "less", "fewer" and "avoids" all match.
REDUCERS = (
    frozenset(
        "avoid avoiding stop stopping quit quitting skip skipping limit limiting reduce reducing cut cutting lower "
        "lowering less fewer without ban banning forget forgetting cancel cancelling unplug unplugging minimise "
        "minimize shorter decrease decreasing remove removing fix fixing repair repairing ditch drop prune trim "
        "ignore neglect weak junk unhealthy poor bad unsafe insecure irregular rarely seldom hardly barely".split()
    )
    | NEGATORS
)
# In a list scope also: "leave these at home: ..." ("leave" is not advice-reversing: "leaves" stems to it).
LIST_REDUCERS = REDUCERS | {"leave", "except", "excluding"}
REDUCER_PHRASES = (
    "turn off",
    "switch off",
    "give up",
    "cut down",
    "cut back",
    "instead of",
    "rather than",
    "away from",
    "no more",
    "get rid of",
    "stay away",
    "keep away",
    "say no",
)
# After the phrase: "sleep is not important", "drive less", "turn the lights off".
POST_REDUCERS = frozenset(
    "not isnt arent wasnt werent dont doesnt less fewer down off away never overrated "
    "unimportant useless pointless unnecessary harmful bad waste dangerous unhealthy "
    "rarely seldom hardly barely".split()
)
# Two-word amounts after the phrase that reduce it: "sleep as little as possible".
POST_REDUCER_PAIRS = frozenset(
    {("as", "little"), ("very", "little"), ("too", "little"), ("as", "few"), ("a", "minimum")}
)
# Verbs that keep a thing in check: "manage your stress" and "reduce stress" are both fine advice.
NEUTRAL_VERBS = frozenset("manage managing control controlling handle handling watch check monitor".split())


@lru_cache(maxsize=1 << 14)
def key_tokens(text: str) -> tuple[str, ...]:
    return tuple(tokens(text))


def find(toks: list[str], key: tuple[str, ...]) -> list[int]:
    n = len(key)
    if not n:
        return []
    return [i for i in range(len(toks) - n + 1) if toks[i] == key[0] and tuple(toks[i : i + n]) == key]


# One pass over the answer: word tokens (as text.tokens makes them) and the punctuation that structures it.
_TOK = re.compile(r"[a-z0-9]+|\n|[.;!?]+(?=\s|$)|[,:()\[\]]|(?:(?<=\s)|^)-+(?=\s)")
_SENT_END = frozenset({"\n", "but"})
_CLAUSE_WORDS = frozenset("but while although though however because since so by whereas then".split())
_SEG_PUNCT = frozenset(",:()[]")


@lru_cache(maxsize=1 << 15)
def _word(w: str) -> str:
    return stem(w)


@lru_cache(maxsize=4096)
def _stream(raw: str) -> tuple[str, ...]:
    """Word tokens and structure marks ("\n", ".", ",", "-") of a text; list markers ("1.", "2)", "- ") dropped."""
    text = unicodedata.normalize("NFKD", raw or "").encode("ascii", "ignore").decode("ascii").lower()
    text = _DIGIT_GROUPING.sub("", _APOSTROPHES.sub("", text))
    found = _TOK.findall(text)
    out: list[str] = []
    line_start = True
    i = 0
    while i < len(found):
        t = found[i]
        if line_start and t.isdigit() and len(t) <= 2 and i + 1 < len(found) and found[i + 1][0] in ".)":
            i += 2  # "1." / "2)" list marker
            line_start = False
            continue
        if line_start and t[0] == "-":
            i += 1
            line_start = False
            continue
        line_start = t == "\n"
        out.append(t if not t[0].isalnum() else _word(t))
        i += 1
    return tuple(out)


def _is_mark(t: str) -> bool:
    return not t[0].isalnum()


_DENIAL_WORDS = frozenset("no not nope never needed necessary required unnecessary useless it that thi is".split())


def sentences(raw: str) -> list[list[str]]:
    """Token lists of sentences / list entries (not cut at commas: "no tent, no stove" is one scope). A
    sentence that only denies ("Towel? Not needed.") is folded into the one before as a trailing "not"."""
    out: list[list[str]] = []
    for s in sentence_segments(raw):
        toks = [t for sg in s for t in sg]
        if out and all(t in _DENIAL_WORDS for t in toks) and any(t in NEGATORS for t in toks):
            out[-1] = out[-1] + ["not"]
        else:
            out.append(toks)
    return out


@lru_cache(maxsize=4096)
def _sentence_segments(raw: str) -> tuple[tuple[tuple[str, ...], ...], ...]:
    out, sent, seg = [], [], []
    for t in _stream(raw) + ("\n",):
        if t in _SENT_END or (t[0] in ".;!?"):
            if seg:
                sent.append(tuple(seg))
            if sent:
                out.append(tuple(sent))
            sent, seg = [], []
        elif t in _SEG_PUNCT or t[0] == "-":
            if seg:
                sent.append(tuple(seg))
            seg = []
        else:
            seg.append(t)
    return tuple(out)


def sentence_segments(raw: str) -> list[list[list[str]]]:
    """Sentences (cut at sentence ends, newlines and "but"), each as its comma / bracket segments."""
    return [[list(sg) for sg in s] for s in _sentence_segments(raw)]


def first_sentence(raw: str) -> list[str]:
    """Tokens up to the first sentence end (not cut at commas or "but": "Sure, but I can't ...")."""
    out = []
    for t in _stream(raw):
        if t == "\n" or t[0] in ".;!?":
            if out:
                break
            continue
        if t[0].isalnum():
            out.append(t)
    return out


_BARE_DENIALS = frozenset("no nope never not nah".split())


def advice_clauses(raw: str) -> list[list[str]]:
    """Token lists of the answer's clauses (cut at commas, colons, sentence ends and connectives). A clause
    that is only a denial ("Exercise? No.") is folded into the one before it as a trailing "not"."""
    out: list[list[str]] = []
    cur: list[str] = []
    for t in _stream(raw) + ("\n",):
        if _is_mark(t) or t in _CLAUSE_WORDS:
            if cur and out and all(w in _BARE_DENIALS for w in cur):
                out[-1] = out[-1] + ["not"]
            elif cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    return out


@lru_cache(maxsize=8192)
def _reducer_marks(toks: tuple[str, ...], list_scope: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(positions of reducer words / phrases, positions of reminders "don't forget") in a clause, once."""
    words = LIST_REDUCERS if list_scope else REDUCERS
    out, reminders, i, n = [], [], 0, len(toks)
    while i < n:
        two = toks[i] + " " + toks[i + 1] if i + 1 < n else ""
        three = two + " " + toks[i + 2] if i + 2 < n else ""
        if two in REDUCER_PHRASES or three in REDUCER_PHRASES:
            out.append(i)
            i += 2 if two in REDUCER_PHRASES else 3
            continue
        if toks[i] in words:
            out.append(i)
            if toks[i] == "forget" and i and toks[i - 1] in ("dont", "not", "never"):
                reminders.append(i)
        i += 1
    return tuple(out), tuple(reminders)


_RELATIVE = frozenset("you that which who when if".split())


def is_reducer(key: tuple[str, ...]) -> bool:
    """A key that is itself a reducing action ("unplug", "turn off"): what follows it is its object, not its
    stance ("unplug devices you are not using" recommends unplugging)."""
    return " ".join(key) in REDUCER_PHRASES or (len(key) == 1 and key[0] in REDUCERS)


def reversed_at(toks: list[str], pos: int, length: int, parity: bool = True) -> bool | None:
    """True when the clause advises against / leaves out the phrase at toks[pos:pos+length]. With parity
    (advice): the reducers nearest before it decide: "never exercise" is against, "don't skip sleep" is a
    run of two and so for it, "avoid smoking and limit alcohol" is against both. Without parity (a list
    scope: "no sunscreen, no towel") any reducer before it leaves it out, except a reminder ("don't
    forget"). Either way a negator right after it turns it ("sleep is not important", "drive less").
    None when only a reducer across "and" / "or" would turn it: "avoid cigarettes and alcohol" and "limit
    alcohol and exercise" read the same, so the caller gives it the reading the reference has."""
    marks, reminders = _reducer_marks(tuple(toks), not parity)
    found = [j for j in marks if j < pos]
    if parity:
        run, last = 0, pos
        for j in reversed(found):  # the run of reducers closest to the phrase, each within 2 tokens of the next
            if run and j < last - 2:
                break
            run, last = run + 1, j
        rev = run % 2 == 1
        if rev and any(t in ("and", "or") for t in toks[found[-1] : pos]):
            rev = None
    else:
        rev = len(found) - 2 * sum(1 for j in reminders if j < pos) > 0
    after = []
    for t in toks[pos + length : pos + length + 4] if not is_reducer(tuple(toks[pos : pos + length])) else ():
        if t in ("and", "or", "to", "for", "with") or t in _RELATIVE:  # "devices you are not using": not a turn
            break
        after.append(t)
    if any(t in POST_REDUCERS for t in after) or any(p in POST_REDUCER_PAIRS for p in zip(after, after[1:])):
        rev = True if rev is None else not rev
    elif not parity and _list_then_denied(toks, pos + length):
        rev = True  # "a tent, a stove and a map are not needed": the verb after the list turns every item
    return rev


_BE = frozenset("is are was were".split())


def _list_then_denied(toks: list[str], start: int) -> bool:
    """A list that goes on from `start` ("..., a stove and a map") to a be-verb that denies it ("are not needed")."""
    k = next((i for i in range(start, min(len(toks), start + 12)) if toks[i] in _BE), None)
    if k is None or not any(t in ("and", "or") for t in toks[start:k]):
        return False
    return any(t in POST_REDUCERS for t in toks[k + 1 : k + 3])


def neutral_before(toks: list[str], pos: int) -> bool:
    return any(t in NEUTRAL_VERBS for t in toks[max(0, pos - 2) : pos])


_ARTICLES = frozenset("a an the some more and or".split())


def only_keywords(toks: list[str], covered: set[int]) -> bool:
    """A clause that is nothing but the matched key words (a bare keyword, not advice)."""
    words = [i for i, t in enumerate(toks) if t not in _ARTICLES]
    return len(words) == 1 and words[0] in covered


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
