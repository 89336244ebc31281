"""`rlhf frontier`: the Gao fit, the collection of runs (stale and missing ones named, never used), the
comparison of algorithms at a KL, and the output files."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from rlhf_core import frontier as F
from rlhf_core.params import resolve_phase, to_dict
from stages.frontier import experiments

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


FLAT = dict.fromkeys(("ppo", "grpo", "dpo"), (0.05, 0.3, 0.1))  # every algorithm at its default point


def truth(d, alpha, beta):
    d = np.asarray(d, dtype=float)
    return d * (alpha - beta * np.log(d))


def make_run(name, overrides: dict, curve: dict, seeds=(0, 1), noise=0.0, rng=None, phase="phase1", state="success"):
    """A run whose params.yaml sets `overrides` (dotted keys) and whose summary.json holds, per algorithm,
    per-seed points on `curve[algo] = (kl, alpha, beta)` (gold gain = d (alpha - beta ln d))."""
    raw = copy.deepcopy(BASE)
    raw["rl_seeds"] = list(seeds)
    for key, v in overrides.items():
        sec, k = key.split(".")
        raw[sec][k] = v
    resolved = to_dict(resolve_phase(raw, phase))
    rng = rng or np.random.default_rng(0)
    sec = {"configs": {a: resolved[a] for a in ("ppo", "grpo", "dpo", "eval")}}
    sft_gold = {str(s): 0.5 + 0.01 * s for s in seeds}
    sec["sft"] = {"seeds": {str(s): {"gold": sft_gold[str(s)], "rm": 0.0, "kl": 0.0} for s in seeds}}
    for a, (kl, alpha, beta) in curve.items():
        per = {}
        for s in seeds:
            k = kl * float(np.exp(rng.normal(0, 0.1))) if noise else kl
            g = float(truth(math.sqrt(k), alpha, beta)) + (rng.normal(0, noise) if noise else 0.0)
            per[str(s)] = {"gold": sft_gold[str(s)] + g, "rm": 2 * math.sqrt(k), "kl": k}
        sec[a] = {"seeds": per}
    summary = {"rl_seeds": list(seeds), phase: sec}
    return F.Run(name, raw, summary, state)


def sweep(algo, knob, values, kls, alpha, beta, noise=0.0, seeds=(0, 1), rng=None):
    """One run per strength value; the other algorithms stay at their defaults (the same point each time)."""
    rng = rng or np.random.default_rng(1)
    runs = []
    for v, kl in zip(values, kls):
        curve = FLAT
        curve[algo] = (kl, alpha, beta)
        runs.append(make_run(f"{algo}-{v}", {f"{algo}.{knob}": v}, curve, seeds=seeds, noise=noise, rng=rng))
    return runs


def test_gao_fit_recovers_a_planted_curve_and_its_peak():
    d = np.linspace(0.1, 2.0, 12)
    a, b = F.gao_fit(d, truth(d, 0.4, 0.3))
    assert a == pytest.approx(0.4, abs=1e-9) and b == pytest.approx(0.3, abs=1e-9)
    grid = np.linspace(0.01, 10, 200001)
    numeric = grid[np.argmax(truth(grid, 0.4, 0.3))] ** 2
    assert F.peak_kl(0.4, 0.3) == pytest.approx(numeric, rel=1e-3)
    assert math.isnan(F.peak_kl(0.4, -0.1))  # beta <= 0: gold keeps rising, no peak
    assert F.gao_fit(np.array([0.5, 0.5, 1.0]), np.array([0.1, 0.1, 0.2])) is None  # two distinct d: no fit


def test_sweep_points_merge_the_defaults_and_fit_each_algorithm():
    runs = sweep("dpo", "beta", [0.05, 0.1, 0.3, 1.0], [0.9, 0.5, 0.2, 0.05], 0.4, 0.3)
    points, left, notes = F.collect(runs, "phase1")
    assert not left and not notes
    dpo = [p for p in points if p.algo == "dpo"]
    assert [p.strength for p in dpo] == [0.05, 0.1, 0.3, 1.0]
    ppo = [p for p in points if p.algo == "ppo"]
    assert len(ppo) == 1 and len(ppo[0].runs) == 4  # the unchanged algorithm is one point, not four
    fit = F.fit_algo(points, "dpo", n_boot=200, ci=0.95, seed=0)
    assert fit.alpha == pytest.approx(0.4, abs=1e-6) and fit.beta == pytest.approx(0.3, abs=1e-6)
    assert F.fit_algo(points, "ppo", n_boot=50, ci=0.95, seed=0) is None  # one setting: nothing to fit
    two = [p for p in points if p.algo == "dpo"][:2]  # two settings whose seeds scatter: still no curve
    for p in two:
        for i, sd in enumerate(p.seeds.values()):
            sd["kl"] *= 1 + 0.3 * i
    assert F.fit_algo(two, "dpo", n_boot=50, ci=0.95, seed=0) is None
    assert F.varying(points)["dpo"] == ["beta"] and F.varying(points)["ppo"] == []


def test_stale_missing_and_unfinished_runs_are_named_and_left_out():
    good = sweep("dpo", "beta", [0.1, 0.3, 1.0], [0.5, 0.2, 0.05], 0.4, 0.3)
    stale = make_run("stale", {"dpo.beta": 0.7}, FLAT)
    stale.params["dpo"]["beta"] = 0.9  # params changed after the report was written
    seeds = make_run("seeds", {"dpo.beta": 0.8}, FLAT)
    seeds.params["rl_seeds"] = [0, 1, 2]
    missing = F.Run("missing", copy.deepcopy(BASE), None)
    queued = make_run("queued", {"dpo.beta": 0.6}, FLAT, state="queued")
    nophase = make_run("nophase", {}, FLAT, phase="phase5")
    # a point sampled under another eval protocol (its own files agree with its params: not stale)
    hot = make_run("hot", {"dpo.beta": 0.4, "eval.temperature": 1.0}, FLAT)
    stale_eval = make_run("stale-eval", {"dpo.beta": 0.45}, FLAT)
    stale_eval.params["eval"]["top_k"] = 10
    points, left, _ = F.collect([*good, stale, seeds, missing, queued, nophase, hot, stale_eval], "phase1")
    reasons = {x.run: x.reason for x in left}
    assert set(reasons) == {"stale", "seeds", "missing", "queued", "nophase", "hot", "stale-eval"}
    assert reasons["stale-eval"].startswith("stale: the eval settings")
    assert reasons["hot"].startswith("eval settings differ from dpo-0.1's (temperature)")
    assert reasons["stale"].startswith("stale: the dpo settings")
    assert reasons["seeds"].startswith("stale: summary is for rl_seeds [0, 1]")
    assert "no reports/summary.json" in reasons["missing"] and "queued" in reasons["queued"]
    assert "no phase 'phase1'" in reasons["nophase"]
    assert sorted(p.strength for p in points if p.algo == "dpo") == [0.1, 0.3, 1.0]  # nothing of theirs used
    md = F.markdown(points, {}, left, [], phase="phase1", ci=0.95, seed=0, figure=None)
    assert "## Runs left out" in md and "`stale`: stale" in md


def test_the_same_setting_from_two_runs_pools_seeds_and_a_disagreement_is_noted():
    curve = FLAT
    a = make_run("a", {}, curve, seeds=(0, 1))
    b = make_run("b", {}, curve, seeds=(0, 1))
    c = make_run("c", {"ppo.lr": 7e-5}, curve, seeds=(0, 1))
    b.summary["phase1"]["ppo"]["seeds"]["0"]["gold"] += 0.1  # another machine, other numbers for seed 0
    points, left, notes = F.collect([a, b, c], "phase1")
    assert not left and len(notes) == 1 and "seed 0: b and a disagree" in notes[0]
    ppo = [p for p in points if p.algo == "ppo"]
    assert len(ppo) == 2 and ppo[0].runs == ["a", "b"]


def test_an_algorithm_is_named_best_only_beyond_noise():
    rng = np.random.default_rng(3)
    kls = [0.05, 0.15, 0.3, 0.6, 1.0]
    strong = sweep("ppo", "kl_coef", [0.3, 0.1, 0.05, 0.02, 0.01], kls, 0.6, 0.1, noise=0.01, seeds=(0, 1, 2), rng=rng)
    weak = sweep("dpo", "beta", [1.0, 0.5, 0.3, 0.1, 0.05], kls, 0.1, 0.1, noise=0.01, seeds=(0, 1, 2), rng=rng)
    points, _, _ = F.collect(strong + weak, "phase1")
    fits = {a: F.fit_algo(points, a, n_boot=300, ci=0.95, seed=0) for a in ("ppo", "dpo")}
    best, gains = F.compare_at(fits, 0.3, 0.95)
    assert best == "ppo" and gains["ppo"][1] > gains["dpo"][2]
    # the same curve for both, with noise: no winner
    same = sweep("dpo", "beta", [1.0, 0.5, 0.3, 0.1, 0.05], kls, 0.6, 0.1, noise=0.05, seeds=(0, 1, 2), rng=rng)
    noisy = sweep("ppo", "kl_coef", [0.3, 0.1, 0.05, 0.02, 0.01], kls, 0.6, 0.1, noise=0.05, seeds=(0, 1, 2), rng=rng)
    points, _, _ = F.collect(same + noisy, "phase1")
    fits = {a: F.fit_algo(points, a, n_boot=300, ci=0.95, seed=0) for a in ("ppo", "dpo")}
    assert F.compare_at(fits, 0.3, 0.95)[0] is None


def test_over_optimisation_is_called_only_when_the_rm_rises_while_gold_falls():
    kls = [0.05, 0.2, 0.6, 1.5, 3.0]
    runs = sweep("dpo", "beta", [2.0, 1.0, 0.3, 0.1, 0.05], kls, -0.2, 0.0, noise=0.01, seeds=(0, 1, 2))
    points, _, _ = F.collect(runs, "phase1")  # gold falls with d; the synthetic RM gain is 2 d: it rises
    al = F.along(points, "dpo", n_boot=300, ci=0.95, seed=0)
    assert al.gold[2] < 0 < al.rm[1] and "over-optimisation" in al.verdict
    for p in points:
        for sd in p.seeds.values():
            sd["rm"] = -sd["kl"]  # an RM that falls with distance too: not over-optimisation
    assert F.along(points, "dpo", n_boot=300, ci=0.95, seed=0).verdict == "gold and RM both fall"
    rng = np.random.default_rng(4)
    for p in points:  # neither moves with distance: noise only
        for sd in p.seeds.values():
            sd["gold"] = sd["sft_gold"] + rng.normal(0, 0.05)
            sd["rm"] = sd["sft_rm"] + rng.normal(0, 0.05)
    assert F.along(points, "dpo", n_boot=300, ci=0.95, seed=0).verdict == "gold's trend is within noise"
    assert F.along(points[:2], "dpo", n_boot=50, ci=0.95, seed=0) is None  # fewer than 3 settings


def test_a_peak_below_every_setting_is_said_to_be_so():
    runs = sweep("dpo", "beta", [2.0, 1.0, 0.3, 0.1], [0.2, 0.6, 1.5, 3.0], -0.2, 0.05, seeds=(0, 1))
    points, left, notes = F.collect(runs, "phase1")
    fits = {"dpo": F.fit_algo(points, "dpo", n_boot=100, ci=0.95, seed=0)}
    assert fits["dpo"].peak_kl < 0.2  # ln d* = alpha / beta - 1 = -5
    md = F.markdown(points, fits, left, notes, phase="phase1", ci=0.95, seed=0, figure=None)
    assert "(below every setting: gold falls from the start)" in md


def test_outputs_are_written(tmp_path):
    runs = sweep("dpo", "beta", [0.05, 0.1, 0.3, 1.0], [0.9, 0.5, 0.2, 0.05], 0.4, 0.3, noise=0.01)
    runs += sweep("ppo", "kl_coef", [0.3, 0.1, 0.03, 0.01], [0.05, 0.2, 0.5, 1.0], 0.3, 0.2, noise=0.01)
    points, left, notes = F.collect(runs, "phase1")
    fits = {a: f for a in ("ppo", "grpo", "dpo") if (f := F.fit_algo(points, a, n_boot=100, ci=0.95, seed=0))}
    F.figure(points, fits, tmp_path / "f.png", phase="phase1", ci=0.95, seed=0)
    assert (tmp_path / "f.png").stat().st_size > 10_000
    md = F.markdown(points, fits, left, notes, phase="phase1", ci=0.95, seed=0, figure="f.png")
    assert "| DPO | beta=0.05 | 2 |" in md and "## Which algorithm turns KL into gold best" in md
    assert md.count("| PPO vs DPO |") == 3  # three KL values inside both ranges
    assert "Not fitted" in md and "GRPO" in md.split("Not fitted")[1]  # one default point only


def test_experiments_are_read_from_dvc_exp_show_json():
    shown = [
        {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
        {
            "rev": "a" * 40,
            "name": "main",
            "data": {},
            "error": None,
            "experiments": [
                {
                    "revs": [{"rev": "b" * 40, "name": "beta-03", "data": {}, "error": None, "experiments": None}],
                    "executor": {"state": "success"},
                    "name": "beta-03",
                },
                {
                    "revs": [{"rev": "c" * 40, "name": "beta-05", "data": {}, "error": None, "experiments": None}],
                    "executor": {"state": "queued"},
                    "name": "beta-05",
                },
                {
                    "revs": [{"rev": "e" * 40, "name": "live", "data": {}, "error": None, "experiments": None}],
                    "executor": {"state": "running"},
                    "name": "live",
                },
                {
                    "revs": [{"rev": "d" * 40, "name": "broken", "data": {}, "error": {"msg": "x"}}],
                    "executor": None,
                    "name": "broken",
                },
            ],
        },
    ]
    assert list(experiments(shown)) == [
        ("main", "a" * 40, "success"),
        ("beta-03", "b" * 40, "success"),
        ("beta-05", "c" * 40, "queued"),
        ("live", "e" * 40, "running"),
        ("broken", "d" * 40, "failed"),
    ]


def test_a_points_interval_contains_the_t_interval_of_its_seeds():
    # one value per seed: the bootstrap sees only their spread; the interval must reach as far as t does
    from rlhf_core.frontier import _seed_ci
    from rlhf_core.verdicts import seed_t

    for x in ([0.10, 0.14], [0.10, 0.14, 0.11], [0.0, 0.3, -0.1, 0.2, 0.05]):
        m, lo, hi = _seed_ci(np.array(x), 0.95, 0)
        t_lo, t_hi = seed_t(x, 0.95)
        assert m == pytest.approx(np.mean(x)) and lo <= t_lo + 1e-12 and hi >= t_hi - 1e-12
    m, lo, hi = _seed_ci(np.array([0.10, 0.14]), 0.95, 0)
    assert hi - lo == pytest.approx(2 * 12.706 * np.std([0.10, 0.14], ddof=1) / np.sqrt(2), rel=1e-3)
    assert math.isnan(_seed_ci(np.array([0.2]), 0.95, 0)[1])
