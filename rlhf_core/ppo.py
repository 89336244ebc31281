"""PPO for language models (Schulman et al. 2017; Ziegler et al. 2019; Ouyang et al. 2022), as a
numbered recipe per step:

1. rollout: sample responses from the current policy;
2. score them with the reward model;
3. old log-probs, values and entropy (policy), reference log-probs, exact per-token KL, from one
   LM-head pass over both models (rlhf_core.lmhead);
4. shaped per-token reward r_t = score * [placement] - kl_coef * (log pi - log pi_ref), with the
   study's placement (score at every response token) or the standard one (last token only);
5. GAE advantages and returns over the value head, advantages whitened;
6. `epochs` passes of shuffled minibatches: clipped surrogate + vf_coef * (clipped) value loss.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from rlhf_core.losses import (
    gae,
    kl_estimators,
    masked_mean,
    masked_whiten,
    ppo_policy_loss,
    ppo_value_loss,
    shaped_rewards,
)
from rlhf_core.model import GPT
from rlhf_core.resume import Resume, checkpoint, restore, where
from rlhf_core.rollout import (
    RewardFn,
    SequenceBatch,
    ValueHead,
    batch_gold_mean,
    build_sequences,
    draw,
    policy_ref_stats,
    rollout,
    token_stats,
)
from rlhf_core.runtime import check_finite
from rlhf_core.tokenizer import TextTokenizer


def exact_div(a: int, b: int, what: str) -> int:
    from rlhf_core.errors import RlhfError

    if a % b:
        raise RlhfError(f"{what}: {a} is not divisible by {b}; choose sizes that divide evenly")
    return a // b


def sub(t: torch.Tensor, batch: SequenceBatch, idx: list[int]) -> torch.Tensor:
    """Rows `idx` of a per-token (B, L-1) tensor, trimmed like `batch.select(idx)`."""
    L = max(batch.prompt_lens[i] + batch.response_lens[i] for i in idx)
    return t[idx, : L - 1]


def train_ppo(
    policy: GPT,
    value_head: ValueHead,
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
    on_progress: Callable[[int, int], None] | None = None,
    resume: Resume | None = None,
) -> None:
    """`p` is a PPOParams. `gold_fn`, when given (builtin data), scores the rollouts with the gold
    judge for logging only: RM reward and gold side by side show over-optimisation. With `resume`, a
    killed run continues from its last saved step."""
    rng, order = random.Random(seed), []
    device = next(policy.parameters()).device
    n_mb = exact_div(p.batch_size, p.mini_batch_size, "ppo.batch_size / ppo.mini_batch_size")
    params = list(policy.parameters()) + list(value_head.parameters())
    # The value head starts at zero and must reach returns of order resp_len x score; at the policy's
    # lr it cannot (each weight moves ~lr per step), so PPO would run without a baseline. Its own,
    # larger lr is the usual remedy (separate actor/critic step sizes, e.g. Schulman et al. 2017 App. B;
    # TRL's separate value model).
    opt = torch.optim.AdamW(
        [{"params": list(policy.parameters()), "lr": p.lr}, {"params": list(value_head.parameters()), "lr": p.vf_lr}],
        lr=p.lr,
        weight_decay=p.weight_decay,
        betas=(0.9, 0.999),
    )
    start = restore(resume, order, policy=policy, value_head=value_head, optimizer=opt, rng=rng, generator=generator)
    for step in range(start, p.steps):
        batch_rows = draw(rows, p.batch_size, rng, order)
        policy.eval()
        prompts, responses, texts = rollout(
            policy,
            tok,
            batch_rows,
            temperature=p.temperature,
            top_k=p.top_k or None,
            max_new_tokens=p.resp_len,
            generator=generator,
        )
        score = reward_fn(batch_rows, texts).float().to(device)  # (B,)
        batch = build_sequences(prompts, responses, tok.pad_id).to(device)
        mask = batch.mask
        with torch.inference_mode():
            old, ref_logp, kl_tok = policy_ref_stats(
                policy, ref, batch, value_head=value_head, temperature=p.temperature
            )
            rewards = shaped_rewards(score, old.logp, ref_logp, mask, p.kl_coef, p.reward_placement)
            advantages, returns = gae(rewards, old.values, mask, p.gamma, p.lam)
            advantages = masked_whiten(advantages, mask)
            est = kl_estimators(old.logp, ref_logp)
        old_logp, old_values = old.logp.clone(), old.values.clone()  # leave inference mode
        advantages, returns = advantages.clone(), returns.clone()
        policy.train()
        agg: dict[str, float] = {}
        for _ in range(p.epochs):
            perm = list(range(p.batch_size))
            rng.shuffle(perm)
            for m in range(n_mb):
                idx = perm[m * p.mini_batch_size : (m + 1) * p.mini_batch_size]
                mb = batch.select(idx)
                cur = token_stats(policy, mb, value_head=value_head, temperature=p.temperature)
                pg, pg_st = ppo_policy_loss(
                    cur.logp, sub(old_logp, batch, idx), sub(advantages, batch, idx), mb.mask, p.clip_eps
                )
                vf, vf_st = ppo_value_loss(
                    cur.values, sub(old_values, batch, idx), sub(returns, batch, idx), mb.mask, p.vf_clip or None
                )
                loss = pg + p.vf_coef * vf
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, p.grad_clip or float("inf")))
                check_finite(step + 1, {"loss": loss.item(), "grad_norm": grad_norm}, where(resume))
                opt.step()
                for key, v in {
                    **pg_st,
                    **vf_st,
                    "policy_loss": pg.item(),
                    "value_loss": vf.item(),
                    "grad_norm": grad_norm,
                }.items():
                    agg[key] = agg.get(key, 0.0) + v / (p.epochs * n_mb)
        seq_kl = (kl_tok * mask).sum(-1)
        stats = {
            "reward": score.mean().item(),
            "reward_std": score.std().item() if len(score) > 1 else 0.0,
            "kl": seq_kl.mean().item(),
            "kl_per_token": masked_mean(kl_tok, mask).item(),
            "kl_k1": (est["k1"] * mask).sum(-1).mean().item(),
            "kl_k3": (est["k3"] * mask).sum(-1).mean().item(),
            "shaped_return": (rewards * mask).sum(-1).mean().item(),
            "response_len": float(mask.sum(-1).float().mean()),
            "entropy": masked_mean(old.entropy, mask).item(),
            "optimizer_steps": (step + 1) * p.epochs * n_mb,
            **agg,
        }
        if gold_fn is not None and (gold := batch_gold_mean(gold_fn(batch_rows, texts))) is not None:
            stats["gold_mean"] = gold
        check_finite(step + 1, stats, where(resume))
        on_log(step + 1, stats)
        checkpoint(resume, step + 1, order)
        if on_progress:
            on_progress(step + 1, p.steps)
