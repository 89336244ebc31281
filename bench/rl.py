"""Our RL and preference steps: the GRPO step, the PPO update and the DPO step (the real training loops of
rlhf_core.grpo/ppo/dpo), at the shapes the TRL side (bench.hf) runs too.

Random-init models and random prompt ids, as in bench.model. The reward is a cheap function of
the sampled ids (the fraction of even ids) so that the reward model does not dominate the timing;
both sides decode completions to the same word-level text ("t<id> t<id> ...") and score that text.
A step is timed from one logged step to the next; the first step is the warm-up.
"""

from __future__ import annotations

import torch

from bench.timing import between_logs, resolve_device, spread, sync, timed
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.params import GRPOParams, PPOParams


class IdTokenizer:
    """What the training loops need of a tokenizer, over raw ids: each row carries its prompt ids."""

    pad_id, eos_id = 0, 2

    def encode_prompts(self, rows: list[dict]) -> list[list[int]]:
        return [list(r["ids"]) for r in rows]

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return [words(ids) for ids in batch]


def words(ids) -> str:
    return " ".join(f"t{i}" for i in ids)


def even_fraction(text: str) -> float:
    """The benchmark's reward: fraction of even ids in a completion (0 for an empty one)."""
    ids = [int(w[1:]) for w in text.split() if w[1:].isdigit()]
    return sum(i % 2 == 0 for i in ids) / len(ids) if ids else 0.0


def prompt_rows(cfg: GPTConfig, n: int, prompt_len: int) -> list[dict]:
    g = torch.Generator(device="cpu").manual_seed(0)
    return [{"ids": torch.randint(4, cfg.vocab_size, (prompt_len,), generator=g).tolist()} for _ in range(n)]


def bench_grpo(
    cfg: GPTConfig,
    prompts: int = 8,
    group: int = 8,
    new_tokens: int = 64,
    prompt_len: int = 32,
    *,
    repeats: int = 3,
    device: str | torch.device | None = None,
) -> dict:
    """Seconds per step of rlhf_core.grpo.train_grpo: sample prompts x group responses, reward, old and
    reference log-probs, one clipped update with the k3 KL term (beta 0.04), clip, AdamW."""
    from rlhf_core.grpo import train_grpo

    dev = resolve_device(device)
    torch.manual_seed(0)
    policy = GPT(cfg).to(dev)
    ref = GPT(cfg).to(dev).eval().requires_grad_(False)
    ref.load_state_dict(policy.state_dict())
    rows = prompt_rows(cfg, prompts * (repeats + 1), prompt_len)
    p = GRPOParams(  # the real params type: a knob added later gets its default here
        steps=repeats + 1,
        prompts_per_step=prompts,
        group_size=group,
        gen_temperature=1.0,
        gen_top_k=0,
        resp_len=new_tokens,
        lr=1e-6,
        kl_coef=0.04,
        clip_eps=0.2,
        epochs=1,
        collapse_threshold=0.1,
        weight_decay=0.0,
        grad_clip=1.0,
    )

    def reward(rs, texts):
        return torch.tensor([even_fraction(t) for t in texts])

    times = between_logs(
        lambda on_log: train_grpo(
            policy,
            ref,
            IdTokenizer(),
            rows,
            reward,
            p,
            seed=0,
            generator=torch.Generator(device=dev).manual_seed(0),
            on_log=on_log,
        ),
        repeats + 1,
    )
    return {
        "device": str(dev),
        "prompts": prompts,
        "group": group,
        "new_tokens": new_tokens,
        "prompt_len": prompt_len,
        "step_s": spread(times),
    }


def bench_ppo(
    cfg: GPTConfig,
    rollouts: int = 64,
    new_tokens: int = 64,
    prompt_len: int = 32,
    epochs: int = 4,
    mini_batch: int = 64,
    *,
    rm_forward: bool = True,
    repeats: int = 3,
    device: str | torch.device | None = None,
) -> dict:
    """Seconds per update of rlhf_core.ppo.train_ppo: rollouts, reward (with `rm_forward`, a reward model of
    the policy's shape scores every rollout, as in TRL), old/ref/value passes, exact KL, shaped rewards, GAE,
    `epochs` passes over minibatches of `mini_batch` (TRL's default: one minibatch)."""
    from rlhf_core.ppo import train_ppo
    from rlhf_core.rollout import ValueHead

    dev = resolve_device(device)
    torch.manual_seed(0)
    policy = GPT(cfg).to(dev)
    ref = GPT(cfg).to(dev).eval().requires_grad_(False)
    ref.load_state_dict(policy.state_dict())
    value_head = ValueHead(cfg.d_model).to(dev)
    rows = prompt_rows(cfg, rollouts * (repeats + 1), prompt_len)
    p = PPOParams(
        steps=repeats + 1,
        batch_size=rollouts,
        mini_batch_size=mini_batch,
        epochs=epochs,
        lr=1e-6,
        kl_coef=0.05,
        reward_placement="last",
        resp_len=new_tokens,
        temperature=1.0,
        top_k=0,
        gamma=1.0,
        lam=0.95,
        clip_eps=0.2,
        vf_clip=0.2,
        vf_coef=0.1,
        weight_decay=0.0,
        grad_clip=1.0,
    )

    def reward(rs, texts):
        return torch.tensor([even_fraction(t) for t in texts])

    if rm_forward:  # as much reward-model work as TRL's PPO: one forward of a model of the policy's shape
        from rlhf_core.reward import RewardModel, score_ids

        rm = RewardModel(cfg).to(dev).eval()

        def reward(rs, texts):
            seqs = [r["ids"] + [int(w[1:]) for w in t.split()] for r, t in zip(rs, texts)]
            with torch.inference_mode():
                return score_ids(rm, seqs, pad_id=0, batch_size=len(seqs))

    times = between_logs(
        lambda on_log: train_ppo(
            policy,
            value_head,
            ref,
            IdTokenizer(),
            rows,
            reward,
            p,
            seed=0,
            generator=torch.Generator(device=dev).manual_seed(0),
            on_log=on_log,
        ),
        repeats + 1,
    )
    return {
        "device": str(dev),
        "rollouts": rollouts,
        "new_tokens": new_tokens,
        "prompt_len": prompt_len,
        "epochs": epochs,
        "mini_batch": mini_batch,
        "rm_forward": rm_forward,
        "step_s": spread(times),
    }


def dpo_inputs(cfg: GPTConfig, pairs: int, seq: int, prompt_len: int):
    """Random (prompt, chosen, rejected) ids: prompt_len + (seq - prompt_len) tokens, EOS (id 2) last."""
    g = torch.Generator(device="cpu").manual_seed(0)
    n = seq - prompt_len - 1

    def ids(k):
        return torch.randint(4, cfg.vocab_size, (k,), generator=g).tolist()

    return [(ids(prompt_len), ids(n) + [2], ids(n) + [2]) for _ in range(pairs)]


def bench_dpo(
    cfg: GPTConfig,
    pairs: int = 8,
    seq: int = 256,
    prompt_len: int = 64,
    *,
    repeats: int = 3,
    beta: float = 0.1,
    device: str | torch.device | None = None,
) -> dict:
    """Seconds per DPO optimiser step, ours: reference log-probs (inference mode), policy forward/backward
    over chosen + rejected (rlhf_core.dpo.accumulate_gradients, one micro-batch), clip, AdamW. Sampling
    the rejected answers (make_pairs) is left out: TRL's DPOTrainer takes them from the dataset."""
    import copy

    from rlhf_core.dpo import Pairs, accumulate_gradients, sequence_logps

    dev = resolve_device(device)
    torch.manual_seed(0)
    policy = GPT(cfg).to(dev).train()
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-5, weight_decay=0.0)
    data = dpo_inputs(cfg, pairs, seq, prompt_len)
    prompts, chosen, rejected = (list(x) for x in zip(*data))

    def step():
        with torch.inference_mode():
            ref_lp = sequence_logps(ref, prompts + prompts, chosen + rejected, pad_id=0).float().cpu()
        batch = Pairs(prompts, chosen, rejected, ref_lp[:pairs], ref_lp[pairs:])
        opt.zero_grad(set_to_none=True)
        accumulate_gradients(policy, batch, beta=beta, micro_batch=pairs, pad_id=0)
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    sync(dev)
    times = timed(step, repeats, dev)
    return {"device": str(dev), "pairs": pairs, "seq": seq, "prompt_len": prompt_len, "step_s": spread(times)}
