"""The reward model: a bidirectional transformer encoder with a scalar head, trained with Bradley-Terry.

Input: format_prompt(row) + response + EOS, tokenized as at generation time (prompt and response
separately), right-padded. The encoder is the policy's GPT blocks with causal=False, so every token
attends to every real token of its sequence; padding is masked out of the keys, so a sequence's
reward does not depend on what it is batched with.

Pooling (`rm.pooling`): 'eos' (default) feeds the head the final EOS token's hidden state, which sees
the whole prompt and response in every layer, as the final-token reward models of InstructGPT do;
'mean' feeds it the masked mean over all real tokens.

Scale: Bradley-Terry fixes only differences of rewards; `rm.center_coef` pins the free offset near 0,
and the spread follows from how separable the training pairs are (docs/reward-model.md).
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from rlhf_core.batching import bucketed_batches
from rlhf_core.checkpoint import WEIGHTS, load_weights, read_config, save_checkpoint
from rlhf_core.checkpoint import model_config as checked_config
from rlhf_core.errors import RlhfError
from rlhf_core.losses import bradley_terry_loss
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.optim import lr_at, make_optimizer, num_steps
from rlhf_core.params import RMParams
from rlhf_core.resume import Resume
from rlhf_core.runtime import check_finite
from rlhf_core.stats import spearman
from rlhf_core.tokenizer import TextTokenizer, format_prompt, row_prompt

POOLINGS = ("eos", "mean")
RESPONSE_HEADER = "### Response:\n"  # the end of every formatted prompt


class RewardModel(nn.Module):
    def __init__(self, cfg: GPTConfig, pooling: str = "eos"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.cfg = cfg
        self.pooling = pooling
        self.encoder = GPT(cfg, causal=False)  # its tied lm_head is unused (and adds no parameters)
        self.head = nn.Linear(cfg.d_model, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """idx (B, T) right-padded ids, lengths (B,) real tokens per row (the last one is EOS) -> rewards (B,)
        float32."""
        B, T = idx.shape
        real = torch.arange(T, device=idx.device)[None, :] < lengths[:, None]  # (B, T)
        padded = bool((lengths < T).any())
        mask = real if padded else None
        if self.pooling == "eos":  # the last layer runs only at the EOS positions (GPT.hidden_states)
            pooled = self.encoder.hidden_states(idx, attn_mask=mask, rows=lengths - 1)  # (B, d)
        else:
            h = self.encoder.hidden_states(idx, attn_mask=mask)  # (B, T, d)
            w = real.to(h.dtype)[..., None]  # (B, T, 1)
            pooled = (h * w).sum(1) / w.sum(1)
        return self.head(pooled).squeeze(-1).float()


def model_config(p: RMParams, vocab_size: int) -> GPTConfig:
    return GPTConfig(
        vocab_size=vocab_size,
        block_size=p.block_size,
        n_layer=p.n_layer,
        n_head=p.n_head,
        d_model=p.d_model,
        ffn_hidden=p.ffn_hidden,
    )


# --- inputs ---------------------------------------------------------------------------------------


def prompt_text(row_or_prompt: dict | str) -> str:
    """A row -> its formatted prompt; a string -> itself if already formatted, else format_prompt(string)."""
    if isinstance(row_or_prompt, dict):
        return row_prompt(row_or_prompt)
    return row_or_prompt if row_or_prompt.endswith(RESPONSE_HEADER) else format_prompt(row_or_prompt)


def encode_inputs(
    tok: TextTokenizer, prompts: Sequence[dict | str], responses: Sequence[str | Sequence[int]], block_size: int
) -> list[list[int]]:
    """prompt ids + response ids + EOS per pair, fitted to block_size: the response is cut (EOS kept); a prompt
    too long to leave room for a response keeps its end (the question and the response header).
    Responses may be text or token ids (e.g. a policy's samples, without EOS)."""
    if len(prompts) != len(responses):
        raise RlhfError(f"reward: {len(prompts)} prompts but {len(responses)} responses; give one prompt per response")
    p_ids = tok.encode_batch([prompt_text(p) for p in prompts])
    texts = [i for i, r in enumerate(responses) if isinstance(r, str)]
    r_ids: list[Any] = list(responses)
    for i, ids in zip(texts, tok.encode_batch([responses[i] for i in texts]) if texts else []):
        r_ids[i] = ids
    room = block_size - 1  # one slot for EOS
    min_response = min(16, room // 2)
    out = []
    for p, r in zip(p_ids, r_ids):
        if len(p) > room - min_response:
            p = p[len(p) - (room - min_response) :]
        out.append(p + list(r)[: room - len(p)] + [tok.eos_id])
    return out


def collate(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and lengths (B,)."""
    T = max(len(s) for s in seqs)
    idx = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    for b, s in enumerate(seqs):
        idx[b, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return idx, torch.tensor([len(s) for s in seqs], dtype=torch.long)


# --- scoring ---------------------------------------------------------------------------------------


@torch.inference_mode()
def score_ids(model: RewardModel, seqs: Sequence[Sequence[int]], *, pad_id: int, batch_size: int = 128) -> torch.Tensor:
    """Rewards (N,) float32 on the CPU for encoded sequences, in input order; length-sorted batches."""
    if batch_size < 1:
        raise RlhfError(f"reward: batch_size={batch_size}; it must be >= 1")
    out = torch.empty(len(seqs), dtype=torch.float32)
    if not seqs:
        return out
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    try:
        for s in range(0, len(order), batch_size):
            chunk = order[s : s + batch_size]
            idx, lengths = collate([seqs[i] for i in chunk], pad_id)
            out[torch.tensor(chunk)] = model(idx.to(device), lengths.to(device)).cpu()
    finally:
        model.train(was_training)
    return out


def score(
    model: RewardModel,
    tok: TextTokenizer,
    rows_or_prompts: Sequence[dict | str],
    responses: Sequence[str | Sequence[int]],
    batch_size: int = 128,
) -> torch.Tensor:
    """One reward per response, (N,) float32 on the CPU, in order.

    rows_or_prompts: data rows, formatted prompts, or bare instructions (formatted here), one per
    response. responses: text, or token ids without EOS. Inference mode, length-sorted batches.
    """
    seqs = encode_inputs(tok, rows_or_prompts, responses, model.cfg.block_size)
    return score_ids(model, seqs, pad_id=tok.pad_id, batch_size=batch_size)


# --- training -------------------------------------------------------------------------------------


def encode_pairs(tok: TextTokenizer, pairs: list[dict], block_size: int) -> list[tuple[list[int], list[int], float]]:
    """(chosen ids, rejected ids, strength) per pair record (see rlhf_core.pairs)."""
    rows = [{"instruction": p["instruction"], "input": p["input"]} for p in pairs]
    chosen = encode_inputs(tok, rows, [p["chosen"] for p in pairs], block_size)
    rejected = encode_inputs(tok, rows, [p["rejected"] for p in pairs], block_size)
    return [(c, r, float(p["strength"])) for c, r, p in zip(chosen, rejected, pairs)]


def pair_loss(
    model: RewardModel, batch: list[tuple[list[int], list[int], float]], p: RMParams, pad_id: int
) -> tuple[torch.Tensor, dict]:
    """Bradley-Terry loss of a batch of encoded pairs; chosen and rejected go through one forward."""
    device = next(model.parameters()).device
    B = len(batch)
    idx, lengths = collate([c for c, _, _ in batch] + [r for _, r, _ in batch], pad_id)
    rewards = model(idx.to(device), lengths.to(device))  # (2B,)
    margin = p.margin * torch.tensor([s for _, _, s in batch], device=device) if p.margin else 0.0
    return bradley_terry_loss(rewards[:B], rewards[B:], margin, p.center_coef)


def train_rm(
    model: RewardModel,
    train: list[tuple[list[int], list[int], float]],
    p: RMParams,
    *,
    pad_id: int,
    seed: int,
    on_log: Callable[[int, dict], None],
    on_eval: Callable[[int], dict],
    on_progress: Callable[[int, int], None] | None = None,
    resume: Resume | None = None,
) -> dict:
    """The RM loop: AdamW, warmup + cosine, length-bucketed batches of pairs. `on_log(step, metrics)` every
    `log_every` steps (window means); `on_eval(step)` every `eval_every` steps and at the end. With
    `resume`, continues a killed run's saved state and saves its own at log boundaries."""
    if not train:
        raise RlhfError("no training pairs; lower rm.gold_margin or raise rm.pair_prompts")
    rng = random.Random(f"rm-train-{seed}")
    lengths = [max(len(c), len(r)) for c, r, _ in train]
    total = num_steps(len(train), p)
    opt = make_optimizer(model, p)
    model.train()
    batches: list[list[int]] = []
    start, seen = 0, 0
    if resume is not None:
        resume.track(model=model, optimizer=opt, rng=rng)
        if saved := resume.restore():
            start, batches, seen = saved["step"], saved["batches"], saved["seen"]
    window: dict[str, float] = defaultdict(float)
    n_window, tokens = 0, 0
    t0 = time.perf_counter()
    for step in range(start, total):
        if not batches:
            batches = bucketed_batches(lengths, p.batch_size, rng)
        batch = [train[i] for i in batches.pop()]
        lr = lr_at(step, lr=p.lr, warmup=p.warmup_steps, total=total, min_ratio=p.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = lr
        loss, stats = pair_loss(model, batch, p, pad_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip or float("inf"))
        stats = {"loss": loss.item(), **stats, "grad_norm": float(grad_norm)}
        check_finite(step + 1, stats, resume.where() if resume else None)
        opt.step()
        for k, v in stats.items():
            window[k] += v
        n_window += 1
        seen += len(batch)
        tokens += sum(len(c) + len(r) for c, r, _ in batch)
        if (step + 1) % p.log_every == 0 or step + 1 == total:
            on_log(step + 1, {**{f"train/{k}": v / n_window for k, v in window.items()}, "train/lr": lr})
            window, n_window = defaultdict(float), 0
        if (step + 1) % p.eval_every == 0 and step + 1 < total:
            on_eval(step + 1)
        if resume is not None and (step + 1) % p.log_every == 0:  # the log window is empty: nothing else to save
            resume.save_if_due(step + 1, lambda: {"step": step + 1, "batches": batches, "seen": seen})  # noqa: B023
        if on_progress:
            on_progress(step + 1, total)
    seconds = time.perf_counter() - t0
    on_eval(total)
    return {
        "steps": total,
        "resumed_from": start,
        "pairs_seen": seen,
        "epochs": seen / len(train),
        "train_seconds": seconds,
        "tokens_per_s": tokens / max(seconds, 1e-9),
    }


# --- trust metrics --------------------------------------------------------------------------------


def pair_accuracy(
    model: RewardModel,
    pairs_ids: list[tuple[list[int], list[int], float]],
    sources: list[str],
    *,
    pad_id: int,
    batch_size: int,
) -> dict:
    """Held-out pairwise accuracy (r_chosen > r_rejected), mean margin and Bradley-Terry loss, overall and per
    source."""
    n = len(pairs_ids)
    if not n:
        return {"accuracy": None, "margin": None, "loss": None, "pairs": 0, "accuracy_per_source": {}}
    r = score_ids(
        model, [c for c, _, _ in pairs_ids] + [x for _, x, _ in pairs_ids], pad_id=pad_id, batch_size=batch_size
    )
    diff = r[:n] - r[n:]
    correct = (diff > 0).float()
    per_source: dict[str, list[float]] = defaultdict(list)
    for s, c in zip(sources, correct.tolist()):
        per_source[s].append(c)
    return {
        "accuracy": correct.mean().item(),
        "margin": diff.mean().item(),
        "loss": torch.nn.functional.softplus(-diff).mean().item(),
        "pairs": n,
        "accuracy_per_source": {s: sum(v) / len(v) for s, v in sorted(per_source.items())},
    }


def _finite_or_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def _agreement(groups: list[tuple[list[float], list[float]]]) -> dict:
    """Within-prompt pairwise accuracy over pairs with differing gold (an RM tie counts 1/2); Spearman of RM vs
    gold over all samples (which also asks whether rewards are comparable across prompts); and the mean
    within-prompt Spearman over prompts where it is defined (what a per-prompt ranking such as GRPO's uses)."""
    right, pairs = 0.0, 0
    within = [rho for rho in (spearman(rm, gold) for rm, gold in groups) if math.isfinite(rho)]
    for rm, gold in groups:
        for i in range(len(rm)):
            for j in range(i + 1, len(rm)):
                if gold[i] == gold[j]:
                    continue
                pairs += 1
                agree = (rm[i] - rm[j]) * (gold[i] - gold[j])
                right += 1.0 if agree > 0 else 0.5 if rm[i] == rm[j] else 0.0
    rm_all = [v for rm, _ in groups for v in rm]
    gold_all = [v for _, gold in groups for v in gold]
    return {
        "pairwise_accuracy": right / pairs if pairs else None,
        "pairs": pairs,
        "spearman": _finite_or_none(spearman(rm_all, gold_all)),
        "samples": len(rm_all),
        "spearman_within_prompt": sum(within) / len(within) if within else None,
        "prompts_ranked": len(within),
    }


def gold_agreement(families: list[str], rm_scores: list[list[float]], gold_scores: list[list[float]]) -> dict:
    """Agreement of the RM with the gold judge on samples grouped by prompt, overall and per family; prompts
    without gold (None: a row the judge cannot verify) are left out."""
    kept = [(f, (rm, g)) for f, rm, g in zip(families, rm_scores, gold_scores) if None not in g]
    groups = [g for _, g in kept]
    by_family: dict[str, list] = defaultdict(list)
    for fam, g in kept:
        by_family[fam].append(g)
    return {**_agreement(groups), "per_family": {f: _agreement(g) for f, g in sorted(by_family.items())}}


def scale_summary(scores: Sequence[float]) -> dict:
    """Where the rewards lie: mean, std, min, max and the 5th/95th percentiles."""
    t = torch.tensor(list(scores), dtype=torch.float64)
    if not len(t):
        return {}
    q = torch.quantile(t, torch.tensor([0.05, 0.95], dtype=torch.float64)).tolist()
    return {
        "mean": t.mean().item(),
        "std": t.std().item() if len(t) > 1 else 0.0,
        "min": t.min().item(),
        "max": t.max().item(),
        "p05": q[0],
        "p95": q[1],
    }


def trust_records(
    model: RewardModel,
    tok: TextTokenizer,
    rows: list[dict],
    samples: list[list[str]],
    *,
    batch_size: int,
    gold: Callable[[dict, str], float | None] | None,
) -> tuple[list[dict], dict | None, dict]:
    """How far the RM can be trusted on policy-like text: every sample with its RM (and gold) score, the
    RM's agreement with the gold judge within prompts (None without one), and where the rewards of the
    samples and of the reference answers lie."""
    flat_rows = [row for row, outs in zip(rows, samples) for _ in outs]
    flat = [s for outs in samples for s in outs]
    rm_flat = score(model, tok, flat_rows, flat, batch_size).tolist()
    ref_scores = score(model, tok, rows, [row["output"] for row in rows], batch_size).tolist()
    agreement, gold_flat = None, [None] * len(flat)
    if gold is not None:
        gold_flat = [gold(row, s) for row, s in zip(flat_rows, flat)]
        bounds = [0]
        for outs in samples:
            bounds.append(bounds[-1] + len(outs))
        agreement = gold_agreement(
            [row["family"] for row in rows],
            [rm_flat[a:b] for a, b in zip(bounds, bounds[1:])],
            [gold_flat[a:b] for a, b in zip(bounds, bounds[1:])],
        )
    records = [
        {
            "prompt_id": row.get("id"),
            "family": row.get("family"),
            "instruction": row["instruction"],
            "input": row.get("input") or "",
            "response": s,
            "rm": v,
            "gold": g,
        }
        for row, s, v, g in zip(flat_rows, flat, rm_flat, gold_flat)
    ]
    scale = {"sft_samples": scale_summary(rm_flat), "references": scale_summary(ref_scores)}
    return records, agreement, scale


# --- checkpoints ------------------------------------------------------------------------------------


def save_reward_model(out_dir: str | Path, model: RewardModel, tok: TextTokenizer, **meta: Any) -> None:
    save_checkpoint(out_dir, model, model.cfg, tok, kind="reward", pooling=model.pooling, **meta)


def load_reward_model(ckpt_dir: str | Path, tok: TextTokenizer, device: torch.device | str = "cpu") -> RewardModel:
    """Load a reward model written by `rlhf rm`, refusing another kind of checkpoint or another tokenizer."""
    ckpt_dir = Path(ckpt_dir)
    conf = read_config(ckpt_dir)
    if conf.get("kind") != "reward":
        raise RlhfError(
            f"checkpoint '{ckpt_dir}' is a {conf.get('kind', 'unknown')!r} checkpoint, not a reward "
            "model; point at the folder written by `rlhf rm` (data/rm)"
        )
    if conf.get("tokenizer_fingerprint") != tok.fingerprint:
        raise RlhfError(
            f"reward model '{ckpt_dir}' was trained with a different tokenizer than the one given; "
            "retrain it (dvc repro rm) or pass the tokenizer it was trained with"
        )
    cfg = checked_config(conf, ckpt_dir)  # types and sizes checked before anything is allocated
    try:
        model = RewardModel(cfg, conf.get("pooling", "eos"))
    except (KeyError, TypeError, ValueError) as e:
        raise RlhfError(f"reward model '{ckpt_dir}' has an invalid config ({e}); rerun `dvc repro rm`") from None
    if cfg.vocab_size != tok.vocab_size:
        raise RlhfError(
            f"reward model '{ckpt_dir}' has vocab_size {cfg.vocab_size} but the tokenizer has "
            f"{tok.vocab_size}; retrain it with this tokenizer (dvc repro rm)"
        )
    load_weights(model, ckpt_dir / WEIGHTS)
    return model.to(device).eval()
