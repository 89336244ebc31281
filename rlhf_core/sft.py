"""Supervised fine-tuning: next-token cross-entropy on the response tokens only.

The pieces are small pure functions (encoding, collation, batching, the LR schedule, the loss), and
`train_sft` is a flat loop over them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rlhf_core.batching import bucketed_batches
from rlhf_core.lmhead import linear_cross_entropy
from rlhf_core.model import GPT
from rlhf_core.optim import lr_at, make_optimizer, num_steps
from rlhf_core.params import SFTParams
from rlhf_core.resume import Resume
from rlhf_core.runtime import check_finite
from rlhf_core.tokenizer import TextTokenizer, row_prompt

IGNORE = -100  # target value of positions that carry no loss (prompt, padding)
MIN_RESPONSE_TOKENS = 8  # a prompt must leave at least this much room in the block


@dataclass(frozen=True)
class Example:
    ids: list[int]  # prompt + response + EOS
    n_prompt: int


def encode_examples(tok: TextTokenizer, rows: list[dict], block_size: int) -> tuple[list[Example], dict]:
    """Tokenize prompt and response separately (as at generation time) and fit them in the block.

    A response that overflows is truncated (its EOS is lost, so the model is not taught to stop
    there); a prompt that leaves no room for a response drops the row. Both are counted.
    """
    prompts = tok.encode_batch([row_prompt(r) for r in rows])
    responses = tok.encode_batch([r["output"] for r in rows])
    examples, counts = [], {"rows": len(rows), "dropped_prompt_too_long": 0, "truncated_response": 0}
    for p, r in zip(prompts, responses):
        if len(p) + MIN_RESPONSE_TOKENS > block_size:
            counts["dropped_prompt_too_long"] += 1
            continue
        ids = p + r + [tok.eos_id]
        if len(ids) > block_size:
            ids = ids[:block_size]
            counts["truncated_response"] += 1
        examples.append(Example(ids, len(p)))
    return examples, counts


def collate(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (inputs, targets), both (B, L-1): targets[b, t] = ids[t+1] on response tokens, else IGNORE."""
    L = max(len(e.ids) for e in examples)
    inputs = torch.full((len(examples), L - 1), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), L - 1), IGNORE, dtype=torch.long)
    for b, e in enumerate(examples):
        ids = torch.tensor(e.ids, dtype=torch.long)
        inputs[b, : len(ids) - 1] = ids[:-1]
        # target position t predicts token t+1; response tokens start at index n_prompt
        targets[b, e.n_prompt - 1 : len(ids) - 1] = ids[e.n_prompt :]
    return inputs, targets


def sft_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the response tokens of a batch. logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


def response_loss(model: GPT, inputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """`sft_loss(model(inputs), targets)` without the LM head on prompt and padding positions.

    The tied 8,000-way LM head is most of this model's FLOPs, and prompts are about half the tokens,
    so projecting only the positions that carry loss roughly halves the head's cost; the fused head
    (rlhf_core.lmhead) never materialises the remaining logits.
    """
    h = model.hidden_states(inputs)  # (B, T, d)
    keep = targets != IGNORE
    return linear_cross_entropy(h[keep], model.lm_head.weight, targets[keep], reduction)


@torch.no_grad()
def heldout_loss(model: GPT, examples: list[Example], pad_id: int, batch_size: int) -> float:
    """Token-weighted mean response cross-entropy (nats/token)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        inputs, targets = collate([examples[i] for i in order[start : start + batch_size]], pad_id)
        inputs, targets = inputs.to(device), targets.to(device)
        total += response_loss(model, inputs, targets, reduction="sum").item()
        count += int((targets != IGNORE).sum())
    model.train(was_training)
    return total / max(count, 1)


def train_sft(
    model: GPT,
    train: list[Example],
    p: SFTParams,
    *,
    pad_id: int,
    seed: int,
    on_log: Callable[[int, dict], None],
    on_eval: Callable[[int], dict],
    on_progress: Callable[[int, int], None] | None = None,
    resume: Resume | None = None,
) -> dict:
    """The SFT loop. `on_log(step, metrics)` receives training metrics every `log_every` steps;
    `on_eval(step)` runs every `eval_every` steps and at the end. With `resume`, the loop continues a
    killed run's saved state and saves its own at log boundaries. Returns throughput figures."""
    device = next(model.parameters()).device
    rng = random.Random(seed)
    lengths = [len(e.ids) for e in train]
    total = num_steps(len(train), p)
    opt = make_optimizer(model, p)
    model.train()
    batches: list[list[int]] = []
    start = 0
    if resume is not None:
        resume.track(model=model, optimizer=opt, rng=rng)
        if saved := resume.restore():
            start, batches = saved["step"], saved["batches"]
    window_loss, window_steps, trained_tokens = 0.0, 0, 0
    t0 = time.perf_counter()
    for step in range(start, total):
        if not batches:
            batches = bucketed_batches(lengths, p.batch_size, rng)
        inputs, targets = collate([train[i] for i in batches.pop()], pad_id)
        inputs, targets = inputs.to(device), targets.to(device)
        lr = lr_at(step, lr=p.lr, warmup=p.warmup_steps, total=total, min_ratio=p.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = response_loss(model, inputs, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip or float("inf"))
        stats = {"loss": loss.item(), "grad_norm": float(grad_norm)}
        check_finite(step + 1, stats, resume.where() if resume else None)
        opt.step()
        window_loss += stats["loss"]
        window_steps += 1
        trained_tokens += inputs.numel()
        if (step + 1) % p.log_every == 0 or step + 1 == total:
            # deterministic values only: wall-clock throughput goes to the stage's timing file
            on_log(
                step + 1,
                {"train/loss": window_loss / window_steps, "train/lr": lr, "train/grad_norm": stats["grad_norm"]},
            )
            window_loss, window_steps = 0.0, 0
        if (step + 1) % p.eval_every == 0 and step + 1 < total:
            on_eval(step + 1)
        if resume is not None and (step + 1) % p.log_every == 0:  # the log window is empty: nothing else to save
            resume.save_if_due(step + 1, lambda: {"step": step + 1, "batches": batches})  # noqa: B023
        if on_progress:
            on_progress(step + 1, total)
    train_seconds = time.perf_counter() - t0
    on_eval(total)
    return {
        "steps": total,
        "resumed_from": start,
        "train_seconds": train_seconds,
        "tokens": trained_tokens,
        "tokens_per_s": trained_tokens / max(train_seconds, 1e-9),
    }
