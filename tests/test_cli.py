"""The `rlhf` command at its boundary: help, and one clear line for each user error."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from conftest import rows, small_config, write_records
from rlhf_core.checkpoint import save_checkpoint
from rlhf_core.data import MAX_ROW_CHARS
from rlhf_core.model import GPT
from stages.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_every_stage():
    out = invoke("--help").output
    for stage in ("resolve", "download", "bpe", "sft", "rm", "generate", "bench", "judge", "frontier", "sweep"):
        assert stage in out


def test_sweep_dry_run_prints_the_dvc_commands_and_runs_nothing(tmp_path):
    result = invoke("sweep", "--dry-run", "--repo", tmp_path, "--jobs", "2")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("$ ")]
    assert len(lines) == 5 and lines[-1] == "$ dvc queue start --jobs 2"
    for knob in ("ppo.kl_coef=", "ppo.lr=", "grpo.kl_coef=", "dpo.beta="):
        assert any(knob in line and "'~phases.phase5'" in line and "'rl_seeds=[0,1]'" in line for line in lines)
    assert not list(tmp_path.iterdir())
    bad = invoke("sweep", "--preset", "huge", "--dry-run")
    assert bad.exit_code == 2 and "unknown preset 'huge'" in bad.output


def test_frontier_outside_a_dvc_project_is_one_line(tmp_path):
    result = invoke("frontier", "--repo", tmp_path)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: `dvc exp show --json` failed in"), result.output


def test_judge_prints_each_part_and_why():
    result = invoke("judge", "Capital of France", "The capital of France is not Paris; it is Lyon.")
    assert result.exit_code == 0, result.output
    assert "correct_city" in result.output and "Paris negated" in result.output and "score 0.000" in result.output
    result = invoke("judge", "fact_qa:0", "Water boils at 100 degrees Celsius.")  # a generated row: family:seed
    assert result.exit_code == 0 and "score 1.000" in result.output, result.output
    result = invoke("judge", "no such row", "x")
    assert result.exit_code != 0 and "no row 'no such row'" in result.output
    # a family the rules cannot verify: its rule score is shown, and that it gives no gold
    result = invoke("judge", "Structure of an atom", "An atom has a nucleus of protons and neutrons, and electrons.")
    assert result.exit_code == 0 and "no gold: the rules cannot verify explain" in result.output, result.output
    assert "no gold" not in invoke("judge", "Capital of France", "Paris.").output
    assert "cannot verify answers to this question" in invoke("judge", "Julius Caesar death", "Stabbed.").output


def params_with(tmp_path, **data):
    lines = ["data:"] + [f"  {k}: {v}" for k, v in data.items()]
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "make_file, fragment",
    [
        (None, "data.source: file '{path}' not found"),
        (lambda p: p.write_text(json.dumps([{"instruction": "a", "input": ""}] * 60)), "has no 'output' column"),
    ],
)
def test_download_errors_are_one_line_and_keep_earlier_outputs(tmp_path, make_file, fragment):
    source = tmp_path / "mine.json"
    if make_file:
        make_file(source)
    out = tmp_path / "raw"
    out.mkdir()
    (out / "train.jsonl").write_text("earlier output\n")
    result = invoke(
        "download", "--params", params_with(tmp_path, source=source), "--out", out, "--stats", tmp_path / "stats.json"
    )
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
        "(vocabulary size of the BPE tokenizer)"
    ]
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
    result = invoke(
        "sft",
        "--params",
        params_with(tmp_path, source="builtin"),
        "--tokenizer",
        tmp_path / "nothing",
        "--data",
        tmp_path,
        "--out",
        tmp_path / "sft",
        "--live",
        tmp_path / "live",
    )
    assert result.exit_code == 2
    assert "run `rlhf bpe`" in result.output and len(result.output.strip().splitlines()) == 1


def tiny_tokenizer(path, text):
    from rlhf_core.tokenizer import load_tokenizer, save_tokenizer, train_bpe

    save_tokenizer(train_bpe([text] * 5, vocab_size=300, min_frequency=1), path)
    return load_tokenizer(path)


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("policy", "was trained with a different tokenizer than the one given"),
        ("reward", "is a 'reward' checkpoint, not the SFT policy; pass --sft data/sft"),
    ],
)
def test_rm_refuses_a_mismatched_sft_checkpoint(tmp_path, kind, fragment):
    from rlhf_core.checkpoint import save_checkpoint
    from rlhf_core.model import GPT, GPTConfig

    ours = tiny_tokenizer(tmp_path / "tok", "The capital of France is Paris.")
    other = tiny_tokenizer(tmp_path / "other", "Sort these numbers: 3, 1, 2.") if kind == "policy" else ours
    cfg = GPTConfig(vocab_size=other.vocab_size, block_size=32, n_layer=1, n_head=2, d_model=16)
    save_checkpoint(tmp_path / "sft", GPT(cfg), cfg, other, kind=kind)
    result = invoke(
        "rm",
        "--params",
        params_with(tmp_path, source="builtin"),
        "--tokenizer",
        tmp_path / "tok",
        "--sft",
        tmp_path / "sft",
        "--data",
        tmp_path,
        "--out",
        tmp_path / "rm",
        "--live",
        tmp_path / "live",
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert not (tmp_path / "rm").exists()


# --- hostile inputs: exit code 2, one `error:` line, earlier outputs untouched ------------------------


def cli(*args):
    """Run `rlhf ARGS` expecting a refusal: exit code 2, one `error:` line, no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    return lines[0]


def earlier(folder: Path, *names: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"earlier {name}\n")
    return {name: (folder / name).read_text() for name in names}


def intact(folder: Path, before: dict) -> bool:
    return {name: (folder / name).read_text() for name in before} == before and sorted(
        p.name for p in folder.iterdir()
    ) == sorted(before)


def hostile_data(tmp_path: Path, kind: str) -> Path:
    if kind == "latin1.csv":
        (tmp_path / kind).write_bytes(b"instruction,output\n" + "Caf\xe9,Cr\xe8me\n".encode("latin-1") * 60)
    elif kind == "cut.parquet":
        data = write_records(tmp_path / "full.parquet", rows(200)).read_bytes()
        (tmp_path / kind).write_bytes(data[: len(data) // 2])
    elif kind == "csv-named.parquet":
        pd.DataFrame(rows()).to_csv(tmp_path / kind, index=False)
    elif kind == "empty.jsonl":
        (tmp_path / kind).write_bytes(b"")
    elif kind == "huge.jsonl":
        write_records(tmp_path / kind, rows(60, **{str(i): {"output": "y" * (MAX_ROW_CHARS + 1)} for i in range(60)}))
    elif kind == "numbers.jsonl":
        write_records(tmp_path / kind, [{"instruction": i, "output": i} for i in range(60)])
    return tmp_path / kind


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("latin1.csv", "is not UTF-8 text"),
        ("cut.parquet", "could not be read as parquet"),
        ("csv-named.parquet", "could not be read as parquet"),
        ("empty.jsonl", "is empty"),
        ("huge.jsonl", "0 usable rows after cleaning"),
        ("numbers.jsonl", "'not_text': 60"),
    ],
)
def test_cli_download_refuses_hostile_data_and_keeps_earlier_outputs(tmp_path, kind, fragment):
    source = hostile_data(tmp_path, kind)
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  source: {source}\n")
    out, reports = tmp_path / "raw", tmp_path / "reports"
    before, stats_before = earlier(out, "train.jsonl", "heldout.jsonl", "study.jsonl"), earlier(reports, "data.json")
    line = cli("download", "--params", params, "--out", out, "--stats", reports / "data.json")
    assert str(source) in line and fragment in line
    assert intact(out, before) and intact(reports, stats_before)


@pytest.mark.parametrize(
    "text, phase, fragment",
    [
        ("grpo: {group_size: 1}\n", None, "grpo.group_size = 1 is not allowed: must be an integer >= 2"),
        ("dpo: {beta: 0}\n", None, "dpo.beta = 0.0 is not allowed: must be a number > 0"),
        ("ppo: {temperature: -1}\n", None, "ppo.temperature = -1.0 is not allowed"),
        ("model: {block_size: 32}\n", None, "ppo.resp_len = 64 is not allowed: must leave at least 16 prompt tokens"),
        ("sft: {batch_size: true}\n", None, "sft.batch_size = True is not allowed: must be an integer"),
        ("phases: {p5: {dpo: {bogus: 1}}}\n", "p5", "params.yaml (phase p5): unknown key dpo.bogus"),
        ("phases: {p1: {}, p5: {eval: {temperature: 0}}}\n", "p1", "(phase p5): eval.temperature = 0.0 is not allowed"),
    ],
)
def test_cli_resolve_refuses_malformed_params_and_keeps_earlier_configs(tmp_path, text, phase, fragment):
    """`rlhf resolve` runs first in the DAG: a bad value anywhere (any phase too) stops the run there,
    before any stage's outputs are removed, and the configs written last time stay as they were."""
    params = tmp_path / "params.yaml"
    params.write_text(text)
    out = tmp_path / "configs"
    before = earlier(out, "sft.json", "rm.json", "ppo.json")
    line = cli("resolve", "--params", params, "--out", out, *(["--phase", phase] if phase else []))
    assert fragment in line and intact(out, before)


@pytest.mark.parametrize(
    "damage, fragment",
    [
        ("truncate", "are corrupted or unreadable"),
        ("deeper", "do not fit this model"),
        ("int64", "hold a I64 tensor"),
        ("config", "is not valid JSON"),
    ],
)
def test_cli_rm_refuses_a_damaged_sft_checkpoint_and_keeps_earlier_outputs(tok, tok_dir, tmp_path, damage, fragment):
    cfg = small_config(tok)
    model = GPT(cfg)
    save_checkpoint(tmp_path / "sft", model, cfg, tok, kind="policy")
    weights = tmp_path / "sft" / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "deeper":
        deep = small_config(tok, layers=2)
        save_checkpoint(tmp_path / "deep", GPT(deep), deep, tok, kind="policy")
        weights.write_bytes((tmp_path / "deep" / "model.safetensors").read_bytes())
    elif damage == "int64":
        save_file(
            {k: torch.zeros(v.shape, dtype=torch.int64) for k, v in model.state_dict().items() if k != "wte.weight"},
            str(weights),
        )
    else:
        (tmp_path / "sft" / "config.json").write_text('{"kind": "policy", ')
    params = tmp_path / "params.yaml"
    params.write_text("device: cpu\n")
    out = tmp_path / "rm"
    before = earlier(out, "model.safetensors", "config.json")
    line = cli(
        "rm",
        "--params",
        params,
        "--tokenizer",
        tok_dir,
        "--sft",
        tmp_path / "sft",
        "--data",
        tmp_path,
        "--out",
        out,
        "--live",
        tmp_path / "live",
    )
    assert fragment in line and intact(out, before)
    assert not (tmp_path / "live").exists()


def test_cli_sft_refuses_a_binary_tokenizer(tmp_path):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    params = tmp_path / "params.yaml"
    params.write_text("device: cpu\n")
    out = tmp_path / "sft"
    before = earlier(out, "model.safetensors")
    line = cli(
        "sft",
        "--params",
        params,
        "--tokenizer",
        tmp_path / "tok",
        "--data",
        tmp_path,
        "--out",
        out,
        "--live",
        tmp_path / "live",
    )
    assert "is not UTF-8 text" in line and intact(out, before)
