"""Answering prompts with a checkpoint and scoring the answers with the builtin gold judge."""

from __future__ import annotations

from collections import defaultdict

import torch

from rlhf_core.errors import RlhfError
from rlhf_core.generate import generate_in_batches
from rlhf_core.model import GPT
from rlhf_core.tokenizer import TextTokenizer


def answer(
    model: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    *,
    max_new_tokens: int,
    batch_size: int,
    greedy: bool = True,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Decoded answers, one per row, in order."""
    prompts = tok.encode_prompts(rows)
    room = model.cfg.block_size - max_new_tokens
    too_long = [i for i, p in enumerate(prompts) if len(p) > room]
    if too_long:
        raise RlhfError(
            f"{len(too_long)} prompt(s) (first: row {rows[too_long[0]].get('id')}, "
            f"{len(prompts[too_long[0]])} tokens) do not fit block_size {model.cfg.block_size} with "
            f"{max_new_tokens} new tokens; raise model.block_size or lower the new-token budget"
        )
    was_training = model.training
    model.eval()
    new = generate_in_batches(
        model,
        prompts,
        batch_size,
        max_new_tokens=max_new_tokens,
        eos_id=tok.eos_id,
        pad_id=tok.pad_id,
        temperature=temperature,
        top_k=top_k,
        greedy=greedy,
        generator=generator,
    )
    model.train(was_training)
    return tok.decode_batch(new)


def fitting_rows(tok: TextTokenizer, rows: list[dict], block_size: int, max_new_tokens: int) -> list[dict]:
    """The rows whose prompt leaves room for `max_new_tokens` (hub data has very long prompts)."""
    prompts = tok.encode_prompts(rows)
    return [r for r, p in zip(rows, prompts) if len(p) + max_new_tokens <= block_size]


def require_fitting(
    tok: TextTokenizer, rows: list[dict], block_size: int, max_new_tokens: int, knob: str
) -> list[dict]:
    """`fitting_rows`, refusing to go on with none: every prompt is longer than the block allows."""
    kept = fitting_rows(tok, rows, block_size, max_new_tokens)
    if not kept:
        raise RlhfError(
            f"no prompt of {len(rows)} leaves room for {knob} = {max_new_tokens} new tokens in the "
            f"model's block of {block_size} tokens; lower {knob}, raise model.block_size "
            "or use shorter prompts"
        )
    return kept


def gold_summary(rows: list[dict], responses: list[str]) -> dict:
    """Mean gold score overall and per family (builtin rows only), over the rows that have gold: a row the
    judge cannot verify has a None score (and a family of such rows no mean)."""
    from rlhf_core.builtin import gold_score

    scores = [gold_score(r, s) for r, s in zip(rows, responses)]
    by_family: dict[str, list[float]] = defaultdict(list)
    for r, s in zip(rows, scores):
        if s is not None:
            by_family[r["family"]].append(s)
    graded = [s for s in scores if s is not None]
    return {
        "mean": sum(graded) / max(len(graded), 1),
        "scores": scores,
        "per_family": {f: sum(v) / len(v) for f, v in sorted(by_family.items())},
    }
