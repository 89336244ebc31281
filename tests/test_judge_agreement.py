"""The gold judge against a blind grader on the default run's own answers (bench/graded, see
bench/judge_agreement.py). A floor under the agreement: a judge change that grades the model's answers
less like a careful grader fails here even when every red-team case still passes."""

from __future__ import annotations

import math

import pytest

from bench.judge_agreement import GRADED, agreement, gold_items, load

# measured on the current judge over the rows that give gold, less a margin for harmless drift (dev r 0.950 /
# fooled 0 / missed 2, test 0.920 / 3 / 0, test2 0.881 / 2 / 2, test3 0.851 / 0 / 0). test3 was graded blind
# before grounding was measured on it; no rule was fitted to test, test2 or test3.
FLOORS = {
    "dev": {"r": 0.93, "fooled": 3, "missed": 2},
    "test": {"r": 0.90, "fooled": 5, "missed": 1},
    "test2": {"r": 0.86, "fooled": 4, "missed": 3},
    "test3": {"r": 0.83, "fooled": 3, "missed": 1},
}
SIZES = {"dev": 312, "test": 312, "test2": 240, "test3": 240}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_judge_grades_the_models_answers_like_the_blind_grader(name):
    items = load(GRADED / f"{name}.jsonl")
    assert len(items) == SIZES[name] and all(it["grade"] in (0, 0.25, 0.5, 0.75, 1) for it in items)
    a = agreement(gold_items(items))
    assert a["r"] >= FLOORS[name]["r"], a
    assert a["fooled"] <= FLOORS[name]["fooled"], a
    assert a["missed"] <= FLOORS[name]["missed"], a


def test_agreement_is_not_blind_to_a_judge_that_ignores_the_answer(monkeypatch):
    # the measure itself: a judge that gives every answer the same score agrees with nothing
    import rlhf_core.builtin as builtin
    from rlhf_core.builtin.judge import JudgeResult

    monkeypatch.setattr(builtin, "judge", lambda row, answer: JudgeResult(1.0, {}, {}, True))
    a = agreement(load(GRADED / "dev.jsonl"))
    assert math.isnan(a["r"])  # constant scores correlate with nothing
    assert a["fooled"] > 100
