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

import random
import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from .base import load_facts
from .text import number_spans, stem

PHRASE_FACTOR = 0.25  # each stretch of the answer in a form the judge does not know quarters the score
VOCAB_ROWS = 2000  # generated rows whose references are known forms

Skeleton = tuple[frozenset[str], ...]  # per token: its roles (slot names, upper case) or the word itself

# Openers that frame a sentence without claiming anything ("Sure, ...", "Good question!").
_OPENER = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|yes|well|absolutely|no problem|great question|good question"
    r"|here you go|here you are)\b\s*[,:!.\-\u2013\u2014]*\s*)+",
    re.I,
)
_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+")  # "1. ", "2) ", "- ", "* ": list markers
_UNITS = re.compile(r"\n+|[.!?;]+(?=\s|$)")  # lines and sentences; "6.30" and "D.C." stay whole
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
    ):
        self.phrases = sorted(phrases.items(), key=lambda kv: -len(kv[0]))
        self.first = {p[0] for p, _ in self.phrases}
        self.number = number or (lambda v: {"N"})
        self.fraction = fraction or (lambda a, b: {"N"})
        self.literal = literal

    def skeleton(self, unit: str) -> Skeleton:
        toks = list(lex(unit, self.literal))
        words = [t if t.isalpha() else "" for t in toks]
        spans = {s: (e, v) for s, e, v in number_spans(words) if not toks[s].isdigit()}  # number words
        out: list[frozenset[str]] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t in self.first:
                hit = next((p for p in self.phrases if tuple(toks[i : i + len(p[0])]) == p[0]), None)
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
        return tuple(out)


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


ROLES = {
    "capital": _capital_roles,
    "arithmetic": _arithmetic_roles,
    "fraction": _fraction_roles,
    "ordering": _ordering_roles,
}
PHRASED = frozenset(ROLES)
VALUE = {"capital": "C", "arithmetic": "N", "fraction": "FP", "ordering": "I"}

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
    "capital": """
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
    "ordering": """
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


def _form_skeleton(form: str, value: str) -> Skeleton:
    out: list[frozenset[str]] = []
    for tok in form.replace("{V}", "{" + value + "}").split():
        m = re.fullmatch(r"\{(\w+)\}", tok)
        out.append(frozenset({m.group(1)}) if m else frozenset(lex(tok)))
    return tuple(s for s in out if s)


def _pairs(skel: Skeleton) -> set[tuple[str, str]]:
    marked = (frozenset({"^"}), *skel, frozenset({"$"}))
    return {(a, b) for x, y in zip(marked, marked[1:]) for a in x for b in y}


@cache
def family_pairs(family: str) -> frozenset[tuple[str, str]]:
    """The word pairs of the family's known forms: documented phrasings and generated references."""
    from .families import FAMILIES

    pairs: set[tuple[str, str]] = set()
    for form in (GENERIC + FORMS[family]).strip().splitlines():
        if form.strip():
            pairs |= _pairs(_form_skeleton(form.strip(), VALUE[family]))
    for seed in range(VOCAB_ROWS):
        row = FAMILIES[family].generate(random.Random(f"phrasing-{family}-{seed}"))
        pairs |= _own(row)
    return frozenset(pairs)


def _roles(row: dict[str, Any]) -> Roles:
    return ROLES[row["family"]](row)


def _own(row: dict[str, Any], roles: Roles | None = None) -> set[tuple[str, str]]:
    """The word pairs of a row's own text (instruction, input, reference)."""
    roles = roles or _roles(row)
    pairs: set[tuple[str, str]] = set()
    for text in (row.get("instruction", ""), row.get("input", ""), row.get("output", "")):
        for unit in units(text):
            pairs |= _pairs(roles.skeleton(unit))
    return pairs


def unknown_stretches(row: dict[str, Any], raw: str) -> list[str]:
    """The stretches of the answer whose neighbouring tokens no known form has, shown as text."""
    roles = _roles(row)
    known = family_pairs(row["family"]) | _own(row, roles)
    out: list[str] = []
    for unit in units(raw):
        skel = roles.skeleton(unit)
        marked = (frozenset({"^"}), *skel, frozenset({"$"}))
        run: list[int] = []
        for i in range(len(marked) - 1):
            if any((a, b) in known for a in marked[i] for b in marked[i + 1]):
                if run:
                    out.append(_show(marked, run))
                    run = []
            else:
                run.append(i)
        if run:
            out.append(_show(marked, run))
    return out


def _show(marked: tuple[frozenset[str], ...], run: list[int]) -> str:
    toks = [min(marked[i]) for i in range(run[0], run[-1] + 2)]
    return " ".join(t for t in toks if t not in ("^", "$"))


def phrasing(row: dict[str, Any], raw: str) -> tuple[float, str]:
    """PHRASE_FACTOR per stretch of the answer in a form the judge does not know; 1 outside PHRASED families."""
    if row.get("family") not in PHRASED or (row.get("meta") or {}).get("unverifiable"):
        return 1.0, ""
    stretches = unknown_stretches(row, raw)
    if not stretches:
        return 1.0, "every sentence in a known form"
    shown = ", ".join(f"'{s}'" for s in stretches[:4]) + (", ..." if len(stretches) > 4 else "")
    return PHRASE_FACTOR ** len(stretches), f"{len(stretches)} stretch(es) in no known form: {shown}"
