"""Look-up families: fact_qa, capital, odd_one_out, classify."""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any

from .base import Content, Family, capitalize, frac_matched, join_and, load_facts, make_row
from .text import Doc, segments, tokens

# ---------------------------------------------------------------- fact_qa


def make_fact_qa(fact: dict, question: str) -> dict[str, Any]:
    meta = {"keys": fact["keys"], "wrong": fact["wrong"]}
    return make_row("fact_qa", question, "", fact["a"], meta)


def gen_fact_qa(rng: random.Random) -> dict[str, Any]:
    fact = rng.choice(load_facts("fact_qa"))
    return make_fact_qa(fact, rng.choice(fact["q"]))


def fact_qa_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    content = frac_matched(doc, meta["keys"])
    wrong = doc.count_any(meta["wrong"])
    penalty = 0.5**wrong
    return content, penalty, {"key_terms": content, "wrong_terms": penalty}


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


def capital_content(row: dict, doc: Doc) -> Content:
    answers = row["meta"]["answers"]
    correct = doc.has_any(answers)
    others = sum(1 for names in _all_capitals() if names[0] not in answers and doc.has_any(names))
    penalty = 1.0 / (1.0 + others)
    return float(correct), penalty, {"correct_city": float(correct), "other_capitals": penalty}


# ---------------------------------------------------------------- odd_one_out

ODD_TEMPLATES = [
    "Identify the odd one out.",
    "Which of these is the odd one out?",
    "Find the odd one out in this list.",
    "Which item does not belong?",
]
ODD_MARKERS = ["odd", "belong", "different", "stand out", "stands out", "exception", "unlike", "outlier"]
_CLAUSE_SPLIT = re.compile(r"[.,;:!?\n]+|\b(?:because|while|whereas|but|since)\b", re.I)


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


def _named_items(doc: Doc, items: list[str]) -> list[str]:
    """The item(s) the response singles out: those in a clause saying 'odd'/'different'/...,
    else the first item it mentions."""
    named: list[str] = []
    for clause in _CLAUSE_SPLIT.split(doc.raw):
        cdoc = Doc(clause)
        if cdoc.has_any(ODD_MARKERS):
            named += [it for it in items if cdoc.has(it) and it not in named]
    if named:
        return named
    first = [(doc.positions(it)[0], it) for it in items if doc.has(it)]
    return [min(first)[1]] if first else []


# Who a category word is said of: the odd item or "it", against the other items or "the others"/"they".
_ODD_SUBJECTS = ("it", "its")
_OTHER_SUBJECTS = ("other", "others", "rest", "remaining", "they", "them", "both")


@lru_cache(maxsize=1)
def _category_keys() -> tuple[str, ...]:
    return tuple(sorted({k for c in load_facts("odd_one_out") for k in c["keys"]}))


def odd_reason(doc: Doc, items: list[str], odd: str, odd_keys: list[str], major_keys: list[str]) -> float:
    """How right the stated reason is: each category word (of any category in the fact table) is
    said of the nearest subject before it (the first one after it when none precedes): the odd item
    or "it", or the other items / "the others" / "they". A side is right when every category said
    of it is its own (the odd item's category, or the majority's); the score is the share of sides
    that are right, out of those given a category. So "it is an insect while the others are fish"
    scores 1 for the mosquito, the swapped reason 0, a wrong category on one side 0.5."""
    subjects = sorted([(p, "odd") for w in (odd, *_ODD_SUBJECTS) for p in doc.positions(w)]
                      + [(p, "others") for w in [*(it for it in items if it != odd), *_OTHER_SUBJECTS]
                         for p in doc.positions(w)])
    if not subjects:
        return 0.0
    own = {"odd": set(odd_keys), "others": set(major_keys)}
    # an item's own name is no category claim, even where it is a category word ("Drum": percussion)
    named = {p + i for it in items for p in doc.positions(it) for i in range(len(tokens(it)))}
    said: dict[str, list[bool]] = {}
    for key in _category_keys():
        for p in doc.positions(key):
            if p in named:
                continue
            before = [side for q, side in subjects if q < p]
            side = before[-1] if before else subjects[0][1]
            said.setdefault(side, []).append(key in own[side])
    return sum(all(v) for v in said.values()) / len(said) if said else 0.0


def odd_content(row: dict, doc: Doc) -> Content:
    meta = row["meta"]
    named = _named_items(doc, meta["items"])
    picked = 1.0 / len(named) if meta["odd"] in named else 0.0  # naming several splits the credit
    reason = odd_reason(doc, meta["items"], meta["odd"], meta["odd_keys"], meta["major_keys"]) if picked else 0.0
    content = picked * (0.7 + 0.3 * reason)
    return content, 1.0, {"odd_named": picked, "reason": reason}


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


def _label_sentence(cdoc: Doc, items: list[str], current: str | None) -> tuple[dict[str, str], str | None]:
    """Labels for the items of one sentence. When the sentence's first label comes before its first
    item ("Animals: elephant, lion") each item takes the label before it; otherwise ("Oak tree: plant",
    "elephant and lion are animals") the label after it. A sentence without labels inherits the last one."""
    labels = sorted((pos, lab) for lab in LABELS for pos in cdoc.positions(lab))
    spans = sorted((cdoc.positions(it)[0], it) for it in items if cdoc.has(it))
    if not labels:
        return ({it: current for _, it in spans} if current else {}), current
    out: dict[str, str] = {}
    label_first = labels[0][0] < spans[0][0] if spans else False
    for start, it in spans:
        before = [lab for pos, lab in labels if pos < start]
        after = [lab for pos, lab in labels if pos > start]
        preferred, fallback = (before[-1:], after[:1]) if label_first else (after[:1], before[-1:])
        out[it] = (preferred or fallback)[0]
    return out, labels[-1][1]


def _assigned_labels(doc: Doc, items: list[str]) -> dict[str, str]:
    assigned: dict[str, str] = {}
    current: str | None = None
    for sentence in segments(doc.raw):
        labelled, current = _label_sentence(Doc(sentence), items, current)
        for it, lab in labelled.items():
            assigned.setdefault(it, lab)  # the first time an item is labelled counts
    return assigned


def classify_content(row: dict, doc: Doc) -> Content:
    pairs = row["meta"]["items"]
    assigned = _assigned_labels(doc, [p[0] for p in pairs])
    right = sum(1 for item, label in pairs if assigned.get(item) == label) / len(pairs)
    return right, 1.0, {"items_right": right}


FAMILIES = [
    Family(
        "fact_qa",
        "Short factual question (three primary colors, how did Caesar die, largest planet, ...).",
        "Share of the answer's key-term groups present (synonyms accepted).",
        "Each known wrong answer named halves the score.",
        gen_fact_qa,
        fact_qa_content,
    ),
    Family(
        "capital",
        "Name the capital city of a country.",
        "Full content when the correct city is named.",
        "Each other capital named divides the score (1 / (1 + others)).",
        gen_capital,
        capital_content,
    ),
    Family(
        "odd_one_out",
        "Pick the item of 3-4 that belongs to a different category.",
        "70% for singling out the odd item, 30% more for naming a category as the reason.",
        "Singling out several items splits the credit; a wrong item scores 0.",
        gen_odd,
        odd_content,
    ),
    Family(
        "classify",
        "Label 3-5 items as animal, plant or mineral.",
        "Share of items given the right label.",
        "Wrong or missing labels only lower content.",
        gen_classify,
        classify_content,
    ),
]
