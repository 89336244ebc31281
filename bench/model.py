"""Our GPT's throughput: training tokens/s, sampling new tokens/s, the LM head, the reward-model step,
torch.compile, and how time grows with width, length and data.

Pure functions returning plain dicts (JSON-ready). Random-init models and random tokens: the
numbers measure speed, not quality. Every timing is a median over repeats, with min/max as spread.
"""

from __future__ import annotations

import statistics
import time

import torch

from bench.machine import matmul_peak_gflops
from bench.timing import resolve_device, spread, sync, timed
from rlhf_core.generate import generate
from rlhf_core.model import GPT, GPTConfig


def train_flops_per_token(cfg: GPTConfig, n_params: int, seq: int) -> float:
    """~6 * params (forward + backward through every weight matmul, the tied LM head included) plus
    attention scores and weighted values: 12 * n_layer * d_model * seq (PaLM appendix B convention)."""
    return 6 * n_params + 12 * cfg.n_layer * cfg.d_model * seq


def sample_result(
    dev: torch.device,
    batch: int,
    prompt_len: int,
    new_tokens: int,
    temperature: float,
    top_k: int | None,
    times: list[float],
) -> dict:
    return {
        "device": str(dev),
        "batch": batch,
        "prompt_len": prompt_len,
        "new_tokens": new_tokens,
        "temperature": temperature,
        "top_k": top_k,
        "new_tokens_per_s": spread([batch * new_tokens / t for t in times]),
        "ms_per_token_step": 1e3 * statistics.median(times) / new_tokens,
    }


def train_result(
    cfg: GPTConfig,
    dev: torch.device,
    batch: int,
    seq: int,
    n_params: int,
    times: list[float],
    peak_gflops: float | None,
) -> dict:
    """Tokens/s, achieved GFLOP/s and fraction of the matmul peak from per-step times (both sides of --compare)."""
    tps = [batch * seq / t for t in times]
    if peak_gflops is None:
        peak_gflops = matmul_peak_gflops(device=dev)
    flops_tok = train_flops_per_token(cfg, n_params, seq)
    med = statistics.median(tps)
    return {
        "device": str(dev),
        "batch": batch,
        "seq": seq,
        "n_params": n_params,
        "tokens_per_s": spread(tps),
        "step_s": spread(times),
        "flops_per_token": flops_tok,
        "achieved_gflops": med * flops_tok / 1e9,
        "peak_gflops": peak_gflops,
        "frac_of_peak": med * flops_tok / 1e9 / peak_gflops,
    }


def bench_train(
    cfg: GPTConfig,
    batch: int = 16,
    seq: int = 256,
    steps: int = 5,
    *,
    warmup: int = 1,
    device: str | torch.device | None = None,
    peak_gflops: float | None = None,
) -> dict:
    """Tokens/s of forward + backward + AdamW step on random tokens (fp32), median over `steps`, with the
    loss SFT uses (the fused LM head + cross-entropy of rlhf_core.lmhead), on every position."""
    from rlhf_core.lmhead import linear_cross_entropy

    dev = resolve_device(device)
    if seq > cfg.block_size:
        raise ValueError(f"seq {seq} > block_size {cfg.block_size}")
    torch.manual_seed(0)
    model = GPT(cfg).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    g = torch.Generator(device="cpu").manual_seed(0)
    data = torch.randint(0, cfg.vocab_size, (batch, seq + 1), generator=g).to(dev)
    x, y = data[:, :-1], data[:, 1:]

    def step():
        loss = linear_cross_entropy(model.hidden_states(x).flatten(0, 1), model.lm_head.weight, y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(dev)
    times = timed(step, steps, dev)
    return train_result(cfg, dev, batch, seq, model.num_params(), times, peak_gflops)


def bench_sample(
    cfg: GPTConfig,
    batch: int,
    prompt_len: int = 32,
    new_tokens: int = 64,
    temperature: float = 0.7,
    top_k: int | None = 50,
    *,
    repeats: int = 3,
    device: str | torch.device | None = None,
) -> dict:
    """New tokens/s of generate() (prefill included) on random prompts; never stops early."""
    dev = resolve_device(device)
    torch.manual_seed(0)
    model = GPT(cfg).to(dev).eval()
    g = torch.Generator(device="cpu").manual_seed(0)
    prompts = torch.randint(0, cfg.vocab_size, (batch, prompt_len), generator=g).tolist()
    gen = torch.Generator(device=dev).manual_seed(0)
    kw = dict(max_new_tokens=new_tokens, eos_id=-1, pad_id=0, temperature=temperature, top_k=top_k, generator=gen)
    generate(model, prompts, **{**kw, "max_new_tokens": min(4, new_tokens)})  # warm-up
    sync(dev)
    times = timed(lambda: generate(model, prompts, **kw), repeats, dev)
    return sample_result(dev, batch, prompt_len, new_tokens, temperature, top_k, times)


def bench_lmhead(
    cfg: GPTConfig,
    rows: int = 4096,
    *,
    repeats: int = 5,
    chunks: tuple = (128, 256, 512, 1024, 2048),
    device: str | torch.device | None = None,
) -> dict:
    """The LM head and what is computed from it, forward + backward over `rows` positions (64 rollouts x
    64 tokens by default): plain PyTorch on materialised (rows, V) logits against rlhf_core.lmhead, for
    the SFT loss (cross-entropy) and the RL log-probs (label log-probs + entropy, as PPO's old pass
    and minibatches need them), and the fused ops' seconds per block size."""
    from rlhf_core import lmhead
    from rlhf_core.losses import entropy_from_logits, gather_logprobs

    dev = resolve_device(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    h = torch.randn(rows, cfg.d_model, generator=g).to(dev).requires_grad_()
    w = (torch.randn(cfg.vocab_size, cfg.d_model, generator=g) * 0.02).to(dev).requires_grad_()
    y = torch.randint(cfg.vocab_size, (rows,), generator=g).to(dev)
    weights = torch.rand(rows, generator=g).to(dev)  # an upstream gradient that is not all ones

    def run(fn):
        def call():
            h.grad = w.grad = None
            fn().backward()

        call()  # warm-up
        sync(dev)
        return spread(timed(call, repeats, dev))

    cases = {
        "cross_entropy": (
            lambda: torch.nn.functional.cross_entropy(h @ w.t(), y),
            lambda: lmhead.linear_cross_entropy(h, w, y),
        ),
        "logprobs_entropy": (
            lambda: (gather_logprobs(z := h @ w.t(), y) * weights).sum() + 0 * entropy_from_logits(z.detach()).sum(),
            lambda: (lmhead.label_logprobs(h, w, y, entropy=True)[0] * weights).sum(),
        ),
    }
    out: dict = {
        "device": str(dev),
        "rows": rows,
        "vocab": cfg.vocab_size,
        "d_model": cfg.d_model,
        "chunk_rows": lmhead.CHUNK_ROWS,
    }
    default = lmhead.CHUNK_ROWS
    for name, (plain, fused) in cases.items():
        out[name] = {"plain_s": run(plain), "fused_s": run(fused), "by_chunk_rows": {}}
        try:
            for c in chunks:
                lmhead.CHUNK_ROWS = c
                out[name]["by_chunk_rows"][c] = run(fused)["median"]
        finally:
            lmhead.CHUNK_ROWS = default
        out[name]["speedup"] = out[name]["plain_s"]["median"] / out[name]["fused_s"]["median"]
    return out


def bench_rm(
    cfg: GPTConfig, pairs: int = 32, seq: int = 110, steps: int = 5, *, device: str | torch.device | None = None
) -> dict:
    """Seconds per reward-model training step: Bradley-Terry over `pairs` chosen/rejected pairs of
    random lengths in [seq/5, seq], right-padded, forward + backward + AdamW, EOS pooling. "eos_rows" is
    how the pipeline runs it (the last block only at each row's EOS, `GPT.hidden_states(rows=...)`),
    "full" the same step with the last block at every position; the two are timed interleaved."""
    from rlhf_core.losses import bradley_terry_loss
    from rlhf_core.reward import RewardModel

    dev = resolve_device(device)
    torch.manual_seed(0)
    model = RewardModel(cfg).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    g = torch.Generator(device="cpu").manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (2 * pairs, seq), generator=g).to(dev)
    lengths = torch.randint(max(seq // 5, 1), seq + 1, (2 * pairs,), generator=g)
    lengths[0] = seq
    lengths = lengths.to(dev)
    real = torch.arange(seq, device=dev)[None, :] < lengths[:, None]
    rows = torch.arange(2 * pairs, device=dev)

    def full_rewards():
        h = model.encoder.hidden_states(idx, attn_mask=real)[rows, lengths - 1]
        return model.head(h).squeeze(-1).float()

    def step(rewards):
        def run():
            r = rewards()
            loss, _ = bradley_terry_loss(r[:pairs], r[pairs:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    eos_rows, full = step(lambda: model(idx, lengths)), step(full_rewards)
    eos_rows(), full()  # warm-up
    sync(dev)
    e, f = [], []
    for _ in range(steps):  # interleaved: a load change on a shared machine hits both
        e += timed(eos_rows, 1, dev)
        f += timed(full, 1, dev)
    return {
        "device": str(dev),
        "pairs": pairs,
        "seq": seq,
        "n_layer": cfg.n_layer,
        "d_model": cfg.d_model,
        "tokens_per_step": int(lengths.sum()),
        "eos_rows_s": spread(e),
        "full_s": spread(f),
        "speedup": statistics.median(f) / statistics.median(e),
    }


def _reset_compiler() -> None:
    import torch._dynamo

    torch._dynamo.reset()


def bench_compile(
    cfg: GPTConfig,
    batch: int = 16,
    seq: int = 256,
    steps: int = 5,
    decode_batches: tuple = (1, 32),
    new_tokens: int = 64,
    *,
    sample_repeats: int = 3,
    cold: bool = True,
    device: str | torch.device | None = None,
) -> dict:
    """Does torch.compile pay for itself? For the training step (bench_train's) and for sampling at each
    of `decode_batches` (bench_sample's, `hidden_states` compiled, dynamic shapes for the growing KV cache,
    the compiler's caches reset before each case, so each pays its own compile): the one-off
    compile seconds (first call minus a compiled call), eager and compiled seconds per call (medians of
    interleaved eager/compiled calls), and the calls
    needed before the compile time is earned back. `cold`: inductor's on-disk caches are bypassed, so the
    compile time is a first run's on this machine (a warm cache from an earlier run cuts it several-fold).
    A failure (no C compiler, an inductor error) is reported, not raised."""
    import contextlib
    import warnings

    from rlhf_core.lmhead import linear_cross_entropy

    dev = resolve_device(device)
    out: dict = {"device": str(dev), "torch": torch.__version__, "cold_compile": cold}

    def train_case():
        torch.manual_seed(0)
        model = GPT(cfg).to(dev).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        data = torch.randint(0, cfg.vocab_size, (batch, seq + 1), generator=torch.Generator().manual_seed(0)).to(dev)

        def step(hidden):  # bench_train's step: the trunk (eager or compiled), then the fused head + loss
            def run():
                loss = linear_cross_entropy(
                    hidden(data[:, :-1]).flatten(0, 1), model.lm_head.weight, data[:, 1:].flatten()
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            return run

        return step(model.hidden_states), step(torch.compile(model.hidden_states))

    def sample_case(decode_batch: int):
        torch.manual_seed(0)
        model = GPT(cfg).to(dev).eval()
        compiled = GPT(cfg).to(dev).eval()
        compiled.load_state_dict(model.state_dict())
        compiled.hidden_states = torch.compile(compiled.hidden_states, dynamic=True)
        g = torch.Generator().manual_seed(0)
        prompts = torch.randint(0, cfg.vocab_size, (decode_batch, 32), generator=g).tolist()
        kw = dict(max_new_tokens=new_tokens, eos_id=-1, pad_id=0, temperature=0.7, top_k=50)

        def run(m):
            return lambda: generate(m, prompts, generator=torch.Generator(device=dev).manual_seed(0), **kw)

        return run(model), run(compiled)

    cases = [("train", train_case, steps)]
    cases += [(f"sample_batch_{b}", lambda b=b: sample_case(b), sample_repeats) for b in decode_batches]
    for name, case, n in cases:
        try:
            _reset_compiler()  # each case pays its own compile, none reuses another's cache
            eager, compiled = case()
            no_cache = contextlib.nullcontext()
            if cold:
                from torch._inductor import config as inductor_config

                no_cache = inductor_config.patch(force_disable_caches=True)
            with no_cache, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "dynamo_pgo force disabled" notices of the cold compile
                eager()  # warm-up
                t0 = time.perf_counter()
                compiled()
                sync(dev)
                first = time.perf_counter() - t0
            pairs = [(timed(eager, 1, dev)[0], timed(compiled, 1, dev)[0]) for _ in range(n)]  # interleaved:
            e, c = (statistics.median(x) for x in zip(*pairs))  # a load change on a shared machine hits both
            compile_s = max(first - c, 0.0)
            out[name] = {
                "eager_s": e,
                "compiled_s": c,
                "speedup": e / c,
                "compile_s": compile_s,
                "break_even_calls": compile_s / (e - c) if e > c else None,
            }
        except Exception as err:  # inductor needs a C compiler and a supported platform
            out[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"}
    return out


def bench_scaling(
    base: GPTConfig | None = None,
    *,
    device: str | torch.device | None = None,
    steps: int = 3,
    sft_rows: tuple = (10_000, 50_000, 100_000),
    widths: tuple = (64, 128, 256),
    lengths: tuple = (32, 64, 128),
    seq: int = 256,
) -> dict:
    """How time grows: the training step (16 x 256) with model width, sampling (batch 32) with response
    length, and SFT training time with the number of rows (steps = rows / 32 at the measured step time
    of 32 x 128-token batches, about the builtin suite's mean length)."""
    import dataclasses

    dev = resolve_device(device)
    base = base or GPTConfig()
    width = []
    for d in widths:
        cfg = dataclasses.replace(base, d_model=d)
        r = bench_train(cfg, batch=16, seq=seq, steps=steps, device=dev, peak_gflops=1.0)
        width.append(
            {
                "d_model": d,
                "n_params": r["n_params"],
                "step_s": r["step_s"]["median"],
                "tokens_per_s": r["tokens_per_s"]["median"],
            }
        )
    length = []
    for n in lengths:
        r = bench_sample(base, 32, new_tokens=n, repeats=steps, device=dev)
        length.append(
            {
                "new_tokens": n,
                "seconds": 32 * n / r["new_tokens_per_s"]["median"],
                "new_tokens_per_s": r["new_tokens_per_s"]["median"],
            }
        )
    sft_step = bench_train(base, batch=32, seq=seq // 2, steps=steps, device=dev, peak_gflops=1.0)["step_s"]["median"]
    data = [{"rows": n, "steps": -(-n // 32), "train_seconds": -(-n // 32) * sft_step} for n in sft_rows]
    return {
        "device": str(dev),
        "width": width,
        "response_length": length,
        "sft_rows": data,
        "sft_step_s_32x128": sft_step,
    }
