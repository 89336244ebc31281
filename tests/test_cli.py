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
    for stage in ("resolve", "download", "bpe", "sft", "generate", "bench"):
        assert stage in out


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


def test_missing_tokenizer_is_one_line(tmp_path):
    result = invoke("sft", "--params", params_with(tmp_path, source="builtin"), "--tokenizer", tmp_path / "nothing",
                    "--data", tmp_path, "--out", tmp_path / "sft", "--live", tmp_path / "live")
    assert result.exit_code == 2
    assert "run `rlhf bpe`" in result.output and len(result.output.strip().splitlines()) == 1
