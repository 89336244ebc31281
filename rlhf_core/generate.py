"""The one sampler every stage uses: batched, left-padded, KV-cached autoregressive generation.

One prefill forward over the left-padded prompts, then one single-token decode step per new token
into a preallocated KV cache. Rows that emit EOS keep running in the batch but emit `pad_id`; the
loop stops early once every row has finished (checked every few steps to avoid a host sync per token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlhf_core.errors import RlhfError
from rlhf_core.model import GPT

# All-finished check interval in decode steps. A check costs one host sync (cheap on CPU, a pipeline
# stall on GPU); checking less often wastes at most CHECK_EVERY-1 steps once all rows are done.
CHECK_EVERY = 4


@dataclass
class Generation:
    tokens: torch.LongTensor  # (B, N) new tokens, right-padded with pad_id after EOS (EOS included when emitted)
    lengths: torch.LongTensor  # (B,) number of new tokens including the EOS if emitted
    finished: torch.BoolTensor  # (B,) whether EOS was emitted

    def to_lists(self) -> list[list[int]]:
        """New tokens per row, without EOS and padding."""
        toks = self.tokens.tolist()
        n = (self.lengths - self.finished.long()).tolist()
        return [row[:k] for row, k in zip(toks, n)]


def _sample_probs(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One draw per row from probs (B, n) by inverse CDF, given uniforms u (B, 1) in [0, 1): (B,) indices.

    Same distribution as torch.multinomial(probs, 1), but ~20x faster on CPU over an 8k vocab (CPU
    multinomial draws one exponential per vocab entry) and sync-free on GPU.
    """
    cdf = probs.cumsum(dim=-1)  # (B, n)
    # right=True: the first index whose cdf exceeds u, so zero-probability entries are never drawn
    idx = torch.searchsorted(cdf, u.to(cdf.dtype) * cdf[:, -1:], right=True).squeeze(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)


def _sample(
    logits: torch.Tensor, temperature: float, top_k: int | None, greedy: bool, u: torch.Tensor | None
) -> torch.Tensor:
    """logits (B, V) float32, uniforms u (B, 1) -> next tokens (B,)."""
    if greedy:
        return logits.max(dim=-1).indices  # first max on ties, like argmax, but ~3x faster on CPU
    if top_k is not None and top_k < logits.shape[-1]:
        vals, idx = torch.topk(logits, top_k, dim=-1)  # (B, k), sorted descending
        choice = _sample_probs(torch.softmax(vals / temperature, dim=-1), u)  # (B,)
        return idx.gather(-1, choice[:, None]).squeeze(-1)
    return _sample_probs(torch.softmax(logits / temperature, dim=-1), u)


@torch.inference_mode()
def generate(
    model: GPT,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Generation:
    """Sample up to `max_new_tokens` tokens after each prompt.

    temperature == 0 means greedy. `generator` may live on any device (a CPU generator with a CUDA
    model is fine): all uniforms for the run are drawn from it up front, (max_new_tokens, B), and
    moved to the model's device once, so a seed gives the same draws everywhere. The returned tokens
    have N <= max_new_tokens columns (fewer when every row finished early).
    """
    if not prompts:
        raise RlhfError("generate: no prompts given; pass at least one prompt")
    if any(len(p) == 0 for p in prompts):
        raise RlhfError("generate: empty prompt; every prompt needs at least one token (e.g. BOS)")
    if max_new_tokens < 1:
        raise RlhfError(f"generate: max_new_tokens={max_new_tokens}; it must be >= 1")
    if temperature < 0:
        raise RlhfError(f"generate: temperature={temperature}; it must be >= 0 (0 = greedy)")
    if top_k is not None and top_k < 1:
        raise RlhfError(f"generate: top_k={top_k}; it must be >= 1 or None")
    greedy = greedy or temperature == 0
    V = model.cfg.vocab_size
    lo, hi = min(min(p) for p in prompts), max(max(p) for p in prompts)
    if lo < 0 or hi >= V or not 0 <= pad_id < V:
        raise RlhfError(
            f"generate: token ids must lie in [0, {V}) (vocab_size); got prompt ids in [{lo}, {hi}] "
            f"and pad_id {pad_id}; use the tokenizer that matches the checkpoint"
        )
    block = model.cfg.block_size
    B = len(prompts)
    P = max(len(p) for p in prompts)
    if P + max_new_tokens > block:
        raise RlhfError(
            f"generate: longest prompt ({P}) + max_new_tokens ({max_new_tokens}) = {P + max_new_tokens} "
            f"exceeds the model's block_size ({block}); shorten prompts or lower max_new_tokens"
        )
    device = model.rope_cos.device
    was_training = model.training
    model.eval()
    try:
        # left-pad on the host, one transfer
        lens = [len(p) for p in prompts]
        padded = [[pad_id] * (P - n) + list(p) for p, n in zip(prompts, lens)]
        idx = torch.tensor(padded, dtype=torch.long, device=device)  # (B, P)
        lens_t = torch.tensor(lens, dtype=torch.long, device=device)  # (B,)
        any_pad = min(lens) < P
        T_total = P + max_new_tokens
        if any_pad:
            # key mask over the whole run: prompt padding False, every generated slot True
            key_mask = torch.ones(B, T_total, dtype=torch.bool, device=device)
            key_mask[:, :P] = torch.arange(P, device=device)[None, :] >= (P - lens_t)[:, None]
            positions = (torch.arange(P, device=device)[None, :] - (P - lens_t)[:, None]).clamp_min(0)
        else:
            key_mask = None
            positions = None  # default arange, identical for every row

        cache = model.new_kv_cache(T_total)
        h = model.hidden_states(
            idx, positions=positions, attn_mask=None if key_mask is None else key_mask[:, :P], kv_cache=cache
        )
        logits = model.logits(h[:, -1])  # (B, V)

        out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
        finished = torch.zeros(B, dtype=torch.bool, device=device)
        lengths = torch.zeros(B, dtype=torch.long, device=device)
        pos = lens_t.clone()  # (B,) RoPE position of the next token in each row
        pad_t = torch.tensor(pad_id, dtype=torch.long, device=device)
        uniforms = None
        if not greedy:
            rng_device = generator.device if generator is not None else device
            uniforms = torch.rand(max_new_tokens, B, 1, generator=generator, device=rng_device).to(device)
        n_steps = max_new_tokens
        for t in range(max_new_tokens):
            nxt = _sample(logits, temperature, top_k, greedy, None if greedy else uniforms[t])  # (B,)
            nxt = torch.where(finished, pad_t, nxt)
            out[:, t] = nxt
            lengths += ~finished
            finished |= nxt == eos_id
            if t == max_new_tokens - 1:
                break
            if (t + 1) % CHECK_EVERY == 0 and bool(finished.all()):
                n_steps = t + 1
                break
            h = model.hidden_states(
                nxt[:, None],
                positions=pos[:, None],
                attn_mask=None if key_mask is None else key_mask[:, : cache.length + 1],
                kv_cache=cache,
            )
            logits = model.logits(h[:, -1])
            pos += 1
        return Generation(tokens=out[:, :n_steps], lengths=lengths, finished=finished)
    finally:
        model.train(was_training)


def generate_in_batches(model: GPT, prompts: list[list[int]], batch_size: int, **kw) -> list[list[int]]:
    """generate() over length-sorted batches (less padding); results (without EOS/padding) in input order."""
    if batch_size < 1:
        raise RlhfError(f"generate_in_batches: batch_size={batch_size}; it must be >= 1")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    results: list[list[int] | None] = [None] * len(prompts)
    for s in range(0, len(order), batch_size):
        chunk = order[s : s + batch_size]
        gen = generate(model, [prompts[i] for i in chunk], **kw)
        for i, toks in zip(chunk, gen.to_lists()):
            results[i] = toks
    return results  # type: ignore[return-value]
