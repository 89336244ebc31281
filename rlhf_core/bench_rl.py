"""RL step benchmarks: our GRPO step and PPO update (the real training loops, rlhf_core.grpo/ppo) and
TRL's GRPOTrainer step, on the same model shape, prompts, lengths and reward.

Random-init models and random prompt ids, as in rlhf_core.bench. The reward is a cheap function of
the sampled ids (the fraction of even ids) so that the reward model does not dominate the timing;
both sides decode completions to the same word-level text ("t<id> t<id> ...") and score that text.
A step is timed from one logged step to the next (ours) or Trainer's step begin -> end (TRL); the
first step is the warm-up. transformers/TRL are imported only for the TRL side.
"""

from __future__ import annotations

import time
import types

import torch

from rlhf_core.bench import _device, _spread, _sync
from rlhf_core.model import GPT, GPTConfig

# TRL 1.12's experimental PPOTrainer (removed in TRL 1.16, so it cannot run beside the rest) on
# 64 rollouts x 64 new tokens, 4 PPO epochs: issue #6's figure, measured on that author's machine.
TRL_PPO_REFERENCE_S = 13.7


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


def _time_loop(run, steps: int) -> list[float]:
    """Seconds between consecutive on_log calls of a training loop run for `steps` steps (warm-up dropped)."""
    stamps = [time.perf_counter()]
    run(lambda step, stats: stamps.append(time.perf_counter()))
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(times) == steps
    return times[1:]


def bench_grpo(cfg: GPTConfig, prompts: int = 8, group: int = 8, new_tokens: int = 64, prompt_len: int = 32, *,
               repeats: int = 3, device: str | torch.device | None = None) -> dict:
    """Seconds per step of rlhf_core.grpo.train_grpo: sample prompts x group responses, reward, old and
    reference log-probs, one clipped update with the k3 KL term (beta 0.04), clip, AdamW."""
    from rlhf_core.grpo import train_grpo

    dev = _device(device)
    torch.manual_seed(0)
    policy = GPT(cfg).to(dev)
    ref = GPT(cfg).to(dev).eval().requires_grad_(False)
    ref.load_state_dict(policy.state_dict())
    rows = prompt_rows(cfg, prompts * (repeats + 1), prompt_len)
    p = types.SimpleNamespace(steps=repeats + 1, prompts_per_step=prompts, group_size=group, gen_temperature=1.0,
                              gen_top_k=0, resp_len=new_tokens, lr=1e-6, kl_coef=0.04, clip_eps=0.2, epochs=1,
                              collapse_threshold=0.1, weight_decay=0.0, grad_clip=1.0)

    def reward(rs, texts):
        return torch.tensor([even_fraction(t) for t in texts])

    times = _time_loop(lambda on_log: train_grpo(policy, ref, IdTokenizer(), rows, reward, p, seed=0,
                                                 generator=torch.Generator(device=dev).manual_seed(0),
                                                 on_log=on_log), repeats + 1)
    return {"device": str(dev), "prompts": prompts, "group": group, "new_tokens": new_tokens,
            "prompt_len": prompt_len, "step_s": _spread(times)}


def bench_ppo(cfg: GPTConfig, rollouts: int = 64, new_tokens: int = 64, prompt_len: int = 32, epochs: int = 4,
              mini_batch: int = 64, *, rm_forward: bool = True, repeats: int = 3,
              device: str | torch.device | None = None) -> dict:
    """Seconds per update of rlhf_core.ppo.train_ppo: rollouts, reward (with `rm_forward`, a reward model of
    the policy's shape scores every rollout, as in TRL), old/ref/value passes, exact KL, shaped rewards, GAE,
    `epochs` passes over minibatches of `mini_batch` (TRL's default: one minibatch)."""
    from rlhf_core.ppo import train_ppo
    from rlhf_core.rollout import ValueHead

    dev = _device(device)
    torch.manual_seed(0)
    policy = GPT(cfg).to(dev)
    ref = GPT(cfg).to(dev).eval().requires_grad_(False)
    ref.load_state_dict(policy.state_dict())
    value_head = ValueHead(cfg.d_model).to(dev)
    rows = prompt_rows(cfg, rollouts * (repeats + 1), prompt_len)
    p = types.SimpleNamespace(steps=repeats + 1, batch_size=rollouts, mini_batch_size=mini_batch, epochs=epochs,
                              lr=1e-6, kl_coef=0.05, reward_placement="last", resp_len=new_tokens, temperature=1.0,
                              top_k=0, gamma=1.0, lam=0.95, clip_eps=0.2, vf_clip=0.2, vf_coef=0.1,
                              weight_decay=0.0, grad_clip=1.0)

    def reward(rs, texts):
        return torch.tensor([even_fraction(t) for t in texts])

    if rm_forward:  # as much reward-model work as TRL's PPO: one forward of a model of the policy's shape
        from rlhf_core.reward import RewardModel, score_ids

        rm = RewardModel(cfg).to(dev).eval()

        def reward(rs, texts):  # noqa: F811
            seqs = [r["ids"] + [int(w[1:]) for w in t.split()] for r, t in zip(rs, texts)]
            with torch.inference_mode():
                return score_ids(rm, seqs, pad_id=0, batch_size=len(seqs))

    times = _time_loop(lambda on_log: train_ppo(policy, value_head, ref, IdTokenizer(), rows, reward, p, seed=0,
                                                generator=torch.Generator(device=dev).manual_seed(0),
                                                on_log=on_log), repeats + 1)
    return {"device": str(dev), "rollouts": rollouts, "new_tokens": new_tokens, "prompt_len": prompt_len,
            "epochs": epochs, "mini_batch": mini_batch, "rm_forward": rm_forward, "step_s": _spread(times)}


def bench_grpo_trl(cfg: GPTConfig, prompts: int = 8, group: int = 8, new_tokens: int = 64, prompt_len: int = 32, *,
                   repeats: int = 3, device: str | torch.device | None = None) -> dict:
    """Seconds per step of TRL's GRPOTrainer on the transformers model of the same shape: the same prompts,
    group size, completion length, temperature, beta 0.04 (so a reference model runs, like ours), one
    iteration per generation, the same reward; gradient checkpointing off like ours."""
    import tempfile
    import warnings

    from rlhf_core.bench_compare import _transformers, hf_model, step_timer, trl_modules, word_tokenizer

    datasets, trl = trl_modules("GRPO")
    tf = _transformers()
    dev = _device(device)
    tok = word_tokenizer(cfg)
    rows = prompt_rows(cfg, prompts * (repeats + 1), prompt_len)
    ds = datasets.Dataset.from_list([{"prompt": words(r["ids"])} for r in rows])

    def reward(completions, **kwargs):
        return [even_fraction(c) for c in completions]

    timer = step_timer(tf, dev)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = trl.GRPOConfig(output_dir=tmp, per_device_train_batch_size=prompts * group, num_generations=group,
                              max_completion_length=new_tokens, temperature=1.0, top_k=0, beta=0.04,
                              num_iterations=1, loss_type="grpo", learning_rate=1e-6, weight_decay=0.0,
                              max_grad_norm=1.0, max_steps=repeats + 1, report_to=[], logging_steps=10**6,
                              save_strategy="no", use_cpu=dev.type == "cpu", dataloader_num_workers=0,
                              disable_tqdm=True, gradient_checkpointing=False, seed=0)
        datasets.disable_progress_bars()
        # from a saved folder: with beta > 0, TRL builds its reference model from the policy's path
        hf_model(cfg, "cpu").save_pretrained(f"{tmp}/model")
        trainer = trl.GRPOTrainer(model=f"{tmp}/model", reward_funcs=reward, args=args, train_dataset=ds,
                                  processing_class=tok, callbacks=[timer])
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)
        trainer.train()
    return {"device": str(dev), "prompts": prompts, "group": group, "new_tokens": new_tokens,
            "prompt_len": prompt_len, "trl_version": trl.__version__, "step_s": _spread(timer.times[1:])}


def trl_ppo_available() -> bool:
    """TRL's PPOTrainer lives in trl.experimental.ppo up to TRL 1.12 and is gone from 1.16."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl.experimental.ppo import PPOTrainer  # noqa: F401
    except Exception:
        return False
    return True


def bench_ppo_trl(cfg: GPTConfig, rollouts: int = 64, new_tokens: int = 64, prompt_len: int = 32, epochs: int = 4, *,
                  repeats: int = 3, device: str | torch.device | None = None) -> dict:
    """Seconds per update of TRL's experimental PPOTrainer (TRL <= 1.12): policy, reference, reward and value
    models all of our shape (reward and value: LlamaForSequenceClassification, as TRL requires), one
    minibatch, `epochs` PPO epochs, no EOS truncation; times between its step-end callbacks."""
    import os
    import tempfile
    import warnings

    from rlhf_core.bench_compare import _transformers, hf_model, word_tokenizer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import datasets
    import trl
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    tf = _transformers()
    dev = _device(device)
    rows = prompt_rows(cfg, rollouts * (repeats + 1), prompt_len)
    ds = datasets.Dataset.from_list([{"input_ids": r["ids"]} for r in rows])

    class Stamps(tf.TrainerCallback):  # PPOTrainer calls on_step_end only
        def __init__(self):
            self.stamps: list[float] = []

        def on_train_begin(self, *a, **k):
            self.stamps.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            _sync(dev)
            self.stamps.append(time.perf_counter())

    stamps = Stamps()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = PPOConfig(output_dir=tmp, per_device_train_batch_size=rollouts, gradient_accumulation_steps=1,
                         num_mini_batches=1, num_ppo_epochs=epochs, response_length=new_tokens,
                         total_episodes=rollouts * (repeats + 1), temperature=1.0, learning_rate=1e-6, kl_coef=0.05,
                         stop_token=None, missing_eos_penalty=None, num_sample_generations=0,
                         local_rollout_forward_batch_size=rollouts, report_to=[], logging_steps=10**6,
                         save_strategy="no", use_cpu=dev.type == "cpu", dataloader_num_workers=0, disable_tqdm=True,
                         gradient_checkpointing=False, seed=0)
        datasets.disable_progress_bars()
        policy = hf_model(cfg, dev)
        ref = hf_model(cfg, dev)
        head = "LlamaForSequenceClassification"
        trainer = PPOTrainer(args=args, processing_class=word_tokenizer(cfg), model=policy, ref_model=ref,
                             reward_model=hf_model(cfg, dev, head), value_model=hf_model(cfg, dev, head),
                             train_dataset=ds, callbacks=[stamps])
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)
        trainer.train()
    times = [b - a for a, b in zip(stamps.stamps, stamps.stamps[1:])][1:]
    return {"device": str(dev), "rollouts": rollouts, "new_tokens": new_tokens, "prompt_len": prompt_len,
            "epochs": epochs, "trl_version": trl.__version__, "step_s": _spread(times)}
