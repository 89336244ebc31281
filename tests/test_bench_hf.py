"""bench.hf: the transformers / TRL side-by-side at tiny sizes (skipped where the `bench` extra is absent)."""

import json

import pytest

pytest.importorskip("transformers")

from bench.hf import bench_sample_hf, bench_train_hf, hf_model, ratios  # noqa: E402
from bench.model import bench_sample, bench_train  # noqa: E402
from rlhf_core.model import GPT, GPTConfig  # noqa: E402

TINY = GPTConfig(vocab_size=300, block_size=64, n_layer=1, n_head=2, d_model=32)


def test_hf_model_has_our_shape_and_parameter_count():
    for cfg in (TINY, GPTConfig()):
        ours = GPT(cfg).num_params()
        assert sum(p.numel() for p in hf_model(cfg, "cpu").parameters()) == ours


def test_side_by_side_results_have_matching_keys_and_ratios():
    kw = dict(batch=2, seq=16, steps=1, device="cpu", peak_gflops=1.0)
    train, hf_train = bench_train(TINY, **kw), bench_train_hf(TINY, **kw)
    assert train.keys() == hf_train.keys() and hf_train["n_params"] == train["n_params"]
    skw = dict(prompt_len=4, new_tokens=6, repeats=1, device="cpu")
    samples = [bench_sample(TINY, b, **skw) for b in (1, 3)]
    hf_samples = [bench_sample_hf(TINY, b, **skw) for b in (1, 3)]
    assert [s.keys() for s in samples] == [h.keys() for h in hf_samples]
    r = ratios(train, samples, hf_train, hf_samples)
    assert set(r) == {"train", "sample_batch_1", "sample_batch_3"} and all(v > 0 for v in r.values())
    json.dumps({"train": hf_train, "sample": hf_samples, "ratio": r})


def test_missing_transformers_is_a_one_line_user_error(monkeypatch):
    from bench.hf import transformers_version
    from rlhf_core.errors import RlhfError

    monkeypatch.setitem(__import__("sys").modules, "transformers", None)  # import now fails
    with pytest.raises(RlhfError, match=r"pip install -e '\.\[bench\]'"):
        transformers_version()


def test_dpo_step_ours_and_trl():
    pytest.importorskip("trl")
    from bench.hf import bench_dpo_trl
    from bench.rl import bench_dpo

    kw = dict(pairs=2, seq=16, prompt_len=4, repeats=1, device="cpu")
    ours, theirs = bench_dpo(TINY, **kw), bench_dpo_trl(TINY, **kw)
    assert ours["step_s"]["n"] == theirs["step_s"]["n"] == 1
    assert ours["step_s"]["median"] > 0 and theirs["step_s"]["median"] > 0


def test_trl_grpo_step_is_timed():
    pytest.importorskip("trl")
    from bench.hf import bench_grpo_trl

    r = bench_grpo_trl(TINY, prompts=2, group=3, new_tokens=6, prompt_len=4, repeats=1, device="cpu")
    assert r["step_s"]["n"] == 1 and r["step_s"]["median"] > 0 and r["trl_version"]
