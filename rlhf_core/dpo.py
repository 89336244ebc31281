"""DPO as the study ran it (Rafailov et al. 2023): chosen = the reference answer, rejected = a sample
from the frozen reference model at `rej_temperature`, generated on the fly; no reward model.

A pair whose rejected sample equals the chosen answer is void (no gradient): it is resampled, then
replaced by a fresh prompt (`make_step_pairs`), and the share of void first draws is logged.

One optimiser step takes `batch_size * grad_accum` pairs: rejected answers for all of them are
sampled in one batched call, reference log-probs in one inference pass, then the policy's gradient
is accumulated over micro-batches of `batch_size` pairs. The loss is a mean over all the step's pairs,
so (batch 1 x accumulation 4) and (batch 4 x accumulation 1) take the same step.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch

from rlhf_core.generate import generate
from rlhf_core.losses import dpo_loss
from rlhf_core.model import GPT
from rlhf_core.resume import Resume, checkpoint, restore, where
from rlhf_core.rollout import build_sequences, draw, token_stats, with_eos
from rlhf_core.runtime import check_finite
from rlhf_core.tokenizer import TextTokenizer


@dataclass
class Pairs:
    prompts: list[list[int]]
    chosen: list[list[int]]
    rejected: list[list[int]]
    ref_chosen: torch.Tensor  # (N,) summed reference log-probs
    ref_rejected: torch.Tensor

    def __len__(self) -> int:
        return len(self.prompts)

    @staticmethod
    def concat(parts: list[Pairs]) -> Pairs:
        return Pairs(
            [x for q in parts for x in q.prompts],
            [x for q in parts for x in q.chosen],
            [x for q in parts for x in q.rejected],
            torch.cat([q.ref_chosen for q in parts]),
            torch.cat([q.ref_rejected for q in parts]),
        )

    def slice(self, a: int, b: int) -> Pairs:
        return Pairs(
            self.prompts[a:b], self.chosen[a:b], self.rejected[a:b], self.ref_chosen[a:b], self.ref_rejected[a:b]
        )


def sequence_logps(model: GPT, prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> torch.Tensor:
    """(N,) sum of the response tokens' log-probs: the study's `get_logps` (shifted response mask)."""
    device = next(model.parameters()).device
    batch = build_sequences(prompts, responses, pad_id).to(device)
    return token_stats(model, batch).logp.sum(-1)


@torch.inference_mode()
def make_pairs(
    ref: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    *,
    temperature: float,
    top_k: int | None,
    max_new_tokens: int,
    generator: torch.Generator,
    redraws: int = 0,
) -> tuple[Pairs, dict]:
    """Pairs for `rows` and their counts. A rejected sample identical to the chosen answer (the SFT model
    reproduces the reference) makes a void pair: its two log-ratios cancel and it has no gradient. Such
    samples are redrawn up to `redraws` times; pairs still void are dropped. Counts: `void` (first draws
    identical to the chosen answer), `skipped` (dropped after the redraws)."""
    prompts = tok.encode_prompts(rows)
    room = ref.cfg.block_size
    chosen = [
        (ids + [tok.eos_id])[: max(1, room - len(p))]
        for p, ids in zip(prompts, tok.encode_batch([r["output"] for r in rows]))
    ]
    max_new = max(1, min(max_new_tokens, room - max(len(p) for p in prompts)))

    def sample(idx: list[int]) -> list[list[int]]:
        gen = generate(
            ref,
            [prompts[i] for i in idx],
            max_new_tokens=max_new,
            eos_id=tok.eos_id,
            pad_id=tok.pad_id,
            temperature=temperature,
            top_k=top_k,
            generator=generator,
        )
        return [r if r else [tok.eos_id] for r in with_eos(gen.to_lists(), gen.finished.tolist(), tok.eos_id)]

    rejected = sample(list(range(len(rows))))
    void = [i for i in range(len(rows)) if rejected[i] == chosen[i]]
    n_void = len(void)
    for _ in range(redraws):
        if not void:
            break
        for i, r in zip(void, sample(void)):
            rejected[i] = r
        void = [i for i in void if rejected[i] == chosen[i]]
    keep = [i for i in range(len(rows)) if i not in set(void)]
    prompts, chosen, rejected = [prompts[i] for i in keep], [chosen[i] for i in keep], [rejected[i] for i in keep]
    counts = {"void": n_void, "skipped": len(rows) - len(keep)}
    if not keep:
        empty = torch.zeros(0)
        return Pairs([], [], [], empty, empty), counts
    ref_logps = sequence_logps(ref, prompts + prompts, chosen + rejected, tok.pad_id).float().cpu()
    n = len(keep)
    return Pairs(prompts, chosen, rejected, ref_logps[:n], ref_logps[n:]), counts


def accumulate_gradients(policy: GPT, pairs: Pairs, *, beta: float, micro_batch: int, pad_id: int) -> dict:
    """Backpropagate the mean DPO loss over `pairs` in micro-batches; return step statistics."""
    device = next(policy.parameters()).device
    n = len(pairs)
    pi_c, pi_r, total = [], [], 0.0
    for a in range(0, n, micro_batch):
        mb = pairs.slice(a, a + micro_batch)
        logps = sequence_logps(policy, mb.prompts + mb.prompts, mb.chosen + mb.rejected, pad_id)
        m = len(mb)
        loss, _ = dpo_loss(logps[:m], logps[m:], mb.ref_chosen.to(device), mb.ref_rejected.to(device), beta)
        (loss * (m / n)).backward()
        total += loss.item() * m / n
        pi_c.append(logps[:m].detach().cpu())
        pi_r.append(logps[m:].detach().cpu())
    pi_c, pi_r = torch.cat(pi_c), torch.cat(pi_r)
    _, stats = dpo_loss(pi_c, pi_r, pairs.ref_chosen, pairs.ref_rejected, beta)
    stats = dict(stats, loss=total)
    stats["chosen_logp"] = pi_c.mean().item()
    stats["rejected_logp"] = pi_r.mean().item()
    # The failure mode to watch: both log-ratios negative means the margin grows only because the
    # rejected answer falls faster than the chosen one, which is itself being unlearned.
    stats["both_falling"] = float(
        ((pi_c - pairs.ref_chosen) < 0).logical_and((pi_r - pairs.ref_rejected) < 0).float().mean()
    )
    stats["rejected_len"] = sum(len(r) for r in pairs.rejected) / n
    return stats


def train_dpo(
    policy: GPT,
    ref: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    p,
    *,
    seed: int,
    generator: torch.Generator,
    on_log: Callable[[int, dict], None],
    on_progress: Callable[[int, int], None] | None = None,
    resume: Resume | None = None,
) -> None:
    """`p` is a DPOParams. Prompts are drawn without replacement (reshuffled each pass) by a seeded RNG.
    With `resume`, a killed run continues from its last saved step."""
    rng = random.Random(seed)
    order: list[int] = []
    per_step = p.batch_size * p.grad_accum
    opt = torch.optim.AdamW(policy.parameters(), lr=p.lr, weight_decay=p.weight_decay, betas=(0.9, 0.999))
    policy.train()
    start = restore(resume, order, policy=policy, optimizer=opt, rng=rng, generator=generator)
    for step in range(start, p.steps):
        pairs, counts = make_step_pairs(ref, tok, rows, per_step, p, rng=rng, order=order, generator=generator)
        opt.zero_grad(set_to_none=True)
        stats = accumulate_gradients(policy, pairs, beta=p.beta, micro_batch=p.batch_size, pad_id=tok.pad_id)
        stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(policy.parameters(), p.grad_clip or float("inf")))
        stats.update(
            void_share=counts["void"] / counts["drawn"],
            replaced_prompts=counts["skipped"],
            pairs=len(pairs),
            optimizer_steps=step + 1,
        )
        check_finite(step + 1, stats, where(resume))
        opt.step()
        on_log(step + 1, stats)
        checkpoint(resume, step + 1, order)
        if on_progress:
            on_progress(step + 1, p.steps)


PROMPT_REDRAWS = 8  # rounds of fresh prompts for pairs dropped as void, before a step goes short


def make_step_pairs(
    ref: GPT,
    tok: TextTokenizer,
    rows: list[dict],
    n: int,
    p,
    *,
    rng: random.Random,
    order: list[int],
    generator: torch.Generator,
) -> tuple[Pairs, dict]:
    """`n` non-void pairs for one step: prompts whose pair stays void after `p.void_redraws` resamples are
    replaced by fresh prompts (bounded rounds). Counts: drawn prompts, void first draws, replaced prompts."""
    from rlhf_core.errors import RlhfError

    got, counts = [], {"drawn": 0, "void": 0, "skipped": 0}
    for _ in range(1 + PROMPT_REDRAWS):
        need = n - sum(len(x) for x in got)
        if need == 0:
            break
        pairs, c = make_pairs(
            ref,
            tok,
            draw(rows, need, rng, order),
            temperature=p.rej_temperature,
            top_k=p.rej_top_k or None,
            max_new_tokens=p.rej_max_new_tokens,
            generator=generator,
            redraws=p.void_redraws,
        )
        got.append(pairs)
        counts = {
            "drawn": counts["drawn"] + need,
            "void": counts["void"] + c["void"],
            "skipped": counts["skipped"] + c["skipped"],
        }
    pairs = Pairs.concat(got)
    if not len(pairs):
        raise RlhfError(
            f"dpo: every rejected sample of {counts['drawn']} prompts equals the chosen answer, even after "
            f"{p.void_redraws} resamples each; raise dpo.rej_temperature or dpo.void_redraws"
        )
    return pairs, counts
