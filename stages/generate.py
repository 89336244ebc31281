"""rlhf generate: answer prompts with any policy checkpoint, to see what a model says."""

from pathlib import Path

import typer

from rlhf_core.checkpoint import load_policy
from rlhf_core.data import read_split
from rlhf_core.evaluate import answer
from rlhf_core.runtime import pick_device, seed_everything
from rlhf_core.tokenizer import load_tokenizer
from stages._common import console, user_errors


@user_errors
def main(
    checkpoint: Path = typer.Argument(Path("data/sft"), help="checkpoint folder (e.g. data/sft)"),
    prompt: list[str] | None = typer.Option(None, "--prompt", "-p", help="an instruction (repeatable)"),
    input: str = typer.Option("", "--input", "-i", help="optional input for the instruction(s)"),
    study: bool = typer.Option(False, "--study", help="answer the 16 study prompts from data/raw/study.jsonl"),
    data: Path = typer.Option(Path("data/raw"), help="folder written by `rlhf download` (for --study)"),
    tokenizer: Path = typer.Option(Path("data/tokenizer"), help="folder written by `rlhf bpe`"),
    max_new_tokens: int = typer.Option(64, min=1),
    temperature: float = typer.Option(0.7, min=0.0, help="0 = greedy"),
    top_k: int = typer.Option(50, min=0, help="0 = no top-k filter"),
    samples: int = typer.Option(1, min=1, help="answers per prompt"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
) -> None:
    """Print answers to --prompt instructions (or the study prompts) from a checkpoint."""
    tok = load_tokenizer(tokenizer)
    model = load_policy(checkpoint, tok, pick_device(device))
    rows = read_split(data, "study") if study else [{"instruction": q, "input": input} for q in prompt or []]
    if not rows:
        raise typer.BadParameter("give at least one --prompt, or --study")
    generator = seed_everything(seed)
    rows = [r for r in rows for _ in range(samples)]
    answers = answer(
        model,
        tok,
        rows,
        max_new_tokens=max_new_tokens,
        batch_size=64,
        greedy=temperature == 0,
        temperature=temperature or 1.0,
        top_k=top_k or None,
        generator=generator,
    )
    gold = None
    if all(r.get("family") for r in rows):
        from rlhf_core.builtin import gold_score

        gold = [gold_score(r, a) for r, a in zip(rows, answers)]
    for i, (r, a) in enumerate(zip(rows, answers)):
        title = r.get("name") or r["instruction"]
        extra = (
            ""
            if not gold
            else "  [dim](no gold: unverifiable)[/]"
            if gold[i] is None
            else f"  [dim](gold {gold[i]:.2f})[/]"
        )
        console.print(f"[bold cyan]{title}[/]{extra}" + (f"\n[dim]{r['input']}[/]" if r.get("input") else ""))
        console.print(a or "[dim](empty)[/]", highlight=False, markup=False)
        console.print()
