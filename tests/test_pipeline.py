"""End to end: `dvc repro` of the DAG on the tiny configuration, in a temporary git repo."""

import json
import re
import shutil

import pytest
from safetensors.torch import load_file

from conftest import ROOT, make_project, run

pytestmark = pytest.mark.slow


def test_repro_writes_every_declared_output(tiny_project):
    p = tiny_project
    for path in ("data/raw/train.jsonl", "data/raw/heldout.jsonl", "data/raw/study.jsonl",
                 "data/tokenizer/tokenizer.json", "data/sft/model.safetensors", "data/sft/config.json",
                 "data/sft/heldout_answers.jsonl", "reports/metrics/data.json", "reports/live/sft/metrics.json",
                 "data/rm/model.safetensors", "data/rm/config.json", "data/rm/pairs_train.jsonl",
                 "data/rm/pairs_heldout.jsonl", "data/rm/trust_samples.jsonl", "reports/live/rm/metrics.json",
                 "reports/live/rm/timing.json", "reports/configs/rm.json"):
        assert (p / path).is_file(), path
    stats = json.loads((p / "reports/metrics/data.json").read_text())
    assert stats["n_train"] == 2000 and stats["n_study"] == 16 and stats["has_gold"]
    metrics = json.loads((p / "reports/live/sft/metrics.json").read_text())
    assert metrics["heldout_loss"] < metrics["heldout_loss_untrained"]
    assert 0.0 <= metrics["gold"]["gold_mean"] <= 1.0
    assert set(load_file(p / "data/sft/model.safetensors"))  # readable safetensors
    rm = json.loads((p / "reports/live/rm/metrics.json").read_text())
    assert rm["pairs"]["train"]["total"] > 0 and rm["pairs"]["heldout"]["total"] > 0
    assert rm["pairs"]["dropped_leaked_prompts"] == 0
    assert 0.0 <= rm["heldout"]["accuracy"] <= 1.0 and "gold" in rm and rm["gold"]["samples"] > 0
    assert json.loads((p / "data/rm/config.json").read_text())["kind"] == "reward"
    assert (p / "reports/live/rm/plots/metrics/train/loss.tsv").is_file()
    status = run(["dvc", "status", "--json"], p).stdout
    assert json.loads(status) == {}


def test_changing_sft_knob_reruns_only_sft(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    out = run(["dvc", "exp", "run", "-S", "sft.lr=0.002"], p).stdout
    assert re.search(r"Stage 'download' didn't change, skipping", out), out
    assert re.search(r"Stage 'bpe' didn't change, skipping", out), out
    assert "Running stage 'sft'" in out


def test_changing_rm_knob_reruns_only_rm(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    out = run(["dvc", "exp", "run", "-S", "rm.lr=0.002"], p).stdout
    for stage in ("download", "bpe", "sft"):
        assert re.search(rf"Stage '{stage}' didn't change, skipping", out), out
    assert "Running stage 'rm'" in out


def test_same_params_same_bytes(tiny_project, tmp_path):
    """A second project from scratch with the same params reproduces the first byte for byte."""
    other = make_project(tmp_path / "again", ROOT / "tests/fixtures/params-tiny.yaml")
    run(["dvc", "repro"], other)
    for path in ("data/raw/train.jsonl", "data/tokenizer/tokenizer.json", "data/sft/model.safetensors",
                 "data/rm/pairs_train.jsonl", "data/rm/model.safetensors", "reports/live/rm/metrics.json"):
        assert (other / path).read_bytes() == (tiny_project / path).read_bytes(), path
    a = json.loads((tiny_project / "reports/live/sft/metrics.json").read_text())
    b = json.loads((other / "reports/live/sft/metrics.json").read_text())
    for key in ("heldout_loss", "heldout_loss_untrained", "gold"):
        assert a[key] == b[key]


def test_bad_params_stop_with_one_line_and_keep_outputs(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    before = (p / "data/tokenizer/tokenizer.json").read_bytes()
    text = (p / "params.yaml").read_text().replace("vocab_size: 600", "vocab_size: -1")
    (p / "params.yaml").write_text(text)
    proc = run(["dvc", "repro"], p, check=False)
    assert proc.returncode != 0
    assert "error: params.yaml: tokenizer.vocab_size = -1 is not allowed: must be an integer >= 300" in proc.stderr + proc.stdout
    assert (p / "data/tokenizer/tokenizer.json").read_bytes() == before
