"""How far the gold judge agrees with a blind grader on the model's own answers.

The red-team suite measures the judge against answers written to fool it; this measures it on what the
study actually grades. `bench/graded/*.jsonl` hold answers of the default run's eval (builtin rows that give
gold, every algorithm), each with the row and a grade in {0, 0.25, 0.5, 0.75, 1} given by a grader that saw
the row, its reference and facts and the answer, never the judge's score (an AI assistant told to grade
strictly, as a teacher would). `dev` is the set whose disagreements were read to fix the judge, so its
agreement is in-sample; `test` was graded afterwards, and one rule (refusal's garbled reasons and offers)
was checked on it; `test2` (240 answers, 20 per family, half of them ones the judge scores >= 0.5, as in
dev, none already in dev or test) and `test3` (drawn the same way, none in the other three) were each graded
before the rules they were then used to measure, and have changed none. `test3` was graded before the
grounding factor was measured on any set.

    python -m bench.judge_agreement            # every set, per family
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

GRADED = Path(__file__).parent / "graded"
LENIENT, STRICT = 0.9, 0.5  # judge >= 0.9 where the grade is <= 0.5: the judge was fooled
LOW, GOOD = 0.1, 0.75  # judge <= 0.1 where the grade is >= 0.75: the judge missed a right answer

app = typer.Typer(add_completion=False)


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pearson(a: list[float], b: list[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else float("nan")


def gold_items(items: list[dict]) -> list[dict]:
    """The graded answers whose rows give gold: the judge's score is the study's number only there."""
    from rlhf_core.builtin.judge import verifiable

    return [it for it in items if verifiable(it["row"])]


def agreement(items: list[dict]) -> dict:
    """Judge scores against grades: Pearson r, mean absolute error, and the two kinds of gross disagreement."""
    from rlhf_core.builtin import judge

    judged = [judge(it["row"], it["answer"]).score for it in items]
    grades = [float(it["grade"]) for it in items]
    return {
        "n": len(items),
        "r": pearson(judged, grades),
        "mae": sum(abs(j - g) for j, g in zip(judged, grades)) / len(items),
        "judge_mean": sum(judged) / len(items),
        "grade_mean": sum(grades) / len(items),
        "fooled": sum(j >= LENIENT and g <= STRICT for j, g in zip(judged, grades)),
        "missed": sum(j <= LOW and g >= GOOD for j, g in zip(judged, grades)),
    }


@app.command()
def main(
    sets: list[str] = typer.Option(["dev", "test", "test2", "test3"], help="graded sets (bench/graded/SET.jsonl)"),
) -> None:
    for name in sets:
        path = GRADED / f"{name}.jsonl"
        if not path.exists():
            print(f"{name}: no {path}")
            continue
        items = load(path)
        a = agreement(gold_items(items))
        print(
            f"{name}: {a['n']} answers of rows that give gold, r {a['r']:.3f}, MAE {a['mae']:.3f}, "
            f"judge mean {a['judge_mean']:.3f} vs grade {a['grade_mean']:.3f}; "
            f"judge >= {LENIENT} where the grade is <= {STRICT}: {a['fooled']}; "
            f"judge <= {LOW} where the grade is >= {GOOD}: {a['missed']}"
        )
        for fam in sorted({it["family"] for it in items}):
            f = agreement([it for it in items if it["family"] == fam])
            r = "  —  " if math.isnan(f["r"]) else f"{f['r']:+.2f}"  # every grade the same: no correlation
            gives_gold = bool(gold_items([it for it in items if it["family"] == fam]))
            print(
                f"  {fam:<12} n {f['n']:3}  r {r}  MAE {f['mae']:.2f}  judge {f['judge_mean']:.2f}  "
                f"grade {f['grade_mean']:.2f}  fooled {f['fooled']}  missed {f['missed']}"
                + ("" if gives_gold else "  (no gold: the rules' score)")
            )


if __name__ == "__main__":
    app()
