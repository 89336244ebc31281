"""The grounding factor: words the row, the family or framing cannot account for cost credit.

Tried as an attacker would: one meaning-changing word appended to a right answer on every generated row of
every grounded family; another country's adjective on a capital row; symbols the rules cannot read. And as a
false-positive check: the references of rows the vocabulary was not built from, the allowed signs, and every
family the rule does not apply to."""

from __future__ import annotations

import pytest

from rlhf_core.builtin import FAMILIES, judge
from rlhf_core.builtin.grounding import (
    DEMONYMS,
    GROUNDED,
    STRAY_FACTOR,
    dangling_denials,
    family_words,
    grounding,
    stray_signs,
    unaccounted,
)
from rlhf_core.builtin.judge import generated_row
from rlhf_core.builtin.text import Doc

# Words that change what a right answer claims, none a word of any grounded task ("65 dozen", "in binary").
FLIPS = ["dozen", "binary", "allegedly", "supposedly", "formerly", "hexadecimal", "rumoured", "reportedly"]
SIGNS = ["\u2717", "\u274c", "\U0001f44e", "\u2612"]  # a cross, a red cross, thumbs down, a crossed box
ROWS = 40


@pytest.mark.parametrize("family", sorted(GROUNDED))
def test_references_of_unseen_rows_are_fully_accounted(family):
    # the vocabulary is built from other seeds; a row's own words count, so its reference must be clean
    for seed in range(ROWS):
        row = generated_row(family, 10_000 + seed)
        assert unaccounted(row, Doc(row["output"])) == [], row


@pytest.mark.parametrize("family", sorted(GROUNDED))
def test_no_flip_word_is_task_vocabulary(family):
    assert not set(FLIPS) & family_words(family)


@pytest.mark.parametrize("family", sorted(GROUNDED))
def test_one_meaning_changing_word_costs_three_quarters(family):
    rows = [generated_row(family, seed) for seed in range(ROWS)]
    for row in (r for r in rows if not r["meta"].get("unverifiable")):
        for i, word in enumerate(FLIPS + SIGNS):
            answer = f"{row['output'].rstrip('.')} {word}." if i % 2 else f"{word.capitalize()}: {row['output']}"
            r = judge(row, answer)
            assert r.parts["grounding"] == STRAY_FACTOR and r.score <= STRAY_FACTOR, (answer, r.parts)
            assert word.lower() in r.why["grounding"] or word in r.why["grounding"]


def test_two_stray_words_cost_more_than_one():
    row = generated_row("arithmetic", 3)
    one, two = (judge(row, f"{row['output']} {w}").parts["grounding"] for w in ("dozen", "dozen allegedly"))
    assert two == pytest.approx(one * STRAY_FACTOR) and one == pytest.approx(STRAY_FACTOR)


def test_a_country_adjective_counts_on_its_own_row_only():
    rows = {r["meta"]["country"]: r for r in (generated_row("capital", s) for s in range(400))}
    assert len(rows) >= 40
    for country, row in rows.items():
        city = row["meta"]["answers"][0]
        own = DEMONYMS[country].split()[0]
        assert judge(row, f"The {own} capital is {city}.").score >= 0.9, (country, own)
        others = (d.split()[0] for c, d in DEMONYMS.items() if c != country)
        other = next(o for o in others if o not in DEMONYMS[country])
        assert judge(row, f"The {other} capital is {city}.").score <= STRAY_FACTOR, (country, other)


def test_every_capital_country_has_an_adjective():
    from rlhf_core.builtin.base import load_facts

    assert {c for c, _, _ in load_facts("capitals")} == set(DEMONYMS)


def test_allowed_signs_are_free_and_unknown_ones_count_once():
    assert stray_signs("12 \u00d7 3 = 36; 36 \u00f7 4 \u2248 9 \u2192 9, \u00a310 (\u2713)") == []
    assert stray_signs("65 \u2717 \u2717 \u274c") == ["\u2717", "\u274c"]
    assert stray_signs("Water boils at 100\u00b0C; air is 78% nitrogen.", "fact_qa") == []
    assert stray_signs("8 + 2 = 10%.", "arithmetic") == ["%"]  # a percent sign changes the value
    assert stray_signs("4 + 94 != 98") == ["!="] and stray_signs("4 + 94 \u2260 98") == ["\u2260"]
    row = generated_row("arithmetic", 5)
    assert judge(row, row["output"].replace("=", "\u2192")).score >= 0.9


@pytest.mark.parametrize("family", sorted(GROUNDED))
def test_a_question_asserts_nothing(family):
    for seed in range(10):
        row = generated_row(family, seed)
        if not row["meta"].get("unverifiable"):
            assert judge(row, f"{row['output'].rstrip('.')}?").score <= STRAY_FACTOR
            assert judge(row, f"{row['output']} Or is it?").score <= STRAY_FACTOR


@pytest.mark.parametrize(
    "tail", ["Not really.", "- not true.", "That is not so.", "I do not think.", "I don't think so.", "Or not."]
)
def test_a_denial_that_names_nothing_denies_the_answer(tail):
    for family in sorted(GROUNDED):
        row = generated_row(family, 7)
        if not row["meta"].get("unverifiable"):
            r = judge(row, f"{row['output']} {tail}")
            assert r.score <= STRAY_FACTOR, (family, tail, r.parts)


@pytest.mark.parametrize(
    "frame",
    [
        "{a} by no means.",  # "means" is no word of any task
        "{a} Or something else.",
        "{a} Or so they say.",
        "{a} Anything but.",
        "{a} Whether or not.",
    ],
)
def test_function_words_outside_the_task_cost_like_any_other_word(frame):
    # the core function words are free; the rest must come from the family's references or task words
    for family in sorted(GROUNDED):
        row = generated_row(family, 11)
        if not row["meta"].get("unverifiable"):
            r = judge(row, frame.format(a=row["output"]))
            assert r.score <= STRAY_FACTOR, (family, frame, r.parts, r.why.get("grounding"))


def test_a_function_word_is_free_where_the_family_uses_it():
    row = generated_row("fraction", 3)  # fraction references say "If you divide ..."
    assert "if" in family_words("fraction") and "if" not in family_words("capital")
    assert judge(row, f"If you like: {row['output']}").parts["grounding"] == STRAY_FACTOR  # "like" is not


def test_a_denial_that_names_what_it_denies_is_free():
    assert dangling_denials("Paris, not Lyon.") == []
    assert dangling_denials("He doesn't know the answer.") == []  # a corrected sentence may deny
    assert dangling_denials("Plants: ivy. Animals: none.") == []  # a label
    assert dangling_denials("Spiders have eight legs, not six.") == []  # a number names
    assert dangling_denials("You will need none. Not one of these is right.") == [
        "'none' (denies nothing named)",
        "'not' (denies nothing named)",
    ]


def test_garbled_and_glued_tokens_are_not_numbers():
    # "system1", "ten8": a digit glued to a word is no number; "1st", "1990s" are
    row = generated_row("ordering", 2)
    assert unaccounted(row, Doc("system1 ten8")) == ["system1", "ten8"]
    assert unaccounted(row, Doc("1st 2nd 3rd 4th 1990s")) == []


def test_a_rows_own_unusual_words_are_accounted():
    row = {**generated_row("fact_qa", 1), "meta": {"keys": [["zyzzyva"]], "wrong": ["quokka"]}}
    assert unaccounted(row, Doc("zyzzyva, not quokka")) == []


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - GROUNDED))
def test_free_text_families_are_not_grounded(family):
    row = generated_row(family, 0)
    assert grounding(row, Doc(f"{row['output']} allegedly \u274c")) == (1.0, "")


def test_a_row_without_gold_keeps_the_rules_score():
    from rlhf_core.builtin.study import study_rows

    caesar = next(r for r in study_rows() if r["meta"].get("unverifiable"))
    assert grounding(caesar, Doc(f"{caesar['output']} allegedly")) == (1.0, "")


def test_the_vocabulary_is_deterministic():
    family_words.cache_clear()
    first = family_words("list_items")
    family_words.cache_clear()
    assert family_words("list_items") == first
