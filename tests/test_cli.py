"""The `rlhf` command at its boundary: help, and one clear line for each user error."""

import json

import pytest
from typer.testing import CliRunner

from stages.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_every_stage():
    out = invoke("--help").output
    for stage in ("resolve", "download", "bpe", "sft", "rm", "generate", "bench", "judge"):
        assert stage in out


def test_judge_prints_each_part_and_why():
    result = invoke("judge", "Capital of France", "The capital of France is not Paris; it is Lyon.")
    assert result.exit_code == 0, result.output
    assert "correct_city" in result.output and "Paris negated" in result.output and "score 0.000" in result.output
    result = invoke("judge", "fact_qa:0", "Water boils at 100 degrees Celsius.")  # a generated row: family:seed
    assert result.exit_code == 0 and "score 1.000" in result.output, result.output
    result = invoke("judge", "no such row", "x")
    assert result.exit_code != 0 and "no row 'no such row'" in result.output


def params_with(tmp_path, **data):
    lines = ["data:"] + [f"  {k}: {v}" for k, v in data.items()]
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("make_file, fragment", [
    (None, "data.source: file '{path}' not found"),
    (lambda p: p.write_text(json.dumps([{"instruction": "a", "input": ""}] * 60)), "has no 'output' column"),
])
def test_download_errors_are_one_line_and_keep_earlier_outputs(tmp_path, make_file, fragment):
    source = tmp_path / "mine.json"
    if make_file:
        make_file(source)
    out = tmp_path / "raw"
    out.mkdir()
    (out / "train.jsonl").write_text("earlier output\n")
    result = invoke("download", "--params", params_with(tmp_path, source=source), "--out", out,
                    "--stats", tmp_path / "stats.json")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment.format(path=source) in lines[0]
    assert (out / "train.jsonl").read_text() == "earlier output\n"
    assert not (tmp_path / "stats.json").exists()


def test_resolve_rejects_bad_vocab_size(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("tokenizer:\n  vocab_size: -1\n")
    result = invoke("resolve", "--params", path, "--out", tmp_path / "configs")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: params.yaml: tokenizer.vocab_size = -1 is not allowed: must be an integer >= 300 and <= 1000000 "
        "(vocabulary size of the BPE tokenizer)"]
    assert not (tmp_path / "configs").exists()


def test_resolve_writes_each_stage_its_sections(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("sft:\n  lr: 0.01\n")
    assert invoke("resolve", "--params", path, "--out", tmp_path / "configs").exit_code == 0
    sft = json.loads((tmp_path / "configs/sft.json").read_text())
    assert set(sft) == {"seed", "device", "model", "sft"} and sft["sft"]["lr"] == 0.01
    assert set(json.loads((tmp_path / "configs/bpe.json").read_text())) == {"tokenizer"}
    assert set(json.loads((tmp_path / "configs/rm.json").read_text())) == {"seed", "device", "rm"}


def test_missing_tokenizer_is_one_line(tmp_path):
    result = invoke("sft", "--params", params_with(tmp_path, source="builtin"), "--tokenizer", tmp_path / "nothing",
                    "--data", tmp_path, "--out", tmp_path / "sft", "--live", tmp_path / "live")
    assert result.exit_code == 2
    assert "run `rlhf bpe`" in result.output and len(result.output.strip().splitlines()) == 1


def tiny_tokenizer(path, text):
    from rlhf_core.tokenizer import load_tokenizer, save_tokenizer, train_bpe

    save_tokenizer(train_bpe([text] * 5, vocab_size=300, min_frequency=1), path)
    return load_tokenizer(path)


@pytest.mark.parametrize("kind, fragment", [
    ("policy", "was trained with a different tokenizer than the one given"),
    ("reward", "is a 'reward' checkpoint, not the SFT policy; pass --sft data/sft"),
])
def test_rm_refuses_a_mismatched_sft_checkpoint(tmp_path, kind, fragment):
    from rlhf_core.checkpoint import save_checkpoint
    from rlhf_core.model import GPT, GPTConfig

    ours = tiny_tokenizer(tmp_path / "tok", "The capital of France is Paris.")
    other = tiny_tokenizer(tmp_path / "other", "Sort these numbers: 3, 1, 2.") if kind == "policy" else ours
    cfg = GPTConfig(vocab_size=other.vocab_size, block_size=32, n_layer=1, n_head=2, d_model=16)
    save_checkpoint(tmp_path / "sft", GPT(cfg), cfg, other, kind=kind)
    result = invoke("rm", "--params", params_with(tmp_path, source="builtin"), "--tokenizer", tmp_path / "tok",
                    "--sft", tmp_path / "sft", "--data", tmp_path, "--out", tmp_path / "rm", "--live", tmp_path / "live")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert not (tmp_path / "rm").exists()
