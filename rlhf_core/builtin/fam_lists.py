"""List-shaped families: tips, list_items, ordering."""

from __future__ import annotations

import random
import re
from functools import cache
from typing import Any

from .base import Content, Family, capitalize, join_and, load_facts, make_row
from .claims import NEGATORS
from .stance import (
    advice_clauses,
    find,
    is_reducer,
    key_tokens,
    keyword_run,
    neutral_before,
    only_keywords,
    reversed_at,
    sentences,
)
from .text import Doc, normalize, number_word, numbers_at, phrase, segments, stem, tokens

# ---------------------------------------------------------------- tips

TIPS_COUNTED = [
    "Give {nw} tips for {goal}.",
    "List {n} ways to {verb}.",
    "What are {nw} ways to {verb}?",
    "Suggest {nw} tips for {goal}.",
    "Share {n} tips that help people {verb}.",
]
TIPS_OPEN = ["How can we {verb}?", "What can people do to {verb}?", "How can I {verb}?"]


def make_tips(topic: dict, template: str, n: int, picks: list[int], exact: bool) -> dict[str, Any]:
    texts = [topic["items"][i]["text"] for i in picks]
    instruction = template.format(n=n, nw=number_word(n), goal=topic["goal"], verb=topic["verb"])
    if exact:
        output = "\n".join(f"{i + 1}. {t}." for i, t in enumerate(texts))
    else:
        # Open questions ("How can we ...?") get a one-sentence answer, as in the study's data.
        output = f"There are several ways to {topic['verb']}: " + join_and([t[0].lower() + t[1:] for t in texts]) + "."
    meta = {"topic": topic["goal"], "n": n, "exact_count": exact, "items": [it["keys"] for it in topic["items"]]}
    return make_row("tips", instruction, "", output, meta)


def gen_tips(rng: random.Random) -> dict[str, Any]:
    topic = rng.choice(load_facts("tips"))
    exact = rng.random() < 0.8
    template = rng.choice(TIPS_COUNTED if exact else TIPS_OPEN)
    n = rng.randint(3, 6) if exact else 3
    picks = rng.sample(range(len(topic["items"])), n)
    return make_tips(topic, template, n, picks, exact)


def _names_item(words: list[str], keys: list[tuple[str, ...]]) -> bool:
    """Whether a list entry (normalised words) names any of the keys (token tuples)."""
    toks = [stem(w) for w in words]
    return any(find(toks, kt) for kt in keys)


@cache
def _tip_polarity(goal: str) -> dict[tuple[int, str], str]:
    """Per (item, key): "against" if the reference tip advises against the key ("avoid smoking", "cut
    emissions"), "for" if it recommends it, "any" if it only keeps it in check ("manage your stress")."""
    table = next((t for t in load_facts("tips") if t["goal"] == goal), None)
    out: dict[tuple[int, str], str] = {}
    if table is None:
        return out
    for i, item in enumerate(table["items"]):
        units = advice_clauses(item["text"])
        spots = [(u, p, key) for key in item["keys"] for u in units for p in find(u, key_tokens(key))[:1]]
        # A key the text does not use ("tanning" for "Avoid sunbeds") takes the stance of the item's first key.
        spots.sort(key=lambda spot: is_reducer(key_tokens(spot[2])))  # "unplug devices": the stance of devices
        if spots:
            u, p, key = spots[0]
            item_against = bool(reversed_at(u, p, len(key_tokens(key))))
        else:
            item_against = bool(units) and bool(reversed_at(units[0][:1], 1, 0))
        for key in item["keys"]:
            kt = key_tokens(key)
            where = next(((u, p) for u in units for p in find(u, kt)[:1]), None)
            if where is None and is_reducer(kt):
                out[(i, key)] = "for"  # a reducing action the text does not use ("turn off"): naming it is the tip
            elif where is None:
                out[(i, key)] = "against" if item_against else "for"
            elif neutral_before(*where):
                out[(i, key)] = "any"
            else:
                out[(i, key)] = "against" if reversed_at(where[0], where[1], len(kt)) else "for"
    return out


# Other ways to name a tip key (the judge's vocabulary, not the data's): each takes its key's stance.
TIP_SYNONYMS = {
    "workout": ["work out", "working out"],
    "exercise": ["exercising", "gym", "jogging", "running", "swimming", "fitness", "physically fit", "keep fit"],
    "vegetable": ["veggies", "veggie", "greens"],
    "sleep": ["sleeping", "shut eye", "shuteye"],
    "update": ["updated", "updating"],
    "water": ["hydration"],
    "diet": ["healthy eating", "eat healthy", "eating healthy"],
    "smoke": ["tobacco", "vape", "vaping"],
    "public transport": ["public transportation", "subway", "metro", "tram"],
    "bike": ["biking"],
    "budget": ["budgeting"],
    "stress": ["anxiety"],
}


# An amount named with a tip ("sleep 3 hours a night", "one glass of water a week") is a claim too: the facts
# table gives some tips a healthy daily range ("dose"), and an amount outside it turns the tip around.
_PERIODS = {"day": 1, "night": 1, "daily": 1, "nightly": 1, "week": 7, "weekly": 7, "month": 30, "monthly": 30}
_PERIODS |= {"year": 365, "yearly": 365, "annually": 365}
_PER = frozenset("a an per each every".split())
_RANGE_WORDS = frozenset("to or and".split())


@cache
def _doses(goal: str) -> dict[int, tuple[dict[str, float], float, float]]:
    table = next((t for t in load_facts("tips") if t["goal"] == goal), None)
    out = {}
    for i, item in enumerate(table["items"] if table else []):
        if "dose" in item:
            d = item["dose"]
            out[i] = (d["units"], float(d["daily"][0]), float(d["daily"][1]))
    return out


def _is_number(t: str) -> bool:
    return t.isdigit() or bool(numbers_at([t])) or t == "hundred"


def _and_span(toks: list[str], pos: int) -> list[str]:
    """The part of a clause around toks[pos] between "and"s that join tips, not numbers ("7 and 8 hours")."""

    def joins(i: int) -> bool:
        return toks[i] == "and" and not (0 < i < len(toks) - 1 and _is_number(toks[i - 1]) and _is_number(toks[i + 1]))

    start = next((i + 1 for i in range(pos - 1, -1, -1) if joins(i)), 0)
    end = next((i for i in range(pos + 1, len(toks)) if joins(i)), len(toks))
    return toks[start:end]


def daily_amounts(toks: list[str], units: dict[str, float]) -> list[float]:
    """Daily amounts a clause names in one of `units` ("3 hours a night" -> 3, "a glass a week" -> 1/7,
    "20 minutes three times a week" -> 8.6). Adjacent digit tokens are a decimal ("7.5" tokenises as 7, 5)."""
    n = len(toks)
    period, times = 1.0, 1.0
    for i, t in enumerate(toks):
        if t in _PERIODS and (t.endswith("ly") or (i and toks[i - 1] in _PER)):
            period = _PERIODS[t]
        elif t == "once":
            times = 1.0
        elif t == "twice":
            times = 2.0
    values = numbers_at(toks) + [(i, 1) for i, t in enumerate(toks[:-1]) if t in ("a", "an") and toks[i + 1] in units]
    for pos, v in values:
        if pos + 1 < n and toks[pos + 1] == "time":
            times = float(v)
    out = []
    for pos, v in values:
        if pos + 1 < n and toks[pos + 1] == "time" or (pos and toks[pos - 1].isdigit()):
            continue
        value = float(v)
        j = pos + 1
        if j < n and toks[j].isdigit() and toks[pos].isdigit():  # "7.5"
            value += float(toks[j]) / 10 ** len(toks[j])
            j += 1
        while j < n and (toks[j] in _RANGE_WORDS or _is_number(toks[j])) and j < pos + 5:
            j += 1
        if j < n and toks[j] in units:
            out.append(value * units[toks[j]] * times / period)
    return out


def _expand(items: list[list[str]], synonyms: dict[str, list[str]] | None = None) -> list[list[str]]:
    table = TIP_SYNONYMS if synonyms is None else synonyms
    return [keys + [x for k in keys for x in table.get(k, []) if x not in keys] for keys in items]


def _mentions(
    raw: str,
    items: list[list[str]],
    polarity: dict[tuple[int, str], str] | None,
    list_scope: bool,
    prompt: frozenset[str] = frozenset(),
    doses: dict[int, tuple[dict[str, float], float, float]] | None = None,
) -> tuple[dict[int, float], dict[int, str], list[int]]:
    """(credit per item asserted the right way, item -> the clause that turns it around, items per entry).
    Tips are read clause by clause with negation parity ("don't skip sleep" recommends sleep); list items
    sentence by sentence, where any negator before an item leaves it out ("no tent, no stove")."""
    good: dict[int, float] = {}
    bad: dict[int, str] = {}
    per_entry: list[int] = []
    units = sentences(raw) if list_scope else advice_clauses(raw)
    everywhere = {t for u in units for t in u}
    # only keys whose first word occurs at all, and none that merely restates the goal ("saving" money)
    cands = [
        (i, key, kt)
        for i, keys in enumerate(items)
        for key in keys
        if (kt := key_tokens(key)) and kt[0] in everywhere and not set(kt) <= prompt
    ]
    for toks in units:
        joined = " ".join(toks)
        hedge = any(t in LIST_HEDGES for t in toks) or "not sure" in joined or "i guess" in joined
        disowned = list_scope and DISOWNING.search(joined)
        if "not sure" in joined:  # "I am not sure which" hedges, it negates nothing
            k = toks.index("sure")
            toks = toks[: k - 1] + ["unsure"] + toks[k + 1 :]
        covered: set[int] = set()
        found: list[tuple[int, bool]] = []
        present = set(toks)
        for i, key, kt in cands:
            if kt[0] not in present:
                continue
            for pos in find(toks, kt):
                covered.update(range(pos, pos + len(kt)))
                base = next((k for k in items[i] if key in TIP_SYNONYMS.get(k, ())), key)
                want = "for" if polarity is None else polarity.get((i, base), "for")
                rev = reversed_at(toks, pos, len(kt), parity=not list_scope)
                ok = want == "any" or rev is None or rev == (want == "against")
                if ok and doses and i in doses:
                    units, lo, hi = doses[i]
                    ok = all(lo <= a <= hi for a in daily_amounts(_and_span(toks, pos), units))
                found.append((i, ok))
        bare = not list_scope and only_keywords(toks, covered)
        if not list_scope and len({i for i, _ in found}) > 1 and keyword_run(toks, covered):
            continue  # "diet exercise sleep water": a run of key words is no advice at all
        if disowned and len({i for i, _ in found}) > 1:  # "tent, stove and map are dead weight"
            found = [(i, False) for i, _ in found]
        hit = set()
        for i, ok in found:
            if ok:  # a bare key word or a hedged entry ("maybe a torch") earns part
                good[i] = max(good.get(i, 0.0), BARE_CREDIT if bare else HEDGED_CREDIT if hedge else 1.0)
                hit.add(i)
            else:
                bad.setdefault(i, " ".join(toks))
        per_entry.append(len(hit))
    for i in bad:
        good.pop(i, None)  # said both ways: no credit for it
    return good, bad, per_entry


# What a list sentence can say of its items that leaves them out: "... are dead weight", "were all banned", "the
# last things you'd want", "what the older kids will mock you for".
DISOWNING = re.compile(
    r"\b(?:dead weight|banned|confiscat\w*|overrated|prohibited|forbidden|last things? (?:you|youd|anyone)\b"
    r"|mock you|laugh at you|make fun of you)"
)
# A cross before an entry leaves it out, a tick keeps it; a table row answered "No" leaves its item out.
_CROSS = re.compile(r"[\u2717\u2718\u274c]\s*")
_TICK = re.compile(r"[\u2713\u2714\u2705]\s*")
_NO_ROW = re.compile(r"(?im)^\|?\s*([^|\n]+?)\s*\|\s*(?:no|nope|not needed|skip(?: it)?|leave it)\s*\|?\s*$")
_ASKED = re.compile(r"(?:^|(?<=[?\u2014:\-]))\s*((?:[\w'-]+ ){0,3}[\w'-]+)\?")


def list_marks(raw: str) -> str:
    """The answer with crosses, "No" table rows and a run of one-item questions ("a towel? a hat? drinks?")
    written out as words the list reading understands."""
    if _CROSS.search(raw):
        raw = _TICK.sub(". ", _CROSS.sub(". no ", raw))
    if "|" in raw:
        raw = _NO_ROW.sub(r"no \1.", raw)
    if raw.count("?") >= 3 and len(_ASKED.findall(raw)) >= 3:
        raw = _ASKED.sub(r" maybe \1.", raw)  # guessed, not listed
    return raw


BARE_CREDIT = 0.4  # a tip that is one bare key word ("Water.") is a topic, not advice
HEDGED_CREDIT = 0.1  # "maybe a torch", "blanket or basket, I am not sure which": a guess, not an answer
LIST_HEDGES = frozenset("maybe perhaps perhap possibly unsure".split())  # not "might": "items you might need"


def _count_given(raw: str, n_hits: int) -> int:
    """How many entries the response gives: on-topic list entries, or matched items for prose."""
    segs = segments(raw)
    if len(segs) < 2:
        return n_hits
    return len(segs)


def _list_content(row: dict, doc: Doc, commas: bool, polarity: dict[tuple[int, str], str] | None) -> Content:
    meta = row["meta"]
    n, items = meta["n"], _expand(meta["items"], None if polarity is not None else LIST_SYNONYMS)
    goal = frozenset(tokens(row.get("instruction", ""))) if polarity is not None else frozenset()
    doses = _doses(meta.get("topic", "")) if polarity is not None else None
    good, bad, per_entry = _mentions(
        list_marks(doc.raw) if commas else doc.raw,
        items,
        polarity,
        list_scope=commas,
        prompt=goal,
        doses=doses,
    )
    credit = sorted(good.values(), reverse=True)[:n]
    coverage = sum(credit) / n
    against = 1.0 / (1.0 + len(bad))  # each item turned around (a harmful tip, a left-out item) costs credit
    count = 1.0
    given = 0
    if meta.get("exact_count", True):
        segs = segments(doc.raw, commas=commas)
        present = set(doc.tokens)
        keys = [kt for ks in items for kt in map(key_tokens, ks) if kt and kt[0] in present]
        given = sum(1 for s in segs if _names_item(s.split(" "), keys)) if keys else 0
        if given < 2:  # prose: count the items named
            given = len(good) + len(bad)
        count = max(0.0, 1.0 - abs(given - n) / n)
    content = coverage * against * (0.85 + 0.15 * count)
    names = [items[i][0] for i in good]
    why = {"items": f"{len(good)}/{n} asserted: {', '.join(names[:10]) or 'none'}"}
    if bad:
        why["against"] = "turned around: " + "; ".join(f"'{v}'" for v in list(bad.values())[:3])
    if meta.get("exact_count", True):
        why["count"] = f"{given} on-topic entries for {n} asked"
    return content, 1.0, {"items": coverage, "against": against, "count": count}, why


def tips_content(row: dict, doc: Doc) -> Content:
    return _list_content(row, doc, commas=False, polarity=_tip_polarity(row["meta"].get("topic", "")))


# ---------------------------------------------------------------- list_items

LIST_TEMPLATES = [
    "Generate a list of {nw} items a person might need for {situation}",
    "List {n} things a person might need for {situation}.",
    "Name {nw} items you would need for {situation}.",
    "Write a list of {n} things needed for {situation}.",
]


def make_list_items(entry: dict, template: str, n: int, picks: list[int], numbered: bool) -> dict[str, Any]:
    names = [entry["items"][i][0] for i in picks]
    instruction = template.format(n=n, nw=number_word(n), situation=entry["situation"])
    if numbered:
        output = "\n".join(f"{i + 1}. {capitalize(x)}" for i, x in enumerate(names))
    else:
        output = f"Here are {number_word(n)} items: " + join_and(names) + "."
    meta = {"situation": entry["situation"], "n": n, "exact_count": True, "items": entry["items"]}
    return make_row("list_items", instruction, "", output, meta)


def gen_list_items(rng: random.Random) -> dict[str, Any]:
    entry = rng.choice(load_facts("list_items"))
    template = rng.choice(LIST_TEMPLATES)
    n = rng.randint(3, 10)
    picks = rng.sample(range(len(entry["items"])), n)
    return make_list_items(entry, template, n, picks, numbered=rng.random() < 0.5)


# Other names for a list item (the judge's vocabulary, not the data's): "drinks" for a picnic's juice.
LIST_SYNONYMS = {
    "juice": ["drinks", "beverages", "soft drinks"],
    "cups": ["glasses", "mugs"],
    "cutlery": ["utensils"],
    "rubbish bag": ["bin bag", "garbage bag", "bin bags"],
    "flashlight": ["lantern"],
    "water bottle": ["canteen"],
    "snacks": ["crisps", "chips"],
}


def list_items_content(row: dict, doc: Doc) -> Content:
    return _list_content(row, doc, commas=True, polarity=None)


# ---------------------------------------------------------------- ordering

ORDER_TEMPLATES = {
    ("numbers", False): [
        "Sort these numbers from smallest to largest.",
        "Arrange the following numbers in ascending order.",
        "Put these numbers in increasing order.",
    ],
    ("numbers", True): [
        "Sort these numbers from largest to smallest.",
        "Arrange the following numbers in descending order.",
        "Put these numbers in decreasing order.",
    ],
    ("words", False): [
        "Sort these words in alphabetical order.",
        "Arrange the following words alphabetically.",
        "Put these words in order from A to Z.",
    ],
    ("words", True): [
        "Sort these words in reverse alphabetical order.",
        "Arrange the following words from Z to A.",
        "Put these words in reverse alphabetical order.",
    ],
}


def make_ordering(kind: str, items: list, descending: bool, template: str) -> dict[str, Any]:
    ordered = sorted(items, reverse=descending)
    shown = [str(x) for x in items]
    meta = {"kind": kind, "descending": descending, "order": [str(x) for x in ordered]}
    return make_row("ordering", template, ", ".join(shown), ", ".join(meta["order"]), meta)


def gen_ordering(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["numbers", "words"])
    descending = rng.random() < 0.35
    k = rng.randint(4, 7)
    if kind == "numbers":
        high = rng.choice([10, 100, 100, 1000])
        items: list = rng.sample(range(1, high), k)
    else:
        items = rng.sample(load_facts("ordering")["words"], k)
    return make_ordering(kind, items, descending, rng.choice(ORDER_TEMPLATES[(kind, descending)]))


_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+", re.M)  # "1. 5" is the entry 5, not the number 1


def _stream(raw: str, kind: str, wanted: set[str]) -> tuple[list[str], int]:
    """Items in order of appearance (repeats kept), and the count of numbers that are not items."""
    toks = tokens(_MARKER.sub(" ", raw))
    if kind == "numbers":
        values = [str(v) for _, v in numbers_at(toks)]
        return [v for v in values if v in wanted], sum(1 for v in values if v not in wanted)
    return [t for t in toks if t in wanted], 0


def _listings(stream: list[str]) -> list[list[str]]:
    """The stream cut into listings: a new one starts when an item comes back."""
    out: list[list[str]] = [[]]
    for x in stream:
        if x in out[-1]:
            out.append([])
        out[-1].append(x)
    return [lst for lst in out if lst]


# Words that disown the order written: "... has sorted them the wrong way round", "the reverse works just as well",
# "read from right to left"; and rank labels that number the items against the written order ("mirror (4th)").
_DISOWNED_ORDER = re.compile(
    r"\bwrong way (?:round|around)\b|\bthe (?:reverse|opposite)(?: order)? (?:works|is) (?:just as|equally)"
    r"|\bread (?:it |them |this )?(?:from )?right to left\b|\beither (?:order|way round) (?:works|is fine)\b",
    re.I,
)
# Relations that state the order backwards from how the items appear: "98 comes after 93, which comes after 70"
# lists 98 first but says it is last; "followed by" and "precedes" read forwards.
_BACKWARDS = re.compile(r"\b(?:follows|comes? after|goes after|is after|(?:is |are )?preceded by)\b", re.I)
_FORWARDS = re.compile(r"\b(?:followed by|precedes|comes? before|goes before|is before)\b", re.I)
_RANK_LABEL = re.compile(r"\(\s*#?(\d+)(?:st|nd|rd|th)?\s*\)")
_LINE_NUMBER = re.compile(r"(?m)^\s*(\d{1,2})[.)][ \t]+\S")


def _denied_listing(raw: str, kind: str, wanted: set[str]) -> bool:
    """A negator just before the first item: "they are not 930, 748, ..."; or the order disowned in words, or by
    rank labels or line numbers that run against it."""
    if _DISOWNED_ORDER.search(raw):
        return True
    ranks = [int(m[1]) for m in _RANK_LABEL.finditer(raw)]
    if len(ranks) >= 2 and ranks != sorted(ranks):
        return True
    numbered = [int(m) for m in _LINE_NUMBER.findall(raw)]  # "7. 756\n6. 408 ...": numbered against the order
    if len(numbered) >= 2 and numbered != sorted(numbered):
        return True
    toks = tokens(_MARKER.sub(" ", raw))
    first = next((i for i, t in enumerate(toks) if t in wanted), None)
    return first is not None and any(t in NEGATORS for t in toks[max(0, first - 3) : first])


_COMPARISON = re.compile(r"(-?\d+(?:\.\d+)?)\s*([<>]=?|\u2264|\u2265)\s*(?=(-?\d+(?:\.\d+)?))")


def _false_comparisons(raw: str) -> list[str]:
    """Every "a < b" / "a > b" between numbers that is false ("9 < 8 < 5"): a chain of false signs is no order."""
    out = []
    for m in _COMPARISON.finditer(raw or ""):
        a, op, b = float(m.group(1)), m.group(2), float(m.group(3))
        ok = a < b if op == "<" else a > b if op == ">" else a <= b if op in ("<=", "\u2264") else a >= b
        if not ok:
            out.append(f"{m.group(1)} {op} {m.group(3)}")
    return out


UNSORTED = 0.5  # the most a listing with a pair out of order keeps


def ordering_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    order = meta["order"]
    if meta["kind"] == "words":
        order = [phrase(w) for w in order]  # compare in the response's (stemmed) token form
    rank = {x: i for i, x in enumerate(order)}
    stream, extra = _stream(doc.raw, meta["kind"], set(order))
    backwards = bool(_BACKWARDS.search(doc.raw))
    if backwards and _FORWARDS.search(doc.raw):
        stream = []  # an order stated both ways round is no order
    elif backwards:
        stream = stream[::-1]
    listings = _listings(stream)
    penalty = max(0.0, 1.0 - extra / len(order))  # numbers that are not items: as many as the items leave nothing
    denied = bool(listings) and _denied_listing(doc.raw, meta["kind"], set(order))
    if not listings or denied:
        return (
            0.0,
            penalty,
            {"coverage": 0.0, "pairs_in_order": 0.0, "extra_numbers": penalty},
            {"coverage": "the listing is denied ('not ...')" if denied else "none of the items listed"},
        )
    if false_signs := _false_comparisons(doc.raw):
        return (
            0.0,
            penalty,
            {"coverage": 0.0, "pairs_in_order": 0.0, "extra_numbers": penalty},
            {"coverage": f"a false comparison: {false_signs[0]}"},
        )
    if any(lst != listings[0] for lst in listings[1:]) and len(listings[0]) > 1:
        return (
            0.0,
            penalty,
            {"coverage": 0.0, "pairs_in_order": 0.0, "extra_numbers": penalty},
            {"coverage": f"{len(listings)} competing orders given"},
        )
    seen = listings[0]
    coverage = len(seen) / len(order)
    pairs = [(a, b) for i, a in enumerate(seen) for b in seen[i + 1 :]]
    right = sum(1 for a, b in pairs if rank[a] < rank[b]) / len(pairs) if pairs else 0.0
    shown = [phrase(x) if meta["kind"] == "words" else x for x in normalize(row.get("input", "")).split()]
    why = {"coverage": f"{len(seen)}/{len(order)} items", "pairs_in_order": f"{right:.0%} of item pairs in order"}
    if seen == shown and seen != order:
        right = 0.0
        why["pairs_in_order"] = "the input order copied back"
    # (2r - 1)^2: a shuffled list (about half the pairs right) or the input order earns nothing; a list with
    # any pair out of order is not sorted, so it keeps at most half (one swap of five items 0.32, two of six
    # 0.27); coverage squared: naming two of six items is no sorted list.
    content = coverage**2 * max(0.0, 2.0 * right - 1.0) ** 2 * (UNSORTED if right < 1.0 else 1.0)
    if extra:
        why["extra_numbers"] = f"{extra} numbers that are not items"
    return content, penalty, {"coverage": coverage, "pairs_in_order": right, "extra_numbers": penalty}, why


FAMILIES = [
    Family(
        "tips",
        "Give N tips / ways to reach a goal (stay healthy, reduce air pollution, save money, ...).",
        "One share per distinct tip recommended the way the topic's table does (a bare key word 0.4); "
        "15% for N entries.",
        "A tip turned around ('never exercise', 'sleep is not important') earns nothing and divides the score.",
        gen_tips,
        tips_content,
        unverifiable="a tip is right by how and when it is done, which key actions and their stance cannot check; "
        "inverted qualifiers ('sunscreen only at night', 'a balanced diet of fast food'), sarcasm and advice "
        "turned around in new words pass",
    ),
    Family(
        "list_items",
        "List N items a person might need for a situation (camping trip, picnic, baking a cake, ...).",
        "One share per distinct item from the situation's table up to N (hedged 0.3); 15% for giving N entries.",
        "An item left out by a negator before it ('you don't need a tent') earns nothing and divides the score.",
        gen_list_items,
        list_items_content,
    ),
    Family(
        "ordering",
        "Sort 4-7 numbers or words ascending or descending.",
        "(Share of items listed)^2 x (2 x share of item pairs in order - 1, floored at 0)^2, halved when any "
        "pair is out of order; the input order copied, or several different orders, earn nothing.",
        "Numbers that are not items shrink the score (n / (n + extra)).",
        gen_ordering,
        ordering_content,
    ),
]
