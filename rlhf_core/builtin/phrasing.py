"""Phrasing: in the families whose answer is a value, an answer must be said in a form the judge reads.

Grounding admits every word that the row, the family or plain framing accounts for. A reader of the rules
then builds claims from accounted words in forms no rule reads: "Helsinki has Finland as its capital",
"5 x 6 = 30 or so", "Dodoma would be the capital of Tanzania, had Tanzania a capital", "the numerator and
the denominator of 1/4 can be divided by 4". So for these families the judge also reads the answer's form.
Each value is replaced by its role (the city, the country, a rival city; the fraction a/b, the fraction p/q,
the factor k; an item to sort; a key fact). Then every pair of neighbouring tokens must occur in a form the
judge knows: the row's own text, the references of the family's generated rows, or the family's documented
phrasings (`FORMS`, `GENERIC`). Each stretch of unknown pairs is a form no rule read. It multiplies the score
by PHRASE_FACTOR (README: "Phrasing").

Word pairs, not whole sentences: known forms combine ("Paris, not Lyon, is the capital of France" from "Paris,
not Lyon" and "Paris is the capital of France"). The content rules still judge what a known form claims.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from .base import load_facts
from .grounding import own_fact
from .text import number_spans, stem

PHRASE_FACTOR = 0.25  # each stretch of the answer in a form the judge does not know quarters the score
VOCAB_ROWS = 250  # generated rows whose references are known forms (their pairs are the same from 250 to 2,000 rows)

Skeleton = tuple[frozenset[str], ...]  # per token: its roles (slot names, upper case) or the word itself

# Openers that frame a sentence without claiming anything ("Sure, ...", "Good question!").
_OPENER = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|yes|well|absolutely|no problem|great question|good question"
    r"|here you go|here you are)\b\s*[,:!.\-\u2013\u2014]*\s*)+",
    re.I,
)
_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+")  # "1. ", "2) ", "- ", "* ": list markers
_UNITS = re.compile(r"\n+|[.!?;]+[\"'\u201d\u2019)]*(?=\s|$)")  # lines and sentences; "6.30" and "D.C." stay whole
_TOKEN = re.compile(
    r"(?:(?<![\w)])-)?\d+(?:,\d{3})*(?:\.\d+)?(?:\s*/\s*\d+)?"  # 12, -3, 8,849, 6.30, 4/16, 16 / 4
    r"|[^\W\d_]+(?:'[^\W\d_]+)*"  # words (with inner apostrophes, which spelling keeps)
    r"|->|[,:()=+\-/<>*]"  # the signs a form may use; other signs are layout and are dropped
)
_IS_NUMBER = re.compile(r"-?\d")
_SIGNS = str.maketrans(
    {
        "\u2212": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u00d7": " x ",
        "\u00f7": " / ",
        "\u2192": " -> ",
        "\u21d2": " -> ",
        "\u2018": "'",
        "\u2019": "'",
        "`": "'",
    }
)


# "Eight sixes make forty-eight": a plural number word counts groups, and is not stemmed into a number.
GROUPS = frozenset("twos threes fours fives sixes sevens eights nines tens".split())


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=1 << 14)
def lex(unit: str, literal: bool = False) -> tuple[str, ...]:
    """The tokens of one unit: lowercased words, numbers (with sign, decimals, "a/b") and form signs.

    By default words are ASCII-folded, "'s" is its own token, other apostrophes are dropped, hyphens inside
    words split them ("sixty-eight") and plurals are stemmed. `literal` keeps letters, apostrophes and plurals
    as written, for spelling, where "finíshed", "does'nt" and "voices" are the claims being judged."""
    text = unit.translate(_SIGNS).lower().replace("=>", " -> ")
    if not literal:
        text = _fold(text)
        text = re.sub(r"'s\b", " s", text).replace("'", "")
    text = re.sub(r"(?<=[^\W\d_])-(?=[^\W\d_])", " ", text)
    text = re.sub(r"(?<=\d)x(?=\d)", " x ", text)  # "4x4"
    out = []
    for t in _TOKEN.findall(text):
        if t[0].isalpha() and not literal and t not in GROUPS:
            t = stem(t)
        out.append(t)
    return tuple(out)


def units(raw: str) -> list[str]:
    """The answer's lines and sentences, without list markers and sentence openers."""
    out = []
    for line in (raw or "").splitlines():
        for part in _UNITS.split(_MARKER.sub("", line)):
            part = _OPENER.sub("", part).strip()
            if part:
                out.append(part)
    return out


def _number_value(tok: str) -> float | None:
    t = tok.replace(",", "")
    try:
        return float(t)
    except ValueError:
        return None


class Roles:
    """A row's values and their roles: word phrases (longest first) and a function of a number's value."""

    def __init__(
        self,
        phrases: dict[tuple[str, ...], str],
        number: Any = None,
        fraction: Any = None,
        literal: bool = False,
        generic: frozenset[str] = frozenset(),
        lists: frozenset[str] = frozenset(),
    ):
        self.by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}  # longest first
        for key, role in sorted(phrases.items(), key=lambda kv: -len(kv[0])):
            self.by_first.setdefault(key[0], []).append((key, role))
        self.generic = generic  # roles the forms name, which the row's own text names by index only
        self.lists = lists  # roles a sentence may list bare ("finished, restaurant"), and nothing else
        self.number = number or (lambda v: {"N"})
        self.fraction = fraction or (lambda a, b: {"N"})
        self.literal = literal

    def skeleton(self, unit: str) -> Skeleton:
        toks = [t for t in lex(unit, self.literal) if not (self.literal and t == ",")]
        words = [t if t.isalpha() else "" for t in toks]
        spans = {s: (e, v) for s, e, v in number_spans(words) if not toks[s].isdigit()}  # number words
        out: list[frozenset[str]] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t in self.by_first:
                hit = next((p for p in self.by_first[t] if tuple(toks[i : i + len(p[0])]) == p[0]), None)
                if hit:
                    out.append(frozenset(hit[1].split("|")))
                    i += len(hit[0])
                    continue
            if i in spans:  # a number word may also be a word of a form ("the two fractions")
                end, value = spans[i]
                out.append(frozenset(self.number(float(value))) | ({t} if end == i + 1 else set()))
                i = end
                continue
            if _IS_NUMBER.match(t):
                if "/" in t:
                    a, b = t.replace(" ", "").split("/")
                    out.append(frozenset(self.fraction(_number_value(a), _number_value(b))))
                else:
                    out.append(frozenset(self.number(_number_value(t))))
            else:
                out.append(frozenset({t}))
            i += 1
        return tuple(x for j, x in enumerate(out) if not j or x != out[j - 1])  # "of of": a stutter, read once


def _phrase_key(text: str, literal: bool = False) -> tuple[str, ...]:
    return lex(text, literal)


def _phrases(texts: Iterable[str], slot: str, literal: bool = False) -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for text in texts:
        for variant in {text, re.sub(r"^the\s+", "", text, flags=re.I)}:
            key = _phrase_key(variant, literal)
            if key:
                out.setdefault(key, slot)
    return out


# ---- roles per family ---------------------------------------------------------------------------------


@cache
def _capitals() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((country, (city, *alts)) for country, city, alts in load_facts("capitals"))


def _capital_roles(row: dict[str, Any]) -> Roles:
    from .fam_facts import OTHER_CITIES
    from .grounding import DEMONYMS

    meta = row.get("meta") or {}
    country, answers = str(meta.get("country", "")), [str(a) for a in meta.get("answers", [])]
    phrases: dict[tuple[str, ...], str] = {}
    phrases.update(_phrases(answers, "C"))
    phrases.update({k: v for k, v in _phrases([country], "K").items() if k not in phrases})
    for key in map(_phrase_key, DEMONYMS.get(country, "").split()):  # "Philippine": also the stem of the country
        for k in (key, ("the", *key)):
            if k in phrases or k == key:
                phrases[k] = "K|D" if phrases.get(k) == "K" else "D"
    for other, cities in _capitals():
        if other != country:
            phrases.update({k: v for k, v in _phrases(cities, "R").items() if k not in phrases})
            phrases.update({k: v for k, v in _phrases([other], "Q").items() if k not in phrases})
    phrases.update({k: v for k, v in _phrases(OTHER_CITIES, "R").items() if k not in phrases})
    return Roles(phrases)


def _arithmetic_roles(row: dict[str, Any]) -> Roles:
    return Roles({})  # every number is a number: the content rules check which is which


def _fraction_roles(row: dict[str, Any]) -> Roles:
    meta = row.get("meta") or {}
    a, b, p, q, k = (float(meta.get(x, -1)) for x in "abpqk")
    names = {"A": a, "B": b, "P": p, "Q": q, "K": k}

    def number(v: float | None) -> set[str]:
        return {n for n, x in names.items() if v == x} or {"N"}

    def fraction(x: float | None, y: float | None) -> set[str]:
        roles = {"FA": (a, b), "FP": (p, q), "AK": (a, k), "BK": (b, k)}  # "16/4 = 4" divides b by k
        out = {n for n, xy in roles.items() if (x, y) == xy}
        if x is not None and x == y and x > 0:
            out.add("ONE")  # "k/k": a form of 1, used to scale
        return out or {"FX"}

    return Roles({}, number, fraction)


# The direction of a sort, named in the answer: the row's own direction is a role, the other one a wrong claim.
ASCENDING = (
    "smallest to largest",
    "lowest to highest",
    "least to greatest",
    "ascending",
    "increasing",
    "alphabetical",
    "alphabetically",
    "a to z",
)
DESCENDING = (
    "largest to smallest",
    "highest to lowest",
    "greatest to least",
    "descending",
    "decreasing",
    "reverse alphabetical",
    "reverse alphabetically",
    "z to a",
)


def _ordering_roles(row: dict[str, Any]) -> Roles:
    meta = row.get("meta") or {}
    order = [str(x) for x in meta.get("order", [])]
    values = {_number_value(x) for x in order} - {None}
    own, other = (DESCENDING, ASCENDING) if meta.get("descending") else (ASCENDING, DESCENDING)
    phrases = {**_phrases(other, "XDIR"), **_phrases(own, "DIR")}
    if not values:
        phrases.update(_phrases(order, "I"))

    def number(v: float | None) -> set[str]:
        return {"I"} if v in values else {"N"}

    return Roles(phrases, number)


def _spelling_roles(row: dict[str, Any]) -> Roles:
    """Each error and its fix, found by aligning the input with the corrected sentence word by word: "E1" /
    "F1" for the first, "E2" / "F2" for the second ..., and generically "E" / "F" for the forms. A fix also
    matches written out ("doesn't": "does not") and in its American spelling ("favourite": "favorite")."""
    from .fam_text import spelling_variants

    wrong = lex(row.get("input", ""), literal=True)
    right = lex(str((row.get("meta") or {}).get("correct", "")), literal=True)
    phrases: dict[tuple[str, ...], str] = {}
    spans: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(a=wrong, b=right, autojunk=False).get_opcodes():
        if tag == "replace" and a1 - a0 == b1 - b0:  # "questtion corrcetly": two errors side by side
            spans += [((wrong[a0 + j],), (right[b0 + j],)) for j in range(a1 - a0)]
        elif tag != "equal":
            spans.append((wrong[a0:a1], right[b0:b1]))
    for i, (error, fix) in enumerate(spans):
        if error:
            phrases.setdefault(error, f"E{i + 1}|E")
        for form in {v for f in (fix, _uncontracted(fix)) for v in spelling_variants(f)}:
            if form:
                phrases.setdefault(form, f"F{i + 1}|F")
    for bad, good in (row.get("meta") or {}).get("errors", []):  # "'They goes to' should be 'They go to'"
        bad_t, good_t = lex(str(bad), literal=True), lex(str(good), literal=True)
        i = next((j for j, (e, _) in enumerate(spans) if e and _inside(e, bad_t)), None)
        if i is not None and len(bad_t) > 1:
            phrases.setdefault(bad_t, f"E{i + 1}|E")
            phrases.setdefault(good_t, f"F{i + 1}|F")
    if right and (right[0],) not in phrases:  # "The corrected sentence is: She ...": where a restatement may begin
        phrases[(right[0],)] = f"{right[0]}|S"
    return Roles(phrases, literal=True, generic=frozenset({"E", "F", "S"}), lists=frozenset({"F"}))


def _inside(part: tuple[str, ...], whole: tuple[str, ...]) -> bool:
    return any(whole[j : j + len(part)] == part for j in range(len(whole) - len(part) + 1))


def _uncontracted(words: tuple[str, ...]) -> tuple[str, ...]:
    """ "doesn't" -> "does not", "can't" -> "can not", "won't" -> "will not"."""
    out: list[str] = []
    for w in words:
        if w.endswith("n't") and len(w) > 3:
            base = {"can't": "can", "won't": "will"}.get(w, w[:-3])
            out += [base, "not"]
        else:
            out.append(w)
    return tuple(out)


@cache
def _categories() -> tuple[dict[str, Any], ...]:
    return tuple(load_facts("odd_one_out"))


def _odd_roles(row: dict[str, Any]) -> Roles:
    """The odd item "O", any other item of the table "I" and any category "CAT" (its names and keys, without the
    article): which item and category belong to this row is the content rules' to read."""
    meta = row.get("meta") or {}
    odd = str(meta.get("odd", ""))
    phrases = _phrases([odd], "O")
    members = {m for cat in _categories() for m in cat["members"]} | {str(x) for x in meta.get("items", [])}
    phrases.update({k: v for k, v in _phrases(sorted(members - {odd}), "I").items() if k not in phrases})
    phrases.update({k: v for k, v in _category_phrases().items() if k not in phrases})
    return Roles(phrases)


@cache
def _category_phrases() -> dict[tuple[str, ...], str]:
    names = [
        re.sub(r"^(?:a|an)\s+", "", n) for cat in _categories() for n in (cat["singular"], cat["plural"], *cat["keys"])
    ]
    return _phrases(names, "CAT")


@cache
def _category_nouns() -> tuple[str, ...]:
    """The head nouns of the table's categories ("language", "instrument", "app"): "human languages" names a
    category by a key and its noun."""
    return tuple(
        sorted({lex(cat["plural"])[-1] for cat in _categories()} | {lex(cat["singular"])[-1] for cat in _categories()})
    )


@cache
def _classify_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from .fam_facts import LABEL_WORDS

    items = tuple(i for members in load_facts("classify").values() for i in members)
    labels = tuple(w for words in LABEL_WORDS.values() for w in words)
    return items, labels


def _classify_roles(row: dict[str, Any]) -> Roles:
    """Every item of the table "I" and every label word "L": the content rules read which label each item gets."""
    items, labels = _classify_words()
    return Roles({**_phrases(labels, "L"), **_phrases(items, "I")})


@cache
def _list_words() -> tuple[str, ...]:
    from .fam_lists import LIST_SYNONYMS

    words = {w for entry in load_facts("list_items") for group in entry["items"] for w in group}
    words |= {w for key, syns in LIST_SYNONYMS.items() for w in (key, *syns)}
    return tuple(sorted(words))


LIST_MODIFIERS = ("camp", "spare", "portable", "small", "large", "big", "extra", "warm", "cold", "good")


@cache
def _list_modifiers() -> dict[tuple[str, ...], str]:
    """Single words of the table's items and situations ("beach", "removal", "camping"): "a beach towel"."""
    texts = [*_list_words(), *(entry["situation"] for entry in load_facts("list_items")), *LIST_MODIFIERS]
    return {(t,): "LW" for text in texts for t in lex(text) if t not in {"a", "an", "the", "for", "of", "to", "at"}}


def _list_roles(row: dict[str, Any]) -> Roles:
    """Every item of the table "L" (the content rules read which belong to this situation), the row's situation
    "SIT", and a word of any item or situation "LW" (as a modifier: "a beach towel", "a removal truck")."""
    situation = str((row.get("meta") or {}).get("situation", ""))
    bare = re.sub(r"^(?:a|an|the)\s+", "", situation)
    return Roles({**_list_modifiers(), **_phrases(_list_words(), "L"), **_phrases([situation, bare], "SIT")})


def _fact_roles(row: dict[str, Any]) -> Roles:
    """The key facts "K" (their synonyms, and numbers of a key's value)."""
    keys = [str(k) for group in (row.get("meta") or {}).get("keys", []) for k in group]
    values = {_number_value(k) for k in keys} - {None}

    def number(v: float | None) -> set[str]:
        return {"K"} if v in values else {"N"}

    return Roles(_phrases(keys, "K"), number)


ROLES = {
    "fact_qa": _fact_roles,
    "capital": _capital_roles,
    "arithmetic": _arithmetic_roles,
    "fraction": _fraction_roles,
    "ordering": _ordering_roles,
    "spelling": _spelling_roles,
    "odd_one_out": _odd_roles,
    "classify": _classify_roles,
    "list_items": _list_roles,
}
PHRASED = frozenset(ROLES)
VALUE = {"capital": "C", "arithmetic": "N", "fraction": "FP", "ordering": "I", "odd_one_out": "O"}
LITERAL = frozenset({"spelling"})  # spelling's words are its claims: no folding, no stemming
# A fact answer restates a free question in any order ("Spiders have eight legs", "Eight legs."), so only the
# words next to a key fact or a number are read: they must come from the fact's own questions and answer, or be a
# copula, a unit or punctuation. "Honey makes bees", "the symbol for Na" and "the one after Mercury" are not its forms.
KEY_ONLY = frozenset({"fact_qa"})
VALUES = frozenset({"K", "N"})  # a key, or any other number: "There are -7 continents", "is 81 - 9", "9.9"
ANSWER_NEIGHBOURS = frozenset(
    "^ $ , : ( ) and or is are was were be it s the answer about around roughly approximately nearly exactly just"
    " c f degree celsius fahrenheit have has had last called named".split()
)
# Families whose generated references are known forms. Spelling's references are other sentences, fact_qa's
# other facts: their word pairs would make "the heavy market" or "the smallest planet on Mars" known forms.
FROM_REFERENCES = PHRASED - {"spelling", "fact_qa"}

# ---- known forms --------------------------------------------------------------------------------------
# One form per line; {X} is a role. A form adds its neighbouring pairs, with a start and an end mark.

GENERIC = """
{V}
the answer is {V}
the answer is : {V}
answer : {V}
my answer is {V}
{V} is the answer
{V} is the correct answer
the correct answer is {V}
it is {V}
it s {V}
that is {V}
that s {V}
that would be {V}
result : {V}
the result is {V}
maybe {V}
perhaps {V}
probably {V}
here is the answer
here is the answer : {V}
here s the answer : {V}
here it is
here it is : {V}
i hope this helps
hope this helps
hope that helps
happy to help
glad to help
thanks for asking
thank you for asking
let me know if you have any other questions
"""

FORMS: dict[str, str] = {
    "fact_qa": """
{K} , {K} and {K}
{K} , {K} , and {K}
{K} , because {K} x {K} = {N}
{K} , since {K} x {K} = {N}
{K} - roughly {K}
about {N}
roughly {N}
around {N}
approximately {N}
nearly {N}
{K} legs , in {N} pairs
{K} - about {K}
""",
    "capital": """
the answer is {C} , the capital of {K}
{C} serves as {K} s capital
the capital of {K} is {C}
the capital city of {K} is {C}
{C} is the capital of {K}
{C} is the capital city of {K}
{K} s capital is {C}
{K} s capital city is {C}
{C} is {K} s capital
{C} is {K} s capital city
the {D} capital is {C}
the {D} capital city is {C}
{C} is the {D} capital
{C} is the capital
the capital is {C}
{K} has {C} as its capital
{K} s capital : {C}
capital of {K} : {C}
capital : {C}
{K} : {C}
{K} -> {C}
{K} - {C}
{C} , {K}
{C} ( {K} )
{C} , {K} is the capital
{C} ( {K} ) is the capital
{C} , not {R} , is the capital of {K}
{C} , not {R}
{C} - not {R}
{C} ( not {R} )
{C} ( not {R} or {R} )
{C} , not {R} or {R}
{C} , not {R} , {R} or {R}
{C} has been the capital of {K}
the capital of {K} is {C} , and the capital of {Q} is {R}
{R} is the capital of {Q}
not {R} , but {C}
the capital of {K} is {C} , not {R}
{K} s capital is {C} , not {R}
{C} is the seat of government of {K}
{C} - the seat of {K} s government
{C} is the seat of {K} s government
""",
    "arithmetic": """
( {N} x {N} = {N} , plus {N} x {N} = {N} ) so {N} x {N} = {N}
{N} + {N} = {N}
{N} , no wait , {N}
{N} - {N} = {N}
{N} x {N} = {N}
{N} * {N} = {N}
{N} / {N} = {N}
{N} + {N} -> {N}
{N} plus {N} is {N}
{N} plus {N} equals {N}
{N} plus {N} makes {N}
{N} plus {N} gives {N}
{N} plus {N} is equal to {N}
{N} minus {N} is {N}
{N} minus {N} equals {N}
{N} minus {N} makes {N}
{N} minus {N} leaves {N}
{N} times {N} is {N}
{N} times {N} equals {N}
{N} times {N} makes {N}
{N} multiplied by {N} is {N}
{N} multiplied by {N} equals {N}
{N} multiplied by {N} gives {N}
{N} divided by {N} is {N}
{N} divided by {N} equals {N}
{N} and {N} make {N}
{N} and {N} add up to {N}
{N} and {N} is {N}
adding {N} and {N} gives {N}
adding {N} to {N} gives {N}
add {N} and {N} to get {N}
adding {N} and {N} : {N} + {N} = {N} , then {N} + {N} = {N}
subtracting {N} from {N} gives {N}
subtracting {N} from {N} leaves {N}
taking {N} away from {N} leaves {N}
take {N} away from {N} and you get {N}
if you take {N} away from {N} you are left with {N}
multiplying {N} by {N} gives {N}
dividing {N} by {N} gives {N}
the sum of {N} and {N} is {N}
the difference between {N} and {N} is {N}
the product of {N} and {N} is {N}
the quotient of {N} and {N} is {N}
the sum is {N}
the total is {N}
the difference is {N}
the product is {N}
the quotient is {N}
that comes to {N}
it comes to {N}
so the answer is {N}
so the sum is {N}
so the result is {N}
so {N} + {N} = {N}
{N} = {N} , so the result is {N}
then {N} + {N} = {N}
{N} = ( {N} + {N} ) + ( {N} + {N} ) = {N} + {N} = {N}
= {N}
{N} = {N} ( because {N} - {N} = {N} and {N} - {N} = {N} )
{N} = {N} ( {N} x {N} = {N} , plus {N} x {N} = {N} )
{N} = {N} ( {N} x {N} = {N} : {N} x {N} = {N} : {N} + {N} = {N} )
{N} times {N} is {N} , because {N} x {N} = {N} and {N} x {N} = {N}
{N} times {N} is {N} , since {N} x {N} = {N} and {N} - {N} = {N}
{N} x {N} = {N} and {N} x {N} = {N} , so {N} x {N} = {N}
let me work it out : {N} - {N} = {N}
step by step : {N} x {N} = {N}
counting up {N} from {N} : {N} , {N} , {N}
counting on from {N} : {N} , {N} , {N} , so {N} + {N} = {N}
"""
    + "".join(f"{{N}} {g} make {{N}}\n" for g in GROUPS),
    "fraction": """
{A} x {Q} = {N} and {B} x {P} = {N}
{A} x {Q} = {B} and {B} x {P} = {B}
{A} x {Q} = {B} x {P} = {N}
since the cross products are equal , {FA} and {FP} are equivalent
the cross products are equal , so {FA} = {FP}
both equal {N} : {FA} = {N} and {FP} = {N}
{FA} = {N} and {FP} = {N} , so they are equivalent
if you divide {A} and {B} by their common factor {K} , you get {P} and {Q} , so {FA} = {FP}
both {A} and {B} can be divided by {K} : {A} divided by {K} is {P}
{FA} equals {FP} because {K} is a common factor of {A} and {B} : {A} divided by {K} is {P}
{AK} = {P} and {BK} = {Q} , so dividing the numerator and denominator of {FA} by {K} gives {FP}
dividing them by {K} gives {P} and {Q} , so {FA} = {FP}
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) , so multiplying the numerator and denominator of {FP} by {K} gives {FA}
if we divide both {A} and {B} by {K} , we get {P} and {Q} , so {FA} equals {FP}
{FA} = {FP}
so {FA} = {FP}
{FA} is equal to {FP}
{FA} equals {FP}
so {FA} equals {FP}
{FA} and {FP} are equivalent
{FA} and {FP} are equal
{FP} and {FA} are equivalent
so {FA} and {FP} are equivalent
so the two fractions are equivalent
so the two fractions are equal
so they are the same fraction
so they are equal
so they are equivalent
{FA} simplifies to {FP}
so {FA} simplifies to {FP}
{FA} reduces to {FP}
so {FA} reduces to {FP}
{FA} is {FP} in its simplest form
{FA} is {FP} in lowest terms
{FA} = {FP} because {A} and {B} share a factor of {K} : divide the numerator and the denominator by {K}
{FP} when you divide the numerator and the denominator by {K}
if you divide both the top and bottom of {FA} by {K} you get {FP}
{FP} when you cancel the common factor {K} from the numerator and the denominator
divide the numerator and the denominator of {FA} by {K} to get {FP}
divide the numerator and denominator by {K}
you divide by {K}
divide by {K}
divide both the numerator and the denominator of {FA} by {K}
divide both the top and the bottom of {FA} by {K}
divide the top and bottom of {FA} by {K} : {AK} = {P}
dividing the numerator and the denominator of {FA} by {K} gives {FP}
dividing the top and bottom of {FA} by {K} gives {FP}
dividing both {A} and {B} by {K} gives {P} and {Q}
dividing both numerator and denominator by {K} gives {FP}
dividing both by {K} gives {FP}
dividing each by {K} gives {FP}
divide {A} and {B} each by {K} and you get {FP}
if you divide both the numerator {A} and the denominator {B} by {K} , you get {FP}
dividing the numerator by {K} gives {P} and dividing the denominator by {K} gives {Q}
dividing the numerator and the denominator by {K} turns {FA} into {FP}
dividing the numerator and the denominator by {K} reduces {FA} to {FP}
dividing the numerator and the denominator by {K} reduces it to {FP}
, and dividing the numerator and the denominator by {K}
halve both the numerator and the denominator of {FA} : {AK} = {P}
halve the top and bottom of {FA} : {AK} = {P}
halve the top and bottom {N} times : {FA} -> {FX} -> {FP}
{N} halvings divide both numerator and denominator by {K}
{AK} = {P} and {BK} = {Q} , which gives {FP}
{AK} = {P} and {BK} = {Q} , giving {FP}
{AK} = {P} and {BK} = {Q} , so {FA} = {FP}
{A} divided by {K} is {P} and {B} divided by {K} is {Q}
{A} divided by {K} = {P}
{FA} = ( {AK} ) / ( {BK} ) = {FP}
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) = {FP}
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) , and the {K} s cancel , leaving {FP}
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) , and cancelling the common factor {K} leaves {FP}
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) , so cancelling the common factor {K} in the numerator and denominator leaves {FP}
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) = {FP} , because the common factor {K} cancels from numerator and denominator
{FA} = ( {P} x {K} ) / ( {Q} x {K} ) = {FP} , because the {K} on top and the {K} at the bottom cancel
because {A} = {P} x {K} and {B} = {Q} x {K} , {FA} = {FP}
since {A} = {P} x {K} and {B} = {Q} x {K} , you can cancel the common factor {K} from the numerator and the denominator
{FP} x {ONE} = {FA}
{FP} multiplied by {ONE} is {FA}
because {FP} multiplied by {ONE} is {FA} : the numerator {P} x {K} = {A} and the denominator {Q} x {K} = {B}
multiply {FP} by {ONE} to get {FA}
multiply {FP} by {ONE} : {P} x {K} = {A} and {Q} x {K} = {B} , so {FP} = {FA}
multiply the numerator and the denominator of {FP} by {K} and you get {FA}
multiply the numerator and denominator of {FP} by {K} : {P} x {K} = {A} and {Q} x {K} = {B} , giving {FA}
multiplying the numerator and the denominator of {FP} by {K} gives {FA}
multiplying the top and bottom of {FP} by {K} gives {FA}
multiplying the numerator and the denominator of {FP} by {K} gives {FA} ( {P} x {K} = {A} , {Q} x {K} = {B} )
multiplying {P} and {Q} by {K} gives {A} and {B}
the greatest common factor of {A} and {B} is {K}
the greatest common factor of {A} and {B} is {K} , and dividing
the greatest common divisor of {A} and {B} is {K}
their greatest common divisor is {K} : {FA} = {FP}
the highest common factor of {A} and {B} is {K}
the hcf of {A} and {B} is {K}
the gcd of {A} and {B} is {K}
the common factor is {K}
{K} is a common factor of {A} and {B}
{A} and {B} are both divisible by {K}
both {A} and {B} are divisible by {K}
both {A} and {B} are multiples of {K} : {AK} = {P}
both numbers are divisible by {K}
both numbers in {FA} are divisible by {K}
{A} and {B} share a factor of {K} : {AK} = {P}
the numerator and the denominator of {FA} share a factor of {K}
the numerator and denominator share a factor of {K}
since {K} goes into both {A} and {B} , dividing the top and bottom by {K} gives {FP}
both equal {N} , and dividing
both are equal to {N}
both fractions equal {N}
they have the same value
so the two fractions have the same value
so the two fractions are the same
the value never changes
{FA} simplifies to {FP} : {AK} = {P}
{FA} -> {FX} -> {FP} : {N} halvings divide the numerator and denominator by {K}
{FP} when you cancel the common factor {K} from the numerator and the denominator , since {A} = {P} x {K}
{AK} = {P} and {BK} = {Q}
""",
    "spelling": """
corrections : {E} -> {F} ; {E} -> {F}
one typo : {E} -> {F}
two typos : {E} ( should be {F} ) and {E} ( should be {F} )
both {E} and {E} had an extra letter
the verb must agree with {S} , so it should read : {S}
{E} should be {F} . the corrected sentence is : {S}
here is the sentence with the typos fixed : {S}
there's a subject-verb agreement mistake
it should be {F} instead of {E} : {S}
the subject {S} takes {F} , not {E}
correct it to {S}
( {E} -> {F} , {E} -> {F} )
( {E} -> {F} )
( i fixed the typos in {F} and {F} )
( {E} should be {F} for the third-person singular )
{E} should be spelled {F} , and {E} should be {F}
corrected : {S}
the corrected sentence is : {S}
the correct sentence is : {S}
the correct sentence is {S}
it should read : {S}
it should be : {S}
it should be {S}
should be : {S}
the sentence should be : {S}
the sentence should read : {S}
fixed : {S}
fixed version : {S}
corrected version : {S}
correct version : {S}
correct : {S}
here's the fixed sentence : {S}
here's the fixed version : {S}
here's the corrected sentence : {S}
here is the corrected sentence : {S}
{E} -> {F}
{E} -> {F} , {E} -> {F}
{E} -> {F} ; {E} -> {F}
{E} -> {F} . corrected : {S}
{S} ( {E} -> {F} , {E} -> {F} )
{S} ( {F} -> {E} )
{E} should be {F}
{E} should be {F} and {E} should be {F}
{E} should be {F} , and {E} should be {F}
{E} should be {F} : {S}
{E} should be spelled {F}
{E} should be spelled {F} , and {E} should be {F}
{E} is misspelled ; the correct spelling is {F}
{E} is misspelled ; it should be {F}
{E} is misspelled ; the correct spelling is {F} : {S}
{F} ( not {E} )
{E} ( {F} )
{E} is wrong ; it should be {F}
{E} is wrong : {S}
{E} is a typo for {F}
the errors are {E} ( {F} ) and {E} ( {F} ) : {S}
there are two spelling mistakes : {E} should be {F}
there are two spelling errors : {E} should be {F}
there are two spelling errors , {E} ( {F} ) and {E} ( {F} )
two spelling mistakes : {E} should be {F}
two words are misspelled : {E} should be {F}
two words are misspelled : {E} -> {F} , {E} -> {F} . the sentence should be : {S}
three words are misspelled : {E} should be {F}
two typos : {E} -> {F} , {E} -> {F}
change {E} to {F}
change {E} to {F} to match the singular subject : {S}
change {E} to {F} to match the plural subject : {S}
grammar error : {E} should be {F}
use the past simple : {S}
use the past tense : {S}
the verb must agree with the subject
the verb must agree with the plural subject : {S}
the verb must agree with the singular subject : {S}
the verb must agree with the third-person subject
the verb should agree with the subject : {S}
the verb should agree with the plural subject : {S}
the verb should agree with the singular subject : {S}
{E} should be {F} for the third-person singular
i fixed the typos in {F} and {F}
""",
    "odd_one_out": """
the answer is {O} - the others are all {CAT}
the odd one out is the {O} , because the {I} , the {I} and the {I} are all {CAT} and the {O} is a {CAT}
{O} is the misfit : the others are {CAT}
{O} is the misfit : it is a {CAT} , while {I} and {I} are {CAT}
{O} is the odd one out because it is a {CAT} ; the other two are {CAT}
the answer is {O} - it is used for {CAT} , while the others are {CAT}
{O} , a {CAT} , is the misfit
{I} and {I} are {CAT} ; a {O} is {CAT}
{O} ( the only {CAT} ; the rest are {CAT} )
unlike {I} , {I} and {I} , which are all used for {CAT} , {O} is a {CAT}
{I} and {O} are {CAT}
{O} doesn't belong : it is a {CAT} , while a {I} , a {I} and a {I} are {CAT}
{O} doesn't belong : it's a {CAT} , whereas the {I} , {I} and {I} are all {CAT}
{O} doesn't belong , since {I} and {I} are both {CAT} and a {O} is a {CAT}
{O} doesn't belong , since it is a {CAT} and {I} , {I} and {I} are {CAT}
{O} doesn't belong here , since it's an {CAT} and the {I} , {I} and {I} are all {CAT}
{O} is the one that doesn't fit : {I} and {I} are {CAT} , {O} is a {CAT}
the odd one out is {O} , a {CAT} ; the other two are {CAT}
the odd one out is the {O} : it's an {CAT} , whereas {I} and {I} are {CAT}
{I} and {I} are {CAT} platforms , whereas {O} is a {CAT} app
{I} and {I} are {CAT} networks , {O} is a {CAT} app
{O} - a {CAT} app rather than a {CAT} like {I} , {I} and {I}
{O} is the odd one out
{O} is different : it is a {CAT}
the odd one out is {O} since it is used for {CAT}
unlike the {I} and the {I} , which are {CAT} , the {O} {CAT}
the odd one out is {O}
the odd one out is the {O}
odd one out : {O}
odd one out -> {O}
{O} is the odd one
{O} is the odd one out , because it is a {CAT} while {I} and {I} are {CAT}
{O} doesn't belong
{O} doesn't belong here
{O} does not belong
the {O} doesn't belong
the one that doesn't belong is {O}
the one that doesn't fit is {O}
{O} is the one that doesn't fit
{O} is the one that doesn't belong
so the {O} is the one that doesn't fit
so {O} is the one that doesn't belong
{O} stands out
i'd single out {O}
answer : {O}
the answer is {O}
{O} , because it is a {CAT}
{O} , because it's a {CAT}
{O} , since it is a {CAT}
{O} , since it's a {CAT} and the rest are {CAT}
{O} - it is a {CAT}
{O} - it's a {CAT}
{O} : it is a {CAT}
{O} : it's a {CAT}
{O} ( a {CAT} ; the others are {CAT} )
{O} ( a {CAT} ; the other two are {CAT} )
{O} ( an {CAT} , not {CAT} )
{O} . it is a {CAT}
it's a {CAT}
it is a {CAT} , whereas {I} and {I} are {CAT}
it is a {CAT} , while {I} , {I} and {I} are {CAT}
it's a {CAT} ; {I} , {I} and {I} are {CAT}
it's a {CAT} ; the other two are {CAT}
, and the other three are {CAT}
, and the other two are {CAT}
the other two are {CAT}
the others are {CAT}
the rest are {CAT}
the other three are all {CAT}
a {O} is a {CAT}
, and {I} and {I} are both {CAT}
unlike {I} and {I} , which are {CAT} , {O} is a {CAT}
unlike {I} and {I} , which are {CAT} , {O} is a {CAT} , so it is the odd one out
{I} and {I} are {CAT} ; {O} is a {CAT} , so {O} is the odd one
{I} and {I} are {CAT} , but a {O} is a {CAT} , so {O} is the odd one out
{I} and {I} are both {CAT} , whereas {O} is mainly a {CAT} or {CAT} app , so {O} is the odd one out
{I} , {I} and {I} are all {CAT} , but {O} is a {CAT} , so {O} is the one that doesn't belong
{I} and {I} are {CAT} , so the {O} is the one that doesn't fit
{O} is a {CAT} , not a {CAT} like {I} , {I} and {I} , so {O} is the odd one out
the odd one out is {O} , since {I} and {I} are {CAT} and {O} is for {CAT}
a {CAT} rather than a {CAT} like {I} , {I} and {I}
{CAT} app
{CAT} apps
{CAT} platform
{CAT} platforms
{CAT} media platforms
{CAT} media networks
{CAT} networks
""",
    "classify": """
here is the classification :
{I} is the only {L} here
, while the {I} and the {I} are both {L}
, the {I} is a {L} , and the {I} is an {L}
, the {I} is a {L} , and both {I} and {I} are {L}
the {I} is an {L} , the {I} is a {L} and {I} is a {L}
{I} is a {L} ( {L} ) and the {I} is a {L} ( {L} )
{I} : {L}
{I} - {L}
{L} - {I}
{I} and {I} are living things and {I} is a {L}
{I} -> {L}
{I} = {L}
{I} ( {L} )
{I} ( {L} kingdom )
{I} ( {L} ) , {I} ( {L} )
{I} : a {L}
{I} : an {L}
{I} and {I} : {L}
{I} is a {L}
{I} is an {L}
the {I} is a {L}
the {I} is an {L}
the {I} is a {L} ( {L} )
the {I} is a {L} ( an {L} )
{I} is a {L} ( a {L} )
{I} is a {L} , so it's a {L}
{I} and {I} are {L}
{I} , {I} and {I} are {L}
{I} , {I} and {I} are all {L}
both {I} and {I} are {L}
the {I} and the {I} are {L}
, while {I} is a {L}
, while the {I} is a {L}
, while the {I} and the {I} are {L}
, and the {I} is an {L}
, and both {I} and {I} are {L}
{L} : {I}
{L} : {I} , {I}
{L} : {I} and {I}
{L} : {I} , {I} and {I}
{L} : none
{L} : none of them
{L} : {I} ( an {L} ) , {I} and {I}
| item | category |
| {I} | {L} |
""",
    "list_items": """
don't forget these {N} : {L}
for {SIT} , pack a {L}
here are {N} things you might need when {SIT} : {L}
here are {N} things : a {L}
you'd need {L}
for {SIT} , bring a {L}
here's what you'll need : {N} ) {L}
a {LW} {L}
an {LW} {L}
{LW} {L}
{SIT} {L}
a {SIT} {L}
bring a {SIT} {L}
you might bring {SIT} {L}
{N} ) {LW} {L}
here's what to pack : a {L}
you will need : {N} ) {L} , {N} ) a {L}
you'll want {L} , a {L}
{N} things for the {LW} : {L}
here are {N} items : {L} , {L} and {L}
here are {N} things you might need : a {L} , a {L}
here are {N} things you might need : {L}
here are {N} essentials : a {L}
here are {N} things for {SIT} : {L}
here are {N} things for {SIT} : a {L}
here are {N} things for {LW} : a {L}
here are {N} things to pack for {LW} : a {L}
here are {N} things to pack for {SIT} : a {L}
here's what to pack : a {L}
you might need {L} , a {L} , {L} and a {L}
you'll need {L} , {L} , a {L} and a {L}
you will need : {L}
you'll want a {L} , some {L} and {L}
you'd want a {L} , some {L} , a {L} and a {L}
for {SIT} you'll need a {L} , a {L} and {L}
for {SIT} you might bring a {L} , some {L} , a {L} , a {L} of {L} and {L}
for a {SIT} you'd want a {L} , some {L} and a {L}
don't forget : a {L} , {L}
don't forget any of these : {L} , {L} and a {L}
{N} things for {SIT} : {L} , a {L} , {L} and an {L}
{SIT} essentials : {L} , {L}
{N} ) {L} {N} ) {L} {N} ) a {L}
{N} ) {L} , {N} ) a {L} , {N} ) a {L} for the {L}
{L} , {L} , {L} and {L}
{L} , {L} , a {L} , {L} and a {L}
a {L} , a {L} , an {L} and some {L}
a good {L}
cold {L}
warm {L}
some {L}
""",
    "ordering": """
sorted in {DIR} order , the numbers are {I}
{I} , {I}
{I} {I}
{I} , {I} and {I}
{I} , {I} , and {I}
{I} and {I}
{I} < {I}
{I} > {I}
{I} -> {I}
{I} - {I}
{I} then {I}
{I} , then {I} , and finally {I}
{I} ( {N} st ) , {I} ( {N} nd ) , {I} ( {N} rd ) , {I} ( {N} th )
the smallest is {I} , followed by {I} , then {I} , and finally {I}
the largest is {I} , followed by {I} , then {I} , and finally {I}
first {I} , then {I} , then {I} , and last {I}
from {DIR} : {I}
{DIR} : {I}
sorted {DIR} : {I}
sorted from {DIR} , the numbers are {I}
{DIR} sorted , the words are : {I}
in {DIR} order : {I}
in {DIR} order , {I}
in {DIR} order , the numbers are {I}
in {DIR} order they are {I}
{DIR} order : {I}
the numbers from {DIR} are : {I}
the numbers in {DIR} order are : {I}
the words in {DIR} order are : {I}
here they are {DIR} : {I}
here they are from {DIR} : {I}
here they are in {DIR} order : {I}
sorted : {I}
the sorted list is {I}
the sorted list is : {I}
the sorted list is :
here is the sorted list : {I}
the sorted order is {I}
the correct order is {I}
the order is {I}
in order : {I}
""",
}


def _form_skeleton(form: str, value: str, literal: bool = False) -> Skeleton:
    out: list[frozenset[str]] = []
    for tok in form.replace("{V}", "{" + value + "}").split():
        m = re.fullmatch(r"\{(\w+)\}", tok)
        out += (
            [frozenset({m.group(1)})] if m else [frozenset({t}) for t in lex(tok, literal) if not literal or t != ","]
        )
    return tuple(out)


def _pairs(skel: Skeleton) -> set[tuple[str, str]]:
    marked = (frozenset({"^"}), *skel, frozenset({"$"}))
    return {(a, b) for x, y in zip(marked, marked[1:]) for a in x for b in y}


@cache
def family_pairs(family: str) -> frozenset[tuple[str, str]]:
    """The word pairs of the family's known forms: documented phrasings and generated references."""
    from .families import FAMILIES

    pairs: set[tuple[str, str]] = set()
    literal = family in LITERAL
    extra = "".join(f"{{CAT}} {noun}\n" for noun in _category_nouns()) if family == "odd_one_out" else ""
    for form in (GENERIC + FORMS[family] + extra).strip().splitlines():
        if form.strip() and ("{V}" not in form or family in VALUE):
            for unit in units(form):  # a form is cut into sentences as an answer is ("X is misspelled; ...")
                pairs |= _pairs(_form_skeleton(unit, VALUE.get(family, ""), literal))
    for seed in range(VOCAB_ROWS if family in FROM_REFERENCES else 0):
        row = FAMILIES[family].generate(random.Random(f"phrasing-{family}-{seed}"))
        pairs |= _own(row)
    return frozenset(pairs)


def _roles(row: dict[str, Any]) -> Roles:
    return _row_state(row)[0]


def _row_state(row: dict[str, Any]) -> tuple[Roles, frozenset[tuple[str, str]]]:
    """A row's roles and every word pair known on it, built once per row (eval and the RM's pairs judge each
    row many times)."""
    meta = json.dumps(row.get("meta") or {}, sort_keys=True)
    return _state(row["family"], row.get("instruction", ""), row.get("input", ""), row.get("output", ""), meta)


@lru_cache(maxsize=1 << 12)
def _state(family: str, instruction: str, input: str, output: str, meta: str) -> tuple[Roles, frozenset]:
    row = {"family": family, "instruction": instruction, "input": input, "output": output, "meta": json.loads(meta)}
    roles = ROLES[family](row)
    return roles, frozenset(family_pairs(family) | _own(row, roles))


def _own(row: dict[str, Any], roles: Roles | None = None) -> set[tuple[str, str]]:
    """The word pairs of a row's own text: instruction, input and reference; for spelling the input, the
    reference and the corrected sentence, without the instruction ("... his meal and grammar mistakes" splices
    the two). A role the forms name generically ("a fix") counts here only by its index ("the second fix"):
    "the heavy basket" in the row does not make "the heavy market" a known form."""
    roles = roles or ROLES[row["family"]](row)
    pairs: set[tuple[str, str]] = set()
    texts = [row.get("instruction", ""), row.get("input", ""), row.get("output", "")]
    if row.get("family") == "spelling":  # a corrected sentence, not the instruction spliced into it
        texts = [row.get("input", ""), row.get("output", ""), str((row.get("meta") or {}).get("correct", ""))]
    if row.get("family") == "fact_qa":
        texts += own_fact(row.get("output", ""))
    for text in texts:
        for unit in units(text):
            pairs |= _pairs(roles.skeleton(unit))
    return {(a, b) for a, b in pairs if a not in roles.generic and b not in roles.generic}


def _known(left: frozenset[str], right: frozenset[str], known: frozenset[tuple[str, str]], key_only: bool) -> bool:
    if key_only:
        if not left & VALUES and not right & VALUES:
            return True  # only the words next to a key or a number are read
        value, other = (left, right) if left & VALUES else (right, left)
        if "K" in value and not other & VALUES and other & ANSWER_NEIGHBOURS:
            return True  # a key next to a copula, a unit or punctuation; any other number must be in a known pair
    return any((a, b) in known for a in left for b in right)


_ARTICLES = frozenset({"the", "a", "an"})


def _pair_known(marked: tuple[frozenset[str], ...], i: int, known: frozenset[tuple[str, str]], key_only: bool) -> bool:
    left, right = marked[i], marked[i + 1]
    if key_only and right & _ARTICLES and i + 2 < len(marked) and "K" in marked[i + 2] and not left & VALUES:
        # the word before a key's article is read too: "the largest ocean on the Pacific" makes the key a place
        return bool(left & ANSWER_NEIGHBOURS) or any((a, b) in known for a in left for b in right)
    return _known(left, right, known, key_only)


def unknown_stretches(row: dict[str, Any], raw: str, charged: Iterable[str] = ()) -> list[str]:
    """The stretches of the answer whose neighbouring tokens no known form has, shown as text. A stretch with
    a word grounding already charged for is that word's stretch, and is not counted again."""
    roles, known = _row_state(row)
    charged = {stem(w.replace("'", "")) for w in charged}
    out: list[str] = []
    for unit in units(raw):
        skel = roles.skeleton(unit)
        if roles.lists and all(alts & roles.lists or alts <= {"and", ","} for alts in skel):
            continue  # a bare list of fixes: a pair of them is no form inside a sentence ("the garden played")
        marked = (frozenset({"^"}), *skel, frozenset({"$"}))
        run: list[int] = []
        for i in range(len(marked)):
            if i < len(marked) - 1 and not _pair_known(marked, i, known, row["family"] in KEY_ONLY):
                run.append(i)
                continue
            if run:
                stretch = [marked[j] for j in range(run[0], run[-1] + 2)]
                if not any(stem(t.replace("'", "")) in charged for alts in stretch for t in alts):
                    out.append(" ".join(t for t in (min(alts) for alts in stretch) if t not in ("^", "$")))
                run = []
    return out


def phrasing(row: dict[str, Any], raw: str, charged: Iterable[str] = ()) -> tuple[float, str]:
    """PHRASE_FACTOR per stretch of the answer in a form the judge does not know (beyond the words grounding
    charged: `charged`); 1 outside PHRASED families."""
    if row.get("family") not in PHRASED or (row.get("meta") or {}).get("unverifiable"):
        return 1.0, ""
    stretches = unknown_stretches(row, raw, charged)
    if not stretches:
        return 1.0, "every sentence in a known form"
    shown = ", ".join(f"'{s}'" for s in stretches[:4]) + (", ..." if len(stretches) > 4 else "")
    return PHRASE_FACTOR ** len(stretches), f"{len(stretches)} stretch(es) in no known form: {shown}"
