"""bench.rl and bench.trl112: our GRPO, PPO and DPO steps at tiny sizes, and the TRL 1.12 child process."""

import json
import os

import pytest

from bench.rl import IdTokenizer, bench_dpo, bench_grpo, bench_ppo, dpo_inputs, even_fraction, words
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


def test_our_dpo_step_is_timed_on_fixed_length_pairs():
    data = dpo_inputs(TINY, pairs=3, seq=16, prompt_len=4)
    assert data == dpo_inputs(TINY, pairs=3, seq=16, prompt_len=4)  # seeded: the TRL side gets the same ids
    for prompt, chosen, rejected in data:
        assert len(prompt) == 4 and len(chosen) == len(rejected) == 12 and chosen[-1] == rejected[-1] == 2
    r = bench_dpo(TINY, pairs=2, seq=16, prompt_len=4, repeats=2, device="cpu")
    assert r["step_s"]["n"] == 2 and r["step_s"]["median"] > 0
    json.dumps(r)


def test_trl112_ppo_child_reports_why_it_did_not_run(tmp_path):
    from bench.trl112 import bench_ppo_trl112

    kw = dict(rollouts=2, new_tokens=4, prompt_len=4, epochs=1, repeats=1)
    assert "no such folder" in bench_ppo_trl112(TINY, tmp_path / "absent", **kw)["error"]
    # an empty folder: the child finds this environment's TRL (no experimental PPOTrainer) or none at all
    r = bench_ppo_trl112(TINY, tmp_path, **kw)
    assert set(r) == {"error"} and "TRL 1.12 PPO run failed" in r["error"]


@pytest.mark.skipif(
    not os.environ.get("RLHF_TEST_TRL112"),
    reason="set RLHF_TEST_TRL112 to a folder holding trl==1.12 (pip install --no-deps --target)",
)
def test_trl112_ppo_update_is_timed():
    from bench.trl112 import bench_ppo_trl112

    r = bench_ppo_trl112(
        TINY, os.environ["RLHF_TEST_TRL112"], rollouts=4, new_tokens=6, prompt_len=4, epochs=2, repeats=1
    )
    assert r["trl_version"].startswith("1.12") and r["separate_process"]
    assert r["step_s"]["n"] == 1 and r["step_s"]["median"] > 0
