"""Evaluation of one phase: every checkpoint answers the same prompts; each answer is scored (RM,
gold), measured (KL to SFT, length, EOS) and summarised with bootstrap confidence intervals."""

from __future__ import annotations

from collections import defaultdict

import torch

from rlhf_core.model import GPT
from rlhf_core.stats import bootstrap_ci
from rlhf_core.tokenizer import TextTokenizer


@torch.inference_mode()
def answer_records(model: GPT, sft: GPT, tok: TextTokenizer, rows: list[dict], reward, *, max_new_tokens: int,
                   temperature: float, top_k: int | None, batch_size: int, generator: torch.Generator) -> list[dict]:
    """Sample one answer per row; score it (RM, gold), measure its KL to SFT, length and EOS."""
    from rlhf_core.generate import generate
    from rlhf_core.rollout import build_sequences, policy_ref_stats, with_eos

    gold = None
    if rows and all(r.get("family") for r in rows):
        from rlhf_core.builtin import gold_score as gold
    device = next(model.parameters()).device
    out = []
    prompts = tok.encode_prompts(rows)
    order = sorted(range(len(rows)), key=lambda i: len(prompts[i]))
    for start in range(0, len(rows), batch_size):
        ids = order[start : start + batch_size]
        bp = [prompts[i] for i in ids]
        gen = generate(model, bp, max_new_tokens=max_new_tokens, eos_id=tok.eos_id, pad_id=tok.pad_id,
                       temperature=temperature, top_k=top_k, generator=generator)
        new, finished = gen.to_lists(), gen.finished.tolist()
        texts = tok.decode_batch(new)
        responses = [r if r else [tok.eos_id] for r in with_eos(new, finished, tok.eos_id)]
        batch = build_sequences(bp, responses, tok.pad_id).to(device)
        kl_tok = policy_ref_stats(model, sft, batch)[2]
        kl = kl_tok.sum(-1) / batch.mask.sum(-1).clamp_min(1)
        rm = reward([rows[i] for i in ids], texts)
        for j, i in enumerate(ids):
            out.append((i, {"response": texts[j], "rm": float(rm[j]), "kl": float(kl[j]), "length": len(new[j]),
                            "eos": bool(finished[j]), "gold": gold(rows[i], texts[j]) if gold else None}))
    return [rec for _, rec in sorted(out, key=lambda t: t[0])]


def summarize_answers(records: list[dict], *, n_boot: int, ci: float, seed: int) -> dict:
    """Headline numbers of one algorithm: study means; held-out means with bootstrap CIs over prompts."""
    study = [r for r in records if r["set"] == "study"]
    held = [r for r in records if r["set"] == "heldout"]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    has_gold = bool(records) and all(r["gold"] is not None for r in records)
    out = {"study_rm": mean([r["rm"] for r in study]),
           "study_gold": mean([r["gold"] for r in study]) if has_gold else None}
    for key in ("rm", "gold"):
        if not held or (key == "gold" and not has_gold):
            out.update({f"heldout_{key}": None, f"heldout_{key}_lo": None, f"heldout_{key}_hi": None})
            continue
        per_prompt: dict[str, list[float]] = defaultdict(list)
        for r in held:
            per_prompt[r["prompt_id"]].append(r[key])
        values = [mean(v) for _, v in sorted(per_prompt.items())]
        lo, hi = bootstrap_ci(values, n_boot=n_boot, ci=ci, seed=seed)
        out.update({f"heldout_{key}": mean(values), f"heldout_{key}_lo": lo, f"heldout_{key}_hi": hi})
    everything = held or study
    out.update({"kl": mean([r["kl"] for r in everything]), "length": mean([r["length"] for r in everything]),
                "eos_rate": mean([float(r["eos"]) for r in everything])})
    return out
