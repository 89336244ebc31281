"""rlhf judge: score one answer with the builtin gold judge and show each part, its credit and why."""

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from rlhf_core.builtin import FAMILIES, build_suite, judge
from rlhf_core.builtin.judge import generated_row, unverifiable_why
from rlhf_core.builtin.study import study_rows
from rlhf_core.errors import RlhfError
from stages._common import user_errors

out = Console(soft_wrap=True)


def find_row(row: str, suite_seed: int = 0) -> dict[str, Any]:
    """A study row (its name, a unique prefix of it, or its id), a suite row id ("heldout-0003",
    "train-000042", drawn from build_suite(seed=suite_seed)), or a generated row ("fact_qa:3": family:seed)."""
    family, _, seed = row.partition(":")
    if seed.strip().isdigit():
        return generated_row(family.strip(), int(seed))
    study = study_rows()
    key = row.strip().lower()
    exact = [r for r in study if key in (r["id"], r["name"].lower())]
    hits = exact or [r for r in study if r["name"].lower().startswith(key)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise RlhfError(f"{row!r} matches several study rows: {', '.join(r['name'] for r in hits)}")
    for split in ("heldout", "train"):
        if key.startswith(f"{split}-") and key[len(split) + 1 :].isdigit():
            i = int(key[len(split) + 1 :])
            suite = build_suite(
                n_train=i + 1 if split == "train" else 0, n_heldout=i + 1 if split == "heldout" else 0, seed=suite_seed
            )
            return (suite.heldout if split == "heldout" else suite.train)[i]
    names = "; ".join(f"{r['id']} {r['name']}" for r in study)
    raise RlhfError(f"no row {row!r}: give a study row ({names}), heldout-N / train-N, or FAMILY:SEED")


@user_errors
def main(
    row: str = typer.Argument(
        ...,
        help="a study row (name, name prefix or study-NN), heldout-N / train-N, or "
        "FAMILY:SEED for a generated row (e.g. capital:3)",
    ),
    answer: str = typer.Argument(..., help="the answer to judge"),
    suite_seed: int = typer.Option(0, help="data.seed of the suite that heldout-N / train-N come from"),
) -> None:
    """Print the judge's score of ANSWER on a row, with every part of the score, its credit and the reason;
    for a row the judge cannot verify (explain, tips, one fact question) the score is shown but is no gold."""
    r = find_row(row, suite_seed)
    result = judge(r, answer)
    out.print(
        f"[bold]{r.get('id', '?')}[/] ({r['family']}): {r['instruction']}"
        + (f"\n  input: {r['input']}" if r.get("input") else "")
    )
    out.print(f"  reference: {r['output']}")
    out.print(f"  answer:    {answer}")
    table = Table(show_header=True, header_style="bold")
    table.add_column("part")
    table.add_column("credit", justify="right")
    table.add_column("why")
    for name, value in result.parts.items():
        table.add_row(name, f"{value:.3f}", result.why.get(name, ""))
    out.print(table)
    out.print(f"[bold]score {result.score:.3f}[/] = content x penalty x guard x grounding x repetition x length")
    if not result.verified:
        out.print(
            "[yellow]no gold:[/] the rules cannot verify "
            + ("answers to this question" if FAMILIES[r["family"]].verifiable else f"{r['family']} answers")
            + f": {unverifiable_why(r)}. Eval, the RM's pairs and the report give this row no gold."
        )
