"""Prompt + response batches and the per-token quantities every RL algorithm needs.

A batch is right-padded `prompt + response` rows, so the causal model runs on its fast path with
no attention mask and default positions (padding only ever follows the real tokens). Only the
positions that predict a response token go through the 8,000-way LM head.

Position convention: `mask[:, t]` (shape (B, L-1)) is True when token t+1 is a response token; the
logits at position t predict it. Per-token tensors (log-probs, values, KL) use that (B, L-1) layout.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from rlhf_core.generate import generate
from rlhf_core.lmhead import label_logprobs, logprobs_and_kl
from rlhf_core.model import GPT
from rlhf_core.tokenizer import TextTokenizer

RewardFn = Callable[[list[dict], list[str]], torch.Tensor]  # (rows, responses) -> (N,) rewards


@dataclass
class SequenceBatch:
    tokens: torch.Tensor  # (B, L) prompt + response, right-padded
    mask: torch.Tensor  # (B, L-1) bool: position t predicts a response token
    prompt_lens: list[int]
    response_lens: list[int]

    @property
    def inputs(self) -> torch.Tensor:
        return self.tokens[:, :-1]

    @property
    def targets(self) -> torch.Tensor:
        return self.tokens[:, 1:]

    def to(self, device) -> SequenceBatch:
        return SequenceBatch(self.tokens.to(device), self.mask.to(device), self.prompt_lens, self.response_lens)

    def select(self, idx: list[int]) -> SequenceBatch:
        """Rows `idx`, trimmed to their own longest row."""
        L = max(self.prompt_lens[i] + self.response_lens[i] for i in idx)
        return SequenceBatch(
            self.tokens[idx, :L],
            self.mask[idx, : L - 1],
            [self.prompt_lens[i] for i in idx],
            [self.response_lens[i] for i in idx],
        )


def build_sequences(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> SequenceBatch:
    """Concatenate each prompt with its response (which should already include EOS if one was emitted)."""
    rows = [p + r for p, r in zip(prompts, responses)]
    L = max(max(len(r) for r in rows), 2)
    tokens = torch.full((len(rows), L), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), L - 1, dtype=torch.bool)
    for b, (p, r) in enumerate(zip(prompts, responses)):
        tokens[b, : len(p) + len(r)] = torch.tensor(p + r, dtype=torch.long)
        mask[b, len(p) - 1 : len(p) + len(r) - 1] = True
    return SequenceBatch(tokens, mask, [len(p) for p in prompts], [len(r) for r in responses])


def with_eos(generated: list[list[int]], finished: list[bool], eos_id: int) -> list[list[int]]:
    """Responses as the policy emitted them: EOS is an action too, so it is kept where it was sampled."""
    return [g + [eos_id] if f else list(g) for g, f in zip(generated, finished)]


class ValueHead(nn.Module):
    """Scalar value per position on the policy's final hidden state (shared trunk, as in
    InstructGPT/TRL's value-head models); initialised to predict zero.

    With `horizon` (the rollout's token cap) the head is time-aware: V = c(h) + a(h) * tokens left.
    Under the study's every-token reward the return from token k is about score x tokens left, a
    product a linear head on h cannot form, and the hidden state does not know where the cap is;
    treating the remaining time as part of the state is the remedy for time-limited episodes
    (Pardo et al. 2018, "Time Limits in Reinforcement Learning").

    With `hidden` > 0, c and a come from a one-hidden-layer MLP (GELU) on h instead of a linear map: the
    trunk is trained for the language model at the policy's small lr, so the features the critic needs
    must be formed in the head (TRL and InstructGPT give the critic a whole network of its own)."""

    def __init__(self, d_model: int, horizon: int = 0, hidden: int = 0):
        super().__init__()
        self.horizon = horizon
        self.hidden = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU()) if hidden else nn.Identity()
        self.proj = nn.Linear(hidden or d_model, 2 if horizon else 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """`h` (N, d) hidden states; `k` (N,) each token's index within its response (time-aware only)."""
        out = self.proj(self.hidden(h))
        if not self.horizon:
            return out.squeeze(-1)
        left = (self.horizon - k).clamp_min(1).to(out.dtype)
        return out[:, 1] + out[:, 0] * left


def head_values(value_head: ValueHead, sel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The value head on the (N, d) response-token states, scattered to (B, T)."""
    k = (mask.long().cumsum(-1) - 1)[mask]  # index of each response token within its response
    return scatter(value_head(sel, k), mask)


@dataclass
class TokenStats:
    logp: torch.Tensor  # (B, L-1), 0 off the mask
    hidden: torch.Tensor  # (N, d) final hidden states at the response positions (N = mask.sum())
    values: torch.Tensor | None  # (B, L-1), 0 off the mask, when a value head is given
    entropy: torch.Tensor | None  # (B, L-1), when asked for (a statistic: no gradient)


def token_stats(
    model: GPT,
    batch: SequenceBatch,
    *,
    value_head: ValueHead | None = None,
    entropy: bool = False,
    temperature: float = 1.0,
) -> TokenStats:
    """Per-token log-probs of the response tokens (and values and entropy if asked), through the
    fused LM head: the (N, V) logits are never materialised. `temperature` divides the logits, so the
    log-probs are those of the distribution the tokens were sampled from (see `tempered`)."""
    h = model.hidden_states(batch.inputs)  # (B, L-1, d)
    sel = h[batch.mask]  # (N, d)
    logp, ent = label_logprobs(
        tempered(sel, temperature), model.lm_head.weight, batch.targets[batch.mask], entropy=entropy
    )
    values = head_values(value_head, sel, batch.mask) if value_head is not None else None
    return TokenStats(scatter(logp, batch.mask), sel, values, None if ent is None else scatter(ent, batch.mask))


def tempered(hidden: torch.Tensor, temperature: float) -> torch.Tensor:
    """Final hidden states scaled so that the (bias-free) LM head yields logits / temperature.

    Rollouts sampled at temperature T come from softmax(logits / T); the ratio, the KL penalty and
    the logged KL must use that same distribution, for the policy and the reference alike, or the
    update is off-policy by construction (TRL's GRPO and PPO trainers divide the logits by T too)."""
    return hidden if temperature == 1.0 else hidden / temperature


@torch.no_grad()
def policy_ref_stats(
    policy: GPT, ref: GPT, batch: SequenceBatch, *, value_head: ValueHead | None = None, temperature: float = 1.0
) -> tuple[TokenStats, torch.Tensor, torch.Tensor]:
    """One pass of each model: the policy's per-token stats (log-probs, values, entropy), the
    reference's log-probs and the exact per-token KL(policy || ref) over the whole vocabulary, all
    (B, L-1) and 0 off the mask, for both distributions at `temperature`. Each block of logits is
    computed once for all of them."""
    mask = batch.mask
    targets = batch.targets[mask]
    sel = policy.hidden_states(batch.inputs)[mask]  # (N, d)
    sel_ref = ref.hidden_states(batch.inputs)[mask]
    logp, ref_logp, kl, ent = logprobs_and_kl(
        tempered(sel, temperature),
        policy.lm_head.weight,
        tempered(sel_ref, temperature),
        ref.lm_head.weight,
        targets,
        entropy=True,
    )
    values = head_values(value_head, sel, mask) if value_head is not None else None
    return (
        TokenStats(scatter(logp, mask), sel, values, scatter(ent, mask)),
        scatter(ref_logp, mask),
        scatter(kl, mask),
    )


def scatter(flat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Put (N,) values at the True positions of a (B, T) mask; zeros elsewhere."""
    out = flat.new_zeros(mask.shape)
    out[mask] = flat
    return out


def draw(rows: list[dict], n: int, rng: random.Random, order: list[int]) -> list[dict]:
    """`n` rows without replacement, reshuffling when a pass over `rows` is used up."""
    picked = []
    while len(picked) < n:
        if not order:
            order.extend(range(len(rows)))
            rng.shuffle(order)
        picked.append(rows[order.pop()])
    return picked


def rollout(
    policy: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    *,
    temperature: float,
    top_k: int | None,
    max_new_tokens: int,
    generator: torch.Generator,
) -> tuple[list[list[int]], list[list[int]], list[str]]:
    """Sample one response per row (rows repeat for groups); returns prompt ids, response ids (with
    EOS where emitted) and decoded texts."""
    prompts = tok.encode_prompts(rows)
    gen = generate(
        policy,
        prompts,
        max_new_tokens=max_new_tokens,
        eos_id=tok.eos_id,
        pad_id=tok.pad_id,
        temperature=temperature,
        top_k=top_k,
        generator=generator,
    )
    new = gen.to_lists()
    responses = [r if r else [tok.eos_id] for r in with_eos(new, gen.finished.tolist(), tok.eos_id)]
    return prompts, responses, tok.decode_batch(new)


def batch_gold_mean(gold: torch.Tensor) -> float | None:
    """Mean gold of a batch's samples, NaN (no gold: a row the judge cannot verify) left out; None when
    no sample in the batch has gold. A batch of only unverifiable rows happens by chance with a few
    prompts per step, and is no numerical fault."""
    gold = gold.float()
    return None if bool(torch.isnan(gold).all()) else gold.nanmean().item()
