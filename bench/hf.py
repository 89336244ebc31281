"""The same workloads on Hugging Face: transformers' LlamaForCausalLM of our GPT's shape (training, sampling)
and TRL's DPO, GRPO and (TRL <= 1.12) PPO trainers beside our steps (bench.model, bench.rl).

Llama with vocab V, hidden d, n_layer layers, n_head heads, intermediate = our SwiGLU hidden and tied
embeddings is the same architecture (RMSNorm pre-norm, SwiGLU, RoPE, no biases) and the same parameter
count. Both sides are random-init, fp32, fed the same random tokens (same seeds as bench.model and
bench.rl) and timed the same way: warm-up, then a median over repeats with min/max as spread; a Trainer's
step is timed from its step begin to its step end. transformers and TRL are the `bench` extra
(`pip install -e '.[bench]'`), imported only when a comparison runs.
"""

from __future__ import annotations

import os
import time

import torch

from bench.model import sample_result, train_result
from bench.rl import dpo_inputs, even_fraction, prompt_rows, words
from bench.timing import resolve_device, spread, sync, timed
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
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        num_key_value_heads=cfg.n_head,
        intermediate_size=cfg.hidden,
        max_position_embeddings=cfg.block_size,
        rope_theta=cfg.rope_theta,
        rms_norm_eps=1e-5,
        tie_word_embeddings=cfg.tie_embeddings,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=cfg.dropout,
        hidden_act="silu",
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="sdpa",
        num_labels=1,
    )
    torch.manual_seed(0)
    return getattr(tf, head)(hf_cfg).to(resolve_device(device))


def bench_train_hf(
    cfg: GPTConfig,
    batch: int = 16,
    seq: int = 256,
    steps: int = 5,
    *,
    warmup: int = 1,
    device: str | torch.device | None = None,
    peak_gflops: float | None = None,
) -> dict:
    """bench_train's loop (forward + cross-entropy + backward + AdamW) on the transformers model."""
    dev = resolve_device(device)
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
    sync(dev)
    times = timed(step, steps, dev)
    n_params = sum(p.numel() for p in model.parameters())
    return train_result(cfg, dev, batch, seq, n_params, times, peak_gflops)


def bench_sample_hf(
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
    """bench_sample's measurement with `model.generate` (KV cache, sampling, prefill included);
    min_new_tokens = max_new_tokens so no row stops early."""
    dev = resolve_device(device)
    model = hf_model(cfg, dev).eval()
    g = torch.Generator(device="cpu").manual_seed(0)
    prompts = torch.randint(0, cfg.vocab_size, (batch, prompt_len), generator=g).to(dev)  # bench_sample's prompts
    mask = torch.ones_like(prompts)
    kw = dict(
        do_sample=True,
        temperature=temperature,
        top_k=top_k or 0,
        top_p=1.0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=0,
        eos_token_id=2,
        use_cache=True,
    )

    def run(n: int):
        return model.generate(
            input_ids=prompts, attention_mask=mask, **{**kw, "max_new_tokens": n, "min_new_tokens": n}
        )

    torch.manual_seed(0)
    run(min(4, new_tokens))  # warm-up
    sync(dev)
    out = run(new_tokens)
    assert out.shape == (batch, prompt_len + new_tokens)  # min_new_tokens held: nothing stopped early
    times = timed(lambda: run(new_tokens), repeats, dev)
    return sample_result(dev, batch, prompt_len, new_tokens, temperature, top_k, times)


def ratios(
    train: dict,
    samples: list[dict],
    hf_train: dict,
    hf_samples: list[dict],
    dpo: dict | None = None,
    trl_dpo: dict | None = None,
) -> dict:
    """Speed-ups of ours over the libraries on medians (> 1: ours is faster): throughput ours / theirs,
    DPO step time theirs / ours."""
    out = {"train": train["tokens_per_s"]["median"] / hf_train["tokens_per_s"]["median"]}
    for s, h in zip(samples, hf_samples):
        out[f"sample_batch_{s['batch']}"] = s["new_tokens_per_s"]["median"] / h["new_tokens_per_s"]["median"]
    if dpo is not None and trl_dpo is not None:
        out["dpo_step"] = trl_dpo["step_s"]["median"] / dpo["step_s"]["median"]
    return out


def bench_dpo_trl(
    cfg: GPTConfig,
    pairs: int = 8,
    seq: int = 256,
    prompt_len: int = 64,
    *,
    repeats: int = 3,
    beta: float = 0.1,
    device: str | torch.device | None = None,
) -> dict:
    """Seconds per step of TRL's DPOTrainer (sigmoid loss, reference model forward each step, clip 1.0,
    AdamW) on the transformers model, same token ids as bench_dpo; the first step is the warm-up.
    Step time = Trainer's on_step_begin -> on_step_end (data collation included)."""
    import copy
    import tempfile
    import warnings

    datasets, trl = trl_modules("DPO")
    tf = _transformers()
    dev = resolve_device(device)
    tok = word_tokenizer(cfg)
    data = dpo_inputs(cfg, pairs, seq, prompt_len)
    rows = [{"prompt": words(p), "chosen": " " + words(c), "rejected": " " + words(r)} for p, c, r in data]
    ds = datasets.Dataset.from_list(rows * (repeats + 1))  # one batch of the same pairs per step
    model = hf_model(cfg, dev)
    timer = step_timer(tf, dev)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices from inside transformers/TRL
        args = trl.DPOConfig(
            output_dir=tmp,
            per_device_train_batch_size=pairs,
            max_steps=repeats + 1,
            max_length=seq,
            beta=beta,
            learning_rate=1e-5,
            weight_decay=0.0,
            max_grad_norm=1.0,
            report_to=[],
            logging_steps=10**6,
            save_strategy="no",
            use_cpu=dev.type == "cpu",
            dataloader_num_workers=0,
            disable_tqdm=True,
            gradient_checkpointing=False,
        )  # TRL's default recomputes activations; ours does not
        datasets.disable_progress_bars()
        trainer = trl.DPOTrainer(
            model=model,
            ref_model=copy.deepcopy(model),
            args=args,
            train_dataset=ds,
            processing_class=tok,
            callbacks=[timer],
        )
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)  # the end-of-run metrics dict
        trainer.train()
    times = timer.times[1:]
    return {
        "device": str(dev),
        "pairs": pairs,
        "seq": seq,
        "prompt_len": prompt_len,
        "trl_version": trl.__version__,
        "step_s": spread(times),
    }


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
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=wl, pad_token="t0", bos_token="t1", eos_token="t2", unk_token="t3"
    )


def step_timer(tf, dev: torch.device):
    """A Trainer callback recording each optimiser step's wall time (on_step_begin -> on_step_end)."""

    class StepTimer(tf.TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, *a, **k):
            sync(dev)
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            sync(dev)
            self.times.append(time.perf_counter() - self.t0)

    return StepTimer()


def trl_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("trl") is not None


def bench_grpo_trl(
    cfg: GPTConfig,
    prompts: int = 8,
    group: int = 8,
    new_tokens: int = 64,
    prompt_len: int = 32,
    *,
    repeats: int = 3,
    device: str | torch.device | None = None,
) -> dict:
    """Seconds per step of TRL's GRPOTrainer on the transformers model of the same shape: the same prompts,
    group size, completion length, temperature, beta 0.04 (so a reference model runs, like ours), one
    iteration per generation, the same reward; gradient checkpointing off like ours."""
    import tempfile
    import warnings

    datasets, trl = trl_modules("GRPO")
    tf = _transformers()
    dev = resolve_device(device)
    tok = word_tokenizer(cfg)
    rows = prompt_rows(cfg, prompts * (repeats + 1), prompt_len)
    ds = datasets.Dataset.from_list([{"prompt": words(r["ids"])} for r in rows])

    def reward(completions, **kwargs):
        return [even_fraction(c) for c in completions]

    timer = step_timer(tf, dev)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = trl.GRPOConfig(
            output_dir=tmp,
            per_device_train_batch_size=prompts * group,
            num_generations=group,
            max_completion_length=new_tokens,
            temperature=1.0,
            top_k=0,
            beta=0.04,
            num_iterations=1,
            loss_type="grpo",
            learning_rate=1e-6,
            weight_decay=0.0,
            max_grad_norm=1.0,
            max_steps=repeats + 1,
            report_to=[],
            logging_steps=10**6,
            save_strategy="no",
            use_cpu=dev.type == "cpu",
            dataloader_num_workers=0,
            disable_tqdm=True,
            gradient_checkpointing=False,
            seed=0,
        )
        datasets.disable_progress_bars()
        # from a saved folder: with beta > 0, TRL builds its reference model from the policy's path
        hf_model(cfg, "cpu").save_pretrained(f"{tmp}/model")
        trainer = trl.GRPOTrainer(
            model=f"{tmp}/model",
            reward_funcs=reward,
            args=args,
            train_dataset=ds,
            processing_class=tok,
            callbacks=[timer],
        )
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)
        trainer.train()
    return {
        "device": str(dev),
        "prompts": prompts,
        "group": group,
        "new_tokens": new_tokens,
        "prompt_len": prompt_len,
        "trl_version": trl.__version__,
        "step_s": spread(timer.times[1:]),
    }


def bench_ppo_trl(
    cfg: GPTConfig,
    rollouts: int = 64,
    new_tokens: int = 64,
    prompt_len: int = 32,
    epochs: int = 4,
    *,
    repeats: int = 3,
    device: str | torch.device | None = None,
) -> dict:
    """Seconds per update of TRL's experimental PPOTrainer (TRL <= 1.12): policy, reference, reward and value
    models all of our shape (reward and value: LlamaForSequenceClassification, as TRL requires), one
    minibatch, `epochs` PPO epochs, no EOS truncation; times between its step-end callbacks."""
    import tempfile
    import warnings

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    import trl
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    tf = _transformers()
    dev = resolve_device(device)
    rows = prompt_rows(cfg, rollouts * (repeats + 1), prompt_len)
    ds = datasets.Dataset.from_list([{"input_ids": r["ids"]} for r in rows])

    class Stamps(tf.TrainerCallback):  # PPOTrainer calls on_step_end only
        def __init__(self):
            self.stamps: list[float] = []

        def on_train_begin(self, *a, **k):
            self.stamps.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            sync(dev)
            self.stamps.append(time.perf_counter())

    stamps = Stamps()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = PPOConfig(
            output_dir=tmp,
            per_device_train_batch_size=rollouts,
            gradient_accumulation_steps=1,
            num_mini_batches=1,
            num_ppo_epochs=epochs,
            response_length=new_tokens,
            total_episodes=rollouts * (repeats + 1),
            temperature=1.0,
            learning_rate=1e-6,
            kl_coef=0.05,
            stop_token=None,
            missing_eos_penalty=None,
            num_sample_generations=0,
            local_rollout_forward_batch_size=rollouts,
            report_to=[],
            logging_steps=10**6,
            save_strategy="no",
            use_cpu=dev.type == "cpu",
            dataloader_num_workers=0,
            disable_tqdm=True,
            gradient_checkpointing=False,
            seed=0,
        )
        datasets.disable_progress_bars()
        policy = hf_model(cfg, dev)
        ref = hf_model(cfg, dev)
        head = "LlamaForSequenceClassification"
        trainer = PPOTrainer(
            args=args,
            processing_class=word_tokenizer(cfg),
            model=policy,
            ref_model=ref,
            reward_model=hf_model(cfg, dev, head),
            value_model=hf_model(cfg, dev, head),
            train_dataset=ds,
            callbacks=[stamps],
        )
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)
        trainer.train()
    times = [b - a for a, b in zip(stamps.stamps, stamps.stamps[1:])][1:]
    return {
        "device": str(dev),
        "rollouts": rollouts,
        "new_tokens": new_tokens,
        "prompt_len": prompt_len,
        "epochs": epochs,
        "trl_version": trl.__version__,
        "step_s": spread(times),
    }
