"""Evaluation of one phase: every checkpoint answers the same prompts; each answer is scored (RM,
gold), measured (KL to SFT, length, EOS) and summarised with bootstrap confidence intervals."""

from __future__ import annotations

from collections import defaultdict

import torch

from rlhf_core.model import GPT
from rlhf_core.stats import bootstrap_ci
from rlhf_core.tokenizer import TextTokenizer


@torch.inference_mode()
def answer_records(
    model: GPT,
    sft: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    reward,
    *,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    batch_size: int,
    generator: torch.Generator,
) -> list[dict]:
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
        gen = generate(
            model,
            bp,
            max_new_tokens=max_new_tokens,
            eos_id=tok.eos_id,
            pad_id=tok.pad_id,
            temperature=temperature,
            top_k=top_k,
            generator=generator,
        )
        new, finished = gen.to_lists(), gen.finished.tolist()
        texts = tok.decode_batch(new)
        responses = [r if r else [tok.eos_id] for r in with_eos(new, finished, tok.eos_id)]
        batch = build_sequences(bp, responses, tok.pad_id).to(device)
        kl_tok = policy_ref_stats(model, sft, batch)[2]
        kl = kl_tok.sum(-1) / batch.mask.sum(-1).clamp_min(1)
        rm = reward([rows[i] for i in ids], texts)
        for j, i in enumerate(ids):
            out.append(
                (
                    i,
                    {
                        "response": texts[j],
                        "rm": float(rm[j]),
                        "kl": float(kl[j]),
                        "length": len(new[j]),
                        "eos": bool(finished[j]),
                        "gold": gold(rows[i], texts[j]) if gold else None,
                    },
                )
            )
    return [rec for _, rec in sorted(out, key=lambda t: t[0])]


def summarize_answers(records: list[dict], *, n_boot: int, ci: float, seed: int) -> dict:
    """Headline numbers of one algorithm: study means; held-out means with bootstrap CIs over prompts."""
    study = [r for r in records if r["set"] == "study"]
    held = [r for r in records if r["set"] == "heldout"]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    # Gold means are over the answers that have gold: a row the judge cannot verify has none.
    graded = lambda rs: [r for r in rs if r["gold"] is not None]  # noqa: E731
    out = {"study_rm": mean([r["rm"] for r in study]), "study_gold": mean([r["gold"] for r in graded(study)])}
    for key in ("rm", "gold"):
        scored = graded(held) if key == "gold" else held
        if not scored:
            out.update({f"heldout_{key}": None, f"heldout_{key}_lo": None, f"heldout_{key}_hi": None})
            continue
        per_prompt: dict[str, list[float]] = defaultdict(list)
        for r in scored:
            per_prompt[r["prompt_id"]].append(r[key])
        values = [mean(v) for _, v in sorted(per_prompt.items())]
        lo, hi = bootstrap_ci(values, n_boot=n_boot, ci=ci, seed=seed)
        out.update({f"heldout_{key}": mean(values), f"heldout_{key}_lo": lo, f"heldout_{key}_hi": hi})
    everything = held or study
    out.update(
        {
            "kl": mean([r["kl"] for r in everything]),
            "length": mean([r["length"] for r in everything]),
            "eos_rate": mean([float(r["eos"]) for r in everything]),
        }
    )
    return out


# Training diagnostics copied into the phase metrics, per algorithm: (summary window, logged key, name).
TRAINING_DIAGNOSTICS = {
    "ppo": [
        ("final", "optimizer_steps", "optimizer_steps"),
        ("second_half", "explained_variance", "explained_variance_2nd_half"),
        ("last20", "kl_per_token", "train_kl_per_token_last20"),
    ],
    "grpo": [
        ("final", "optimizer_steps", "optimizer_steps"),
        ("overall", "collapsed_frac", "collapsed_share"),
        ("last20", "kl", "train_kl_per_token_last20"),
    ],
    "dpo": [
        ("final", "optimizer_steps", "optimizer_steps"),
        ("last20", "reward_margin", "margin_last20"),
        ("last20", "accuracy", "accuracy_last20"),
        ("overall", "void_share", "void_share"),
        ("overall", "both_falling", "both_falling_share"),
    ],
}


def did_it_train(algo: str, records: list[dict], sft_records: list[dict], training: dict | None) -> dict:
    """Has the algorithm moved away from SFT? The share of held-out answers that differ from SFT's answer
    to the same prompt under the same random stream (identical weights give identical answers), plus the
    training diagnostics its stage logged (`training`: the checkpoint's summary windows)."""
    held = [(r, s) for r, s in zip(records, sft_records) if r["set"] == "heldout"]
    out = {"differs_from_sft": sum(r["response"] != s["response"] for r, s in held) / len(held) if held else None}
    for window, key, name in TRAINING_DIAGNOSTICS.get(algo, []):
        out[name] = ((training or {}).get(window) or {}).get(key)
    return out
