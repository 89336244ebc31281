"""Phrasing (rlhf_core/builtin/phrasing.py): an answer in a family that gives gold must be said in a known form.

Tried as an adversary would: whole classes of attack built on every generated row (the roles turned around,
a condition or a date appended, the other sort direction, a wrong fraction divided, words of the corrected
sentence swapped), and the detector's false alarms measured where the answer is known to be right (every
study reference, the references under their documented layouts)."""

from __future__ import annotations

import random

import pytest

from rlhf_core.builtin import judge
from rlhf_core.builtin.fam_facts import KINDS, LABEL_WORDS, load_facts
from rlhf_core.builtin.judge import generated_row
from rlhf_core.builtin.phrasing import PHRASE_FACTOR, PHRASED, lex, phrasing, unknown_stretches
from rlhf_core.builtin.study import study_rows

ROWS = 40


def rows(family: str, n: int = ROWS) -> list[dict]:
    out = [generated_row(family, 9000 + s) for s in range(n)]
    return [r for r in out if not r["meta"].get("unverifiable")]


def form(row: dict, answer: str) -> float:
    return phrasing(row, answer)[0]


@pytest.mark.parametrize("family", sorted(PHRASED))
def test_references_and_study_answers_are_in_known_forms(family):
    for row in rows(family) + [r for r in study_rows() if r["family"] == family]:
        assert form(row, row["output"]) == 1.0, (row["output"], unknown_stretches(row, row["output"]))


def test_references_under_other_layouts_are_in_known_forms():
    """False alarms where the answer is right: each family's reference value in the layouts the issue lists."""
    for row in rows("capital"):
        city, country = row["meta"]["answers"][0], row["meta"]["country"]
        for answer in (
            f"{city}.",
            f"The answer is {city}.",
            f"Sure! {city} is the capital of {country}.",
            f"It's {city}.",
            f"{city}, {country}.",
        ):
            assert form(row, answer) == 1.0, answer
    for row in rows("arithmetic"):
        m = row["meta"]
        for answer in (
            f"{m['answer']}",
            f"The answer is {m['answer']}.",
            f"{m['a']} {m['op']} {m['b']} = {m['answer']}",
        ):
            assert form(row, answer) == 1.0, answer
    for row in rows("ordering"):
        items = row["meta"]["order"]
        for answer in (", ".join(items), "\n".join(f"{i + 1}. {x}" for i, x in enumerate(items)), " -> ".join(items)):
            assert form(row, answer) == 1.0, answer
    for row in rows("classify"):
        items = row["meta"]["items"]
        for answer in (
            "\n".join(f"{it.capitalize()} - {lab}" for it, lab in items),
            ", ".join(f"{it} ({lab})" for it, lab in items),
            "\n".join(f"{lab.capitalize()}s: {it}" for it, lab in items),
        ):
            assert form(row, answer) == 1.0, answer


def _shuffled(text: str, rng: random.Random) -> str:
    words = text.rstrip(".").split()
    for _ in range(20):
        rng.shuffle(words)
        if " ".join(words) != text.rstrip("."):
            break
    return " ".join(words) + "."


@pytest.mark.parametrize("family", ["capital", "fraction", "spelling", "odd_one_out"])
def test_shuffled_references_are_caught(family):
    """Detection on answers known to be garbled: the reference's own words in a random order."""
    rng = random.Random(family)
    caught = []
    for row in rows(family, 60):
        shuffled = _shuffled(row["output"], rng)
        caught.append(form(row, shuffled) < 1.0)
    assert sum(caught) >= 0.95 * len(caught), f"{sum(caught)} of {len(caught)} shuffled references caught"


def _attacks(family: str, row: dict) -> list[str]:
    m = row["meta"]
    if family == "capital":
        city, country = m["answers"][0], m["country"]
        other = next(c for c, *_ in load_facts("capitals") if c != country)
        return [
            f"{city} has {country} as its capital.",
            f"The capital of {country} is {city} in {other}.",
            f"In 1970 the capital of {country} is {city}.",
            f"The capital of {country} is {city} after 2090.",
            f"{city} would be the capital of {country}, had {country} a capital.",
        ]
    if family == "arithmetic":
        e = f"{m['a']} {m['op']} {m['b']}"
        return [f"{e} = {m['answer']} or so.", f"{e} = {m['answer']}, which {e} does not equal."]
    if family == "fraction":
        a, b, p, q, k = (m[x] for x in "abpqk")
        return [
            f"{a}/{b} is equivalent to {p}/{q} because the numerator and the denominator of {p}/{q} can be divided"
            f" by {k}.",
            f"{a}/{b} would be equivalent to {p}/{q} if the numerator and the denominator could be divided by {k}.",
            f"Multiplying the numerator of {p}/{q} by {k} gives {a}/{b}, so the fractions are equivalent.",
        ]
    if family == "ordering":
        items = m["order"]
        wrong = "From largest to smallest" if not m["descending"] else "From smallest to largest"
        out = [f"{wrong}: {', '.join(items)}."]
        if m["kind"] == "numbers":
            out += [", ".join(f"-{x}" for x in items), ", ".join(f"{x}.5" for x in items)]
        return out
    if family == "spelling":
        words = m["correct"].rstrip(".").split()
        swapped = words[:]
        i, j = 1, len(words) - 1
        swapped[i], swapped[j] = swapped[j], swapped[i]
        return [" ".join(swapped) + ".", f"There are no mistakes in it: {m['correct']}"]
    if family == "odd_one_out":
        odd, others = m["odd"], [x for x in m["items"] if x != m["odd"]]
        return [f"{odd} is the odd one out, and so are {' and '.join(others)}.", f"{odd} is the item that does belong."]
    if family == "list_items":
        items = [group[0] for group in m["items"][: m["n"]]]
        return [f"A person might need all but these for {m['situation']}: {', '.join(items)}."]
    return []


@pytest.mark.parametrize(
    "family", ["capital", "arithmetic", "fraction", "ordering", "spelling", "odd_one_out", "list_items"]
)
def test_attack_classes_are_caught_on_every_row(family):
    for row in rows(family):
        for attack in _attacks(family, row):
            r = judge(row, attack)
            assert r.parts["phrasing"] <= PHRASE_FACTOR or r.score <= 0.1, (attack, r.why)
            assert r.score <= 0.5, (attack, r.parts)


def test_forms_combine_and_leave_values_to_the_content_rules():
    paris = next(r for r in study_rows() if r["family"] == "capital")
    assert form(paris, "Paris, not Lyon, is the capital of France.") == 1.0  # two known forms joined
    assert form(paris, "Lyon, not Paris, is the capital of France.") < 1.0  # the roles say which slot is whose
    row = generated_row("arithmetic", 1)
    m = row["meta"]
    wrong = judge(row, f"{m['a']} {m['op']} {m['b']} = {m['answer'] + 1}.")
    assert wrong.parts["phrasing"] == 1.0 and wrong.score == 0.0  # a known form with the wrong value: content's


def test_a_stray_word_is_charged_once():
    row = next(r for r in study_rows() if r["family"] == "spelling")
    r = judge(row, "Corrected: He finished his meal and then left the restaurant.")
    assert r.parts["grounding"] == 0.25 and r.parts["phrasing"] == 1.0, r.why
    r = judge(row, "Corrected: He finished his restaurant and left the meal.")
    assert r.parts["grounding"] == 1.0 and r.parts["phrasing"] <= 0.25 and "meal" in r.why["phrasing"]


def test_spelling_is_read_letter_for_letter():
    row = next(r for r in study_rows() if r["family"] == "spelling")
    assert lex("He finíshed it", literal=True) != lex("He finished it", literal=True)
    for answer in ("He finíshed his meal and left the restaurant.", "He finished his meal and left the restaurant's."):
        assert judge(row, answer).score <= 0.25, answer
    assert judge(row, "He finished his meal and left the restaurant.").score >= 0.9


def test_every_table_item_has_its_kinds_from_its_own_label():
    table = load_facts("classify")
    assert set(KINDS) == {it for items in table.values() for it in items}
    for label, items in table.items():
        for it in items:
            assert set(KINDS[it].split()) <= set(LABEL_WORDS[label]), (it, KINDS[it])


def test_a_kind_the_item_is_not_is_a_wrong_label():
    row = {
        "family": "classify",
        "instruction": "Classify the following into animals, plants, and minerals",
        "input": "Oak tree, penguin, ruby",
        "output": "Oak tree: Plant\nPenguin: Animal\nRuby: Mineral",
        "meta": {"items": [["oak tree", "plant"], ["penguin", "animal"], ["ruby", "mineral"]]},
    }
    assert judge(row, "Oak tree: tree\nPenguin: bird\nRuby: gemstone").score >= 0.9
    assert judge(row, "Oak tree: flower\nPenguin: mammal\nRuby: metal").score == 0.0
    assert judge(row, "Plants: oak tree. Animals: penguin (a bird). Minerals: ruby.").score >= 0.9


def test_a_fact_row_counts_only_its_own_numbers():
    facts = [generated_row("fact_qa", s) for s in range(400)]
    colours = next(r for r in facts if "primary colors" in r["output"])
    assert judge(colours, "The three primary colors are red, blue and yellow.").score >= 0.9
    assert judge(colours, "The three primary colors are red, blue and yellow, 2 of which are primary.").score <= 0.25
    assert judge(colours, "Red, blue and yellow are only three of the nine primary colors.").score <= 0.25
    boiling = next(r for r in facts if "boils" in r["output"] and "Celsius" in r["output"])
    assert judge(boiling, "Water boils at one hundred degrees Celsius.").score >= 0.9


def test_a_fact_answer_turned_around_is_caught():
    facts = {r["output"]: r for r in (generated_row("fact_qa", s) for s in range(400))}
    bees = next(r for o, r in facts.items() if "honey" in o.lower() and "bee" in o.lower())
    assert judge(bees, "Honey makes bees.").score <= 0.25
    assert judge(bees, "Bees make honey.").score >= 0.9
