"""Look-up families: fact_qa, capital, odd_one_out, classify."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .base import Content, Family, capitalize, join_and, load_facts, make_row
from .claims import (
    AFFIRMED,
    HEDGE_PHRASES,
    HEDGES,
    NEGATED,
    NEGATORS,
    STOP_WORDS,
    PhraseIndex,
    chunks,
    content_tokens,
    find_all,
    hedged,
    negated_at,
    status,
    units,
)
from .text import Doc, numbers_at, phrase, tokens

# ---------------------------------------------------------------- fact_qa


def make_fact_qa(fact: dict, question: str) -> dict[str, Any]:
    meta = {"keys": fact["keys"], "wrong": fact["wrong"]}
    if fact.get("unverifiable"):  # a fact the rules cannot check on this row (see judge.verifiable)
        meta["unverifiable"] = fact["unverifiable"]
    return make_row("fact_qa", question, "", fact["a"], meta)


def gen_fact_qa(rng: random.Random) -> dict[str, Any]:
    fact = rng.choice(load_facts("fact_qa"))
    return make_fact_qa(fact, rng.choice(fact["q"]))


# Colour words: a colour answer listing extra colours hedges ("red, blue, yellow, green or purple").
COLOURS = frozenset(
    "red blue yellow green orange purple violet black white pink brown grey gray cyan magenta indigo".split()
)
# Temperatures are checked with their unit: "100 degrees Fahrenheit" is not the boiling point of water.
_TEMPERATURE = re.compile(
    r"(-?\d+(?:\.\d+)?)\s*(?:\u00b0|\u00ba|degrees?|deg\.?)?\s*"
    r"(celsius|centigrade|fahrenheit|kelvin|c|f|k)\b",
    re.I,
)


TEMPERATURE_UNITS = ("celsius", "fahrenheit", "degree", "kelvin")
# An approximate or open-ended number ("8 or more legs", "about 7") does not state the count.
_APPROX_BEFORE = frozenset("about around roughly approximately nearly almost over under least most upto".split())
_APPROX_AFTER = ("or more", "or less", "or so", "or fewer", "plus", "ish")


# A number that counts groups ("eight pairs of legs", "two dozen") does not state the count of things either.
_GROUPS_AFTER = frozenset("pair pairs dozen dozens set sets couple couples trio trios times score scores".split())


def _approximate(toks: list[str], pos: int) -> bool:
    if pos and (toks[pos - 1] in _APPROX_BEFORE or (pos > 1 and toks[pos - 2 : pos] == ["up", "to"])):
        return True
    if toks[pos + 1 : pos + 2] and toks[pos + 1] in _GROUPS_AFTER:
        return True
    after = " ".join(toks[pos + 1 : pos + 3])
    return any(after == a or after.startswith(a + " ") for a in _APPROX_AFTER)


def _celsius(value: float, unit: str) -> float:
    unit = unit[0].lower()
    return (value - 32) * 5 / 9 if unit == "f" else value - 273.15 if unit == "k" else value


def _temperatures(raw: str) -> list[float]:
    return [_celsius(float(m[1]), m[2]) for m in _TEMPERATURE.finditer(raw)]


def _number_values(group: list[str]) -> set[int] | None:
    """The values of a key group made only of numbers ("8", "eight"), else None."""
    vals = set()
    for member in group:
        nums = numbers_at(tokens(member))
        if len(nums) != 1 or len(tokens(member)) != len(_number_tokens(member)):
            return None
        vals.add(nums[0][1])
    return vals


def _number_tokens(member: str) -> list[str]:
    return [t for t in tokens(member) if t.isdigit() or numbers_at([t])]


def _stray_numbers(unit_toks: list[list[str]], allowed: set[int], context: set[str]) -> list[int]:
    """Numbers offered as the answer besides the allowed ones, unit by unit: a number counts unless it is
    set aside ("not 6", "more than 6") or counts something else ("5 oceans": followed by a content word the
    question and reference do not use)."""
    stray = []
    for toks in unit_toks:
        other_unit = False
        for pos, value in numbers_at(toks):
            if value in allowed or status(toks, pos) != AFFIRMED:
                continue
            nxt = next((t for t in toks[pos + 1 :] if not numbers_at([t])), "")
            if nxt in MEASURE_UNITS and nxt not in context:
                other_unit = True
                continue  # "60 minutes, that is 3,600 seconds": another unit, a conversion
            if other_unit and nxt in STOP_WORDS:
                continue  # "and one day (two in a leap year)": the unit of the number before, left out
            if nxt and nxt not in STOP_WORDS and nxt not in context and nxt not in ("degree", "c", "f"):
                continue
            stray.append(value)
    return stray


_LISTY = re.compile(r",|/|&|\bor\b|\band\b", re.I)


_WORKING = re.compile(r"(\d+)\s*(?:([a-z]+)\s*)?(?:[\u00f7\u00d7*]|divided by|multiplied by)\s*(\d+)(?:\s*([a-z]+))?")


def _working_numbers(raw: str, context: set[str]) -> set[str]:
    """Numbers of a division or multiplication written out ("365 days divided by 7"), and numbers followed by a unit the
    question and reference do not use ("365 days" when weeks are asked)."""
    if not any(c.isdigit() for c in raw):
        return set()
    text = raw.lower().replace(",", "")
    out = {n for m in _WORKING.finditer(text) for n in (m[1], m[3])}
    for m in re.finditer(r"\b(\d+)\s+([a-z]+)", text):
        unit = tokens(m[2])[:1]
        if unit and unit[0] in MEASURE_UNITS and unit[0] not in context:
            out.add(m[1])
    return out


def _list_rivals(doc: Doc, keys: list[str], known: set[str]) -> list[str]:
    """Capitalised names listed beside a key ("Austen, Bronte or Eliot"): chunks of 1-3 tokens of a list
    that holds a key, not naming a key or a word of `known` (the question, the reference)."""
    if not _LISTY.search(doc.raw):
        return []
    key_phrases = [tokens(k) for k in keys]
    out = []
    for unit in units(doc.raw):
        cs = chunks(unit)
        if len(cs) < 2:
            continue
        has_key = [any(_has(tokens(c), kp) for kp in key_phrases) for c in cs]
        if not any(has_key):
            continue
        for c, hk in zip(cs, has_key):
            ct = content_tokens(tokens(c))
            if hk or not ct or len(tokens(c)) > 3 or not c[:1].isupper() or all(t in known for t in ct):
                continue
            out.append(" ".join(ct))
    return out


# A claim about the opposite of what was asked: "the skin is the smallest organ" for the largest one, "the three
# secondary colours" for the primary ones.
_OPPOSITES = [
    ("largest", "smallest"),
    ("biggest", "smallest"),
    ("highest", "lowest"),
    ("longest", "shortest"),
    ("tallest", "shortest"),
    ("fastest", "slowest"),
    ("hottest", "coldest"),
    ("closest", "farthest"),
    ("nearest", "farthest"),
    ("closest", "furthest"),
    ("nearest", "furthest"),
    ("heaviest", "lightest"),
    ("deepest", "shallowest"),
    ("oldest", "youngest"),
    ("hardest", "softest"),
    ("primary", "secondary"),
    ("primary", "tertiary"),
    ("boiling", "freezing"),
    ("boil", "freeze"),
    ("first", "last"),
    ("most", "least"),
    ("maximum", "minimum"),
]
_OPPOSITE = {
    a: {y for x, y in _OPPOSITES if x == a} | {x for x, y in _OPPOSITES if y == a} for p in _OPPOSITES for a in p
}


def _turned_question(known: set[str], toks: list[str]) -> list[str]:
    """Opposites of the question's words that the answer uses and the question and reference do not."""
    return sorted(
        {f"{o} (asked: {w})" for w in known & _OPPOSITE.keys() for o in _OPPOSITE[w] if o in toks and o not in known}
    )


def _has(toks: list[str], phrase_toks: list[str]) -> bool:
    return bool(find_all(toks, " ".join(phrase_toks)))


# A number is a claim with its unit: "24 minutes in a day" is not "24 hours".
MEASURE_UNITS = frozenset(
    "second minute hour day week month year decade century millisecond km kilometre kilometer mile metre meter "
    "cm centimetre centimeter mm foot feet inch yard kg kilogram gram pound ounce ton tonne litre liter "
    "gallon percent".split()
)
# Words that may stand before a surname without naming someone else ("Sir Alexander Fleming", "astronaut Armstrong").
NAME_TITLES = frozenset(
    "mr mrs ms miss dr doctor sir dame lord lady saint st king queen prince princess president general commander "
    "captain colonel professor prof astronaut physicist scientist painter artist author writer novelist poet "
    "playwright inventor composer biologist bacteriologist microbiologist chemist engineer founding father "
    "founder american british english italian dutch german scottish renaissance".split()
)


def _is_num(t: str) -> bool:
    return t.isdigit() or bool(numbers_at([t])) or t == "hundred"


def _unit_after(toks: list[str], pos: int) -> str:
    j = pos + 1
    while j < len(toks) and (_is_num(toks[j]) or toks[j] == "and"):
        j += 1
    return toks[j] if j < len(toks) and toks[j] in MEASURE_UNITS else ""


@dataclass(frozen=True)
class _FactSetup:
    """What fact_qa needs from a row, worked out once per row."""

    groups: list[list[str]]
    index: PhraseIndex
    values: list[set[int] | None]  # per key group: its numbers, if it is made of numbers
    allowed: set[int]  # numbers that are no competing answer
    context: set[str]  # words of the question and reference
    known: set[str]  # words of the question, input and reference
    members: list[str]
    ref_temps: list[float]
    ref_units: dict[int, str]  # value -> the unit the reference gives it ("24 hours")
    first_names: dict[str, str]  # key surname -> the first name before it in the reference ("armstrong": "neil")


@lru_cache(maxsize=1 << 10)
def _fact_setup(instruction: str, input: str, output: str, meta_json: str) -> _FactSetup:
    meta = json.loads(meta_json)
    groups, wrong = meta["keys"], list(meta["wrong"])
    if all(all(m in COLOURS for m in g) for g in groups):
        wrong += sorted(COLOURS - {m for g in groups for m in g})
    named = {f"key{i}": g for i, g in enumerate(groups)}
    named.update({f"wrong:{w}": [w] for w in wrong})
    values = [_number_values(g) for g in groups]
    ref_toks = tokens(output)
    allowed = {x for v in values if v for x in v} | {v for _, v in numbers_at(tokens(instruction))}
    return _FactSetup(
        groups,
        PhraseIndex(named),
        values,
        allowed,
        set(tokens(f"{instruction} {output}")),
        set(tokens(f"{instruction} {input} {output}")),
        [m for g in groups for m in g],
        _temperatures(output),
        {v: u for p, v in numbers_at(ref_toks) if (u := _unit_after(ref_toks, p))},
        {
            m.group(2).lower(): m.group(1).lower()
            for k in (m for g in groups for m in g if m.isalpha() or " " in m)
            for m in re.finditer(rf"\b([A-Z][a-z]+)\s+((?i:{re.escape(k)}))\b", output)
            if m.group(1).lower() not in STOP_WORDS
        },
    )


# A word before a one-word key that makes it another thing ("sea lion", "Pokemon Red"), and other worlds that
# change what a fact is about ("a year on Mars").
_NAMESAKE_BEFORE = frozenset("sea mountain ant toy stuffed cartoon plastic pokemon chocolate paper stone".split())
_OTHER_WORLDS = frozenset(tokens("mars venus jupiter saturn neptune uranus pluto"))


def _other_things(doc: Doc, setup: _FactSetup) -> list[str]:
    out = []
    for i, t in enumerate(doc.tokens):
        if t in _OTHER_WORLDS and t not in setup.known and doc.tokens[i - 1 : i] in (["on"], ["of"], ["for"]):
            out.append(t)
        elif i and doc.tokens[i - 1] in _NAMESAKE_BEFORE and doc.tokens[i - 1] not in setup.known:
            if any(t == m for m in setup.members):
                out.append(f"{doc.tokens[i - 1]} {t}")
    return out


def _namesakes(doc: Doc, setup: _FactSetup) -> list[str]:
    """Another person of the key's surname: a capitalised word before it that is not the reference's first name
    nor a title ("Louis Armstrong" when the answer is Neil Armstrong)."""
    out = []
    for key, first in setup.first_names.items():
        if tokens(key)[0] not in doc.tokens:
            continue
        for m in re.finditer(rf"\b([A-Z][a-z]+)\s+(?i:{re.escape(key)})\b", doc.raw):
            w = tokens(m.group(1))[0]
            before = tokens(doc.raw[max(0, m.start() - 30) : m.start()])[-1:]
            if before == [first]:
                continue  # "Neil Alden Armstrong": a middle name
            if w != first and w not in setup.known and w not in STOP_WORDS and w not in NAME_TITLES:
                out.append(m.group(0))
    return out


def fact_qa_content(row: dict, doc: Doc) -> Content:
    """Each key group is credited when one of its phrases is affirmed (not negated, not a contrast). A wrong
    answer affirmed, extra colours, extra numbers, or rival names listed beside the key are competing
    answers: with one key group they zero it; with several, each costs x0.1. A temperature
    stated with a unit must be the reference's temperature."""
    setup = _fact_setup(row["instruction"], row["input"], row["output"], json.dumps(row["meta"], sort_keys=True))
    groups = setup.groups
    unit_toks = [tokens(u) for u in units(doc.raw)]
    said = [
        (name, status(toks, p, n))
        for toks in unit_toks
        for name, p, n in setup.index.scan(toks)
        if not (toks[p + n : p + n + 1] and toks[p + n] in _GROUPS_AFTER)  # "in four pairs" counts pairs
    ]
    affirmed = {n for n, st in said if st == AFFIRMED}
    negated = {n for n, st in said if st == NEGATED and n not in affirmed}
    hits = [f"key{i}" in affirmed for i in range(len(groups))]
    temps = _temperatures(doc.raw)
    wrong_units: list[str] = []
    numbers = [(toks, p, v) for toks in unit_toks for p, v in numbers_at(toks)]
    for i, g in enumerate(groups):
        vals = setup.values[i]
        if vals:  # numbers count by value, however written ("one hundred"), and only when stated exactly
            stated = [
                (v, _unit_after(toks, p))
                for toks, p, v in numbers
                if v in vals and status(toks, p) == AFFIRMED and not _approximate(toks, p)
            ]
            off = [f"{v} {u}" for v, u in stated if u and setup.ref_units.get(v, u) != u]
            hits[i] = len(off) < len(stated)
            wrong_units += off
        elif temps and any(m in TEMPERATURE_UNITS for m in g):
            hits[i] = True  # "100 °C": the unit given as a symbol
    why: dict[str, str] = {}
    # "365 days divided by 7 = 52": a known wrong number in another unit, or an operand of the working, is no answer
    working = _working_numbers(doc.raw, setup.context)
    rivals = sorted({n.split(":", 1)[1] for n in affirmed if n.startswith("wrong:")} - working)
    if any(v is not None for v in setup.values) and numbers:
        rivals += [
            str(x)
            for x in _stray_numbers(unit_toks, setup.allowed, setup.context)
            if str(x) not in rivals and str(x) not in working
        ]
    rivals += [r for r in _list_rivals(doc, setup.members, setup.known) if r not in rivals]
    rivals += _turned_question(setup.known, doc.tokens)
    rivals += wrong_units + _namesakes(doc, setup) + _other_things(doc, setup)
    ref_temps = setup.ref_temps
    bad_temps = [t for t in temps if ref_temps and all(abs(t - r) > 1.0 for r in ref_temps)]
    content = sum(hits) / len(groups)
    penalty = 1.0
    if bad_temps:
        content, why["key_terms"] = 0.0, "a temperature that is not the answer in its unit"
    elif rivals and len(groups) == 1:
        content, why["key_terms"] = 0.0, f"competing answers named: {', '.join(rivals)}"
    elif rivals:
        penalty = 0.1 ** len(rivals)
        why["wrong_terms"] = f"false or competing claims: {', '.join(rivals)}"
    if "key_terms" not in why:
        missing = [i for i, h in enumerate(hits) if not h]
        neg = sorted((n for n in negated if n.startswith("key")), key=lambda n: int(n[3:]))  # in key order
        why["key_terms"] = (
            f"{sum(hits)}/{len(groups)} key facts affirmed"
            + (f"; negated or set aside: {', '.join(groups[int(n[3:])][0] for n in neg)}" if neg else "")
            + (f"; missing: {', '.join(groups[i][0] for i in missing)}" if missing else "")
        )
    why.setdefault("wrong_terms", "none" if not rivals else f"competing: {', '.join(rivals)}")
    return content, penalty, {"key_terms": content, "wrong_terms": penalty}, why


# ---------------------------------------------------------------- capital

CAPITAL_TEMPLATES = [
    "What is the capital of {c}?",
    "Name the capital city of {c}.",
    "Which city is the capital of {c}?",
    "What city serves as the capital of {c}?",
]


def _capital_names(city: str, alts: list[str]) -> list[str]:
    return [city.split(",")[0]] + list(alts)  # "Washington, D.C." is matched as "Washington"


@lru_cache(maxsize=1)
def _all_capitals() -> list[list[str]]:
    return [_capital_names(city, alts) for _, city, alts in load_facts("capitals")]


def make_capital(country: str, city: str, alts: list[str], template: str, city_first: bool) -> dict[str, Any]:
    instruction = template.format(c=country)
    if city_first:
        output = f"{city} is the capital of {country}."
    else:
        output = f"The capital of {country} is {city}."
    meta = {"country": country, "answers": _capital_names(city, alts)}
    return make_row("capital", instruction, "", output, meta)


def gen_capital(rng: random.Random) -> dict[str, Any]:
    country, city, alts = rng.choice(load_facts("capitals"))
    return make_capital(country, city, alts, rng.choice(CAPITAL_TEMPLATES), rng.random() < 0.3)


# Large cities that are not national capitals: named beside the capital they are competing answers.
OTHER_CITIES = [
    "Lyon",
    "Marseille",
    "Nice",
    "Toulouse",
    "Bordeaux",
    "Lille",
    "Strasbourg",
    "Munich",
    "Hamburg",
    "Frankfurt",
    "Cologne",
    "Milan",
    "Naples",
    "Venice",
    "Florence",
    "Turin",
    "Barcelona",
    "Seville",
    "Valencia",
    "Porto",
    "Manchester",
    "Liverpool",
    "Birmingham",
    "Edinburgh",
    "Glasgow",
    "Geneva",
    "Zurich",
    "Istanbul",
    "Saint Petersburg",
    "St Petersburg",
    "Kazan",
    "Krakow",
    "Rotterdam",
    "Antwerp",
    "Gothenburg",
    "New York",
    "Los Angeles",
    "Chicago",
    "San Francisco",
    "Toronto",
    "Montreal",
    "Vancouver",
    "Sydney",
    "Melbourne",
    "Brisbane",
    "Perth",
    "Auckland",
    "Rio de Janeiro",
    "Sao Paulo",
    "Buenos Aires",
    "Cordoba",
    "Guadalajara",
    "Monterrey",
    "Medellin",
    "Guayaquil",
    "Shanghai",
    "Hong Kong",
    "Guangzhou",
    "Shenzhen",
    "Osaka",
    "Kyoto",
    "Busan",
    "Mumbai",
    "Bombay",
    "Kolkata",
    "Calcutta",
    "Bangalore",
    "Chennai",
    "Karachi",
    "Lahore",
    "Dubai",
    "Jeddah",
    "Alexandria",
    "Casablanca",
    "Lagos",
    "Johannesburg",
    "Cape Town",
    "Durban",
    "Ho Chi Minh City",
    "Saigon",
    "Almaty",
    "Yangon",
    "Rangoon",
    "Dhaka",
    "Tel Aviv",
    "Zanzibar",
    "Mombasa",
    "Abidjan",
    "Douala",
    "Davao",
    "Cebu",
    "Surabaya",
    "Chittagong",
]
CAPITAL_WORDS = ("capital", "seat of government")


@lru_cache(maxsize=1)
def _country_index() -> PhraseIndex:
    return PhraseIndex({country: [country] for country, _, _ in load_facts("capitals")})


@lru_cache(maxsize=256)
def _rival_index(answers: tuple[str, ...]) -> PhraseIndex:
    """Every capital and large city that is not the answer, by its canonical name."""
    cities = {names[0]: names for names in _all_capitals() if names[0] not in answers}
    capitals = {phrase(n) for names in _all_capitals() for n in names}
    cities.update({c: [c] for c in OTHER_CITIES if phrase(c) not in capitals})
    return PhraseIndex(cities)


@lru_cache(maxsize=1)
def _non_capitals() -> PhraseIndex:
    capitals = {phrase(n) for names in _all_capitals() for n in names}
    return PhraseIndex({c: [c] for c in OTHER_CITIES if phrase(c) not in capitals})


# "X is the capital of A, and Y is the capital of B", "the capital of A is X and the capital of B is Y": two
# claims, each read with its own country.
_CLAUSE_JOIN = re.compile(
    r"[,;]?\s+(?:and|while|whilst|whereas|but)\s+(?=[A-Z][\w'-]*\s+(?:is|was)\b|(?:the\s+)?capital\s+of\b)", re.I
)
_OFFERED = re.compile(
    r"\b(?:is|be|it's|its|it is|governed from|ruled from|run from|sits in|located in|goes to|belongs to|falls to)\s+"
    r"(?:actually\s+|really\s+|probably\s+|just\s+|in fact\s+)?"
    r"((?!The\b|A\b|An\b|It\b|I\b)[A-Z][^\W\d_]+(?:[ -][A-Z][^\W\d_]+)*)"
)
# "X was the capital until 1900", "X used to be the capital": a former capital is no claim about today.
_PAST = re.compile(
    r"\b(?:was|were|used to be|had been|formerly|former|until|no longer|once was)\b"
    r"|\blost (?:the|its|that|this) (?:title|status|role)\b|\bstripped of\b"  # "Dhaka lost the title in 2019"
    r"|(?<!has )(?<!have )\bheld (?:the|that|this) (?:title|role|status)\b(?! since| ever| to this day)"
    r"|\bmoved (?:its|the|their) capital (?:out of|away from|from)\b"
)
# Other senses of the word ("the capital letter of Bangladesh is B", "capital as in money"), and an analogy with a
# large city that is no capital ("Paris is to France what Sydney is to Australia"): no claim about the city.
_OTHER_SENSE = re.compile(
    r"\bcapital (?:letters?|gains?|punishment|markets?|investments?|expenditure|reserves?)\b"
    r"|\bcapital,? as in\b|\bin the (?:financial|money|monetary) sense\b",
    re.I,
)
_ANALOGY = re.compile(r"\bis to (?:[\w'-]+ ){1,3}?what\b|\bin the (?:same|very same) way (?:that|as)\b", re.I)
# Words that make a country's name another place ("the capital of Inner Mongolia").
_PLACE_QUALIFIERS = frozenset("inner outer northern southern eastern western upper lower greater".split())
_FUTURE = re.compile(  # "will become the capital"; not the polite "that would be Asuncion"
    r"\b(?:will|would|going to|might|could|may) (?:one day |someday |soon )?become\b"
    r"|\b(?:will|going to) (?:one day |someday |soon )?be\b"
)
_PRESENT = re.compile(r"\b(?:is(?! going to)|remains|still|has been|today|now|currently)\b")
# "the capital of Greenland": the place a capital claim is about, as written
_CAPITAL_OF = re.compile(r"\bcapital (?:city )?of ([A-Z][^\W\d_]+(?:[ -][A-Z][^\W\d_]+)*)")
_SEAT = ("seat", "governed", "government", "capital", "honour", "honor", "title")  # where the country is run from
# "Finland's capital it is not", "the capital? it isn't": a capital unit that ends in a bare denial denies the city
# named before it.
_TAIL_DENIAL = re.compile(
    r"(?:^|\s)(?:(?:it|that|this|which)\s+)?(?:is|was|its|thats)\s+(?:certainly\s+|definitely\s+)?not$"
    r"|\b(?:isnt|wasnt)$"
)
_BARE_DENIAL = frozenset("it that thi is wa it not isnt wasnt certainly definitely of course".split())
_HOME_REGIONS = frozenset({"ontario", "dc", "act", "australian capital territory", "federal district"})
# "Paris, Texas is ...", "Paris (Texas)": the city qualified by another place is a namesake, not the city.
_QUALIFIED = (
    r"\s*(?:,\s*|\(\s*)((?!The\b|It\b|I\b)[A-Z][^\W\d_]+(?:[ -][A-Z][^\W\d_]+)?)"
    r"\s*(?:\)|,?\s+(?:is|was|has|remains|serves)\b|\s*[\u2013\u2014]|\s*$)"
)
_CAPITAL_TOKENS = frozenset(tokens(" ".join(CAPITAL_WORDS)))


def capital_content(row: dict, doc: Doc) -> Content:
    """The right city must be affirmed, and no other city offered as the capital: a rival counts when it is
    affirmed in a unit that says "capital", that also names the right city ("Paris or Lyon"), or that says
    little else ("It is Lyon."); a capitalised name listed beside the right city counts too. A unit that
    names the city as the capital of another country is a false claim. Hedged wording ("maybe") halves; the
    right city named only in the past or future tense ("was the capital until 1900", "will become the capital") is
    not affirmed; nor is a city named as the place of "capital of" ("Morocco is the capital of Rabat")."""
    meta = row["meta"]
    answers, country = meta["answers"], meta["country"]
    rival_index = _rival_index(tuple(answers))
    said_right, rivals, wrong_country, negated, former = False, set(), False, False, False
    namesake, denied, said_capital, why_denied = "", False, False, ""
    right_anywhere = any(find_all(doc.tokens, a) for a in answers)
    doubt = hedged(doc.tokens)  # "I'd guess Paris, but I'm not sure": a hedge anywhere doubts the answer
    country_toks = set(tokens(country))
    known = set(tokens(f"{country} {' '.join(answers)} {row['output']}"))  # words no rival is made of
    for unit in (part for u in units(doc.raw) for part in _CLAUSE_JOIN.split(u)):
        toks = tokens(unit)
        right_here = [status(toks, p, len(tokens(a))) for a in answers for p in find_all(toks, a)]
        says_capital = any(find_all(toks, w) for w in CAPITAL_WORDS)
        countries = {name for name, _, _ in _country_index().scan(toks)}
        joined = " ".join(toks)
        places = [tokens(m.group(1)) for m in _CAPITAL_OF.finditer(unit)]
        if any(any(find_all(p, a) for a in answers) for p in places):
            right_here = [NEGATED]  # "Morocco is the capital of Rabat": the city is the place, not its capital
        elif AFFIRMED in right_here and any(
            not set(p) & country_toks or (set(p) - country_toks) & _PLACE_QUALIFIERS for p in places
        ):
            wrong_country = True  # "Reykjavik is the capital of Greenland"
        if AFFIRMED in right_here and (
            _FUTURE.search(joined) or (_PAST.search(joined) and not _PRESENT.search(joined))
        ):
            former = True  # "Asuncion was the capital until 1900": not that it is the capital now
        elif AFFIRMED in right_here:
            said_right = True
            if countries - {country} and country not in countries:
                wrong_country = True
        elif right_here:
            negated = True
        if AFFIRMED in right_here:
            for a in answers:
                for m in re.finditer(rf"(?i:\b{re.escape(a)}){_QUALIFIED}", unit):
                    q = tokens(m.group(1))
                    if not set(q) & known and not _country_index().scan(q) and " ".join(q) not in _HOME_REGIONS:
                        namesake = m.group(0)  # "Paris, Texas": a town of the same name
        if says_capital and not right_here and _TAIL_DENIAL.search(joined) and not rival_index.scan(toks):
            denied = True  # "Helsinki is many things, but Finland's capital it is not"
            why_denied = unit.strip()
        elif toks and set(toks) <= _BARE_DENIAL and any(t in NEGATORS for t in toks) and said_right:
            namesake = namesake or "denied: " + unit.strip()  # "Is Helsinki the capital? It is not."
        said_capital |= says_capital and AFFIRMED in right_here
        bare = len(content_tokens(toks)) <= 3
        for name, p, n in rival_index.scan(toks):
            if status(toks, p, n) != AFFIRMED:
                continue
            if any(c not in name for c in countries - {country}):
                continue  # "Berlin is the capital of Germany": a claim about another country
            if says_capital or right_here or bare:
                rivals.add(name)
        # a name outside the tables offered as the city: "the capital is actually Versailles", "it might be Tartu"
        for m in _OFFERED.finditer(unit):
            name = [t for t in tokens(m.group(1)) if t not in known]
            offered = (
                says_capital
                or right_here
                or hedged(toks)
                or (bare and not right_anywhere)
                or country in countries  # "Iceland's is Nuuk"
                or any(find_all(toks, w) for w in _SEAT)
            )
            # the pattern itself is the affirmation ("is X"; "isn't X" and "is not X" do not match it)
            if name and offered and not (countries - {country}):
                rivals.add(" ".join(name))
        if right_here:  # names listed beside the right city: "Paris, Lyon, Marseille or Nice"
            for c in chunks(unit):
                ct = content_tokens(tokens(c))
                if (
                    ct
                    and len(tokens(c)) <= 3
                    and c[:1].isupper()
                    and not any(t in known or t in _CAPITAL_TOKENS for t in ct)
                ):
                    at = find_all(toks, " ".join(tokens(c)))
                    if at and status(toks, at[0], len(tokens(c))) == AFFIRMED:
                        rivals.add(" ".join(ct))
    if said_right and (sense := _OTHER_SENSE.search(doc.raw)):
        namesake = f"another sense: '{sense.group(0)}'"
    elif said_right and _ANALOGY.search(doc.raw) and _non_capitals().scan(doc.tokens):
        namesake = "an analogy with a city that is no capital"
    if namesake or (denied and not said_capital):
        said_right, negated = False, True
        namesake = namesake or f"denied: '{why_denied}'"
    why: dict[str, str] = {}
    if namesake:
        correct, why["correct_city"] = (
            0.0,
            (
                namesake
                if namesake.startswith(("denied", "another sense", "an analogy"))
                else f"a namesake, not the city: '{namesake.strip()}'"
            ),
        )
    elif rivals and said_right:
        correct, why["correct_city"] = (
            0.0,
            f"{len(rivals) + 1} competing cities named: " + ", ".join([answers[0], *sorted(rivals)]),
        )
    elif rivals:
        correct, why["correct_city"] = (
            0.0,
            (f"{answers[0]} negated; " if negated else "") + "names " + ", ".join(sorted(rivals)) + " instead",
        )
    elif wrong_country:
        correct, why["correct_city"] = 0.0, f"names {answers[0]} as the capital of another country"
    elif said_right:
        correct, why["correct_city"] = (0.5, "hedged: " + answers[0]) if doubt else (1.0, f"{answers[0]} affirmed")
    else:
        correct, why["correct_city"] = (
            0.0,
            (
                f"{answers[0]} negated"
                if negated
                else f"{answers[0]} named only as a former or future capital"
                if former
                else f"{answers[0]} not named"
            ),
        )
    return correct, 1.0, {"correct_city": correct}, why


# ---------------------------------------------------------------- odd_one_out

# None of the prompts asks why, so the right item alone answers them; a true reason adds the rest.
ODD_PICK = 0.9
WRONG_OTHERS = 0.5  # the right item, but "the others" of the reason are not the list's others
FALSE_REASON = 0.1  # the right item singled out for a false reason ("owl: it is a fish") keeps this much

ODD_TEMPLATES = [
    "Identify the odd one out.",
    "Which of these is the odd one out?",
    "Find the odd one out in this list.",
    "Which item does not belong?",
]
# Words that single an item out. Negative forms ("does not belong") are read as one marker, so their "not"
# does not negate the item; "X is not the odd one out" still does.
ODD_MARKERS = (
    "odd",
    "different",
    "stand out",
    "stands out",
    "exception",
    "outlier",
    "unique",
    "the one out",
    "oddmark",
    "single out",
    "singled out",
    "singles out",
    "misfit",
)
_NEGATIVE_MARKERS = (
    "doesnt belong",
    "does not belong",
    "dont belong",
    "do not belong",
    "doesnt fit",
    "does not fit",
    "not like the other",
    "not belong",
    "not fit",
    "belong",
    "fit in",
)
# Words of a choice unit that name nothing chosen ("The odd one out here is clearly ...").
_CHOICE_FILLER = frozenset(
    tokens(
        "one out list item items group set word option choice here clearly obviously "
        "answer correct category categories odd different stands stand exception "
        "outlier unique oddmark belong fit equally easily also too likewise maybe perhaps possibly probably "
        "single singled singles misfit"
    )
)


def make_odd(items: list[str], odd: str, odd_cat: dict, major_cat: dict, template: str) -> dict[str, Any]:
    others = [x for x in items if x != odd]
    group = join_and(others) if len(others) == 2 else "the others"
    output = f"{odd} is the odd one out, because it is {odd_cat['singular']} while {group} are {major_cat['plural']}."
    meta = {"items": items, "odd": odd, "odd_keys": odd_cat["keys"], "major_keys": major_cat["keys"]}
    return make_row("odd_one_out", template, ", ".join(items), output, meta)


def gen_odd(rng: random.Random) -> dict[str, Any]:
    cats = load_facts("odd_one_out")
    major = rng.choice(cats)
    odd_cat = rng.choice([c for c in cats if c["domain"] == major["domain"] and c is not major])
    items = rng.sample(major["members"], rng.choice([2, 3]))
    odd = rng.choice(odd_cat["members"])
    items.insert(rng.randint(0, len(items)), odd)
    return make_odd(items, odd, odd_cat, major, rng.choice(ODD_TEMPLATES))


def _marked(toks: list[str]) -> list[str]:
    """Tokens with each negative-form marker ("does not belong") replaced by the single token "oddmark"."""
    if "belong" not in toks and "fit" not in toks:
        return toks
    text = " " + " ".join(toks) + " "
    for m in _NEGATIVE_MARKERS:
        text = text.replace(f" {phrase(m)} ", " oddmark ")
    return text.split()


def chosen_items(doc: Doc, items: list[str], category_words: set[str]) -> tuple[set[str], set[str], list[str]]:
    """(chosen, set aside, foreign): the items the response singles out, those it denies or contrasts
    ("not X", "unlike X"), and other things it singles out ("Reddit is the odd one out").
    A unit with an odd-one-out marker chooses the items it affirms, or a foreign word when it affirms no
    item. Without such a unit: a bare unit ("Telegram.", "It's Telegram.") chooses its item; then
    "Unlike X and Y, ... Z ..." chooses the one item not set aside; then an answer that opens with a single
    item ("Owl - it is a bird, ...") chooses it. Category words may stand beside a bare item ("Telegram, a
    messaging app")."""
    chosen: set[str] = set()
    aside: set[str] = set()
    foreign: list[str] = []
    item_toks = {it: tokens(it) for it in items}
    unit_toks = [_marked(tokens(u)) for u in units(doc.raw)]
    found: list[list[tuple[str, str]]] = []
    for toks in unit_toks:
        here = sorted((p, it, status(toks, p, len(t))) for it, t in item_toks.items() for p in find_all(toks, it))
        found.append([(it, st) for _, it, st in here])
        aside |= {it for it, st in found[-1] if st != AFFIRMED}
        if not any(find_all(toks, m) for m in ODD_MARKERS) or clause_negated_marker(toks):
            continue
        affirmed = {it for it, st in found[-1] if st == AFFIRMED}
        if len(affirmed) > 1 and (ex := _examples_from(toks)) is not None:
            # "X - a chat app rather than a social network like Y and Z": Y and Z stand for the other side
            aside |= {it for p, it, st in here if p > ex}
            affirmed = {it for p, it, st in here if p < ex and st == AFFIRMED}
        if affirmed:
            chosen |= affirmed
            continue
        named = {t for it in item_toks.values() for t in it}
        rest = [
            t for t in content_tokens(toks) if t not in _CHOICE_FILLER and t not in named and t not in category_words
        ]
        if rest and not found[-1]:
            foreign.append(" ".join(rest[:3]))
    if chosen or foreign:
        return chosen, aside - chosen, foreign
    for toks, here in zip(unit_toks, found):  # bare answers
        affirmed = {it for it, st in here if st == AFFIRMED}
        named = {t for it in item_toks.values() for t in it}
        extra = [
            t for t in content_tokens(toks) if t not in named and t not in _CHOICE_FILLER and t not in category_words
        ]
        if len(affirmed) == 1 and not extra:
            chosen |= affirmed
        elif affirmed and not extra and (hedged(toks) or "could" in toks):
            chosen |= affirmed  # "... but it could just as well be Copper, Silver or Iron": more candidates
    if len(chosen) == 0 and aside:
        sentence_items = {it for here in found for it, st in here if st == AFFIRMED} - aside
        if len(sentence_items) == 1:
            chosen = sentence_items
    if len(chosen) == 0 and not foreign:  # "Unlike X and Y, which ..., Z flies": the item named last
        for u in re.split(r"(?<=[.!?])\s+|\n", doc.raw):  # sentences: units would split at "which"
            toks = tokens(u)
            if toks[:1] != ["unlike"]:
                continue
            at = sorted((p, it) for it in items for p in find_all(toks, it))
            last = at[-1][1] if at else None
            if last is not None and all(it != last for _, it in at[:-1]) and len({it for _, it in at}) > 1:
                chosen, aside = {last}, aside | {it for _, it in at[:-1]}
                break
    # only an item that opens the answer ("Answer: Telegram (...)"): "Lavender is a plant, while Rust and
    # Python ..." opens with something else and singles out nothing
    at = next((k for k, here in enumerate(found) if here), None)
    opens = at is not None and not any(
        t not in _CHOICE_FILLER and t not in category_words for u in unit_toks[:at] for t in content_tokens(u)
    )
    first = found[at] if opens else []
    opening = re.match(r"\s*([^\W\d_][\w' ]{0,40}?)\s*(?:[\u2013\u2014:]|\s-\s)", doc.raw)
    if not chosen and opening and tokens(opening[1]) in item_toks.values():
        chosen = {it for it, t in item_toks.items() if t == tokens(opening[1])}  # "Toronto - it's a city, ..."
    if not chosen and first:
        if len({it for it, st in first if st == AFFIRMED}) == 1 and first[0][1] == AFFIRMED:
            chosen = {first[0][0]}
    return chosen, aside - chosen, foreign


_EXAMPLE_CUES = ("rather than", "such as", "like", "unlike", "whereas", "compared")


def _examples_from(toks: list[str]) -> int | None:
    """Where the items of the other side begin in an odd-one-out unit ("... rather than a network like ...")."""
    text = " ".join(toks)
    at = [text[: m.start()].count(" ") for c in _EXAMPLE_CUES for m in re.finditer(rf"\b{c}\b", text)]
    return min(at) if at else None


def _items_in(toks: list[str], items: list[str]) -> bool:
    return any(find_all(toks, it) for it in items)


def clause_negated_marker(toks: list[str]) -> bool:
    """True when the unit denies the oddness itself ("Telegram is not the odd one out")."""
    text = " " + " ".join(toks) + " "
    return any(
        f" {n} " in text
        for n in (
            "not the odd",
            "isnt the odd",
            "not odd",
            "isnt odd",
            "not different",
            "isnt different",
            "not an exception",
            "not the exception",
            "not the outlier",
            "no odd",
        )
    )


# Who a category word is said of: the odd item or "it", against the other items or "the others"/"they".
_ODD_SUBJECTS = ("it", "its")
_OTHER_SUBJECTS = ("other", "others", "rest", "remaining", "they", "them", "both")


@lru_cache(maxsize=1)
def _category_keys() -> tuple[str, ...]:
    return tuple(sorted({k for c in load_facts("odd_one_out") for k in c["keys"]}))


def odd_reason(doc: Doc, items: list[str], odd: str, odd_keys: list[str], major_keys: list[str]) -> tuple[float, int]:
    """(share of right sides, wrong sides). Each category word (of any category in the fact table) is said
    of the nearest subject before it (the first one after it when none precedes): the odd item or "it", or
    the other items / "the others" / "they". A negated category ("it is not a social network") claims the
    side is not of it. A side is right when every category said of it is true of it, wrong when one is
    false. So "it is an insect while the others are fish" is right for the mosquito, the swapped reason
    wrong on both sides."""
    subjects = sorted(
        [(p, "odd") for w in (odd, *_ODD_SUBJECTS) for p in doc.positions(w)]
        + [(p, "others") for w in [*(it for it in items if it != odd), *_OTHER_SUBJECTS] for p in doc.positions(w)]
    )
    if not subjects:
        return 0.0, 0
    own = {"odd": set(odd_keys), "others": set(major_keys)}
    named = {p + i for it in items for p in doc.positions(it) for i in range(len(tokens(it)))}
    said: dict[str, list[bool]] = {}
    for key, p, _ in _category_index().scan(doc.tokens):
        if p in named:
            continue
        before = [side for q, side in subjects if q < p]
        side = before[-1] if before else subjects[0][1]
        negated = any(t in NEGATORS or t in ("unlike", "than") for t in doc.tokens[max(0, p - 3) : p])  # "rather than"
        said.setdefault(side, []).append((key in own[side]) != negated)
    if not said:
        return 0.0, 0
    wrong = sum(not all(v) for v in said.values())
    return sum(all(v) for v in said.values()) / len(said), wrong


_NAME = r"[A-Z][\w'-]*(?: [A-Z][\w'-]*)?"
_NAMED_GROUP = re.compile(rf"\b({_NAME}(?:, {_NAME})*,? and {_NAME}) (?:are|were)\b")


def wrong_others(raw: str, items: list[str], odd: str) -> str:
    """A group of capitalised names said to be the other side ("while Signal and Signal are ...") that is not
    the list's other items: the odd item itself, a name twice, or a name outside the list. A false claim
    about the list, whatever category follows."""
    others = [tokens(it) for it in items if it != odd]
    for m in _NAMED_GROUP.finditer(raw):
        names = [tokens(n) for n in re.split(r",? and |, ", m[1])]
        if any(n == tokens(odd) for n in names) or len({tuple(n) for n in names}) < len(names):
            return m[1]
        if any(not any(set(n) <= set(o) for o in others) for n in names):
            return m[1]
    return ""


def _odd_hedged(toks: list[str]) -> bool:
    """ "Probably Topaz", "I guess Topaz" ("could be" is left out: "copper could be used in wiring")."""
    text = f" {' '.join(toks)} "
    return any(t in HEDGES for t in toks) or any(f" {h} " in text for h in HEDGE_PHRASES if h != "could be")


def odd_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    items, odd = meta["items"], meta["odd"]
    chosen, aside, foreign = chosen_items(doc, items, set(_category_words()))
    if len(chosen) == 1:  # "Robin Hood is the odd one out": a namesake of the item, not the item
        item = next(iter(chosen))
        for m in re.finditer(rf"(?i:\b{re.escape(item)})\s+([A-Z][a-z]+)\b", doc.raw):
            w = tokens(m.group(1))[0]
            if w not in STOP_WORDS and not any(w in tokens(it) for it in items) and w not in _CHOICE_FILLER:
                foreign.append(m.group(0))
    why: dict[str, str] = {}
    if foreign:
        picked, why["odd_named"] = 0.0, f"singles out something not in the list: {', '.join(foreign)}"
    elif len(chosen) > 1:
        picked, why["odd_named"] = 0.0, f"{len(chosen)} competing items singled out: {', '.join(sorted(chosen))}"
    elif chosen == {odd}:
        picked, why["odd_named"] = 1.0, f"chose {odd!r} = the odd item"
    elif chosen:
        picked, why["odd_named"] = 0.0, f"chose {next(iter(chosen))!r}, the odd item is {odd!r}"
    else:
        picked, why["odd_named"] = 0.0, "no item singled out" + (f" ({odd!r} denied)" if odd in aside else "")
    if picked and any(
        not _items_in(tokens(u), items) and clause_negated_marker(_marked(tokens(u))) for u in units(doc.raw)
    ):
        picked, why["odd_named"] = 0.0, "says there is no odd one out"
    reason, wrong = odd_reason(doc, items, odd, meta["odd_keys"], meta["major_keys"]) if picked else (0.0, 0)
    others = wrong_others(doc.raw, items, odd) if picked else ""
    if others and odd_reason(Doc(doc.raw[: doc.raw.find(others)]), items, odd, meta["odd_keys"], meta["major_keys"])[1]:
        others = ""  # "it is a continent while Africa and Tokyo are ...": already false about the item itself
    if others:  # the right item, but the reason misnames the other side
        content = WRONG_OTHERS * picked * (0.5 if _odd_hedged(doc.tokens) else 1.0)
        reason, why["reason"] = 0.0, f"names {others!r} as the other items"
    elif wrong:
        content, why["reason"] = FALSE_REASON * picked, f"false category claim on {wrong} side(s)"
    else:
        content = picked * (ODD_PICK + (1 - ODD_PICK) * reason) * (0.5 if _odd_hedged(doc.tokens) else 1.0)
        why["reason"] = f"{reason:.0%} of the sides given a true category" if picked else "-"
    return content, 1.0, {"odd_named": picked, "reason": reason}, why


@lru_cache(maxsize=1)
def _category_index() -> PhraseIndex:
    return PhraseIndex({k: [k] for k in _category_keys()})


@lru_cache(maxsize=1)
def _category_words() -> tuple[str, ...]:
    return tuple(sorted({t for k in _category_keys() for t in tokens(k)}))


# ---------------------------------------------------------------- classify

CLASSIFY_TEMPLATES = [
    "Classify the following into animals, plants, and minerals",
    "Sort these items into animals, plants and minerals.",
    "Label each of the following as an animal, a plant or a mineral.",
    "Is each of these an animal, a plant or a mineral?",
]
LABELS = ["animal", "plant", "mineral"]


def make_classify(pairs: list[list[str]], template: str, lines: bool) -> dict[str, Any]:
    items = [p[0] for p in pairs]
    if lines:
        output = "\n".join(f"{capitalize(item)}: {capitalize(label)}" for item, label in pairs)
    else:
        parts = [f"{item} is {'an' if label == 'animal' else 'a'} {label}" for item, label in pairs]
        output = capitalize(join_and(parts)) + "."
    meta = {"items": pairs}
    return make_row("classify", template, capitalize(", ".join(items)), output, meta)


def gen_classify(rng: random.Random) -> dict[str, Any]:
    table = load_facts("classify")
    k = rng.randint(3, 5)
    while True:
        labels = [rng.choice(LABELS) for _ in range(k)]
        if len(set(labels)) >= 2:
            break
    pairs: list[list[str]] = []
    for label in labels:
        item = rng.choice([x for x in table[label] if x not in {p[0] for p in pairs}])
        pairs.append([item, label])
    return make_classify(pairs, rng.choice(CLASSIFY_TEMPLATES), lines=rng.random() < 0.5)


# Words that state a label; an item's own words never count ("oak tree", "copper ore", "rock salt").
LABEL_WORDS = {
    "animal": [
        "animal",
        "creature",
        "fauna",
        "beast",
        "mammal",
        "bird",
        "reptile",
        "insect",
        "fish",
        "amphibian",
        "animal kingdom",
    ],
    "plant": ["plant", "flora", "vegetation", "flower", "shrub", "herb", "tree", "plant kingdom"],
    "mineral": ["mineral", "rock", "stone", "ore", "metal", "gem", "gemstone", "crystal", "mineral kingdom"],
}


# The kinds each item is ("a rose is a flower"), for the label words that name a kind rather than the kingdom: a
# kind an item is not ("Oak tree: flower", "Penguin - mammal", "Ruby: metal") labels it wrongly.
KINDS = {
    "elephant": "mammal",
    "lion": "mammal",
    "eagle": "bird",
    "salmon": "fish",
    "frog": "amphibian",
    "dolphin": "mammal",
    "butterfly": "insect",
    "horse": "mammal",
    "shark": "fish",
    "owl": "bird",
    "tiger": "mammal",
    "rabbit": "mammal",
    "penguin": "bird",
    "honeybee": "insect",
    "giraffe": "mammal",
    "octopus": "",
    "camel": "mammal",
    "whale": "mammal",
    "crocodile": "reptile",
    "wolf": "mammal",
    "oak tree": "tree",
    "rose": "flower shrub",
    "sunflower": "flower",
    "fern": "",
    "cactus": "",
    "pine tree": "tree",
    "tulip": "flower",
    "moss": "",
    "bamboo": "",
    "maple tree": "tree",
    "daisy": "flower",
    "ivy": "",
    "wheat": "",
    "apple tree": "tree",
    "orchid": "flower",
    "willow tree": "tree",
    "lavender": "flower herb shrub",
    "clover": "herb",
    "grass": "",
    "tomato vine": "",
    "copper ore": "ore rock stone metal",
    "quartz": "crystal stone gem gemstone",
    "diamond": "gem gemstone crystal stone",
    "iron ore": "ore rock stone metal",
    "gold nugget": "metal",
    "granite": "rock stone",
    "rock salt": "rock crystal",
    "marble": "rock stone",
    "graphite": "",
    "ruby": "gem gemstone crystal stone",
    "emerald": "gem gemstone crystal stone",
    "sapphire": "gem gemstone crystal stone",
    "talc": "",
    "silver ore": "ore rock stone metal",
    "coal": "rock stone",
    "limestone": "rock stone",
    "mica": "crystal",
    "amethyst": "gem gemstone crystal stone",
    "sulfur": "crystal",
    "gypsum": "crystal",
}
KINGDOM_WORDS = frozenset(
    "animal creature fauna beast plant flora vegetation mineral".split()
    + ["animal kingdom", "plant kingdom", "mineral kingdom"]
)


@lru_cache(maxsize=1)
def _label_index() -> PhraseIndex:
    return PhraseIndex(LABEL_WORDS)


@lru_cache(maxsize=1)
def _labelled_items() -> tuple[str, ...]:
    """The table's items whose names hold a label word ("apple tree", "copper ore", "rock salt")."""
    words = {w for ws in LABEL_WORDS.values() for w in ws}
    return tuple(it for it in KINDS if set(tokens(it)) & words)


def _label_of(item: str, label: str, word: str) -> str:
    """The label a label word gives an item: its kingdom, or for a kind the item is not, a wrong label."""
    if word in KINGDOM_WORDS or item not in KINDS or word in KINDS[item].split():
        return label
    return f"{word} (a {item} is no {word})"


def _echoes(item: str, word: str) -> bool:
    """The label word is a word of the item's own name ("Oak tree: tree", "Copper ore: ore")."""
    return set(tokens(word)) <= set(tokens(item))


_LIST_GLUE = frozenset("and or the a an both as well also".split())
_CLASSIFY_SPLIT = re.compile(r"[\n;]+|[.!?]+(?=\s|$)")


def _segment_labels(toks: list[str], items: list[str]) -> tuple[dict[str, set[str]], set[str], dict[str, set[str]]]:
    """Labels given to each item of one line/sentence, the labels affirmed in it, and apart from the first the
    labels an item is given only by a word of its own name. A segment whose first
    label comes before its first item ("Animals: elephant, lion") gives each item the labels between the
    previous item and it; otherwise ("Oak tree: plant", "X and Y are animals") the labels between it and
    the next item. An item with no label of its own shares its neighbour's ("X and Y are animals"). In a
    header line a kind right after an item is that item's aside ("Animals: honeybee (an insect), tiger"), and
    each label word is read for its item: a kind the item is not is a wrong label (KINDS)."""
    spans = sorted((p, p + len(tokens(it)), it) for it in items for p in find_all(toks, it))
    named = [(p, p + len(tokens(it))) for it in _labelled_items() if it not in items for p in find_all(toks, it)]
    inside = {i for start, end, *_ in [*spans, *named] for i in range(start, end)}  # "apple tree" labels nothing
    labels = sorted(
        (p, lab, " ".join(toks[p : p + n]))
        for lab, p, n in _label_index().scan(toks)
        if p not in inside and not negated_at(toks, p, 3)
    )
    if not labels:
        return {}, set(), {}
    affirmed = {lab for _, lab, _ in labels}
    if not spans:
        return {}, affirmed, {}
    label_first = labels[0][0] < spans[0][0]
    got: list[set[tuple[str, str]]] = []  # (label, the word that gave it), read per item once shared
    head = {(lab, w) for p, lab, w in labels if spans and p < spans[0][0]}

    def asides_before(i: int) -> bool:  # only kinds stand between this item and the one before
        between = [w for p, _, w in labels if spans[i - 1][1] <= p < spans[i][0]]
        return bool(between) and all(w not in KINGDOM_WORDS for w in between)

    for i, (start, end, _) in enumerate(spans):
        if label_first:  # a kind right after an item is its aside: "Animals: honeybee (an insect), tiger"
            lo = spans[i - 1][1] if i else -1
            hi = spans[i + 1][0] if i + 1 < len(spans) else len(toks)
            own = {(lab, w) for p, lab, w in labels if lo <= p < start and (not i or w in KINGDOM_WORDS)}
            asides = {(lab, w) for p, lab, w in labels if end <= p < hi and w not in KINGDOM_WORDS}
            if i and not own and asides_before(i):
                own = head
            got.append(own | asides)
        else:
            hi = spans[i + 1][0] if i + 1 < len(spans) else len(toks)
            got.append({(lab, w) for p, lab, w in labels if end <= p < hi})
    order = range(len(spans)) if label_first else range(len(spans) - 1, -1, -1)
    last: set[tuple[str, str]] = set()
    for i in order:  # share the neighbour's labels when listed together: forwards for label-first, else backwards
        j = i - 1 if label_first else i + 1
        if not got[i] and 0 <= j < len(spans):
            lo, hi = (spans[j][1], spans[i][0]) if label_first else (spans[i][1], spans[j][0])
            if all(t in _LIST_GLUE for t in toks[lo:hi]):
                got[i] = last
        last = got[i]
    out: dict[str, set[str]] = {}
    echoed: dict[str, set[str]] = {}
    for (_, _, it), labs in zip(spans, got):
        for lab, w in labs:
            (echoed if _echoes(it, w) else out).setdefault(it, set()).add(_label_of(it, lab, w))
    return out, affirmed, echoed


def assigned_labels(doc: Doc, items: list[str]) -> dict[str, set[str]]:
    """Every label each item is given, line by line; a line of labels alone ("Animals:") heads the lines
    after it. A label taken from the item's own name ("Oak tree: tree") shows no knowledge by itself: it
    counts only where no more items are labelled that way than by words from outside their names."""
    assigned: dict[str, set[str]] = {}
    echoed: dict[str, set[str]] = {}
    header: set[str] = set()
    empty: set[str] = set()  # "Animals: none": no item has these labels
    for seg in _CLASSIFY_SPLIT.split(doc.raw):
        toks = tokens(seg or "")
        if not toks:
            continue
        labelled, affirmed, echo = _segment_labels(toks, items)
        for it, labs in echo.items():
            echoed.setdefault(it, set()).update(labs)
        present = [it for it in items if find_all(toks, it)]
        if affirmed and not present and "none" in toks:
            empty |= affirmed
            header = set()
            continue
        if affirmed and not present:
            header = affirmed
            continue
        if not affirmed and present and header:
            labelled = {it: set(header) for it in present}
        for it, labs in labelled.items():
            if labs:
                assigned.setdefault(it, set()).update(labs)
    if len([it for it in echoed if it not in assigned]) <= len(assigned):
        for it, labs in echoed.items():
            assigned.setdefault(it, set()).update(labs)
    for labs in assigned.values():  # an item given a label the answer also says nothing has
        labs |= {f"{lab} (and no item is a {lab})" for lab in labs & empty}
    return assigned


def classify_content(row: dict, doc: Doc) -> Content:
    """(right - wrong) / items: an item is right when it is given its label and no other; a wrong label, or
    several ("animal, plant or mineral"), makes it wrong; a negated label ("not a plant") gives none."""
    pairs = row["meta"]["items"]
    assigned = assigned_labels(doc, [p[0] for p in pairs])
    right = [it for it, lab in pairs if assigned.get(it) == {lab}]
    wrong = [it for it, lab in pairs if assigned.get(it) and assigned[it] != {lab}]
    content = max(0.0, (len(right) - len(wrong)) / len(pairs))
    why = {
        "items_right": f"{len(right)}/{len(pairs)} right"
        + (f"; wrong or hedged: {', '.join(f'{it}={sorted(assigned[it])}' for it in wrong)}" if wrong else "")
        + (
            f"; unlabelled: {', '.join(it for it, _ in pairs if it not in assigned)}"
            if len(assigned) < len(pairs)
            else ""
        )
    }
    return content, 1.0, {"items_right": content}, why


FAMILIES = [
    Family(
        "fact_qa",
        "Short factual question (three primary colors, how did Caesar die, largest planet, ...).",
        "Share of the key facts affirmed (synonyms; numbers by value, stated exactly; temperatures in their unit).",
        "Negated keys earn nothing; competing answers zero a one-fact answer, else x0.1 each; a wrong unit zeroes.",
        gen_fact_qa,
        fact_qa_content,
    ),
    Family(
        "capital",
        "Name the capital city of a country.",
        "Full content when the right city is affirmed.",
        "Negated, or a rival city offered as the capital, or given to another country: 0; hedged x0.5.",
        gen_capital,
        capital_content,
    ),
    Family(
        "odd_one_out",
        "Pick the item of 3-4 that belongs to a different category.",
        "70% for singling out the odd item, 30% more for true categories as the reason.",
        "A wrong, foreign or denied item, or several, score 0; a false category claim leaves 0.1.",
        gen_odd,
        odd_content,
    ),
    Family(
        "classify",
        "Label 3-5 items as animal, plant or mineral.",
        "(right - wrong) / items, labels read in any layout (X - y, X: y, Y: x, x, X (y), sentences).",
        "A wrong label or several labels make an item wrong; a negated label gives none.",
        gen_classify,
        classify_content,
    ),
]
