"""The builtin suite: sizes, splits, determinism, schema, fact tables, and the judge on references."""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_core.builtin import FAMILIES, Suite, build_suite, gold_score, judge, prompt_key
from rlhf_core.builtin.base import load_facts
from rlhf_core.builtin.text import Doc, normalize, phrase, word_count
from rlhf_core.errors import RlhfError

REPO = Path(__file__).resolve().parents[1]
STUDY_SPEC = [
    ("tips", "Stay healthy tips", "Give three tips for staying healthy."),
    ("fact_qa", "Three primary colors", "What are the three primary colors?"),
    ("explain", "Structure of an atom", "Describe the structure of an atom."),
    ("tips", "Reduce air pollution", "How can we reduce air pollution?"),
    ("decision", "Difficult decision", "Describe a time when you had to make a difficult decision."),
    ("odd_one_out", "Odd one out (Twitter\u2026)", "Identify the odd one out."),
    ("fraction", "4/16 = 1/4 explain", "Explain why the following fraction is equivalent to 1/4"),
    (
        "story",
        "Short story career",
        "Write a short story in third person narration about a protagonist who has to "
        "make an important career decision.",
    ),
    ("refusal", "Render 3D house", "Render a 3D model of a house"),
    ("spelling", "Spelling & grammar", "Evaluate this sentence for spelling and grammar mistakes"),
    ("fact_qa", "Julius Caesar death", "How did Julius Caesar die?"),
    ("capital", "Capital of France", "What is the capital of France?"),
    ("list_items", "Camping trip list", "Generate a list of ten items a person might need for a camping trip"),
    ("explain", "Great Depression causes", "Discuss the causes of the Great Depression"),
    ("classify", "Classify oak/copper/eleph", "Classify the following into animals, plants, and minerals"),
    ("explain", "Word embeddings NLP", "Explain the use of word embeddings in Natural Language Processing."),
]
STUDY_INPUTS = {
    6: "Twitter, Instagram, Telegram",
    7: "4/16",
    10: "He finnished his meal and left the resturant",
    15: "Oak tree, copper ore, elephant",
}


@pytest.fixture(scope="module")
def suite() -> Suite:
    return build_suite(n_train=50_000, n_heldout=512, seed=0)


@pytest.fixture(scope="module")
def generated() -> dict[str, list[dict]]:
    """2,000 freshly generated rows per family (not deduplicated), for judge checks."""
    rng = random.Random(7)
    return {name: [fam.generate(rng) for _ in range(2000)] for name, fam in FAMILIES.items()}


def suite_digest(s: Suite) -> str:
    blob = json.dumps([s.train, s.heldout, s.study], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# ------------------------------------------------------------------ sizes and splits


def test_counts_are_exact(suite):
    assert len(suite.train) == 50_000
    assert len(suite.heldout) == 512
    assert len(suite.study) == 16
    ids = [r["id"] for r in suite.train + suite.heldout + suite.study]
    assert len(set(ids)) == len(ids)


def test_small_and_empty_sizes():
    s = build_suite(n_train=30, n_heldout=0, seed=3)
    assert (len(s.train), len(s.heldout), len(s.study)) == (30, 0, 16)
    assert {r["family"] for r in s.train} == set(FAMILIES)  # balanced: every family appears


def test_heldout_unique_and_disjoint(suite):
    held = [prompt_key(r) for r in suite.heldout]
    assert len(set(held)) == len(held)
    train = {prompt_key(r) for r in suite.train}
    study = {prompt_key(r) for r in suite.study}
    assert not train & set(held)
    assert not train & study
    assert not study & set(held)


def test_all_families_present(suite):
    assert {r["family"] for r in suite.train} == set(FAMILIES)
    assert {r["family"] for r in suite.heldout} == set(FAMILIES)
    per_family = statistics.pstdev([sum(r["family"] == f for r in suite.heldout) for f in FAMILIES])
    assert per_family < 1  # held-out is balanced across families


def test_study_rows_match_the_study(suite):
    assert len(FAMILIES) >= 12
    for i, (row, (family, name, instruction)) in enumerate(zip(suite.study, STUDY_SPEC), start=1):
        assert row["family"] == family
        assert row["name"] == name
        assert row["instruction"] == instruction
        assert row["input"] == STUDY_INPUTS.get(i, "")
        assert row["id"] == f"study-{i:02d}"


def test_bad_sizes_raise():
    with pytest.raises(RlhfError):
        build_suite(n_train=-1)
    with pytest.raises(RlhfError):
        build_suite(n_heldout=1.5)  # type: ignore[arg-type]
    with pytest.raises(RlhfError, match="ran out of fresh prompts"):
        build_suite(n_train=0, n_heldout=5000)


# ------------------------------------------------------------------ determinism


def test_deterministic_within_process():
    a, b = build_suite(3000, 100, 5), build_suite(3000, 100, 5)
    assert a.train == b.train and a.heldout == b.heldout and a.study == b.study
    assert build_suite(3000, 100, 6).train != a.train


@pytest.mark.slow  # thousands of judge calls / a second process: runs in `pytest -m slow` and CI
def test_deterministic_across_processes():
    expected = suite_digest(build_suite(3000, 100, 5))
    code = (
        "import hashlib, json; from rlhf_core.builtin import build_suite; s = build_suite(3000, 100, 5); "
        "blob = json.dumps([s.train, s.heldout, s.study], sort_keys=True, ensure_ascii=True); "
        "print(hashlib.sha256(blob.encode()).hexdigest())"
    )
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


# ------------------------------------------------------------------ row schema


def test_rows_are_plain_json_with_the_schema(suite):
    rows = suite.train[:3000] + suite.heldout + suite.study
    for row in rows:
        assert json.loads(json.dumps(row)) == row  # no tuples, sets or other non-JSON values
        assert isinstance(row["id"], str) and row["family"] in FAMILIES
        for key in ("instruction", "input", "output"):
            assert isinstance(row[key], str)
        assert row["instruction"] and row["output"]
        assert isinstance(row["meta"], dict)
    assert all(isinstance(r["name"], str) and r["name"] for r in suite.study)


def test_sizes_suit_a_small_model(generated, suite):
    for rows in list(generated.values()) + [suite.study]:
        for row in rows:
            assert word_count(row["output"]) <= 60, row
            assert word_count(row["instruction"] + " " + row["input"]) <= 35, row
    for name, rows in generated.items():
        assert 3 <= statistics.mean(word_count(r["output"]) for r in rows) <= 50, name


def test_families_are_described():
    for name, fam in FAMILIES.items():
        assert fam.name == name
        for text in (fam.description, fam.credit, fam.penalties):
            assert isinstance(text, str) and text and "\n" not in text


def test_each_family_has_several_phrasings(generated):
    for name, rows in generated.items():
        openings = {" ".join(r["instruction"].split()[:3]) for r in rows}
        assert len(openings) >= 3, name


# ------------------------------------------------------------------ the judge on references


@pytest.mark.slow  # thousands of judge calls / a second process: runs in `pytest -m slow` and CI
def test_reference_answers_score_high(generated, suite):
    for name, rows in generated.items():
        # the rules' score: a family that gives no gold (explain, tips) still has rules a person reads
        low = [(r["instruction"], r["output"]) for r in rows if judge(r, r["output"]).score < 0.95]
        assert not low, (name, low[:3])
    for row in suite.study + suite.heldout:
        assert judge(row, row["output"]).score >= 0.95, row
        assert gold_score(row, row["output"]) in (None, judge(row, row["output"]).score)


@pytest.mark.slow  # thousands of judge calls / a second process: runs in `pytest -m slow` and CI
def test_other_rows_references_score_low(generated):
    rng = random.Random(11)
    for name, rows in generated.items():
        closed = [r for r in rows if not r["meta"].get("open")]  # open prompts accept any fitting answer
        same = statistics.mean(judge(r, rng.choice(rows)["output"]).score for r in closed[:500])
        assert same < 0.3, (name, same)
    everything = [r for rows in generated.values() for r in rows]
    for name, rows in generated.items():
        other = statistics.mean(judge(r, rng.choice(everything)["output"]).score for r in rows[:300])
        assert other < 0.15, (name, other)


def test_empty_and_blank_score_zero(generated, suite):
    for rows in list(generated.values()) + [suite.study]:
        for row in rows[:50]:
            for blank in ("", "   \n ", "!!! ...", None):
                result = judge(row, blank)  # type: ignore[arg-type]
                assert result.score == 0.0
                assert result.parts["content"] == 0.0


def test_judge_is_deterministic_and_bounded(generated):
    rng = random.Random(3)
    everything = [r for rows in generated.values() for r in rows[:100]]
    for row in everything:
        response = rng.choice(everything)["output"] + " " + row["output"]
        a, b = judge(row, response), judge(row, response)
        assert a == b
        assert 0.0 <= a.score <= 1.0
        assert {"content", "penalty", "repetition", "length"} <= set(a.parts)
        assert all(isinstance(v, float) for v in a.parts.values())


def test_unknown_family_is_a_clear_error():
    with pytest.raises(RlhfError, match="not a builtin family"):
        judge({"id": "x", "family": "poetry", "output": "", "meta": {}}, "hi")


# ------------------------------------------------------------------ fact tables


def test_fact_tables_are_consistent():
    for topic in load_facts("tips"):
        assert len(topic["items"]) >= 6
        for item in topic["items"]:
            assert Doc(item["text"]).has_any(item["keys"]), item
    for entry in load_facts("list_items"):
        assert len(entry["items"]) >= 10
        for item in entry["items"]:
            assert Doc(item[0]).has_any(item), item
    for pair in load_facts("decision")["pairs"]:
        for text, keys in (pair["x"], pair["y"]):
            assert Doc(text).has_any(keys), text
    story = load_facts("story")
    for role, keys in story["roles"]:
        assert Doc(role).has_any(keys), role
    for choice, keys in story["choices"]:
        assert Doc(choice).has_any(keys), choice
    for fact in load_facts("fact_qa"):
        answer = Doc(fact["a"])
        assert all(answer.has_any(g) for g in fact["keys"]) and not answer.has_any(fact["wrong"]), fact["a"]
    for concept in load_facts("explain"):
        answer = Doc(concept["answer"])
        assert all(answer.has_any(g) for g in concept["keys"]), concept["topic"]
    for wrong, right in load_facts("spelling")["grammar"]:
        a, b = normalize(wrong).split(), normalize(right).split()
        assert len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1, wrong
        assert [phrase(x) for x in a] != [phrase(y) for y in b], wrong
    capitals = [phrase(c[1].split(",")[0]) for c in load_facts("capitals")]
    assert len(set(capitals)) == len(capitals)
    cats = load_facts("odd_one_out")
    for cat in cats:
        assert sum(c["domain"] == cat["domain"] for c in cats) >= 2, cat["plural"]
    classify = load_facts("classify")
    assert sorted(classify) == ["animal", "mineral", "plant"]
    words = load_facts("ordering")["words"]
    assert len({phrase(w) for w in words}) == len(words)
