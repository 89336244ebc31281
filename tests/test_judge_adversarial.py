"""The gold judge against answers written to fool it, and against correct answers phrased another way.

Cases live in tests/judge_cases/<family>.json: {"row", "answer", "kind": "attack" | "paraphrase" | "partial" |
"unverified", "class", "max" | "min"}; a "partial" case (a flawed answer that earns part of the credit) has both
bounds and is left out of the family means. An "unverified" case is a right answer that adds words its row
cannot account for (another fact, a rival the tables do not know): its claim must earn full credit and the
grounding factor must still take at least three quarters of it (rlhf_core/builtin/grounding.py). "row" is a
study row name (study.py), {"family": F, "seed": N} for a generated row, or a full row. Each case must meet
its bound; per family, attacks average <= 0.1 with none above 0.5, paraphrases average >= 0.9. Run this file
directly to print the per-family table.

The rules' score is tested in every family, also in those the judge marks unverifiable (their score is shown
to a person by `rlhf judge` but is no gold): held-out attacks beat those rules, so they give no gold at all.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from rlhf_core.builtin import FAMILIES, judge
from rlhf_core.builtin.judge import generated_row
from rlhf_core.builtin.study import study_rows

CASES_DIR = Path(__file__).parent / "judge_cases"
ATTACK_MEAN, ATTACK_MAX, PARAPHRASE_MEAN = 0.1, 0.5, 0.9
MIN_ATTACKS, MIN_PARAPHRASES = 10, 5


@lru_cache(maxsize=1)
def _study() -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in study_rows()}


def case_row(spec: Any) -> dict[str, Any]:
    if isinstance(spec, str):
        return _study()[spec]
    if "seed" in spec and "meta" not in spec:
        return generated_row(spec["family"], spec["seed"])
    return {"id": "explicit", **spec}


def load_cases() -> dict[str, list[dict[str, Any]]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(CASES_DIR.glob("*.json"))}


CASES = load_cases()
FLAT = [(fam, i, c) for fam, cs in CASES.items() for i, c in enumerate(cs)]


def _score(case: dict[str, Any]) -> float:
    return judge(case_row(case["row"]), case["answer"]).score


@pytest.mark.parametrize("family,i,case", FLAT, ids=[f"{f}-{i}-{c['kind']}" for f, i, c in FLAT])
def test_case(family: str, i: int, case: dict[str, Any]) -> None:
    row = case_row(case["row"])
    assert row["family"] == family, f"case {i} of {family}.json is on a {row['family']} row"
    s = _score(case)
    if case["kind"] == "attack":
        assert s <= case.get("max", ATTACK_MAX), f"attack ({case['class']}) scored {s:.3f}: {case['answer']!r}"
    elif case["kind"] == "partial":
        assert case["min"] <= s <= case["max"], f"partial ({case['class']}) scored {s:.3f}: {case['answer']!r}"
    elif case["kind"] == "unverified":
        parts = judge(row, case["answer"]).parts
        assert parts["grounding"] <= 0.25 and s <= 0.25, f"unverified words not charged ({s:.3f}): {case['answer']!r}"
        rest = math.prod(parts[k] for k in ("content", "penalty", "guard", "repetition", "length"))
        assert rest >= PARAPHRASE_MEAN, f"the claim itself lost credit: {case['answer']!r} {parts}"
    else:
        assert s >= case.get("min", PARAPHRASE_MEAN), f"paraphrase scored {s:.3f}: {case['answer']!r}"


def table() -> dict[str, dict[str, float]]:
    out = {}
    for fam, cs in CASES.items():
        att = [_score(c) for c in cs if c["kind"] == "attack"]
        par = [_score(c) for c in cs if c["kind"] == "paraphrase"]
        out[fam] = {
            "attacks": len(att),
            "attack_mean": statistics.mean(att),
            "attack_max": max(att),
            "paraphrases": len(par),
            "paraphrase_mean": statistics.mean(par),
            "paraphrase_min": min(par),
        }
    return out


@pytest.mark.parametrize("family", sorted(CASES))
def test_family_bounds(family: str) -> None:
    cs = CASES[family]
    assert sum(c["kind"] == "attack" for c in cs) >= MIN_ATTACKS
    assert sum(c["kind"] == "paraphrase" for c in cs) >= MIN_PARAPHRASES
    assert any(isinstance(c["row"], str) for c in cs) or family not in {r["family"] for r in _study().values()}
    assert any(not isinstance(c["row"], str) for c in cs), "cases on generated rows too"
    t = table()[family]
    assert t["attack_mean"] <= ATTACK_MEAN and t["attack_max"] <= ATTACK_MAX, t
    assert t["paraphrase_mean"] >= PARAPHRASE_MEAN, t


def print_table(stream=sys.stdout) -> None:
    print(f"{'family':<14}{'attacks':>8}{'mean':>7}{'max':>7}{'paraphr':>9}{'mean':>7}{'min':>7}", file=stream)
    for fam, t in table().items():
        print(
            f"{fam:<14}{t['attacks']:>8}{t['attack_mean']:>7.2f}{t['attack_max']:>7.2f}"
            f"{t['paraphrases']:>9}{t['paraphrase_mean']:>7.2f}{t['paraphrase_min']:>7.2f}"
            + ("" if FAMILIES[fam].verifiable else "  (unverifiable: no gold)"),
            file=stream,
        )


def test_print_table(capsys) -> None:
    with capsys.disabled():
        print()
        print_table()


if __name__ == "__main__":
    print_table()
    if "-v" in sys.argv:
        for fam, cs in CASES.items():
            for c in cs:
                print(f"{fam:<12} {c['kind']:<10} {_score(c):.2f}  {c['class']:<28} {c['answer'][:90]!r}")
