"""rlhf frontier: gold and RM against KL to SFT, per algorithm, from finished DVC experiments."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import typer
import yaml

from rlhf_core import io
from rlhf_core.errors import RlhfError
from stages._common import console, user_errors


def _dvc_exp_show(repo: Path, all_commits: bool, num: int = 1) -> list:
    cmd = ["dvc", "exp", "show", "--json", "--no-pager"] + (["--all-commits"] if all_commits else ["-n", str(num)])
    try:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RlhfError("`dvc` is not on PATH; install the project (pip install -e .)") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RlhfError(f"`dvc exp show --json` failed in {repo}: {last}")
    try:
        return json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        raise RlhfError(f"`dvc exp show --json` printed something that is not JSON in {repo}") from None


def experiments(shown: list) -> Iterator[tuple[str, str, str]]:
    """(name, rev, state) of every baseline commit and experiment in `dvc exp show --json` output. The
    workspace row is skipped (the caller reads the workspace's own files)."""

    def walk(node, state=None):
        if isinstance(node, list):
            for n in node:
                yield from walk(n, state)
            return
        if not isinstance(node, dict):
            return
        executor = node.get("executor") if isinstance(node.get("executor"), dict) else None
        st = (executor or {}).get("state") or state
        if "rev" in node and node.get("rev") != "workspace":
            failed = bool(node.get("error"))
            yield node.get("name") or node["rev"][:7], node["rev"], "failed" if failed else (st or "success")
        for key in ("revs", "experiments"):
            if node.get(key):
                yield from walk(node[key], st)

    yield from walk(shown)


def _git_file(repo: Path, rev: str, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _parse(text: str | None, kind: str):
    if text is None:
        return None
    try:
        return yaml.safe_load(text) if kind == "yaml" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError):
        return None


def read_runs(repo: Path, all_commits: bool = False, workspace: bool = True, num: int = 1) -> list:
    from rlhf_core.frontier import Run

    runs = []
    if workspace:
        params, summary = repo / "params.yaml", repo / "reports" / "summary.json"
        runs.append(
            Run(
                "workspace",
                _parse(params.read_text(encoding="utf-8"), "yaml") if params.is_file() else None,
                _parse(summary.read_text(encoding="utf-8"), "json") if summary.is_file() else None,
                "workspace",
            )
        )
    seen = set()
    for name, rev, state in experiments(_dvc_exp_show(repo, all_commits, num)):
        if rev in seen:
            continue
        seen.add(rev)
        runs.append(
            Run(
                name,
                _parse(_git_file(repo, rev, "params.yaml"), "yaml"),
                _parse(_git_file(repo, rev, "reports/summary.json"), "json"),
                state,
            )
        )
    return runs


@user_errors
def main(
    repo: Path = typer.Option(Path("."), help="the DVC project whose experiments to read"),
    phase: str = typer.Option("phase1", help="the phase whose points to plot"),
    out: Path = typer.Option(Path("reports/frontier.md"), help="markdown report to write"),
    figure: Path = typer.Option(Path("reports/frontier.png"), help="figure to write"),
    num: int = typer.Option(
        1, "--num", "-n", min=1, help="experiments of the last N commits (sweeps queued before your latest commit)"
    ),
    all_commits: bool = typer.Option(False, "--all-commits", help="experiments of every commit"),
    bootstrap: int = typer.Option(1000, min=100, help="bootstrap resamples for the fits' intervals"),
    ci: float = typer.Option(0.95, min=0.5, max=0.999, help="confidence level"),
    seed: int = typer.Option(0, min=0, help="bootstrap seed"),
) -> None:
    """Collect the workspace and every experiment (`dvc exp show --json`; pull others' with `dvc exp
    pull`), fit gold gain = d (alpha - beta ln d) per algorithm (Gao et al. 2022, d = sqrt KL), and
    write the frontier report and figure. Runs with missing or stale outputs are named and left out."""
    from rlhf_core import frontier as F

    runs = read_runs(repo, all_commits, num=num)
    points, left, notes = F.collect(runs, phase)
    if not points:
        why = "; ".join(f"{x.run}: {x.reason}" for x in left) or "no runs"
        raise RlhfError(f"no usable runs for phase {phase!r} ({why}); run `dvc repro` or `dvc exp run` first")
    fits = {}
    for a in F.RL_ALGOS:
        f = F.fit_algo(points, a, n_boot=bootstrap, ci=ci, seed=seed)
        if f is not None:
            fits[a] = f
    F.figure(points, fits, figure, phase=phase, ci=ci, seed=seed)
    try:
        rel = figure.resolve().relative_to(out.resolve().parent).as_posix()
    except ValueError:
        rel = figure.resolve().as_posix()
    io.write_text(out, F.markdown(points, fits, left, notes, phase=phase, ci=ci, seed=seed, figure=rel))
    console.print(
        f"[bold]frontier[/]: {len(points)} settings from {len(runs) - len(left)} runs "
        f"({len(left)} left out) -> {out}, {figure}"
    )
    for x in left:
        console.print(f"  left out {x.run}: {x.reason}")


# Each preset: knob -> values queued as one grid per knob (the defaults in params.yaml are one more
# point of each algorithm: the committed run). Phase 1 only, two seeds per point.
PRESETS = {
    "small": {
        "ppo.kl_coef": "0.001,0.05,0.2",
        "ppo.lr": "1e-5,1e-4",  # either side of the default: kl_coef barely moves PPO from SFT here, its lr does
        "grpo.kl_coef": "0.005,0.2,1.0",
        "dpo.beta": "0.03,0.3,1.0",
    },
}
SWEEP_FIXED = ["~phases.phase5", "rl_seeds=[0,1]"]  # the frontier is phase 1's; two seeds per point


def sweep_commands(preset: str, jobs: int) -> list[list[str]]:
    if preset not in PRESETS:
        raise RlhfError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cmds = []
    for knob, values in PRESETS[preset].items():
        cmd = ["dvc", "exp", "run", "--queue"]
        for s in [*SWEEP_FIXED, f"{knob}={values}"]:
            cmd += ["-S", s]
        cmds.append(cmd)
    return cmds + [["dvc", "queue", "start", "--jobs", str(jobs)]]


@user_errors
def sweep(
    preset: str = typer.Option("small", help=f"which grid: {', '.join(PRESETS)}"),
    jobs: int = typer.Option(
        1,
        min=1,
        help="experiments run at once (`dvc queue start --jobs`); keep 1 unless the machine has cores to "
        "spare: two PPO stages on 2 cores ran about 6x slower each",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the commands, run nothing"),
    repo: Path = typer.Option(Path("."), help="the DVC project"),
) -> None:
    """Queue a preset strength sweep as DVC experiments (phase 1, seeds 0 and 1, one grid per algorithm's
    strength knob) and start the queue (`dvc queue start`, which with DVC 3.67 returns once the queue is
    empty; `dvc queue status` from another shell shows progress). Then `rlhf frontier` collects the
    results. Commit (or `git add`) your changes first: queued experiments run from a copy of the
    repository."""
    import shlex

    for cmd in sweep_commands(preset, jobs):
        console.print("$ " + " ".join(shlex.quote(c) for c in cmd))
        if dry_run:
            continue
        proc = subprocess.run(cmd, cwd=repo, check=False)
        if proc.returncode != 0:
            raise RlhfError(f"`{' '.join(cmd[:4])}` failed (exit {proc.returncode}); see its output above")
