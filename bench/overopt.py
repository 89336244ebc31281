"""Calibration of the report's over-optimisation test (`rlhf_core.report.overoptimisation`): how often it
flags logs without over-optimisation (false positives) and how often it finds a planted one (power).

    python -m bench.overopt --reports reports --reps 500 --shuffles 1000

Prints markdown tables (docs/overoptimisation.md holds their output):

1. each committed training log with gold (reports/live/PHASE/{ppo,grpo}): the test's verdict, and the
   share of `--shuffles` step-shuffled copies it flags (same values, random order: every flag is false);
2. synthetic logs of 200 steps with per-step noise at the committed logs' level (std of RM reward and
   gold within a bin, their correlation): null cases (noise, autocorrelated noise, a trend shared by RM
   and gold, only one half of the pattern) and planted over-optimisation of growing size.

Beside each rate stands that of a rule without a test (smoothed gold a little below its peak at the
end while the smoothed RM is above its value there), to show what the test buys. CPU only, seeded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from rlhf_core import report as R

app = typer.Typer(add_completion=False)
STEPS = 200
# fallback per-step noise (RM std, gold std, correlation) when no committed log is found
NOISE = {"ppo": (0.26, 0.12, -0.1), "grpo": (0.41, 0.21, -0.35)}


def naive_rule(rm: np.ndarray, gold: np.ndarray, drop: float = 0.02) -> bool:
    """Peak-then-drop without a test: the smoothed gold (windows of 1/20 of the steps) ends `drop` below
    its peak while the smoothed RM ends above its value at that peak."""
    w = max(1, len(rm) // 20)
    kernel = np.ones(w) / w
    r, g = np.convolve(rm, kernel, "valid"), np.convolve(gold, kernel, "valid")
    peak = int(g.argmax())
    return bool(g[-1] < g[peak] - drop and r[-1] > r[peak])


def committed_logs(reports: Path) -> dict[str, tuple]:
    """(log, RM column) of every RL training log under reports/live with a gold column, by 'ALGO phase'."""
    out = {}
    for folder in sorted((reports / "live").glob("*/*/plots/metrics/train")):
        phase, algo = folder.parts[-5], folder.parts[-4]
        if algo in R.RM_LOG and (folder / "gold_mean.tsv").is_file():
            log = R.read_log(folder, R.REQUIRED_LOGS[algo], R.OPTIONAL_LOGS[algo], f"{algo}@{phase}")
            out[f"{R.LABEL[algo]} {phase}"] = (log, R.RM_LOG[algo])
    return out


def noise_levels(logs: dict[str, tuple]) -> dict[str, tuple[float, float, float]]:
    """Per algorithm: the std of RM reward and of gold around their bin means (the test's noise, a trend
    left out) and their per-step correlation, pooled over the committed logs."""
    out = dict(NOISE)
    for algo in R.RM_LOG:
        res = []
        for name, (log, col) in logs.items():
            if name.startswith(R.LABEL[algo] + " "):
                rows = R._overopt_rows(log, col)
                k = R._overopt_nbins(len(rows["rm"]), R.OVER_BINS)
                where = np.arange(len(rows["rm"])) * k // len(rows["rm"])
                res.append(
                    np.stack(
                        [x - (np.bincount(where, x) / np.bincount(where))[where] for x in (rows["rm"], rows["gold"])]
                    )
                )
        if res:
            r = np.concatenate(res, axis=1)
            out[algo] = (float(r[0].std(ddof=1)), float(r[1].std(ddof=1)), float(np.corrcoef(r)[0, 1]))
    return out


def noise(rng: np.random.Generator, level: tuple, phi: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-step RM and gold noise at `level`; AR(1) with coefficient phi (same marginal std) when phi > 0."""
    sr, sg, rho = level
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=STEPS)
    for i in range(1, STEPS):
        z[i] = phi * z[i - 1] + math.sqrt(1 - phi**2) * z[i]
    return z[:, 0] * sr, z[:, 1] * sg


def hack(d: float, level: tuple, peak: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Gao et al. (2022)'s shape in √(training progress): gold rises, peaks at `peak` of training and ends
    d gold-noise stds below its peak; the RM climbs all along, by d RM-noise stds after gold's peak."""
    sr, sg = level[:2]
    s, sp = np.sqrt(np.arange(1, STEPS + 1) / STEPS), math.sqrt(peak)
    shape = (s / sp) * (2 - s / sp)
    return s * d * sr / (1 - sp), shape * d * sg / (1 - shape[-1])


def rates(make: Callable, reps: int) -> tuple[float, float, float]:
    """Shares of `reps` synthetic logs flagged as over-optimisation and as drift, and by the naive rule."""
    over = drift = naive = 0
    for i in range(reps):
        rm, gold = make(np.random.default_rng(i))
        log = {"step": np.arange(1, STEPS + 1), "reward": rm, "gold_mean": gold, "kl": np.linspace(0, 1, STEPS)}
        o = R.overoptimisation(pd.DataFrame(log), "reward")
        over, drift, naive = over + o["over"], drift + o["drift"], naive + naive_rule(rm, gold)
    return over / reps, drift / reps, naive / reps


def add(xy: tuple, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return xy[0] + dx, xy[1] + dy


def pct(x: float) -> str:
    return f"{x:.1%}"


@app.command()
def main(
    reports: Path = typer.Option(Path("reports"), help="folder with live/PHASE/{ppo,grpo}/plots/metrics/train"),
    reps: int = typer.Option(500, help="synthetic logs per row"),
    shuffles: int = typer.Option(1000, help="step-shuffled copies of each committed log"),
) -> None:
    t0 = time.perf_counter()
    logs = committed_logs(reports)
    print(f"## Committed logs ({shuffles} step-shuffled copies each)\n")
    print(
        "| log | steps | block | verdict on the log | over-optimisation flagged on copies | drift flagged "
        "| rule without a test |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, (log, col) in sorted(logs.items(), key=lambda kv: (kv[0].split()[0] != "PPO", kv[0])):
        o = R.overoptimisation(log, col)
        f = R.overoptimisation_fpr(log, col, n_shuffles=shuffles)
        rows = R._overopt_rows(log, col)
        rng = np.random.default_rng(0)
        copies = (rng.permutation(o["n"]) for _ in range(shuffles))
        naive = sum(naive_rule(rows["rm"][i], rows["gold"][i]) for i in copies)
        verdict = "yes" if o["over"] else "drift" if o["drift"] else "no evidence"
        print(
            f"| {name} | {o['n']} | {o['block']} | {verdict} (p = {R._pval(o['p_over'])}) | {pct(f['over'])} "
            f"| {pct(f['drift'])} | {pct(naive / shuffles)} |"
        )
    levels = noise_levels(logs)
    t = np.linspace(0, 1, STEPS)
    print(f"\n## Synthetic logs ({STEPS} steps, {reps} per row)\n")
    print(
        "Per-step noise (std around bin means; RM, gold, correlation): "
        + "; ".join(f"{R.LABEL[a]} {sr:.3f}, {sg:.3f}, {rho:+.2f}" for a, (sr, sg, rho) in levels.items())
        + "\n"
    )
    zero = np.zeros(STEPS)
    cases = [  # (label, AR(1) coefficient, (RM std, gold std) -> what is added to the RM and the gold noise)
        ("null: noise only", 0.0, lambda sr, sg: (zero, zero)),
        ("null: RM and gold rise together (1 std over the run)", 0.0, lambda sr, sg: (sr * t, sg * t)),
        ("null: AR(1) φ = 0.3, shared rise", 0.3, lambda sr, sg: (sr * t, sg * t)),
        ("null: AR(1) φ = 0.6, shared rise", 0.6, lambda sr, sg: (sr * t, sg * t)),
        ("null: AR(1) φ = 0.8, shared rise", 0.8, lambda sr, sg: (sr * t, sg * t)),
        ("null: AR(1) φ = 0.8, no trend", 0.8, lambda sr, sg: (zero, zero)),
        ("null: RM and gold both fall (1 std)", 0.0, lambda sr, sg: (-sr * t, -sg * t)),
        ("half: gold peaks and falls (d = 3), RM flat", 0.0, lambda sr, sg: (zero, hack(3, (sr, sg))[1])),
        ("half: RM climbs (d = 3), gold flat", 0.0, lambda sr, sg: (hack(3, (sr, sg))[0], zero)),
    ]
    for d in (0.5, 1.0, 1.5, 2.0, 3.0):
        cases.append((f"planted: d = {d:g}", 0.0, lambda sr, sg, d=d: hack(d, (sr, sg))))
    for d in (1.0, 2.0):
        cases.append((f"planted: d = {d:g}, AR(1) φ = 0.5", 0.5, lambda sr, sg, d=d: hack(d, (sr, sg))))
    heads = [f"{what} {R.LABEL[a]}" for what in ("over-opt.", "drift", "without a test") for a in levels]
    print("| case | " + " | ".join(heads) + " |")
    print("| --- |" + " ---: |" * len(heads))
    for label, phi, shape in cases:
        got = {}
        for algo, lv in levels.items():
            dr, dg = shape(lv[0], lv[1])
            got[algo] = rates(lambda rng, phi=phi, dr=dr, dg=dg, lv=lv: add(noise(rng, lv, phi), dr, dg), reps)
        print(f"| {label} | " + " | ".join(pct(got[a][j]) for j in range(3) for a in levels) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    app()
