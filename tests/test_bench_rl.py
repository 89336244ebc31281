"""The RL-step, compile and scaling benchmarks at tiny sizes (TRL's side skipped where it is absent)."""

import json

import pytest
import torch

from rlhf_core.bench import bench_compile, bench_scaling
from rlhf_core.bench_rl import IdTokenizer, bench_grpo, bench_ppo, even_fraction, words
from rlhf_core.model import GPTConfig

TINY = GPTConfig(vocab_size=300, block_size=64, n_layer=1, n_head=2, d_model=32)


def test_reward_reads_back_the_ids_it_scores():
    assert even_fraction(words([2, 4, 5, 7])) == 0.5
    assert even_fraction("") == 0.0 and even_fraction("t3 junk") == 0.0
    assert IdTokenizer().decode_batch([[10, 11]]) == ["t10 t11"]


def test_our_grpo_and_ppo_steps_are_timed():
    grpo = bench_grpo(TINY, prompts=2, group=3, new_tokens=6, prompt_len=4, repeats=2, device="cpu")
    ppo = bench_ppo(TINY, rollouts=4, new_tokens=6, prompt_len=4, epochs=2, mini_batch=2, repeats=2, device="cpu")
    for r in (grpo, ppo):
        assert r["step_s"]["n"] == 2 and 0 < r["step_s"]["min"] <= r["step_s"]["median"] <= r["step_s"]["max"]
    json.dumps([grpo, ppo])


def test_trl_grpo_step_is_timed():
    pytest.importorskip("trl")
    from rlhf_core.bench_rl import bench_grpo_trl

    r = bench_grpo_trl(TINY, prompts=2, group=3, new_tokens=6, prompt_len=4, repeats=1, device="cpu")
    assert r["step_s"]["n"] == 1 and r["step_s"]["median"] > 0 and r["trl_version"]


def test_compile_bench_reports_break_even_and_failures(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)  # the bookkeeping, not inductor (minutes on CPU)
    r = bench_compile(TINY, batch=2, seq=16, steps=2, new_tokens=4, device="cpu")
    for case in ("train", "sample_batch_1"):
        assert r[case]["eager_s"] > 0 and r[case]["compiled_s"] > 0 and r[case]["compile_s"] >= 0

    def broken(fn, **kw):
        raise RuntimeError("inductor: no working C compiler\nmore detail")
    monkeypatch.setattr(torch, "compile", broken)
    r = bench_compile(TINY, batch=2, seq=16, steps=1, new_tokens=4, device="cpu")
    assert r["train"] == {"error": "RuntimeError: inductor: no working C compiler"}


def test_scaling_grows_with_width_length_and_rows():
    r = bench_scaling(TINY, device="cpu", steps=1, sft_rows=(64, 128), widths=(16, 32), lengths=(4, 8), seq=32)
    assert [w["d_model"] for w in r["width"]] == [16, 32] and r["width"][0]["n_params"] < r["width"][1]["n_params"]
    assert [x["steps"] for x in r["sft_rows"]] == [2, 4]
    assert r["sft_rows"][1]["train_seconds"] == pytest.approx(2 * r["sft_rows"][0]["train_seconds"])
    assert all(x["seconds"] > 0 for x in r["response_length"])
