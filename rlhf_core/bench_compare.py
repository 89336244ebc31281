"""Side-by-side throughput: our GPT next to Hugging Face transformers' LlamaForCausalLM of the same shape.

Llama with vocab V, hidden d, n_layer layers, n_head heads, intermediate = our SwiGLU hidden and tied
embeddings is the same architecture (RMSNorm pre-norm, SwiGLU, RoPE, no biases) and the same parameter
count. Both sides are random-init, fp32, fed the same random tokens (same seeds as rlhf_core.bench) and
timed the same way: warm-up, then a median over repeats with min/max as spread. transformers is an
optional extra (`pip install -e '.[bench]'`), imported only when a comparison runs.
"""

from __future__ import annotations

import time

import torch

from rlhf_core.bench import _device, _spread, _sync, sample_result, timed, train_result
from rlhf_core.errors import RlhfError
from rlhf_core.model import GPTConfig


def _transformers():
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RlhfError("the comparison needs transformers: pip install -e '.[bench]'") from e
    transformers.logging.set_verbosity_error()  # generation-flag notices would drown the table
    transformers.logging.disable_progress_bar()  # weight-loading bars
    return transformers


def transformers_version() -> str:
    return _transformers().__version__


def hf_model(cfg: GPTConfig, device: str | torch.device | None = None, head: str = "LlamaForCausalLM"):
    """A random-init LlamaForCausalLM with our GPT's shape (same parameter count), SDPA attention; with
    head="LlamaForSequenceClassification", the same trunk with a scalar head (TRL's reward/value models)."""
    tf = _transformers()
    hf_cfg = tf.LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head, intermediate_size=cfg.hidden,
        max_position_embeddings=cfg.block_size, rope_theta=cfg.rope_theta, rms_norm_eps=1e-5,
        tie_word_embeddings=cfg.tie_embeddings, attention_bias=False, mlp_bias=False,
        attention_dropout=cfg.dropout, hidden_act="silu", pad_token_id=0, bos_token_id=1, eos_token_id=2,
        attn_implementation="sdpa", num_labels=1,
    )
    torch.manual_seed(0)
    return getattr(tf, head)(hf_cfg).to(_device(device))


def bench_train_hf(cfg: GPTConfig, batch: int = 16, seq: int = 256, steps: int = 5, *, warmup: int = 1,
                   device: str | torch.device | None = None, peak_gflops: float | None = None) -> dict:
    """bench_train's loop (forward + cross-entropy + backward + AdamW) on the transformers model."""
    dev = _device(device)
    model = hf_model(cfg, dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    g = torch.Generator(device="cpu").manual_seed(0)
    data = torch.randint(0, cfg.vocab_size, (batch, seq + 1), generator=g).to(dev)
    x, y = data[:, :-1], data[:, 1:]

    def step():
        logits = model(input_ids=x, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(dev)
    times = timed(step, steps, dev)
    n_params = sum(p.numel() for p in model.parameters())
    return train_result(cfg, dev, batch, seq, n_params, times, peak_gflops)


def bench_sample_hf(cfg: GPTConfig, batch: int, prompt_len: int = 32, new_tokens: int = 64,
                    temperature: float = 0.7, top_k: int | None = 50, *, repeats: int = 3,
                    device: str | torch.device | None = None) -> dict:
    """bench_sample's measurement with `model.generate` (KV cache, sampling, prefill included);
    min_new_tokens = max_new_tokens so no row stops early."""
    dev = _device(device)
    model = hf_model(cfg, dev).eval()
    g = torch.Generator(device="cpu").manual_seed(0)
    prompts = torch.randint(0, cfg.vocab_size, (batch, prompt_len), generator=g).to(dev)  # bench_sample's prompts
    mask = torch.ones_like(prompts)
    kw = dict(do_sample=True, temperature=temperature, top_k=top_k or 0, top_p=1.0, max_new_tokens=new_tokens,
              min_new_tokens=new_tokens, pad_token_id=0, eos_token_id=2, use_cache=True)

    def run(n: int):
        return model.generate(input_ids=prompts, attention_mask=mask, **{**kw, "max_new_tokens": n, "min_new_tokens": n})

    torch.manual_seed(0)
    run(min(4, new_tokens))  # warm-up
    _sync(dev)
    out = run(new_tokens)
    assert out.shape == (batch, prompt_len + new_tokens)  # min_new_tokens held: nothing stopped early
    times = timed(lambda: run(new_tokens), repeats, dev)
    return sample_result(dev, batch, prompt_len, new_tokens, temperature, top_k, times)


def ratios(train: dict, samples: list[dict], hf_train: dict, hf_samples: list[dict],
           dpo: dict | None = None, trl_dpo: dict | None = None) -> dict:
    """Speed-ups of ours over the libraries on medians (> 1: ours is faster): throughput ours / theirs,
    DPO step time theirs / ours."""
    out = {"train": train["tokens_per_s"]["median"] / hf_train["tokens_per_s"]["median"]}
    for s, h in zip(samples, hf_samples):
        out[f"sample_batch_{s['batch']}"] = s["new_tokens_per_s"]["median"] / h["new_tokens_per_s"]["median"]
    if dpo is not None and trl_dpo is not None:
        out["dpo_step"] = trl_dpo["step_s"]["median"] / dpo["step_s"]["median"]
    return out


def _dpo_inputs(cfg: GPTConfig, pairs: int, seq: int, prompt_len: int):
    """Random (prompt, chosen, rejected) ids: prompt_len + (seq - prompt_len) tokens, EOS (id 2) last."""
    g = torch.Generator(device="cpu").manual_seed(0)
    n = seq - prompt_len - 1

    def ids(k):
        return torch.randint(4, cfg.vocab_size, (k,), generator=g).tolist()

    return [(ids(prompt_len), ids(n) + [2], ids(n) + [2]) for _ in range(pairs)]


def bench_dpo(cfg: GPTConfig, pairs: int = 8, seq: int = 256, prompt_len: int = 64, *, repeats: int = 3,
              beta: float = 0.1, device: str | torch.device | None = None) -> dict:
    """Seconds per DPO optimiser step, ours: reference log-probs (inference mode), policy forward/backward
    over chosen + rejected (rlhf_core.dpo.accumulate_gradients, one micro-batch), clip, AdamW. Sampling
    the rejected answers (make_pairs) is left out: TRL's DPOTrainer takes them from the dataset."""
    import copy

    from rlhf_core.dpo import Pairs, accumulate_gradients, sequence_logps
    from rlhf_core.model import GPT

    dev = _device(device)
    torch.manual_seed(0)
    policy = GPT(cfg).to(dev).train()
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-5, weight_decay=0.0)
    data = _dpo_inputs(cfg, pairs, seq, prompt_len)
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
    _sync(dev)
    times = timed(step, repeats, dev)
    return {"device": str(dev), "pairs": pairs, "seq": seq, "prompt_len": prompt_len, "step_s": _spread(times)}


def bench_dpo_trl(cfg: GPTConfig, pairs: int = 8, seq: int = 256, prompt_len: int = 64, *, repeats: int = 3,
                  beta: float = 0.1, device: str | torch.device | None = None) -> dict:
    """Seconds per step of TRL's DPOTrainer (sigmoid loss, reference model forward each step, clip 1.0,
    AdamW) on the transformers model, same token ids as bench_dpo; the first step is the warm-up.
    Step time = Trainer's on_step_begin -> on_step_end (data collation included)."""
    import copy
    import tempfile
    import warnings

    from rlhf_core.bench_rl import words

    datasets, trl = trl_modules("DPO")
    tf = _transformers()
    dev = _device(device)
    tok = word_tokenizer(cfg)
    data = _dpo_inputs(cfg, pairs, seq, prompt_len)
    rows = [{"prompt": words(p), "chosen": " " + words(c), "rejected": " " + words(r)} for p, c, r in data]
    ds = datasets.Dataset.from_list(rows * (repeats + 1))  # one batch of the same pairs per step
    model = hf_model(cfg, dev)
    timer = step_timer(tf, dev)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices from inside transformers/TRL
        args = trl.DPOConfig(output_dir=tmp, per_device_train_batch_size=pairs, max_steps=repeats + 1, max_length=seq,
                             beta=beta, learning_rate=1e-5, weight_decay=0.0, max_grad_norm=1.0, report_to=[],
                             logging_steps=10**6, save_strategy="no", use_cpu=dev.type == "cpu",
                             dataloader_num_workers=0, disable_tqdm=True,
                             gradient_checkpointing=False)  # TRL's default recomputes activations; ours does not
        datasets.disable_progress_bars()
        trainer = trl.DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=ds,
                                 processing_class=tok, callbacks=[timer])
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)  # the end-of-run metrics dict
        trainer.train()
    times = timer.times[1:]
    return {"device": str(dev), "pairs": pairs, "seq": seq, "prompt_len": prompt_len, "trl_version": trl.__version__,
            "step_s": _spread(times)}


def trl_modules(what: str):
    """(datasets, trl), or the install hint as a one-line error."""
    try:
        import datasets
        import trl
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RlhfError(f"the {what} comparison needs trl: pip install -e '.[bench]'") from e
    return datasets, trl


def word_tokenizer(cfg: GPTConfig):
    """A transformers tokenizer whose word "t<i>" is id i, so TRL tokenizes our exact ids back."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tf = _transformers()
    wl = Tokenizer(models.WordLevel({f"t{i}": i for i in range(cfg.vocab_size)}, unk_token="t3"))
    wl.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tf.PreTrainedTokenizerFast(tokenizer_object=wl, pad_token="t0", bos_token="t1", eos_token="t2",
                                      unk_token="t3")


def step_timer(tf, dev: torch.device):
    """A Trainer callback recording each optimiser step's wall time (on_step_begin -> on_step_end)."""

    class StepTimer(tf.TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, *a, **k):
            _sync(dev)
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            _sync(dev)
            self.times.append(time.perf_counter() - self.t0)

    return StepTimer()


def trl_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("trl") is not None
