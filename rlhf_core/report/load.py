"""The report's inputs: each phase's eval metrics, answers, training logs and GRPO groups, read seed by
seed and pooled over seeds (`load_study` -> a `Study` of `Phase`s). A missing or broken input is one
`RlhfError` naming the file and the stage that writes it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlhf_core import io
from rlhf_core import verdicts as V
from rlhf_core.errors import RlhfError
from rlhf_core.params import ALGOS
from rlhf_core.params import RL_ALGOS as TRAINED

ANSWER_KEYS = ("algo", "set", "prompt_id", "name", "sample", "instruction", "response", "rm", "gold", "kl")
# training-log stats the figures need (required) and use when present (optional)
REQUIRED_LOGS = {
    "ppo": ("reward", "kl"),
    "grpo": ("reward_mean", "group_std_mean", "kl"),
    "dpo": ("loss", "reward_margin"),
}
OPTIONAL_LOGS = {
    "ppo": ("gold_mean",),
    "grpo": ("gold_mean", "group_std_min", "collapsed_groups"),
    "dpo": ("accuracy",),
}
RM_LOG = {"ppo": "reward", "grpo": "reward_mean"}  # the RM reward column of each RL algorithm's log


@dataclass
class Phase:
    name: str
    metrics: dict  # algo -> numbers pooled over seeds (means; held-out intervals over seeds and prompts)
    answers: pd.DataFrame  # every seed's answers, with a `seed` column (absent: one seed)
    configs: dict  # algo -> effective config (ppo/grpo/dpo)
    logs: dict  # algo -> DataFrame of training stats, one row per step (the first seed: figures draw it)
    groups: pd.DataFrame | None = None  # the first seed's GRPO groups
    seeds: list = field(default_factory=lambda: [0])
    seed_logs: dict = field(default_factory=dict)  # algo -> [log of each seed], in `seeds` order
    seed_metrics: dict = field(default_factory=dict)  # seed -> that seed's eval metrics

    def __post_init__(self) -> None:
        if not self.seed_logs:
            self.seed_logs = {a: [log] for a, log in self.logs.items()}
        if not self.seed_metrics:
            self.seed_metrics = {self.seeds[0]: self.metrics}

    @property
    def settings(self) -> dict:
        return self.metrics.get("settings") or {}

    @property
    def study(self) -> pd.DataFrame:
        return self.answers[self.answers["set"] == "study"]

    @property
    def heldout(self) -> pd.DataFrame:
        return self.answers[self.answers["set"] == "heldout"]

    @property
    def has_gold(self) -> bool:
        # any, not all: answers to a row the judge cannot verify have no gold, the rest do
        return bool(self.answers["gold"].notna().any())

    def all_logs(self, algo: str) -> list:
        """The training log of every seed, first seed first (`logs[algo]` is the first seed's)."""
        return [self.logs[algo], *self.seed_logs.get(algo, [])[1:]]

    def knob(self, algo: str, key: str) -> Any:
        return (self.configs.get(algo) or {}).get(algo, {}).get(key)


@dataclass
class Study:
    phases: list[Phase]
    sft_metrics: dict | None = None
    rm_metrics: dict | None = None

    @property
    def gold(self) -> bool:
        return all(p.has_gold for p in self.phases)

    @property
    def first(self) -> Phase:
        return self.phases[0]

    @property
    def last(self) -> Phase:
        return self.phases[-1]

    @property
    def prompts(self) -> str:
        """'the 16 study prompts', and how many of them have gold when some do not (a family the judge
        cannot verify)."""
        s = self.first.study
        n = s["name"].nunique()
        graded = int(s.groupby("name")["gold"].apply(lambda g: g.notna().any()).sum()) if self.gold else n
        return f"the {n} study prompts" + ("" if graded == n else f" (gold: the {graded} that have it)")


def _missing(path: Path, stage: str) -> RlhfError:
    return RlhfError(f"missing {path} (written by {stage}); run `dvc repro` ({stage})")


def _read_json(path: Path, stage: str) -> Any:
    if not path.is_file():
        raise _missing(path, stage)
    try:
        return io.read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RlhfError(f"{path} is not valid JSON; rerun `dvc repro` ({stage})") from None


def _read_optional_json(path: Path) -> dict | None:
    try:
        obj = io.read_json(path)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def read_log(folder: Path, stats: Sequence[str], optional: Sequence[str], stage: str) -> pd.DataFrame:
    """dvclive's per-stat TSVs (`step\\t<stat>`) joined on step."""
    cols = []
    for stat in (*stats, *optional):
        path = folder / f"{stat}.tsv"
        if not path.is_file():
            if stat in stats:
                raise _missing(path, stage)
            continue
        try:
            df = pd.read_csv(path, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            raise RlhfError(f"{path} is not a tab-separated log; rerun `dvc repro` ({stage})") from None
        if "step" not in df.columns or len(df.columns) < 2:
            raise RlhfError(f"{path} has no 'step' column; rerun `dvc repro` ({stage})")
        value = stat if stat in df.columns else [c for c in df.columns if c != "step"][-1]
        cols.append(
            df[["step", value]].rename(columns={value: stat}).drop_duplicates("step", keep="last").set_index("step")
        )
    if not cols:  # only optional stats asked, none logged
        return pd.DataFrame({"step": []})
    return pd.concat(cols, axis=1).sort_index().reset_index()


def read_answers(path: Path, stage: str) -> pd.DataFrame:
    if not path.is_file():
        raise _missing(path, stage)
    try:
        rows = io.read_jsonl(path)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RlhfError(f"{path} is not valid JSON lines; rerun `dvc repro` ({stage})") from None
    df = pd.DataFrame(rows, columns=list(dict.fromkeys([*ANSWER_KEYS, *(rows[0] if rows else {})])))
    lacking = [k for k in ANSWER_KEYS if k not in (rows[0] if rows else {})]
    if lacking or not rows:
        raise RlhfError(
            f"{path} {'is empty' if not rows else 'lacks ' + ', '.join(lacking)}; rerun `dvc repro` ({stage})"
        )
    if not set(ALGOS) <= set(df.loc[df["set"] == "study", "algo"]):
        raise RlhfError(
            f"{path} lacks study answers of {', '.join(sorted(set(ALGOS) - set(df['algo'])))}; "
            f"rerun `dvc repro` ({stage})"
        )
    df["gold"] = pd.to_numeric(df["gold"], errors="coerce")
    df["rm"] = pd.to_numeric(df["rm"], errors="coerce")
    return df


def _read_groups(path: Path, stage: str) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        groups = pd.DataFrame(io.read_jsonl(path))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RlhfError(f"{path} is not valid JSON lines; rerun `dvc repro` ({stage})") from None
    return groups if {"step", "std"} <= set(groups.columns) else None


def load_seed(name: str, seed: int, reports: Path, data: Path) -> tuple[dict, pd.DataFrame, dict, pd.DataFrame | None]:
    """One seed of one phase: eval metrics, answers (with their seed), training logs, GRPO groups."""
    ev = f"eval@{name}-{seed}"
    path = reports / "metrics" / name / f"seed{seed}.json"
    metrics = _read_json(path, ev)
    lacking = [a for a in ALGOS if not isinstance(metrics.get(a), dict)]
    if lacking:
        raise RlhfError(f"{path} lacks {', '.join(lacking)}; rerun `dvc repro` ({ev})")
    answers = read_answers(data / "eval" / name / f"seed{seed}" / "answers.jsonl", ev).assign(seed=seed)
    live = reports / "live" / name / f"seed{seed}"
    logs = {
        a: read_log(live / a / "plots" / "metrics" / "train", REQUIRED_LOGS[a], OPTIONAL_LOGS[a], f"{a}@{name}-{seed}")
        for a in TRAINED
    }
    return metrics, answers, logs, _read_groups(live / "grpo" / "groups.jsonl", f"grpo@{name}-{seed}")


def load_phase(name: str, reports: Path, data: Path, seeds: Sequence[int] = (0,)) -> Phase:
    if not seeds:
        raise RlhfError("params.yaml: rl_seeds is empty; name at least one seed (e.g. `rl_seeds: [0, 1, 2]`)")
    runs = {s: load_seed(name, s, reports, data) for s in seeds}
    configs = {a: _read_json(reports / "configs" / name / f"{a}.json", f"resolve@{name}") for a in TRAINED}
    answers = pd.concat([r[1] for r in runs.values()], ignore_index=True)
    seed_metrics = {s: r[0] for s, r in runs.items()}
    first = runs[seeds[0]]
    return Phase(
        name,
        pool_metrics(seed_metrics, answers),
        answers,
        configs,
        first[2],
        first[3],
        seeds=list(seeds),
        seed_logs={a: [r[2][a] for r in runs.values()] for a in TRAINED},
        seed_metrics=seed_metrics,
    )


def pool_metrics(seed_metrics: dict, answers: pd.DataFrame) -> dict:
    """A phase's numbers over its seeds: each number the mean of the seeds' values, except the held-out
    intervals, which come from the pooled answers by a hierarchical bootstrap (seeds, then prompts; at
    least the t interval of the seed means) with the eval's own bootstrap settings. One seed: that
    seed's metrics as they are."""
    if len(seed_metrics) == 1:
        return next(iter(seed_metrics.values()))
    first = next(iter(seed_metrics.values()))
    settings = first.get("settings") or {}
    n_boot, ci = int(settings.get("bootstrap") or 1000), float(settings.get("ci") or 0.95)
    out: dict = {"settings": {k: v for k, v in settings.items() if k != "seed"}}
    for a in ALGOS:
        per_seed = [m.get(a) or {} for m in seed_metrics.values()]
        pooled = _mean_dicts(per_seed)
        for key in ("rm", "gold"):
            if pooled.get(f"heldout_{key}") is None:
                continue
            iv = V.seeded_ci(V.per_prompt(answers, a, key), n_boot=n_boot, ci=ci, seed=int(min(seed_metrics)))
            pooled.update({f"heldout_{key}": iv.mean, f"heldout_{key}_lo": iv.lo, f"heldout_{key}_hi": iv.hi})
        out[a] = pooled
    return out


def _mean_dicts(dicts: Sequence[dict]) -> dict:
    """Key-wise mean of numbers (None where any seed lacks one), recursing into nested dicts."""
    out: dict = {}
    for k in dicts[0]:
        vals = [d.get(k) for d in dicts]
        if all(isinstance(v, dict) for v in vals):
            out[k] = _mean_dicts(vals)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[k] = float(np.mean(vals))
        else:
            out[k] = vals[0] if all(v == vals[0] for v in vals) else None
    return out


def load_study(phases: Sequence[str], reports: Path, data: Path, seeds: Sequence[int] = (0,)) -> Study:
    """Everything the report reads, for exactly the phases and seeds named (no folder globbing)."""
    if not phases:
        raise RlhfError("params.yaml: phases is empty; name at least one phase (e.g. `phases: {phase1: {}}`)")
    return Study(
        [load_phase(n, Path(reports), Path(data), seeds) for n in phases],
        sft_metrics=_read_optional_json(Path(reports) / "live" / "sft" / "metrics.json"),
        rm_metrics=_read_optional_json(Path(reports) / "live" / "rm" / "metrics.json"),
    )
