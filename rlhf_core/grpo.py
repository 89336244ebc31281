"""GRPO (Shao et al. 2024, DeepSeekMath §4.1): k samples per prompt, group-normalised rewards as
advantages, a clipped ratio loss plus a k3 KL penalty to the reference; no value head. Log-probs of
the policy and the reference are taken at the sampling temperature (rollout.tempered).

The diagnostic the study built its Phase 5 on: when a group's rewards are (near) identical its
std -> 0, every advantage -> 0 and the prompt contributes no gradient ("group collapse"). Every
step logs the groups' reward std and how many fell below `collapse_threshold`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from rlhf_core.losses import grpo_advantages, grpo_loss, masked_mean
from rlhf_core.model import GPT
from rlhf_core.resume import Resume, checkpoint, restore, where
from rlhf_core.rollout import RewardFn, batch_gold_mean, build_sequences, draw, rollout, token_stats
from rlhf_core.runtime import check_finite
from rlhf_core.tokenizer import TextTokenizer


def train_grpo(
    policy: GPT,
    ref: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    reward_fn: RewardFn,
    p,
    *,
    seed: int,
    generator: torch.Generator,
    on_log: Callable[[int, dict], None],
    gold_fn: RewardFn | None = None,
    on_groups: Callable[[int, list[dict]], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    resume: Resume | None = None,
) -> None:
    """`p` is a GRPOParams. `on_groups(step, [{id, family, rewards, std}])` receives every group;
    `gold_fn`, when given (builtin data), scores the same samples with the gold judge for logging only."""
    rng, order = random.Random(seed), []
    device = next(policy.parameters()).device
    opt = torch.optim.AdamW(policy.parameters(), lr=p.lr, weight_decay=p.weight_decay, betas=(0.9, 0.999))
    k = p.group_size
    T = p.gen_temperature  # log-probs, ratio and KL of the distribution the samples came from
    start = restore(resume, order, policy=policy, optimizer=opt, rng=rng, generator=generator)
    for step in range(start, p.steps):
        group_rows = draw(rows, p.prompts_per_step, rng, order)
        rep_rows = [r for r in group_rows for _ in range(k)]  # groups are contiguous
        policy.eval()
        prompts, responses, texts = rollout(
            policy,
            tok,
            rep_rows,
            temperature=p.gen_temperature,
            top_k=p.gen_top_k or None,
            max_new_tokens=p.resp_len,
            generator=generator,
        )
        rewards = reward_fn(rep_rows, texts).float().view(-1, k).cpu()  # (P, k)
        advantages, std = grpo_advantages(rewards)
        batch = build_sequences(prompts, responses, tok.pad_id).to(device)
        with torch.inference_mode():
            ref_logp = token_stats(ref, batch, temperature=T).logp
            # With one epoch the sampling policy is the one being updated: its log-probs are the first
            # pass's, detached (ratio exactly 1), and a separate old pass would be wasted work.
            old_logp = token_stats(policy, batch, temperature=T).logp if p.epochs > 1 else None
        adv = advantages.flatten().to(device)  # (P*k,), one per response
        policy.train()
        for _ in range(p.epochs):
            cur = token_stats(policy, batch, temperature=T)
            if old_logp is None:
                old_logp = cur.logp.detach()
            loss, st = grpo_loss(cur.logp, old_logp, ref_logp, adv, batch.mask, p.clip_eps, p.kl_coef)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(policy.parameters(), p.grad_clip or float("inf")))
            check_finite(step + 1, {"loss": loss.item(), "grad_norm": grad_norm}, where(resume))
            opt.step()
        collapsed = std < p.collapse_threshold
        stats = {
            "loss": loss.item(),
            "reward_mean": rewards.mean().item(),
            "group_std_mean": std.mean().item(),
            "group_std_min": std.min().item(),
            "collapsed_groups": int(collapsed.sum()),
            "collapsed_frac": collapsed.float().mean().item(),
            "kl": st["kl"],
            "clipfrac": st["clipfrac"],
            "grad_norm": grad_norm,
            "response_len": float(batch.mask.sum(-1).float().mean()),
            "kl_k1": masked_mean(old_logp - ref_logp, batch.mask).item(),
            "optimizer_steps": (step + 1) * p.epochs,
        }
        if gold_fn is not None and (gold := batch_gold_mean(gold_fn(rep_rows, texts))) is not None:
            stats["gold_mean"] = gold
        check_finite(step + 1, stats, where(resume))
        on_log(step + 1, stats)
        if on_groups:
            on_groups(
                step + 1,
                [
                    {"id": r.get("id"), "family": r.get("family"), "rewards": g.tolist(), "std": s.item()}
                    for r, g, s in zip(group_rows, rewards, std)
                ],
            )
        checkpoint(resume, step + 1, order)
        if on_progress:
            on_progress(step + 1, p.steps)
