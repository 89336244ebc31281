"""The RL-step, compile and scaling benchmarks at tiny sizes (TRL's side skipped where it is absent)."""

import json
import os

import pytest
import torch

from rlhf_core import lmhead
from rlhf_core.bench import bench_compile, bench_lmhead, bench_scaling
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
    r = bench_compile(TINY, batch=2, seq=16, steps=2, decode_batches=(1, 3), new_tokens=4, sample_repeats=1,
                      device="cpu")
    for case in ("train", "sample_batch_1", "sample_batch_3"):
        assert r[case]["eager_s"] > 0 and r[case]["compiled_s"] > 0 and r[case]["compile_s"] >= 0
        even = r[case]["break_even_calls"]
        assert even is None or even >= 0

    def broken(fn, **kw):
        raise RuntimeError("inductor: no working C compiler\nmore detail")
    monkeypatch.setattr(torch, "compile", broken)
    r = bench_compile(TINY, batch=2, seq=16, steps=1, decode_batches=(2,), new_tokens=4, device="cpu")
    assert r["train"] == r["sample_batch_2"] == {"error": "RuntimeError: inductor: no working C compiler"}


def test_lmhead_bench_times_plain_and_fused_and_restores_the_block_size():
    before = lmhead.CHUNK_ROWS
    r = bench_lmhead(TINY, rows=50, repeats=2, chunks=(7, 64), device="cpu")
    assert lmhead.CHUNK_ROWS == before and r["chunk_rows"] == before
    for case in ("cross_entropy", "logprobs_entropy"):
        assert r[case]["plain_s"]["n"] == r[case]["fused_s"]["n"] == 2
        assert set(r[case]["by_chunk_rows"]) == {7, 64} and all(s > 0 for s in r[case]["by_chunk_rows"].values())
        assert r[case]["speedup"] == pytest.approx(r[case]["plain_s"]["median"] / r[case]["fused_s"]["median"])
    json.dumps(r)


def test_scaling_grows_with_width_length_and_rows():
    r = bench_scaling(TINY, device="cpu", steps=1, sft_rows=(64, 128), widths=(16, 32), lengths=(4, 8), seq=32)
    assert [w["d_model"] for w in r["width"]] == [16, 32] and r["width"][0]["n_params"] < r["width"][1]["n_params"]
    assert [x["steps"] for x in r["sft_rows"]] == [2, 4]
    assert r["sft_rows"][1]["train_seconds"] == pytest.approx(2 * r["sft_rows"][0]["train_seconds"])
    assert all(x["seconds"] > 0 for x in r["response_length"])


def test_trl112_ppo_child_reports_why_it_did_not_run(tmp_path):
    from rlhf_core.bench_trl_ppo import bench_ppo_trl112

    kw = dict(rollouts=2, new_tokens=4, prompt_len=4, epochs=1, repeats=1)
    assert "no such folder" in bench_ppo_trl112(TINY, tmp_path / "absent", **kw)["error"]
    # an empty folder: the child finds this environment's TRL (no experimental PPOTrainer) or none at all
    r = bench_ppo_trl112(TINY, tmp_path, **kw)
    assert set(r) == {"error"} and "TRL 1.12 PPO run failed" in r["error"]


@pytest.mark.skipif(not os.environ.get("RLHF_TEST_TRL112"),
                    reason="set RLHF_TEST_TRL112 to a folder holding trl==1.12 (pip install --no-deps --target)")
def test_trl112_ppo_update_is_timed():
    from rlhf_core.bench_trl_ppo import bench_ppo_trl112

    r = bench_ppo_trl112(TINY, os.environ["RLHF_TEST_TRL112"], rollouts=4, new_tokens=6, prompt_len=4, epochs=2,
                         repeats=1)
    assert r["trl_version"].startswith("1.12") and r["separate_process"]
    assert r["step_s"]["n"] == 1 and r["step_s"]["median"] > 0


def test_targets_table_reads_ratios_and_marks_the_ppo_figure():
    from stages.bench import TARGETS, _targets

    rl = {"ratio": {"grpo_step": 3.0, "ppo_update": None, "ppo_update_vs_reference": 4.0}}
    ratio = {"sample_batch_1": 2.6, "sample_batch_32": 2.0, "train": 1.01, "dpo_step": None}
    t = _targets({"frac_of_peak": 0.3}, ratio, rl)
    assert set(t) == set(TARGETS)
    assert t["sample_batch_1"]["met"] and not t["sample_batch_32"]["met"] and t["train"]["met"]
    assert t["train_frac_of_peak"]["met"] is False and t["dpo_step"]["met"] is None
    assert t["ppo_update"] == {"goal": 2.5, "measured": 4.0, "met": True, "vs_figure": True}
    rl["ratio"]["ppo_update"] = 2.0  # a same-run TRL 1.12 ratio wins over the figure
    assert _targets({"frac_of_peak": 0.7}, ratio, rl)["ppo_update"] == {"goal": 2.5, "measured": 2.0, "met": False}


def test_machine_info_and_memory_bandwidth_are_reported():
    from rlhf_core.bench import CPU_FLAGS, machine_info, memory_bandwidth_gbs
    from stages.bench import _machine_line

    m = machine_info("cpu")
    assert m["cpu"] and m["cpu_count"] >= 1 and m["torch_threads"] >= 1 and m["torch"] == torch.__version__
    assert set(m["cpu_flags"]) <= set(CPU_FLAGS) and "gpu" not in m
    bw = memory_bandwidth_gbs(mbytes=8, repeats=2, device="cpu")
    assert 0.1 < bw < 10_000  # GB/s: any real machine lies far inside this
    line = _machine_line({**m, "matmul_peak_gflops": 100.0, "memory_gbs": 25.0})
    assert line.startswith("machine: ") and "balance 4.0 FLOP/byte" in line
    json.dumps(m)


def test_rm_bench_times_both_last_block_variants():
    from rlhf_core.bench import bench_rm

    r = bench_rm(TINY, pairs=3, seq=20, steps=2, device="cpu")
    assert r["eos_rows_s"]["n"] == r["full_s"]["n"] == 2 and r["pairs"] == 3 and 12 <= r["tokens_per_step"] <= 120
    assert r["speedup"] == pytest.approx(r["full_s"]["median"] / r["eos_rows_s"]["median"])
    json.dumps(r)
