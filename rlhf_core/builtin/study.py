"""The fixed builtin counterparts of the study's 16 prompts (the first 16 rows of tatsu-lab/alpaca).

Wording and inputs follow the originals; each row carries the facts its judge needs.
"""

from __future__ import annotations

from typing import Any

from . import fam_facts, fam_lists, fam_math, fam_text
from .base import load_facts, make_row


def _by(table: list[dict], key: str, value: str) -> dict:
    return next(entry for entry in table if entry[key] == value)


def _fact(question: str) -> dict[str, Any]:
    fact = next(f for f in load_facts("fact_qa") if question in f["q"])
    return fam_facts.make_fact_qa(fact, question)


def _explain(topic: str, prompt: str) -> dict[str, Any]:
    return fam_text.make_explain(_by(load_facts("explain"), "topic", topic), prompt)


def _odd() -> dict[str, Any]:
    cats = load_facts("odd_one_out")
    social, messaging = _by(cats, "plural", "social networks"), _by(cats, "plural", "messaging apps")
    return fam_facts.make_odd(
        ["Twitter", "Instagram", "Telegram"], "Telegram", messaging, social, "Identify the odd one out."
    )


def _decision() -> dict[str, Any]:
    output = (
        "Last year I had to decide whether to accept a job offer in another city or stay close to my family. "
        "After talking with my parents, I chose to stay, because being near the people I love mattered more "
        "to me than a new job."
    )
    return make_row(
        "decision",
        "Describe a time when you had to make a difficult decision.",
        "",
        output,
        {"options": [], "open": True},
    )


def _story() -> dict[str, Any]:
    output = (
        "Maya had worked as a nurse for ten years when she was offered a job at a research lab in another city. "
        "The decision was hard, because she loved her patients. After weeks of thinking, she chose to accept "
        "the offer and start a new career."
    )
    # Any profession named counts as the career element.
    roles = [k for _, keys in load_facts("story")["roles"] for k in keys]
    elements = [fam_text.CAREER_WORDS + roles, fam_text.DECISION_WORDS]
    instruction = (
        "Write a short story in third person narration about a protagonist who has to make an "
        "important career decision."
    )
    return fam_text.make_open_story(instruction, elements, output)


def _refusal() -> dict[str, Any]:
    entry = next(e for e in load_facts("refusal") if e["request"].startswith("render a 3D model"))
    return fam_text.make_refusal(entry, "a house", "{R}")


def study_rows() -> list[dict[str, Any]]:
    tips = load_facts("tips")
    spec: list[tuple[str, dict[str, Any]]] = [
        (
            "Stay healthy tips",
            fam_lists.make_tips(_by(tips, "goal", "staying healthy"), "Give {nw} tips for {goal}.", 3, [0, 1, 2], True),
        ),
        ("Three primary colors", _fact("What are the three primary colors?")),
        ("Structure of an atom", _explain("the structure of an atom", "Describe the structure of an atom.")),
        (
            "Reduce air pollution",
            fam_lists.make_tips(_by(tips, "goal", "reducing air pollution"), "How can we {verb}?", 3, [0, 1, 2], False),
        ),
        ("Difficult decision", _decision()),
        ("Odd one out (Twitter\u2026)", _odd()),
        (
            "4/16 = 1/4 explain",
            fam_math.make_fraction(1, 4, 4, fam_math.FRACTION_TEMPLATES[0], fam_math.FRACTION_ANSWERS[0]),
        ),
        ("Short story career", _story()),
        ("Render 3D house", _refusal()),
        (
            "Spelling & grammar",
            fam_text.make_spelling(
                "He finnished his meal and left the resturant",
                "He finished his meal and left the restaurant.",
                fam_text.SPELLING_TEMPLATES[0],
                fam_text.SPELLING_ANSWERS[0],
            ),
        ),
        ("Julius Caesar death", _fact("How did Julius Caesar die?")),
        ("Capital of France", fam_facts.make_capital("France", "Paris", [], fam_facts.CAPITAL_TEMPLATES[0], False)),
        (
            "Camping trip list",
            fam_lists.make_list_items(
                _by(load_facts("list_items"), "situation", "a camping trip"),
                fam_lists.LIST_TEMPLATES[0],
                10,
                list(range(10)),
                numbered=True,
            ),
        ),
        (
            "Great Depression causes",
            _explain("the causes of the Great Depression", "Discuss the causes of the Great Depression"),
        ),
        (
            "Classify oak/copper/eleph",
            fam_facts.make_classify(
                [["oak tree", "plant"], ["copper ore", "mineral"], ["elephant", "animal"]],
                fam_facts.CLASSIFY_TEMPLATES[0],
                lines=True,
            ),
        ),
        (
            "Word embeddings NLP",
            _explain(
                "the use of word embeddings in Natural Language Processing",
                "Explain the use of word embeddings in Natural Language Processing.",
            ),
        ),
    ]
    rows = []
    for i, (name, row) in enumerate(spec, start=1):
        rows.append({"id": f"study-{i:02d}", "name": name, **row})
    return rows
