"""`rlhf report` on small synthetic eval and training outputs written to the input contract."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from rlhf_core import report as R
from rlhf_core import verdicts as V
from rlhf_core.report import findings
from rlhf_core.stats import bootstrap_ci, spearman
from stages import report as stage

ALGOS = ("sft", "ppo", "grpo", "dpo")
NAMES = [
    "Stay healthy tips",
    "Three primary colors",
    "Structure of an atom",
    "Reduce air pollution",
    "Difficult decision",
    "Odd one out (Twitter…)",
    "4/16 = 1/4 explain",
    "Short story career",
    "Render 3D house",
    "Spelling | grammar",
    "Julius Caesar death",
    "Capital of France",
    "Camping trip list",
    "Great Depression causes",
    "Classify oak/copper/eleph",
    "Word embeddings NLP",
]
# the study's averages: PPO first in phase1, DPO first in phase5
LEVELS = {
    "phase1": {"sft": 3.0, "ppo": 4.0, "grpo": -0.1, "dpo": 2.4},
    "phase5": {"sft": 4.1, "ppo": 3.5, "grpo": 3.3, "dpo": 4.15},
}
SETTINGS = {"phase1": (0.7, 50, 64, 0.01, 4, 0.8, 0.1), "phase5": (0.3, 20, 96, 0.1, 8, 1.0, 0.3)}
N_HELD, SAMPLES, STEPS = 12, 2, 40


def gold_of(rm: float, rng) -> float:
    return float(np.clip(1 / (1 + math.exp(-rm / 3)) + rng.normal(0, 0.1), 0, 1))


def write_tsv(folder: Path, stat: str, values) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stat}.tsv").write_text(f"step\t{stat}\n" + "".join(f"{i + 1}\t{v!r}\n" for i, v in enumerate(values)))


def make_phase(root: Path, phase: str, gold: bool, seed: int, heldout: bool = True, rl_seed: int = 0) -> None:
    """One RL seed's eval and training outputs of one phase (`seed` drives the synthetic noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in ALGOS:
        for i, name in enumerate(NAMES):
            rm = round(LEVELS[phase][a] + rng.normal(0, 2.5), 3)
            rows.append(
                {
                    "algo": a,
                    "set": "study",
                    "prompt_id": f"study-{i:02d}",
                    "name": name,
                    "family": "fam" if gold else None,
                    "sample": 0,
                    "instruction": f"Do task {i}",
                    "input": "",
                    "response": f"Answer of {a} to {name}\nwith *markdown* | pipes",
                    "rm": rm,
                    "gold": gold_of(rm, rng) if gold else None,
                    "kl": 0.1,
                    "length": 20,
                    "eos": True,
                }
            )
        for j in range(N_HELD if heldout else 0):
            for s in range(SAMPLES):
                rm = LEVELS[phase][a] + rng.normal(0, 1.0)
                rows.append(
                    {
                        "algo": a,
                        "set": "heldout",
                        "prompt_id": f"held-{j:03d}",
                        "name": None,
                        "family": "fam" if gold else None,
                        "sample": s,
                        "instruction": "q",
                        "input": "",
                        "response": "x",
                        "rm": rm,
                        "gold": gold_of(rm, rng) if gold else None,
                        "kl": 0.2,
                        "length": 30,
                        "eos": s == 0,
                    }
                )
    out = root / "data" / "eval" / phase / f"seed{rl_seed}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    temp, top_k, max_new, kl_coef, k, gen_t, beta = SETTINGS[phase]
    metrics = {
        "settings": {
            "temperature": temp,
            "top_k": top_k,
            "max_new_tokens": max_new,
            "ci": 0.95,
            "bootstrap": 200,
            "n_study": 16,
            "n_heldout_prompts": N_HELD,
        }
    }
    for a in ALGOS:
        mine = [r for r in rows if r["algo"] == a]
        study = [r for r in mine if r["set"] == "study"]
        m = {
            "study_rm": float(np.mean([r["rm"] for r in study])),
            "study_gold": float(np.mean([r["gold"] for r in study])) if gold else None,
            "kl": 0.1,
            "length": 25.0,
            "eos_rate": 0.9,
        }
        for key in ("rm", "gold"):
            if not heldout or (key == "gold" and not gold):
                m.update({f"heldout_{key}": None, f"heldout_{key}_lo": None, f"heldout_{key}_hi": None})
                continue
            per = [np.mean([r[key] for r in mine if r["prompt_id"] == f"held-{j:03d}"]) for j in range(N_HELD)]
            lo, hi = bootstrap_ci(per, n_boot=200, ci=0.95, seed=0)
            m.update({f"heldout_{key}": float(np.mean(per)), f"heldout_{key}_lo": lo, f"heldout_{key}_hi": hi})
        metrics[a] = m
    (root / "reports" / "metrics" / phase).mkdir(parents=True, exist_ok=True)
    (root / "reports" / "metrics" / phase / f"seed{rl_seed}.json").write_text(json.dumps(metrics))
    cfg = root / "reports" / "configs" / phase
    cfg.mkdir(parents=True, exist_ok=True)
    for a, section in (
        ("ppo", {"kl_coef": kl_coef, "lr": 1e-5}),
        (
            "grpo",
            {"prompts_per_step": 4, "group_size": k, "gen_temperature": gen_t, "collapse_threshold": 0.1, "lr": 1e-5},
        ),
        ("dpo", {"beta": beta, "lr": 1e-5}),
    ):
        (cfg / f"{a}.json").write_text(json.dumps({"device": "auto", a: section}))
    (cfg / "eval.json").write_text(
        json.dumps({"eval": {"temperature": temp, "top_k": top_k, "max_new_tokens": max_new}})
    )
    t = np.arange(STEPS) / STEPS
    live = root / "reports" / "live" / phase / f"seed{rl_seed}"
    train = lambda a: live / a / "plots" / "metrics" / "train"  # noqa: E731
    write_tsv(train("dpo"), "loss", (0.7 * np.exp(-5 * t) + rng.uniform(0, 0.05, STEPS)).tolist())
    write_tsv(train("dpo"), "reward_margin", (50 * t / beta + rng.normal(0, 3, STEPS)).tolist())
    write_tsv(train("dpo"), "accuracy", np.clip(0.5 + t, 0, 1).tolist())
    write_tsv(train("ppo"), "reward", (t * 4 + rng.normal(0, 0.3, STEPS)).tolist())
    write_tsv(train("ppo"), "kl", (t * 10).tolist())
    write_tsv(train("grpo"), "reward_mean", (t * 3 + rng.normal(0, 0.3, STEPS)).tolist())
    write_tsv(train("grpo"), "kl", (t * 2).tolist())
    std = np.abs(0.3 + 0.2 * np.sin(9 * t) + rng.normal(0, 0.05, STEPS))
    write_tsv(train("grpo"), "group_std_mean", std.tolist())
    write_tsv(train("grpo"), "group_std_min", (std * 0.2).tolist())
    write_tsv(train("grpo"), "collapsed_groups", [int(v < 0.1) for v in std * 0.2])
    if gold:  # PPO: gold peaks at 40% of training then falls while the reward climbs; GRPO: gold keeps pace
        write_tsv(train("ppo"), "gold_mean", (0.6 - 2 * (t - 0.4) ** 2).tolist())
        write_tsv(train("grpo"), "gold_mean", (0.4 + 0.3 * t).tolist())
    groups = [
        {
            "step": s + 1,
            "id": f"train-{g}",
            "family": f"family{g % 3}" if gold else None,
            "rewards": [0.0] * k,
            "std": float(abs(rng.normal(0.3, 0.2))),
        }
        for s in range(STEPS)
        for g in range(4)
    ]
    (live / "grpo" / "groups.jsonl").write_text("".join(json.dumps(g) + "\n" for g in groups))


def make_inputs(root: Path, gold: bool = True, phases=("phase1", "phase5"), heldout: bool = True, seeds=(0,)) -> Path:
    for i, ph in enumerate(phases):
        for j, rl in enumerate(seeds):
            make_phase(root, ph, gold, seed=10 + i + 100 * j, heldout=heldout, rl_seed=rl)
    write_params(root, phases, seeds)
    if gold:
        (root / "reports" / "live" / "rm").mkdir(parents=True, exist_ok=True)
        (root / "reports" / "live" / "rm" / "metrics.json").write_text(
            json.dumps(
                {"heldout": {"accuracy": 0.81, "n": 512}, "trust": {"spearman": 0.42}, "note": "text is ignored"}
            )
        )
    return root


def write_params(root: Path, phases, seeds=(0,)) -> Path:
    path = root / "params.yaml"
    path.write_text(f"seed: 0\nrl_seeds: {list(seeds)}\nphases:\n" + "".join(f"  {p}: {{}}\n" for p in phases))
    return path


def run_stage(root: Path):
    app = typer.Typer()
    app.command()(stage.main)
    return CliRunner().invoke(
        app, ["--params", str(root / "params.yaml"), "--reports", str(root / "reports"), "--data", str(root / "data")]
    )


def table_rows(md: str, first_cell: str) -> list[str]:
    """The cells of the markdown table row starting with `first_cell`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def num(cell: str) -> float:
    return float(cell.strip("*").split(" ")[0])


@pytest.fixture(scope="module")
def gold_run(tmp_path_factory):
    root = make_inputs(tmp_path_factory.mktemp("gold"))
    result = run_stage(root)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory):
    root = make_inputs(tmp_path_factory.mktemp("hub"), gold=False)
    result = run_stage(root)
    assert result.exit_code == 0, result.output
    return root


def load(root: Path, phases=("phase1", "phase5"), seeds=(0,)) -> R.Study:
    return R.load_study(list(phases), root / "reports", root / "data", list(seeds))


FIGURES = [
    "fig1_per_prompt_phase1.png",
    "fig5_per_prompt_phase5.png",
    "fig2_averages.png",
    "fig3_dpo_training_dynamics.png",
    "fig4_grpo_group_std.png",
    "fig6_before_after_averages.png",
    "fig7_delta_heatmap.png",
    "fig8_ranking_bump_chart.png",
]


@pytest.mark.slow
def test_every_output_written(gold_run):
    figs = gold_run / "reports" / "figures"
    assert sorted(p.name for p in figs.iterdir()) == sorted(
        FIGURES + ["fig9_rm_vs_gold.png", "fig10_overoptimisation.png"]
    )
    for p in figs.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    tables = {p.name for p in (gold_run / "reports" / "tables").iterdir()}
    for name in (
        "settings",
        "changes",
        "reward_model",
        "per_prompt_phase1",
        "per_prompt_phase5",
        "averages",
        "summary",
        "per_prompt_delta",
        "claims",
        "vs_sft",
        "phase_change",
        "trained",
    ):
        assert {f"{name}.md", f"{name}.csv"} <= tables
    md = (gold_run / "reports" / "report.md").read_text()
    for fig in FIGURES:
        assert f"(figures/{fig})" in md


@pytest.mark.slow
def test_per_prompt_table_numbers_and_bold_max(gold_run):
    md = (gold_run / "reports" / "tables" / "per_prompt_phase1.md").read_text()
    answers = [
        json.loads(line) for line in (gold_run / "data/eval/phase1/seed0/answers.jsonl").read_text().splitlines()
    ]
    study = [r for r in answers if r["set"] == "study"]
    for name in NAMES:
        cells = table_rows(md, R.md_escape(name))
        rm = {r["algo"]: r["rm"] for r in study if r["name"] == name}
        gold = {r["algo"]: r["gold"] for r in study if r["name"] == name}
        assert [num(c) for c in cells[1:5]] == [round(rm[a], 2) for a in ALGOS]
        assert [num(c) for c in cells[5:9]] == pytest.approx([round(gold[a], 2) for a in ALGOS])
        best = max(round(v, 2) for v in rm.values())
        assert [c.startswith("**") for c in cells[1:5]] == [round(rm[a], 2) == best for a in ALGOS]
        gbest = max(round(v, 2) for v in gold.values())
        assert [c.startswith("**") for c in cells[5:9]] == [round(gold[a], 2) == gbest for a in ALGOS]
    avg = table_rows(md, "**AVERAGE**")
    means = [float(np.mean([r["rm"] for r in study if r["algo"] == a])) for a in ALGOS]
    assert [num(c) for c in avg[1:5]] == [round(m, 3) for m in means]
    assert "Spelling \\| grammar" in md  # escaped: the row keeps its columns


@pytest.mark.slow
def test_summary_and_averages_tables(gold_run):
    study = load(gold_run)
    m1, m5 = study.first.metrics, study.last.metrics
    md = (gold_run / "reports" / "tables" / "summary.md").read_text()
    ds = R.deltas(study, R.ReportParams(), seed=0)
    for d in ds["rm"]:
        cells = table_rows(md, R.LABEL[d.algo])
        a = d.algo
        delta = m5[a]["study_rm"] - m1[a]["study_rm"]
        assert [num(c) for c in cells[1:4]] == [
            round(m1[a]["study_rm"], 3),
            round(m5[a]["study_rm"], 3),
            round(delta, 3),
        ]
        # the verdict comes from the held-out interval, never from the single study samples
        verdict = cells[4].strip("*")
        assert verdict == ("within noise" if not d.significant else ("improved" if d.held > 0 else "regressed"))
        assert cells[4].startswith("**") == bool(d.significant)
        assert num(cells[6]) == round(m1[a]["study_gold"], 3)  # gold beside RM
    avg = (gold_run / "reports" / "tables" / "averages.md").read_text()
    ppo1 = [line for line in avg.splitlines() if line.startswith("| phase1 | PPO |")][0]
    h = m1["ppo"]
    assert f"{h['heldout_rm']:+.3f} [{h['heldout_rm_lo']:+.3f}, {h['heldout_rm_hi']:+.3f}]" in ppo1
    assert "**" not in avg.split("\n\n")[0]  # single study samples: nothing marked best


@pytest.mark.slow
def test_report_sections_follow_the_numbers(gold_run):
    md = (gold_run / "reports" / "report.md").read_text()
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads[:3] == ["## Summary", "## The study's claims against this run", "## 1. Did each algorithm train?"]
    summary = md.split("## Summary\n")[1].split("\n## ")[0].strip()
    assert summary.count(". ") >= 2 and "claims checked here:" in summary
    claims = (gold_run / "reports" / "tables" / "claims.md").read_text()
    assert len([r for r in claims.splitlines() if r.startswith("| ") and "---" not in r]) == 1 + 10
    for link in re.findall(r"\]\(#([^)]+)\)", md):  # every in-report link lands on a heading
        assert any(R._anchor(h[3:].replace("\\", "")) == link for h in heads), link
    assert "paired bootstrap over the held-out (seed, prompt) cells both phases answered (12;" in md
    assert "`ppo.kl_coef` | 0.01 → **0.1**" in md  # what changed between phases
    rm = (gold_run / "reports" / "tables" / "reward_model.md").read_text()
    assert "`heldout.accuracy` | 0.81" in rm and "`heldout.accuracy`" not in md  # the dump is an appendix
    # sample answers: escaped, line breaks marked, every phase under each prompt
    assert "Answer of ppo to Stay healthy tips ⏎ with \\*markdown\\* \\| pipes" in md
    assert "**Prompt:**" in md
    # the declared DVC metrics: one small file per phase and algorithm, a few keys each
    heads = sorted((gold_run / "reports" / "headline").rglob("*.json"))
    assert [f"{p.parent.name}/{p.stem}" for p in heads] == sorted(
        f"{ph}/{a}" for ph in ("phase1", "phase5") for a in ALGOS
    )
    m1 = load(gold_run).first.metrics
    dpo = json.loads((gold_run / "reports" / "headline" / "phase1" / "dpo.json").read_text())
    assert len(dpo) <= 8 and dpo["gold"] == round(m1["dpo"]["heldout_gold"], 4)


@pytest.mark.slow
def test_vs_sft_table_follows_the_answers(gold_run):
    study = load(gold_run)
    k = R._vk(R.ReportParams(bootstrap=300), seed=0)
    df = R.vs_sft_table(study, k)
    for r in df.to_dict("records"):
        ph = next(p for p in study.phases if p.name == r["phase"])
        h = ph.heldout
        per = lambda a, h=h: h[h["algo"] == a].groupby("prompt_id")["rm"].mean()  # noqa: E731
        assert r["rm_diff"] == pytest.approx(float((per(r["algo"]) - per("sft")).mean()))
        assert r["rm_verdict"] == ("higher" if r["rm_lo"] > 0 else "lower" if r["rm_hi"] < 0 else "within noise")
    # make PPO phase1 identical to SFT: a zero difference, within noise, named so in the summary
    ans = study.first.answers
    ppo, sft = (ans["algo"] == "ppo") & (ans["set"] == "heldout"), (ans["algo"] == "sft") & (ans["set"] == "heldout")
    ans.loc[ppo, ["rm", "gold"]] = ans.loc[sft, ["rm", "gold"]].to_numpy()
    df = R.vs_sft_table(study, k)
    row = df[(df["phase"] == "phase1") & (df["algo"] == "ppo")].iloc[0]
    assert (row["rm_diff"], row["rm_verdict"]) == (0.0, "within noise")


def test_bootstrap_ci_known_cases():
    assert bootstrap_ci([2.0] * 10, n_boot=500, ci=0.95, seed=1) == (2.0, 2.0)
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    lo, hi = bootstrap_ci(x, n_boot=1000, ci=0.9, seed=3)
    idx = torch.randint(5, (1000, 5), generator=torch.Generator().manual_seed(3))  # the same resampling by hand
    means = sorted(x[idx.numpy()].mean(axis=1))
    assert (lo, hi) == pytest.approx((means[int(0.05 * 999)], means[round(0.95 * 999)]))
    assert lo < x.mean() < hi
    # large-sample check against the normal approximation: mean +- 1.645 * sd / sqrt(n)
    y = np.random.default_rng(0).normal(size=400)
    lo2, hi2 = bootstrap_ci(y, n_boot=4000, ci=0.9, seed=0)
    half = 1.645 * y.std() / np.sqrt(len(y))
    assert lo2 == pytest.approx(y.mean() - half, abs=0.2 * half)
    assert hi2 == pytest.approx(y.mean() + half, abs=0.2 * half)
    assert bootstrap_ci(x, n_boot=1000, ci=0.9, seed=3) == (lo, hi)  # deterministic


@pytest.mark.slow
def test_phase_delta_ci_paired_bootstrap_and_overlap_fallback(gold_run):
    study = load(gold_run)
    first, last = study.first, dataclasses.replace(study.first)
    last.answers = first.answers.copy()
    last.answers["rm"] = last.answers["rm"] + 1.5  # every prompt exactly +1.5
    d = R.phase_delta(first, last, "ppo", "rm", R.ReportParams(bootstrap=300), seed=0)
    assert d.method == "bootstrap" and d.n == N_HELD and d.significant
    assert (d.held, d.lo, d.hi) == pytest.approx((1.5, 1.5, 1.5))
    last.answers["rm"] = first.answers["rm"]  # no change at all: zero, not significant
    d = R.phase_delta(first, last, "ppo", "rm", R.ReportParams(bootstrap=300), seed=0)
    assert (d.held, d.lo, d.hi, d.significant) == (0.0, 0.0, 0.0, False)
    # held-out prompts that do not match: fall back to the phases' own intervals
    last.answers = first.answers.assign(prompt_id=first.answers["prompt_id"] + "-other")
    last.metrics = json.loads(json.dumps(first.metrics))
    last.metrics["ppo"].update(heldout_rm=5.0, heldout_rm_lo=4.0, heldout_rm_hi=6.0)
    first.metrics["ppo"].update(heldout_rm=1.0, heldout_rm_lo=0.0, heldout_rm_hi=3.9)
    d = R.phase_delta(first, last, "ppo", "rm", R.ReportParams(), seed=0)
    assert (d.method, d.held, d.significant) == ("overlap", 4.0, True)
    first.metrics["ppo"]["heldout_rm_hi"] = 4.1
    assert not R.phase_delta(first, last, "ppo", "rm", R.ReportParams(), seed=0).significant


@pytest.mark.slow
def test_without_gold_sections_say_so(hub_run):
    md = (hub_run / "reports" / "report.md").read_text()
    assert "no gold judge" in md.lower()
    assert "RM-vs-gold agreement and the over-optimisation curves are skipped" in md
    assert "gold" not in (hub_run / "reports" / "tables" / "per_prompt_phase1.md").read_text()
    assert "gold" not in (hub_run / "reports" / "tables" / "summary.md").read_text()
    figs = {p.name for p in (hub_run / "reports" / "figures").iterdir()}
    assert figs == set(FIGURES)
    assert "reward_model.md" not in {p.name for p in (hub_run / "reports" / "tables").iterdir()}


@pytest.mark.slow
def test_removing_a_phase_removes_it_everywhere(gold_run, tmp_path):
    root = tmp_path / "one"
    shutil.copytree(gold_run, root)
    write_params(root, ["phase1"])  # phase5's files stay on disk; the report must ignore them
    result = run_stage(root)
    assert result.exit_code == 0, result.output
    md = (root / "reports" / "report.md").read_text()
    assert "phase5" not in md
    assert "Only one phase (phase1)" in md and "are skipped" in md
    for folder in ("figures", "tables"):
        for p in (root / "reports" / folder).iterdir():
            assert "phase5" not in p.name and "phase5" not in (p.read_text() if p.suffix != ".png" else "")
    names = {p.name for p in (root / "reports" / "figures").iterdir()}
    assert "fig7_delta_heatmap.png" not in names and "fig6_before_after_averages.png" not in names
    one = load(root, ["phase1"])
    for draw in (R.fig_dpo, R.fig_grpo):  # one panel (row) per phase: phase1's only
        titles = draw(one, tmp_path / "fig.png", R.ReportParams())
        assert any("phase1" in t for t in titles) and not any("phase5" in t for t in titles)


@pytest.mark.slow
def test_report_is_byte_identical_across_runs(gold_run, tmp_path):
    root = tmp_path / "again"
    shutil.copytree(gold_run, root)
    result = run_stage(root)
    assert result.exit_code == 0, result.output
    for rel in ["report.md", "tables/summary.csv", *(f"figures/{f}" for f in FIGURES)]:
        assert (root / "reports" / rel).read_bytes() == (gold_run / "reports" / rel).read_bytes(), rel


def test_without_heldout_no_intervals(tmp_path):
    root = make_inputs(tmp_path, gold=False, heldout=False)
    study = load(root)
    ds = R.deltas(study, R.ReportParams(), seed=0)
    assert all(d.held is None and d.significant is None for d in ds["rm"])
    k = R._vk(R.ReportParams(), seed=0)
    md, df = R.vs_sft_markdown(study, k)
    assert "No held-out prompts were evaluated" in md
    assert "no difference in RM reward can be told from noise" in R.headline(study, R.trained_table(study), df, [])
    md, _ = R.averages_markdown(study, 0.95)
    assert re.search(r"\| phase1 \| SFT \| [^|]+ \| — \|", md)


def test_missing_input_is_one_line_naming_file_and_fix(tmp_path):
    root = make_inputs(tmp_path, gold=False)
    (root / "data" / "eval" / "phase5" / "seed0" / "answers.jsonl").unlink()
    result = run_stage(root)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and "phase5/seed0/answers.jsonl" in lines[0] and "run `dvc repro` (eval@phase5-0)" in lines[0]
    )
    assert not (root / "reports" / "report.md").exists()


def test_md_escape():
    assert R.md_escape("a|b *c* _d_ `e` [f](g) <h>\n#i") == "a\\|b \\*c\\* \\_d\\_ \\`e\\` \\[f\\](g) \\<h\\> ⏎ \\#i"


# per-step noise of the committed run's logs (std of RM reward and gold, their correlation): PPO, GRPO
NOISE = {"ppo": (0.26, 0.12, -0.1), "grpo": (0.41, 0.21, -0.35)}


def rl_log(rm, gold, kl=None):
    import pandas as pd

    n = len(rm)
    kl = np.linspace(0, 1, n) ** 2 if kl is None else kl
    return pd.DataFrame({"step": np.arange(1, n + 1), "reward": rm, "gold_mean": gold, "kl": kl})


def noise(rng, algo="grpo", n=200, phi=0.0):
    """Per-step RM and gold noise at the real logs' levels; AR(1) with coefficient phi when phi > 0."""
    sr, sg, rho = NOISE[algo]
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    for i in range(1, n if phi else 0):
        z[i] = phi * z[i - 1] + math.sqrt(1 - phi**2) * z[i]
    return z[:, 0] * sr, z[:, 1] * sg


def hack(d, algo="grpo", n=200, peak=0.3):
    """Gao et al.'s shape: gold rises, peaks at `peak` of training and ends d gold-noise stds below its
    peak, while the RM climbs (concave) by d RM-noise stds after gold's peak."""
    sr, sg, _ = NOISE[algo]
    s, sp = np.sqrt(np.arange(1, n + 1) / n), math.sqrt(peak)
    shape = (s / sp) * (2 - s / sp)
    return s * d * sr / (1 - sp), shape * d * sg / (1 - shape[-1])


def flagged(make, seeds, key="over"):
    """The share of logs made from `seeds` on which the test says `key` (or, for key=None, both shares)."""
    tests = [R.overoptimisation(rl_log(*make(np.random.default_rng(i))), "reward") for i in seeds]
    share = {k: sum(o[k] for o in tests) / len(tests) for k in ("over", "drift")}
    return share if key is None else share[key]


def test_overoptimisation_on_pure_noise_flags_at_most_alpha():
    for algo, seeds in (("ppo", range(100)), ("grpo", range(100, 200))):  # 200 logs
        share = flagged(lambda rng, algo=algo: noise(rng, algo), seeds, None)
        assert share["over"] <= 0.08 and share["drift"] <= 0.08, (algo, share)


def test_overoptimisation_on_autocorrelated_noise_with_a_shared_trend_flags_at_most_alpha():
    t = np.linspace(0, 1, 200)
    for phi, trend in ((0.6, 0.0), (0.6, 0.3)):  # RM and gold rising together is no over-optimisation
        make = lambda rng, phi=phi, trend=trend: (lambda r, g: (r + trend * t, g + trend * t))(*noise(rng, phi=phi))  # noqa: E731
        assert flagged(make, range(100)) <= 0.08, (phi, trend)


def test_overoptimisation_needs_both_halves():
    r_hack, g_hack = hack(3)
    # gold peaks and falls hard but the RM is flat noise; the RM climbs hard but gold is flat noise
    assert flagged(lambda rng: (lambda r, g: (r, g + g_hack))(*noise(rng)), range(100)) <= 0.08
    assert flagged(lambda rng: (lambda r, g: (r + r_hack, g))(*noise(rng)), range(100)) <= 0.08


def test_overoptimisation_detects_a_planted_hack():
    r_hack, g_hack = hack(3)
    hits = 0
    for seed in range(20):
        r, g = noise(np.random.default_rng(seed))
        o = R.overoptimisation(rl_log(r + r_hack, g + g_hack), "reward")
        hits += o["over"]
        if o["over"]:
            assert o["p_over"] <= 0.05 and o["peak_steps"][0] < 100 and o["end_steps"][1] == 200
            assert "over-optimises the RM" in R.overoptimisation_sentence("GRPO p", o)
    assert hits >= 18
    # noiseless, and on a short log (8 bins of 5 steps)
    r, g = hack(1, n=40)
    assert R.overoptimisation(rl_log(r, g), "reward")["over"]


def test_overoptimisation_shared_rise_and_shared_fall_are_no_over_optimisation():
    t = np.linspace(0, 1, 200)
    r, g = noise(np.random.default_rng(0))
    o = R.overoptimisation(rl_log(r + 2 * t, g + t), "reward")  # both rise
    assert not o["over"] and not o["drift"] and o["p_over"] > 0.5
    o = R.overoptimisation(rl_log(r - 0.5 * t, g - 0.3 * t), "reward")  # both fall: drift from both
    assert not o["over"] and not o["drift"] and o["p_gold_change"] <= 0.05
    sentence = R.overoptimisation_sentence("PPO p", o)
    assert "no evidence of over-optimisation" in sentence and "no sign" not in sentence
    assert "gold 0." in sentence and "beyond noise" in sentence and "not over-optimisation" in sentence


def test_overoptimisation_drift_without_a_peak_past_which_the_rm_rose():
    t = np.linspace(0, 1, 200)
    bump = np.where(t < 0.3, t / 0.3, 1 - (t - 0.3) / 0.7)  # both peak at 30% of training
    r, g = noise(np.random.default_rng(1), "ppo")
    # the RM ends above its start and gold below it, but the RM fell after gold's peak too
    o = R.overoptimisation(rl_log(r - 0.6 + 2 * bump + 0.6 * t, g + 0.2 * bump - 0.4 * t), "reward")
    assert o["drift"] and not o["over"]
    sentence = R.overoptimisation_sentence("PPO p", o)
    assert "the RM gain is not a real one" in sentence and "no evidence that the RM was pushed" in sentence


def test_overoptimisation_within_noise_says_so():
    r, g = noise(np.random.default_rng(3))
    o = R.overoptimisation(rl_log(r, g), "reward")
    assert not o["over"] and not o["drift"]
    sentence = R.overoptimisation_sentence("GRPO p", o)
    assert "no evidence of over-optimisation" in sentence and "within noise" in sentence


# ---------------------------------------------------------------------------------------------- figures


def tie(study: R.Study, phase: int, algo: str, like: str, seed: int = 0) -> None:
    """Make `algo`'s held-out RM scores in one phase those of `like` plus a little noise: a tie."""
    ph = study.phases[phase]
    a = ph.answers
    rng = np.random.default_rng(seed)
    mine, theirs = (
        a.index[(a["set"] == "heldout") & (a["algo"] == algo)],
        a[(a["set"] == "heldout") & (a["algo"] == like)],
    )
    a.loc[mine, "rm"] = theirs["rm"].to_numpy() + rng.normal(0, 0.05, len(mine))


def test_tied_ranking_ranks_by_heldout_and_shares_ranks_within_noise(tmp_path):
    study = load(make_inputs(tmp_path, gold=False))
    knobs = R.ReportParams(bootstrap=300)
    ph = study.first
    rows = R.tied_ranking(ph, "rm", knobs)
    held = ph.heldout.groupby(["algo", "prompt_id"])["rm"].mean().groupby("algo").mean()
    assert [r["algo"] for r in rows] == sorted(ALGOS, key=lambda a: -held[a])  # held-out, not the study prompts
    assert [r["mean"] for r in rows] == pytest.approx([held[r["algo"]] for r in rows])
    assert all(r["lo"] < r["mean"] < r["hi"] and r["source"] == "held-out" for r in rows)
    tie(study, 0, "dpo", "sft")
    rank = {r["algo"]: r["rank"] for r in R.tied_ranking(ph, "rm", knobs)}
    assert rank["sft"] == rank["dpo"]  # within noise: one rank
    assert rank["grpo"] == 4 and rank["ppo"] == 1  # far apart: their own ranks
    # without held-out answers the study prompts stand in
    ph.answers = ph.answers[ph.answers["set"] == "study"]
    assert {r["source"] for r in R.tied_ranking(ph, "rm", knobs)} == {"study"}


def test_collapsed_share_is_a_share_of_the_steps_groups(tmp_path):
    study = load(make_inputs(tmp_path, gold=False))
    for ph in study.phases:
        share = R.collapsed_share(ph)
        log = ph.logs["grpo"]
        assert share.tolist() == pytest.approx((log["collapsed_groups"] / 4).tolist())
        assert share.between(0, 1).all()
        del ph.configs["grpo"]["grpo"]["prompts_per_step"]  # not in the config: groups.jsonl's groups per step
        assert R.collapsed_share(ph).tolist() == share.tolist()
        ph.groups = None
        assert R.collapsed_share(ph) is None


def test_within_prompt_spearman():
    import pandas as pd

    rows = [
        {"set": "heldout", "prompt_id": p, "rm": rm, "gold": g}
        for p, pairs in (("a", [(1, 0), (2, 1), (3, 1)]), ("b", [(5, 1), (6, 0), (7, 0)]), ("c", [(1, 1)] * 3))
        for rm, g in pairs
    ]
    rho, n = R.within_prompt_spearman(pd.DataFrame(rows))
    assert n == 2  # "c": nothing varies
    assert rho == pytest.approx((spearman([1, 2, 3], [0, 1, 1]) + spearman([5, 6, 7], [1, 0, 0])) / 2)


def overlaps(d: R.Drawn) -> list[str]:
    """Texts that overlap each other or leave the canvas."""
    out = []
    w, h = d.size
    for t, (x0, y0, x1, y1) in d.texts:
        if x0 < -0.5 or y0 < -0.5 or x1 > w + 0.5 or y1 > h + 0.5:
            out.append(f"off the canvas: {t!r}")
    for i, (a, p) in enumerate(d.texts):
        for b, q in d.texts[i + 1 :]:
            if p[0] < q[2] - 0.5 and q[0] < p[2] - 0.5 and p[1] < q[3] - 0.5 and q[1] < p[3] - 0.5:
                out.append(f"{a!r} overlaps {b!r}")
    return out


def crosses(box, path: np.ndarray) -> bool:
    """Does a polyline (pixels) pass through a box (pixels)?"""
    x0, y0, x1, y1 = box
    for (ax, ay), (bx, by) in zip(path[:-1], path[1:]):
        t = np.linspace(0, 1, 400)
        x, y = ax + t * (bx - ax), ay + t * (by - ay)
        if ((x > x0 + 1) & (x < x1 - 1) & (y > y0 + 1) & (y < y1 - 1)).any():
            return True
    return False


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Figs 2, 3, 4, 8 and 9 of the gold study, with a tie (DPO = SFT on phase1's held-out prompts)."""
    root = tmp_path_factory.mktemp("figs")
    study = load(make_inputs(root))
    tie(study, 0, "dpo", "sft")
    knobs = R.ReportParams(bootstrap=300)
    out = root / "out"
    return study, {
        2: R.fig_averages(study, out / "fig2.png"),
        3: R.fig_dpo(study, out / "fig3.png", knobs),
        4: R.fig_grpo(study, out / "fig4.png", knobs),
        8: R.fig_ranking(study, out / "fig8.png", knobs),
        9: R.fig_rm_vs_gold(study, out / "fig9.png"),
    }


@pytest.mark.slow
def test_figures_have_no_overlapping_text_and_legends_outside_the_data(drawn):
    _, figs = drawn
    for no, d in figs.items():
        assert overlaps(d) == [], f"fig {no}"
        for leg in d.legends:
            for f in d.frames:
                assert leg[2] <= f[0] or f[2] <= leg[0] or leg[3] <= f[1] or f[3] <= leg[1], f"fig {no}"


@pytest.mark.slow
def test_fig_dpo_shares_axes_and_marks_ln2_zero_and_the_study(drawn, tmp_path):
    study, figs = drawn
    d = figs[3]
    loss = [d.panels[t] for t in d if "DPO loss" in t]
    margin = [d.panels[t] for t in d if "reward margin" in t]
    assert len(loss) == len(margin) == 2
    assert loss[0]["ylim"] == loss[1]["ylim"] and margin[0]["ylim"] == margin[1]["ylim"]
    for p in loss:
        assert p["lines"]["ln 2 (no preference)"] == pytest.approx([math.log(2)] * 2)
    for p in margin:
        assert p["lines"]["margin 0"] == pytest.approx([0, 0])
    first, last = (" ".join(p["texts"]) for p in margin)
    assert "599 at step 150" in first and "261" not in first
    assert "peak 261" in last and "599" not in last
    # our margins far below the study's: the study's values go off scale and ours keep the panel
    for ph in study.phases:
        ph.logs["dpo"] = ph.logs["dpo"].assign(reward_margin=ph.logs["dpo"]["reward_margin"] / 1000)
    small = R.fig_dpo(study, tmp_path / "fig3.png", R.ReportParams())
    margin = [small.panels[t] for t in small if "reward margin" in t]
    ours = max(float(ph.logs["dpo"]["reward_margin"].max()) for ph in study.phases)
    for p in margin:
        assert "(off scale)" in " ".join(p["texts"]) and p["ylim"][1] < 3 * ours
    assert overlaps(small) == []


@pytest.mark.slow
def test_fig_grpo_plots_shares_with_shared_axes(drawn):
    study, figs = drawn
    d = figs[4]
    std = [d.panels[t] for t in d if t.endswith("group reward std")]
    share = [d.panels[t] for t in d if "collapsed share" in t]
    assert len(std) == len(share) == 2
    assert std[0]["ylim"] == std[1]["ylim"] and share[0]["ylim"] == share[1]["ylim"]
    for ph in study.phases:  # which k and T each panel has
        k, temp = ph.knob("grpo", "group_size"), ph.knob("grpo", "gen_temperature")
        assert sum(t.startswith(f"{ph.name} (k={k}, T={temp})") for t in d) == 2
    for ph in study.phases:
        assert d.data["shares"][ph.name].tolist() == pytest.approx((ph.logs["grpo"]["collapsed_groups"] / 4).tolist())
    for p in share:
        curves = [v for label, v in p["lines"].items() if label.startswith("_")]  # the per-step and moving average
        assert curves and all(((v >= 0) & (v <= 1)).all() for v in curves)
    assert "2 of 16 prompts at std 0" in " ".join(d.data["refs"])
    assert "step 140" in d.data["refs"][-1]


@pytest.mark.slow
def test_fig_ranking_draws_ties_at_one_rank_and_labels_clear_of_lines(drawn):
    _, figs = drawn
    d = figs[8]
    ranks = d.data["ranks"]["rm"]["phase1"]
    assert ranks["sft"]["rank"] == ranks["dpo"]["rank"]
    rm = next(d.panels[t] for t in d if "RM" in t)
    y_sft, y_dpo = rm["lines"]["SFT"][0], rm["lines"]["DPO"][0]
    assert abs(y_sft - ranks["sft"]["rank"]) < 0.5 and abs(y_dpo - ranks["dpo"]["rank"]) < 0.5  # the same slot
    assert y_sft != y_dpo  # side by side, not on top of each other
    labels = [(t, box) for t, box in d.texts if t.split(" ")[0] in R.LABEL.values() and "[" in t]
    assert len(labels) == len(ALGOS) * 2 * 2  # every point: mean and interval
    for t, box in labels:
        assert not any(crosses(box, line) for line in d.lines), t


@pytest.mark.slow
def test_fig_rm_vs_gold_bins_by_gold(drawn):
    study, figs = drawn
    d = figs[9]
    for ph in study.phases:
        a = ph.answers
        for algo in ALGOS:
            sub = a[a["algo"] == algo]
            assert len(d.data["bins"][ph.name][(algo, 0)]) == int((sub["gold"] < 0.5).sum())
            assert len(d.data["bins"][ph.name][(algo, 1)]) == int((sub["gold"] >= 0.5).sum())
    assert all("within prompt" in t for t in d[1:])


def test_overoptimisation_degenerate_logs_do_not_crash(recwarn):
    rng = np.random.default_rng(0)
    assert R.overoptimisation(rl_log(np.zeros(0), np.zeros(0)), "reward") is None  # nothing logged
    for n in (1, 2, 5, 8):
        o = R.overoptimisation(rl_log(rng.normal(size=n), rng.normal(size=n)), "reward")
        assert o["bins"] == 0 and not o["over"] and "too few" in R.overoptimisation_sentence("PPO p", o)
        assert R.overoptimisation_bins(rl_log(np.zeros(n), np.zeros(n)), "reward") is None
    o = R.overoptimisation(rl_log(rng.normal(size=9), rng.normal(size=9)), "reward")
    assert o["bins"] == 3
    assert R.overoptimisation(rl_log(np.arange(50.0), np.full(50, np.nan)), "reward") is None
    assert R.overoptimisation(rl_log(np.arange(50.0), np.zeros(50)).drop(columns="gold_mean"), "reward") is None
    gold = rng.normal(size=50)
    gold[::3] = np.nan  # gold scored on some steps only
    o = R.overoptimisation(rl_log(rng.normal(size=50), gold), "reward")
    assert o["n"] == 33 and o["bins"] == 8
    for rm, gold in ((np.ones(60), np.full(60, 0.5)), (np.ones(60), rng.normal(size=60))):  # constant columns
        o = R.overoptimisation(rl_log(rm, gold), "reward")
        assert o["p_over"] == 1 and not o["over"] and not o["drift"] and o["p_rm_change"] == 1
    rm, gold = np.arange(60.0) + rng.normal(size=60) * 3, np.repeat([0.0, 1.0, 0.0], 20) + rng.normal(size=60) * 0.3
    assert R.overoptimisation(rl_log(rm, gold), "reward")["over"]  # gold a step up and down, not a curve
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_overoptimisation_is_deterministic_and_its_fpr_is_measured():
    r, g = noise(np.random.default_rng(5))
    r_hack, g_hack = hack(3)
    log = rl_log(r + r_hack, g + g_hack)
    assert R.overoptimisation(log, "reward") == R.overoptimisation(log, "reward")
    f = R.overoptimisation_fpr(log, "reward", n_shuffles=100)
    assert f == R.overoptimisation_fpr(log, "reward", n_shuffles=100)
    # shuffling a real hack's steps leaves noise: flagged on few copies
    assert f["shuffles"] == 100 and f["over"] <= 0.08 and f["drift"] <= 0.08
    assert R.overoptimisation_fpr(rl_log(np.ones(4), np.ones(4)), "reward")["shuffles"] == 0


def test_block_shuffles_are_permutations_keeping_blocks():
    order = R._shuffled_order(23, 4, 50, np.random.default_rng(0))
    for row in order:
        assert sorted(row) == list(range(23))
        starts = [i for i in range(23) if i == 0 or row[i] != row[i - 1] + 1]
        assert all(row[s] % 4 == 0 for s in starts)  # every run starts at a block's start


def test_overoptimisation_findings_and_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(findings, "OVER_FPR_SHUFFLES", 50)  # read where it is used
    t = np.linspace(0, 1, 200)
    r, g = noise(np.random.default_rng(0))
    r_hack, g_hack = hack(3)
    logs = [
        {"ppo": rl_log(r + r_hack, g + g_hack), "grpo": rl_log(r, g).rename(columns={"reward": "reward_mean"})},
        {"ppo": rl_log(r[:6], g[:6]), "grpo": rl_log(r + t, g * np.nan).rename(columns={"reward": "reward_mean"})},
    ]
    study = R.Study([R.Phase(f"p{i}", {}, None, {}, lg) for i, lg in enumerate(logs)])
    text = R.overoptimisation_findings(study)
    assert text[0].startswith("PPO p0 over-optimises the RM") and "too few" in text[1]
    assert text[2].startswith("GRPO p0: no evidence") and len(text) == 4  # GRPO p1 has no gold
    assert "False-positive rate" in text[3] and "50 step-shuffled copies" in text[3]
    titles = R.fig_overoptimisation(study, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PPO p0 (kl_coef=None)\nover-optimisation: yes (p=0.005)" in titles
    assert any(t.endswith("no gold log") for t in titles)


# ---------------------------------------------------------------------------------------------- seeds


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    root = make_inputs(tmp_path_factory.mktemp("seeds"), seeds=(0, 1, 2))
    result = run_stage(root)
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.slow
def test_seeds_are_pooled_with_their_own_numbers_beside(seeds_run):
    root = seeds_run
    md = (root / "reports" / "report.md").read_text()
    assert "trained once per RL seed (0, 1, 2)" in md and "### Seed by seed" in md
    seeds_md = (root / "reports" / "tables" / "seeds.md").read_text()
    for cell in (
        "| phase1 | PPO | 0 |",
        "| phase1 | PPO | 2 |",
        "| phase5 | DPO | *mean* |",
        "| phase5 | SFT | *SD* |",
    ):
        assert cell in seeds_md, cell
    summary = json.loads((root / "reports" / "summary.json").read_text())
    per_seed = [
        json.loads((root / "reports" / "metrics" / "phase1" / f"seed{s}.json").read_text())["ppo"]["heldout_gold"]
        for s in (0, 1, 2)
    ]
    assert summary["phase1"]["ppo"]["seeds"]["1"]["gold"] == pytest.approx(per_seed[1], abs=1e-6)
    head = json.loads((root / "reports" / "headline" / "phase1" / "ppo.json").read_text())
    assert head["gold"] == pytest.approx(np.mean(per_seed), abs=1e-4)  # the mean over seeds
    # the headline interval is the hierarchical one: as computed from the pooled answers
    study = load(root, seeds=(0, 1, 2))
    iv = V.seeded_ci(V.per_prompt(study.first.answers, "ppo", "gold"), n_boot=200, ci=0.95, seed=0)
    assert (head["gold_lo"], head["gold_hi"]) == (round(iv.lo, 4), round(iv.hi, 4))
    # sample answers are the first seed's: one row per phase and algorithm, not one per seed
    block = md[md.index("## 9. Sample answers") :].split("#### ")[1]
    assert sum(line.startswith("| phase") for line in block.splitlines()) == 2 * 4


def test_a_seed_left_out_of_params_is_ignored_and_a_missing_one_is_named(tmp_path):
    root = make_inputs(tmp_path, gold=False, phases=("phase1",), seeds=(0, 1))
    study = load(root, phases=("phase1",), seeds=(0,))
    assert set(study.first.answers["seed"]) == {0} and study.first.seeds == [0]
    study = load(root, phases=("phase1",), seeds=(0, 1))
    assert set(study.first.answers["seed"]) == {0, 1} and len(study.first.all_logs("dpo")) == 2
    write_params(root, ["phase1"], seeds=(0, 1, 2))
    result = run_stage(root)
    assert result.exit_code == 2
    assert "phase1/seed2.json" in result.output and "(eval@phase1-2)" in result.output


def test_a_share_beside_the_moved_bar_is_not_rounded_onto_it():
    assert R._share(0.497) == "49.7%" and R._share(0.503) == "50.3%" and R._share(0.5) == "50%"
    assert R._share(0.71) == "71%" and R._share(0.0) == "0%"


def test_grouped_plot_files_hold_every_phase_seed_and_algorithm_and_drop_stale_ones(tmp_path):
    import pandas as pd

    from rlhf_core.report import dvcplots

    root = make_inputs(tmp_path, seeds=(0, 1))
    study = load(root, seeds=(0, 1))
    stale = root / "reports" / "plots" / "removed_quantity.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("step,value\n")
    written = dvcplots.write_grouped(study, root / "reports")
    names = {p.stem for p in written}
    assert not stale.exists() and {p.name for p in (root / "reports" / "plots").iterdir()} == {
        f"{n}.csv" for n in names
    }
    # the fixture logs no response_len / grad_norm / explained variance: those charts are left out, not empty
    assert names == {"rm_reward", "gold", "kl_per_token", "dpo_margin", "dpo_accuracy", "grpo_group_std"}
    kl = pd.read_csv(root / "reports" / "plots" / "kl_per_token.csv")
    assert list(kl.columns) == ["step", "value", "series", "phase", "seed"]
    # PPO's per-token KL is absent in the fixture (only its per-sequence "kl"): GRPO's k3 alone, per phase and seed
    assert set(kl.series) == {"GRPO"} and set(kl.phase) == {"phase1", "phase5"} and set(kl.seed) == {0, 1}
    rm = pd.read_csv(root / "reports" / "plots" / "rm_reward.csv")
    assert set(rm.series) == {"PPO", "GRPO"} and len(rm) == 2 * 2 * 2 * STEPS
    one = rm[(rm.series == "PPO") & (rm.phase == "phase5") & (rm.seed == 1)]
    logged = pd.read_csv(
        root / "reports" / "live" / "phase5" / "seed1" / "ppo" / "plots" / "metrics" / "train" / "reward.tsv", sep="\t"
    )
    assert np.allclose(one.value.to_numpy(), logged.reward.to_numpy(), rtol=1e-5) and list(one.step) == list(
        logged.step
    )


@pytest.mark.slow
def test_report_renders_without_optional_training_logs_and_diagnostics(gold_run, tmp_path):
    """The optional logs (gold of training samples, DPO accuracy, GRPO collapse counts) and the stages'
    did-it-train diagnostics may be absent: the report still renders every section, and says n/a where
    a number is missing rather than inventing one."""
    root = tmp_path / "bare"
    shutil.copytree(gold_run, root)
    for algo, stats in OPTIONAL_LOGS_OF_FIXTURE.items():
        for phase in ("phase1", "phase5"):
            for stat in stats:
                (
                    root / "reports" / "live" / phase / "seed0" / algo / "plots" / "metrics" / "train" / f"{stat}.tsv"
                ).unlink()
    result = run_stage(root)
    assert result.exit_code == 0, result.output
    md = (root / "reports" / "report.md").read_text()
    assert "## 1. Did each algorithm train?" in md and "### Seed by seed" not in md
    trained = (root / "reports" / "tables" / "trained.csv").read_text().splitlines()
    assert len(trained) == 1 + 2 * 3  # every (phase, algorithm) has its row, diagnostics or not
    names = {p.stem for p in (root / "reports" / "plots").iterdir()}
    assert "gold" not in names and "dpo_accuracy" not in names and "rm_reward" in names


OPTIONAL_LOGS_OF_FIXTURE = {
    "ppo": ("gold_mean",),
    "grpo": ("gold_mean", "group_std_min", "collapsed_groups"),
    "dpo": ("accuracy",),
}


def test_a_run_moved_only_when_every_seed_is_far_from_sft(tmp_path):
    """Two seeds, one that stayed at SFT and one that moved: the mean KL clears the bar, the seed at SFT does
    not. Then both seeds move, one much further: the run moved, although the lower end of the mean's interval
    is under the bar (moving further must never count as staying)."""
    import numpy as np

    from rlhf_core import verdicts as V
    from rlhf_core.report.tables import MOVED_KL

    root = make_inputs(tmp_path, gold=False, phases=("phase1",), seeds=(0, 1))
    study = load(root, phases=("phase1",), seeds=(0, 1))
    ph = study.first
    rows = (ph.answers["algo"] == "ppo") & (ph.answers["set"] == "heldout")
    rng = np.random.default_rng(0)
    ph.answers.loc[rows, "kl"] = np.where(ph.answers.loc[rows, "seed"] == 0, 0.0, 0.03) + rng.uniform(
        0, 1e-3, rows.sum()
    )
    ph.metrics["ppo"]["kl"] = float(ph.answers.loc[rows, "kl"].mean())
    ph.metrics["ppo"].setdefault("trained", {})["differs_from_sft"] = 0.9
    assert ph.metrics["ppo"]["kl"] >= MOVED_KL
    plain = R.trained_table(study).set_index("algo").loc["ppo"]
    assert plain["moved"] is False and np.isnan(plain["kl_lo"])
    row = R.trained_table(study, V.Knobs(n_boot=500)).set_index("algo").loc["ppo"]
    assert row["kl_lo"] < MOVED_KL <= row["kl_to_sft"] <= row["kl_hi"] and row["moved"] is False

    ph.answers.loc[rows, "kl"] = np.where(ph.answers.loc[rows, "seed"] == 0, 0.02, 0.6) + rng.uniform(
        0, 1e-3, rows.sum()
    )
    ph.metrics["ppo"]["kl"] = float(ph.answers.loc[rows, "kl"].mean())
    row = R.trained_table(study, V.Knobs(n_boot=500)).set_index("algo").loc["ppo"]
    assert row["kl_lo"] < MOVED_KL and row["moved"] is True


def test_prompts_without_gold_show_a_dash_and_say_why(tmp_path, monkeypatch):
    """A study prompt whose family the judge cannot verify has no gold: its cells read "—", the note says how
    many such prompts there are, the gold average is over the rest, and the figure labels the empty row."""
    import numpy as np

    from rlhf_core.report import figures
    from rlhf_core.report.markdown import per_prompt_markdown

    root = make_inputs(tmp_path, phases=("phase1",))
    study = load(root, phases=("phase1",))
    ph = study.first
    name = ph.study["name"].iloc[0]
    ph.answers.loc[ph.answers["name"] == name, "gold"] = np.nan
    n = ph.study["name"].nunique()
    assert study.prompts == f"the {n} study prompts (gold: the {n - 1} that have it)"
    md, csv = per_prompt_markdown(ph, True)
    row = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
    assert row.rstrip(" |").endswith("— | — | — | —") and "no gold for 1 prompts" in md
    assert csv.loc[name, [f"{a}_gold" for a in ("sft", "ppo", "grpo", "dpo")]].isna().all()
    rest = ph.study[ph.study["algo"] == "sft"].groupby("name")["gold"].mean().dropna()
    assert name not in rest.index and f"**{rest.mean():.3f}**" in md.split("**AVERAGE**")[1]
    labels, xlims = [], []

    def save(fig, path):
        labels.extend(t.get_text() for a in fig.axes for t in a.texts)
        xlims.extend(a.get_xlim() for a in fig.axes)

    monkeypatch.setattr(figures, "_save", save)
    figures.fig_per_prompt(ph, tmp_path / "f.png", True)
    assert labels == ["no gold (unverifiable)"]
    assert xlims[1][0] == 0.0 and xlims[1][1] >= 0.1  # gold has no negative side, even when little is earned


def test_departures_from_the_study_list_exactly_the_settings_that_differ(tmp_path):
    from rlhf_core.report.markdown import departures_markdown
    from rlhf_core.report.tables import STUDY_SETTINGS, departures_table

    root = make_inputs(tmp_path)
    study = load(root)
    # the fake run keeps lr 1e-5 in both phases: the study halves it to 5e-6 in Phase 5
    df = departures_table(study)
    assert sorted(zip(df["phase"], df["setting"])) == [
        ("phase5", "dpo.lr"),
        ("phase5", "grpo.lr"),
        ("phase5", "ppo.lr"),
    ]
    assert set(df["study"]) == {5e-6} and set(df["this run"]) == {1e-5}
    # a setting this run does not record (dpo.batch_size here) is never reported as a departure
    assert "dpo.batch_size" in STUDY_SETTINGS["first"] and "dpo.batch_size" not in set(df["setting"])
    md, _ = departures_markdown(study)
    assert "| phase5 | `ppo.lr` | 5e-06 | 1e-05 |" in md and "docs/calibration.md" in md
    # the study's own values: nothing departs, and the report says so
    for a in ("ppo", "grpo", "dpo"):
        path = root / "reports" / "configs" / "phase5" / f"{a}.json"
        cfg = json.loads(path.read_text())
        cfg[a]["lr"] = 5e-6
        path.write_text(json.dumps(cfg))
    study = load(root)
    assert departures_table(study).empty
    assert "uses the study's value for every setting" in departures_markdown(study)[0]
