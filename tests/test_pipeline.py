"""End to end: `dvc repro` of the DAG on the tiny configuration, in a temporary git repo."""

import json
import re
import shutil

import pytest
from safetensors.torch import load_file

from conftest import run

pytestmark = pytest.mark.slow


def test_repro_writes_every_declared_output(tiny_project):
    p = tiny_project
    for path in (
        "data/raw/train.jsonl",
        "data/raw/heldout.jsonl",
        "data/raw/study.jsonl",
        "data/tokenizer/tokenizer.json",
        "data/sft/model.safetensors",
        "data/sft/config.json",
        "data/sft/heldout_answers.jsonl",
        "reports/metrics/data.json",
        "reports/live/sft/metrics.json",
        "data/rm/model.safetensors",
        "data/rm/config.json",
        "data/rm/pairs_train.jsonl",
        "data/rm/pairs_heldout.jsonl",
        "data/rm/trust_samples.jsonl",
        "reports/live/rm/metrics.json",
        "reports/timing/rm.json",
        "reports/configs/rm.json",
    ):
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
    for phase in ("phase1", "phase5"):
        for seed in (0, 1):
            run_dir = f"{phase}/seed{seed}"
            for algo in ("ppo", "grpo", "dpo"):
                assert (p / f"data/{run_dir}/{algo}/model.safetensors").is_file()
                live = json.loads((p / f"reports/live/{run_dir}/{algo}/metrics.json").read_text())
                assert {"final", "last20", "overall"} <= set(live)
            assert (p / f"data/{run_dir}/ppo/value_head.safetensors").is_file()
            metrics = json.loads((p / f"reports/metrics/{run_dir}.json").read_text())
            assert set(metrics) == {"sft", "ppo", "grpo", "dpo", "settings"} and metrics["settings"]["seed"] == seed
            assert metrics["sft"]["kl"] == 0.0 and metrics["dpo"]["heldout_rm_lo"] <= metrics["dpo"]["heldout_rm"]
            answers = [json.loads(line) for line in (p / f"data/eval/{run_dir}/answers.jsonl").read_text().splitlines()]
            assert len(answers) == 4 * (16 + 8 * 2) and {a["seed"] for a in answers} == {seed}
        # two seeds are two runs: same SFT and RM, different policies and different eval streams
        w0, w1 = (load_file(p / f"data/{phase}/seed{s}/ppo/model.safetensors") for s in (0, 1))
        assert any(not (w0[k] == w1[k]).all() for k in w0)
        a0, a1 = ((p / f"data/eval/{phase}/seed{s}/answers.jsonl").read_text() for s in (0, 1))
        assert a0 != a1
    grpo5 = json.loads((p / "reports/configs/phase5/grpo.json").read_text())["grpo"]
    assert grpo5["group_size"] == 4 and grpo5["gen_temperature"] == 1.0  # phase5 overrides applied
    report = (p / "reports/report.md").read_text()
    assert "phase1" in report and "phase5" in report
    assert len(list((p / "reports/figures").glob("*.png"))) >= 8
    status = run(["dvc", "status", "--json"], p).stdout
    assert json.loads(status) == {}


def stage_lines(out: str) -> tuple[set[str], set[str]]:
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    skipped = set(re.findall(r"Stage '([^']+)' didn't change, skipping", out))
    return ran, skipped


def test_dpo_beta_reruns_only_what_reads_it(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    ran, skipped = stage_lines(run(["dvc", "exp", "run", "-S", "dpo.beta=0.2"], p).stdout)
    assert ran == {
        "resolve@phase1",
        "resolve@phase5",
        "dpo@phase1-0",
        "dpo@phase1-1",
        "eval@phase1-0",
        "eval@phase1-1",
        "report",
    }, ran
    assert {"download", "bpe", "sft", "rm", "dpo@phase5-0", "ppo@phase1-1", "grpo@phase5-0", "eval@phase5-1"} <= skipped


def test_phase_override_reruns_only_that_phase(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    ran, _ = stage_lines(run(["dvc", "exp", "run", "-S", "phases.phase5.grpo.group_size=5"], p).stdout)
    assert ran == {"resolve@phase5", "grpo@phase5-0", "grpo@phase5-1", "eval@phase5-0", "eval@phase5-1", "report"}, ran


def test_seeds_are_data_adding_one_runs_only_its_stages_removing_one_only_the_report(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    ran, _ = stage_lines(run(["dvc", "exp", "run", "-S", "rl_seeds=[0,1,2]"], p).stdout)
    new = {f"{s}@{ph}-2" for s in ("ppo", "grpo", "dpo", "eval") for ph in ("phase1", "phase5")}
    assert ran == new | {"config", "report"}, ran  # config validates the new list; its outputs do not change
    summary = json.loads((p / "reports/summary.json").read_text())
    assert set(summary["phase1"]["ppo"]["seeds"]) == {"0", "1", "2"}
    ran, _ = stage_lines(run(["dvc", "exp", "run", "-S", "rl_seeds=[0,2]"], p).stdout)
    assert ran == {"config", "report"}, ran
    summary = json.loads((p / "reports/summary.json").read_text())
    assert set(summary["phase1"]["ppo"]["seeds"]) == {"0", "2"}  # seed 1's files are on disk, and ignored


def test_removing_a_phase_removes_it_from_the_report(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    text = (p / "params.yaml").read_text()
    (p / "params.yaml").write_text(text[: text.index("  phase5:")])
    run(["dvc", "repro"], p)
    report = (p / "reports/report.md").read_text()
    assert "phase1" in report and "phase5" not in report


def test_changing_sft_knob_reruns_only_sft(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    (p / "params.yaml").write_text((p / "params.yaml").read_text().replace("lr: 3.0e-3", "lr: 2.0e-3", 1))
    out = run(["dvc", "repro", "sft"], p).stdout  # sft and what it needs; downstream is the rm test's business
    assert re.search(r"Stage 'download' didn't change, skipping", out), out
    assert re.search(r"Stage 'bpe' didn't change, skipping", out), out
    assert "Running stage 'sft'" in out


def test_changing_rm_knob_reruns_only_rm(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    (p / "params.yaml").write_text((p / "params.yaml").read_text().replace("lr: 1.0e-3", "lr: 2.0e-3", 1))
    out = run(["dvc", "repro", "rm"], p).stdout
    for stage in ("download", "bpe", "sft"):
        assert re.search(rf"Stage '{stage}' didn't change, skipping", out), out
    assert "Running stage 'rm'" in out


def test_forced_rerun_gives_the_same_dvc_lock(tiny_project, tmp_path):
    """`dvc repro --force` reruns every stage: every output hash in dvc.lock (checkpoints, data, logs,
    metrics, report, figures) comes out the same, and so do the files themselves."""
    other = tmp_path / "again"
    shutil.copytree(tiny_project, other, symlinks=True)
    before = {
        path: (other / path).read_bytes()
        for path in (
            "data/raw/train.jsonl",
            "data/tokenizer/tokenizer.json",
            "data/sft/model.safetensors",
            "data/rm/pairs_train.jsonl",
            "data/rm/model.safetensors",
            "reports/live/rm/metrics.json",
            "reports/live/sft/plots/metrics/train/loss.tsv",
            "data/phase1/seed0/ppo/model.safetensors",
            "data/phase5/seed1/grpo/model.safetensors",
            "data/phase1/seed1/dpo/model.safetensors",
            "reports/live/phase5/seed0/grpo/metrics.json",
            "reports/metrics/phase1/seed1.json",
            "reports/metrics/phase5/seed0.json",
            "data/eval/phase5/seed1/answers.jsonl",
            "reports/report.md",
        )
    }
    out = run(["dvc", "repro", "--force"], other).stdout
    assert "Running stage 'sft'" in out and "Running stage 'report'" in out
    assert (other / "dvc.lock").read_text() == (tiny_project / "dvc.lock").read_text()
    for path, data in before.items():
        assert (other / path).read_bytes() == data, path
    assert json.loads(run(["dvc", "status", "--json"], other).stdout) == {}


def test_bad_params_stop_with_one_line_and_keep_outputs(tiny_project, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(tiny_project, p, symlinks=True)
    before = (p / "data/tokenizer/tokenizer.json").read_bytes()
    text = (p / "params.yaml").read_text().replace("vocab_size: 600", "vocab_size: -1")
    (p / "params.yaml").write_text(text)
    proc = run(["dvc", "repro"], p, check=False)
    assert proc.returncode != 0
    expected = "error: params.yaml: tokenizer.vocab_size = -1 is not allowed: must be an integer >= 300"
    assert expected in proc.stderr + proc.stdout
    assert (p / "data/tokenizer/tokenizer.json").read_bytes() == before
