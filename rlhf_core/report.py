"""The study report: tables, figures and findings from what eval and training wrote.

Reads, for each phase named in params.yaml (in that order; a removed phase disappears) and each RL
seed S of `rl_seeds` (likewise):

    reports/metrics/PHASE/seedS.json                    per-seed numbers per algorithm (eval@PHASE-S)
    data/eval/PHASE/seedS/answers.jsonl                 every answer with its RM / gold score (eval@PHASE-S)
    reports/live/PHASE/seedS/ALGO/plots/metrics/train/*.tsv  training curves (ppo/grpo/dpo@PHASE-S)
    reports/live/PHASE/seedS/grpo/groups.jsonl          per-group reward std (optional second view)
    reports/configs/PHASE/{ppo,grpo,dpo}.json           each phase's effective settings (figure labels)
    reports/live/{sft,rm}/metrics.json                  optional: SFT and reward-model metrics

A phase pools its seeds: its answers carry a `seed` column, its headline numbers are means over seeds
with hierarchical-bootstrap intervals (seeds, then prompts), and each seed's numbers stay beside them.

and writes reports/report.md, reports/figures/*.png and reports/tables/*.md + *.csv.

The shape: `load_study` -> table builders (pandas) -> markdown; one function per figure taking the
data and an output path; `findings` turns the numbers into sentences; `write_report` ties them up.
Every number in the prose is computed here, never typed in, and the output is byte-identical for
identical inputs (seeded bootstrap, fixed figure metadata).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlhf_core import io
from rlhf_core import verdicts as V
from rlhf_core.errors import RlhfError
from rlhf_core.params import ALGOS, ReportParams
from rlhf_core.params import RL_ALGOS as TRAINED
from rlhf_core.stats import spearman

LABEL = {"sft": "SFT", "ppo": "PPO", "grpo": "GRPO", "dpo": "DPO"}
COLOR = {"sft": "#7f7f7f", "ppo": "#1f77b4", "grpo": "#ff7f0e", "dpo": "#2ca02c"}
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
# the over-optimisation test (`overoptimisation`)
OVER_BINS = 8  # equal-count bins of training progress whose means it compares
OVER_PERMS = 199  # shuffles behind each p-value (resolution 1/200; more costs time, not validity)
OVER_ALPHA = 0.05
OVER_FPR_SHUFFLES = 200  # step-shuffled copies of each log on which the report measures its false-positive rate
DEFAULT_KNOBS = ReportParams()  # the `report:` section's defaults, for callers without params
DPI = 110
WIDTH = 10.0


# ---------------------------------------------------------------------------------------------- inputs


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
        return len(self.answers) > 0 and bool(self.answers["gold"].notna().all())

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
    intervals, which come from the pooled answers by a hierarchical bootstrap (seeds, then prompts) with
    the eval's own bootstrap settings. One seed: that seed's metrics as they are."""
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


# ---------------------------------------------------------------------------------------------- numbers


def prompt_names(phase: Phase) -> dict:
    """prompt_id -> short display name, in the order of the study prompts."""
    names: dict = {}
    for r in phase.study.itertuples():
        if r.prompt_id not in names:
            name = r.name if isinstance(r.name, str) and r.name.strip() else _shorten(str(r.instruction), 40)
            names[r.prompt_id] = name
    seen: dict = {}
    for pid, name in names.items():  # keep names unique
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[pid] = f"{name} ({pid})"
    return names


def per_prompt(phase: Phase, key: str = "rm") -> pd.DataFrame:
    """Study prompts x algorithms: the `key` score (mean over samples, normally one)."""
    names = prompt_names(phase)
    table = phase.study.groupby(["prompt_id", "algo"])[key].mean().unstack("algo")
    table = table.reindex(index=list(names), columns=list(ALGOS))
    table.index = [names[i] for i in table.index]
    table.index.name = "prompt"
    return table


def per_prompt_delta(first: Phase, last: Phase, key: str = "rm") -> pd.DataFrame:
    """Last minus first phase, per study prompt (matched by prompt id) and algorithm."""
    names = prompt_names(first)
    a = first.study.groupby(["prompt_id", "algo"])[key].mean().unstack("algo")
    b = last.study.groupby(["prompt_id", "algo"])[key].mean().unstack("algo")
    ids = [i for i in names if i in b.index]
    d = b.reindex(index=ids, columns=list(ALGOS)) - a.reindex(index=ids, columns=list(ALGOS))
    d.index = [names[i] for i in ids]
    d.index.name = "prompt"
    return d


def averages(study: Study) -> pd.DataFrame:
    """One row per (phase, algorithm): study means, held-out means with CIs, KL, length, EOS rate."""
    rows = []
    for ph in study.phases:
        for a in ALGOS:
            m = ph.metrics[a]
            row = {"phase": ph.name, "algo": a}
            for k in (
                "study_rm",
                "heldout_rm",
                "heldout_rm_lo",
                "heldout_rm_hi",
                "study_gold",
                "heldout_gold",
                "heldout_gold_lo",
                "heldout_gold_hi",
                "kl",
                "length",
                "eos_rate",
            ):
                row[k] = _num(m.get(k))
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Delta:
    """First -> last phase change of one algorithm on one score."""

    algo: str
    key: str  # "rm" or "gold"
    first: float  # study means (16 prompts)
    last: float
    held: float | None = None  # held-out mean difference
    lo: float | None = None
    hi: float | None = None
    method: str = ""  # "bootstrap" (paired, over prompts), "overlap" (non-overlap of the phases' CIs) or ""
    n: int = 0
    significant: bool | None = None

    @property
    def delta(self) -> float:
        return self.last - self.first


def heldout_per_prompt(phase: Phase, algo: str, key: str) -> pd.Series:
    return V.per_prompt(phase.answers, algo, key)


def phase_delta(first: Phase, last: Phase, algo: str, key: str, knobs: ReportParams, seed: int) -> Delta:
    """The study-mean delta, plus the held-out delta with a CI: a paired bootstrap over the held-out
    prompts both phases answered (resampling prompts); else whether the phases' own CIs overlap."""
    d = Delta(algo, key, _num(first.metrics[algo].get(f"study_{key}")), _num(last.metrics[algo].get(f"study_{key}")))
    a, b = heldout_per_prompt(first, algo, key), heldout_per_prompt(last, algo, key)
    common = a.index.intersection(b.index)
    if len(common) >= 2:
        iv = V.seeded_ci((b[common] - a[common]).sort_index(), n_boot=knobs.bootstrap, ci=knobs.ci, seed=seed)
        d.held, d.lo, d.hi, d.method, d.n = iv.mean, iv.lo, iv.hi, "bootstrap", len(common)
        d.significant = iv.lo > 0 or iv.hi < 0
        return d
    fm, lm = first.metrics[algo], last.metrics[algo]
    bounds = [_num(m.get(f"heldout_{key}{s}")) for m in (fm, lm) for s in ("", "_lo", "_hi")]
    if not any(math.isnan(v) for v in bounds):
        (m1, lo1, hi1), (m2, lo2, hi2) = bounds[:3], bounds[3:]
        d.held, d.method = m2 - m1, "overlap"
        d.significant = lo2 > hi1 or hi2 < lo1
    return d


def deltas(study: Study, knobs: ReportParams, seed: int) -> dict[str, list[Delta]]:
    keys = ["rm"] + (["gold"] if study.gold else [])
    return {k: [phase_delta(study.first, study.last, a, k, knobs, seed + i) for i, a in enumerate(ALGOS)] for k in keys}


def settings_table(study: Study) -> pd.DataFrame:
    rows = []
    for ph in study.phases:
        s = ph.settings
        rows.append(
            {
                "phase": ph.name,
                "temperature": s.get("temperature"),
                "top_k": s.get("top_k"),
                "max_new_tokens": s.get("max_new_tokens"),
                "ppo.kl_coef": ph.knob("ppo", "kl_coef"),
                "ppo.lr": ph.knob("ppo", "lr"),
                "grpo.group_size": ph.knob("grpo", "group_size"),
                "grpo.gen_temperature": ph.knob("grpo", "gen_temperature"),
                "grpo.collapse_threshold": ph.knob("grpo", "collapse_threshold"),
                "dpo.beta": ph.knob("dpo", "beta"),
                "dpo.lr": ph.knob("dpo", "lr"),
            }
        )
    return pd.DataFrame(rows, dtype=object)  # keep 64 an int and 1.0 a float


def changes_table(study: Study) -> pd.DataFrame:
    """Every effective setting whose value differs between phases (algorithm configs and eval settings)."""
    flat = []
    for ph in study.phases:
        f = {}
        for a in TRAINED:
            f.update({k: v for k, v in _flatten(ph.configs.get(a) or {}).items() if k.startswith(a + ".")})
        f.update(
            {f"eval.{k}": v for k, v in _flatten(ph.settings).items() if not k.startswith("n_")}
        )  # n_study / n_heldout_prompts are counts, not knobs
        flat.append(f)
    keys = sorted(set().union(*flat))
    rows = []
    for k in keys:
        vals = [f.get(k) for f in flat]
        if len({json.dumps(v, sort_keys=True) for v in vals}) > 1:
            rows.append({"setting": k, **{ph.name: v for ph, v in zip(study.phases, vals)}})
    return pd.DataFrame(rows, columns=["setting", *[p.name for p in study.phases]], dtype=object)


# ---------------------------------------------------------------------------------------------- text


def fmt(x: Any, digits: int = 2, sign: bool = True) -> str:
    v = _num(x)
    if math.isnan(v):
        return "—"
    s = f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"
    return "+0." + "0" * digits if s == "-0." + "0" * digits else s


def fmt_ci(mean: Any, lo: Any, hi: Any, digits: int = 2, sign: bool = True) -> str:
    if math.isnan(_num(mean)):
        return "—"
    if math.isnan(_num(lo)) or math.isnan(_num(hi)):
        return fmt(mean, digits, sign)
    return f"{fmt(mean, digits, sign)} [{fmt(lo, digits, sign)}, {fmt(hi, digits, sign)}]"


def md_escape(text: str) -> str:
    """Make arbitrary model output safe inside a markdown table cell."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"([|*_`\[\]<>#~$])", r"\\\1", text)
    return re.sub(r"\s*\n\s*", " ⏎ ", text).replace("\r", " ").replace("\t", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def bold_max(values: Sequence[float], digits: int = 2) -> list[bool]:
    """Which cells hold the row maximum as displayed (ties all bold; NaN never)."""
    shown = [round(_num(v), digits) for v in values]
    finite = [v for v in shown if not math.isnan(v)]
    top = max(finite) if finite else None
    return [top is not None and v == top for v in shown]


def _cells(values: Sequence[float], digits: int = 2, sign: bool = True, bold: bool = True) -> list[str]:
    marks = bold_max(values, digits) if bold else [False] * len(values)
    return [f"**{fmt(v, digits, sign)}**" if b else fmt(v, digits, sign) for v, b in zip(values, marks)]


def per_prompt_markdown(phase: Phase, gold: bool) -> tuple[str, pd.DataFrame]:
    rm = per_prompt(phase, "rm")
    g = per_prompt(phase, "gold") if gold else None
    header = ["Prompt", *(LABEL[a] for a in ALGOS)] + ([f"{LABEL[a]} gold" for a in ALGOS] if gold else [])
    rows = []
    for name in rm.index:
        row = [md_escape(name), *_cells(rm.loc[name].tolist())]
        if gold:
            row += _cells(g.loc[name].tolist(), sign=False)
        rows.append(row)
    avg = [f"**{fmt(v, 3)}**" for v in rm.mean().tolist()]
    if gold:
        avg += [f"**{fmt(v, 3, sign=False)}**" for v in g.mean().tolist()]
    rows.append(["**AVERAGE**", *avg])
    note = (
        "*Bold = highest score in row"
        + (" (RM and gold separately)" if gold else "")
        + (
            "; single sample per prompt and algorithm.*\n"
            if len(phase.seeds) == 1
            else f"; mean of one sample per seed ({len(phase.seeds)} seeds) per prompt and algorithm.*\n"
        )
    )
    csv = rm.rename(columns=lambda a: f"{a}_rm")
    if gold:
        csv = csv.join(g.rename(columns=lambda a: f"{a}_gold"))
    return markdown_table(header, rows) + "\n" + note, csv


def averages_markdown(study: Study, ci: float) -> tuple[str, pd.DataFrame]:
    df = averages(study)
    pct = _pct(ci)
    header = ["Phase", "Algorithm", "RM (study)", f"RM held-out [{pct} CI]"]
    if study.gold:
        header += ["Gold (study)", f"Gold held-out [{pct} CI]"]
    header += ["KL to SFT", "Length", "EOS rate"]
    rows = []
    for ph in study.phases:
        sub = df[df["phase"] == ph.name]
        for _, r in sub.iterrows():
            row = [
                md_escape(ph.name),
                LABEL[r["algo"]],
                fmt(r["study_rm"], 3),
                fmt_ci(r["heldout_rm"], r["heldout_rm_lo"], r["heldout_rm_hi"], 3),
            ]
            if study.gold:
                row += [
                    fmt(r["study_gold"], 3, sign=False),
                    fmt_ci(r["heldout_gold"], r["heldout_gold_lo"], r["heldout_gold_hi"], 3, sign=False),
                ]
            row += [fmt(r["kl"], 3, sign=False), fmt(r["length"], 1, sign=False), fmt(r["eos_rate"], 2, sign=False)]
            rows.append(row)
    note = (
        f"*Study = the 16 study prompts, one sample each (no algorithm is marked best: single samples cannot "
        f"separate them); held-out = mean over held-out prompts with the eval stage's {pct} bootstrap CI over "
        f"prompts; [section 2](#2-each-algorithm-against-sft) compares the algorithms paired.*\n"
    )
    cols = [c for c in df.columns if study.gold or "gold" not in c]
    return markdown_table(header, rows, ["---", "---"] + ["---:"] * (len(header) - 2)) + "\n" + note, df[cols]


def summary_markdown(study: Study, ds: dict[str, list[Delta]], ci: float) -> tuple[str, pd.DataFrame]:
    f, l = study.first.name, study.last.name
    pct = _pct(ci)
    rm = ds["rm"]
    header = [
        "Algorithm",
        f"{md_escape(f)} avg",
        f"{md_escape(l)} avg",
        "Delta (study)",
        "Held-out verdict",
        f"Held-out delta [{pct} CI]",
    ]
    if "gold" in ds:
        header += [
            f"{md_escape(f)} gold",
            f"{md_escape(l)} gold",
            "Gold delta (study)",
            f"Held-out gold delta [{pct} CI]",
            "Held-out verdict",
        ]
    rows, csv = [], []
    for i, d in enumerate(rm):
        row = [
            LABEL[d.algo],
            fmt(d.first, 3),
            fmt(d.last, 3),
            fmt(d.delta, 3),
            _b(_direction(d), bool(d.significant)),
            _held(d),
        ]
        rec = {
            "algo": d.algo,
            "first": d.first,
            "last": d.last,
            "delta": d.delta,
            "heldout_delta": d.held,
            "heldout_delta_lo": d.lo,
            "heldout_delta_hi": d.hi,
            "significant": d.significant,
            "method": d.method,
        }
        if "gold" in ds:
            g = ds["gold"][i]
            row += [
                fmt(g.first, 3, sign=False),
                fmt(g.last, 3, sign=False),
                fmt(g.delta, 3),
                _held(g, 3),
                _b(_direction(g), bool(g.significant)),
            ]
            rec.update(
                {
                    "gold_first": g.first,
                    "gold_last": g.last,
                    "gold_delta": g.delta,
                    "gold_heldout_delta": g.held,
                    "gold_heldout_delta_lo": g.lo,
                    "gold_heldout_delta_hi": g.hi,
                    "gold_significant": g.significant,
                }
            )
        rows.append(row)
        csv.append(rec)
    note = (
        f"*Delta (study) = {md_escape(l)} − {md_escape(f)} on the 16 study prompts, one sample each: too few to "
        f"decide anything. The verdict comes from the held-out prompts: {_method_note(rm, ci)}; improved/regressed "
        f"only beyond noise (bold).*\n"
    )
    return markdown_table(
        header,
        rows,
        ["---"] + ["---:"] * 3 + ["---"] + ["---:"] + (["---:"] * 4 + ["---"] if "gold" in ds else []),
    ) + "\n" + note, pd.DataFrame(csv)


def delta_markdown(study: Study) -> tuple[str, pd.DataFrame]:
    d = per_prompt_delta(study.first, study.last, "rm")
    g = per_prompt_delta(study.first, study.last, "gold") if study.gold else None
    header = ["Prompt", *(f"{LABEL[a]} Δ" for a in ALGOS)] + (
        [f"{LABEL[a]} gold Δ" for a in ALGOS] if study.gold else []
    )
    rows = []
    for name in d.index:
        row = [md_escape(name), *(fmt(v) for v in d.loc[name])]
        if g is not None:
            row += [fmt(v) for v in g.loc[name]]
        rows.append(row)
    csv = d.rename(columns=lambda a: f"{a}_rm_delta")
    if g is not None:
        csv = csv.join(g.rename(columns=lambda a: f"{a}_gold_delta"))
    note = (
        f"*{md_escape(study.last.name)} − {md_escape(study.first.name)} per study prompt "
        "(one sample each, so noisy).*\n"
    )
    return markdown_table(header, rows) + "\n" + note, csv


def settings_markdown(study: Study) -> tuple[str, pd.DataFrame]:
    df = settings_table(study)
    rows = [[md_escape(str(r["phase"]))] + [_plain(r[c]) for c in df.columns[1:]] for _, r in df.iterrows()]
    return markdown_table(["Phase", *df.columns[1:]], rows, ["---"] + ["---:"] * (len(df.columns) - 1)), df


def changes_markdown(study: Study) -> tuple[str, pd.DataFrame]:
    df = changes_table(study)
    if df.empty:
        return "*No setting differs between the phases.*\n", df
    rows = []
    for _, r in df.iterrows():
        vals = [_plain(r[p.name]) for p in study.phases]
        rows.append([f"`{r['setting']}`", " → ".join(vals[:1] + [f"**{v}**" if v != vals[0] else v for v in vals[1:]])])
    return markdown_table(["Setting", " → ".join(md_escape(p.name) for p in study.phases)], rows, ["---", "---"]), df


# An algorithm "moved" when its held-out answers are this far from SFT's (per-token KL, nats) and at least
# this share of them differ from SFT's answer on the same random stream.
MOVED_KL = 0.01
MOVED_SHARE = 0.5


def trained_table(study: Study) -> pd.DataFrame:
    """Did each RL algorithm leave SFT? Eval's distance measures beside the stage's own diagnostics."""
    rows = []
    for ph in study.phases:
        for a in TRAINED:
            m = ph.metrics.get(a) or {}
            t = m.get("trained") or {}
            kl, share = _num(m.get("kl")), _num(t.get("differs_from_sft"))
            diag = {
                "ppo": [("explained var. (2nd half)", t.get("explained_variance_2nd_half"))],
                "grpo": [("collapsed groups", t.get("collapsed_share"))],
                "dpo": [
                    ("margin (last 20)", t.get("margin_last20")),
                    ("accuracy (last 20)", t.get("accuracy_last20")),
                    ("void pairs", t.get("void_share")),
                ],
            }[a]
            moved = None if math.isnan(kl) or math.isnan(share) else bool(kl >= MOVED_KL and share >= MOVED_SHARE)
            rows.append(
                {
                    "phase": ph.name,
                    "algo": a,
                    "optimizer_steps": t.get("optimizer_steps"),
                    "kl_to_sft": kl,
                    "differs_from_sft": share,
                    "diagnostics": "; ".join(f"{k} {fmt(v, 3, sign=False)}" for k, v in diag if v is not None),
                    "moved": moved,
                }
            )
    return pd.DataFrame(rows, dtype=object)


def trained_markdown(study: Study) -> tuple[str, pd.DataFrame]:
    df = trained_table(study)
    rows = [
        [
            md_escape(r.phase),
            r.algo,
            fmt(r.optimizer_steps, 0, sign=False),
            fmt(r.kl_to_sft, 4, sign=False),
            "—" if math.isnan(_num(r.differs_from_sft)) else _share(_num(r.differs_from_sft)),
            r.diagnostics or "—",
            "—" if r.moved is None else ("yes" if r.moved else "**no**"),
        ]
        for r in df.itertuples()
    ]
    md = markdown_table(
        ["Phase", "Algorithm", "Optimiser steps", "KL to SFT (nats/token)", "Answers ≠ SFT", "Diagnostics", "Moved"],
        rows,
        ["---", "---", "---:", "---:", "---:", "---", "---"],
    )
    note = (
        f"\nKL: mean per-token KL(policy || SFT) over the held-out answers (SFT is also every algorithm's "
        f"reference). Answers ≠ SFT: share of held-out answers that differ from SFT's answer to the same prompt "
        f"on the same random stream. Moved = KL >= {MOVED_KL} and >= {100 * MOVED_SHARE:.0f}% of answers differ; "
        f"an algorithm that did not move cannot be compared with the others.\n"
    )
    return md + note, df


def seeds_table(study: Study) -> pd.DataFrame:
    """One row per (phase, algorithm, seed): that seed's held-out RM and gold, KL to SFT and share of
    answers that differ from SFT's, then a row with the mean over seeds and the seed-to-seed SD."""
    rows = []
    for ph in study.phases:
        for a in ALGOS:
            vals = []
            for sd, m in ph.seed_metrics.items():
                am = m.get(a) or {}
                t = am.get("trained") or {}
                vals.append(
                    {
                        "phase": ph.name,
                        "algo": a,
                        "seed": str(sd),
                        "rm": _num(am.get("heldout_rm")),
                        "gold": _num(am.get("heldout_gold")),
                        "kl": _num(am.get("kl")),
                        "differs": 0.0 if a == "sft" else _num(t.get("differs_from_sft")),
                    }
                )
            rows += vals
            if len(vals) > 1:
                for stat, fn in (("mean", np.mean), ("SD", lambda x: np.std(x, ddof=1))):
                    rows.append(
                        {"phase": ph.name, "algo": a, "seed": stat}
                        | {c: float(fn([v[c] for v in vals])) for c in ("rm", "gold", "kl", "differs")}
                    )
    return pd.DataFrame(rows)


def seeds_markdown(study: Study) -> tuple[str, pd.DataFrame]:
    df = seeds_table(study)
    gold = study.gold
    rows = [
        [
            md_escape(r.phase),
            LABEL[r.algo],
            r.seed if r.seed not in ("mean", "SD") else f"*{r.seed}*",
            fmt(r.rm, 3),
            *([fmt(r.gold, 3, sign=False)] if gold else []),
            fmt(r.kl, 4, sign=False),
            "—" if math.isnan(_num(r.differs)) else f"{100 * r.differs:.0f}%",
        ]
        for r in df.itertuples()
    ]
    md = markdown_table(
        ["Phase", "Algorithm", "Seed", "Held-out RM", *(["Held-out gold"] if gold else []), "KL to SFT", "≠ SFT"],
        rows,
        ["---", "---", "---", "---:", *(["---:"] if gold else []), "---:", "---:"],
    )
    note = (
        "\nEach seed trains the algorithm from the same SFT model and RM and answers with its own random "
        "stream (SFT answers with it too, so SFT's rows show the eval's own sampling noise). The SD row is the "
        "seed-to-seed standard deviation; the intervals elsewhere in this report include it.\n"
    )
    return md + note, df


def metrics_markdown(metrics: dict) -> tuple[str, pd.DataFrame]:
    flat = {
        k: v
        for k, v in _flatten(metrics).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    rows = [[f"`{k}`", _plain(v)] for k, v in flat.items()]  # our own keys: no escaping inside code spans
    return markdown_table(["Metric", "Value"], rows, ["---", "---:"]), pd.DataFrame(
        {"metric": list(flat), "value": list(flat.values())}
    )


def sample_answers_markdown(study: Study, knobs: ReportParams) -> str:
    """Per study prompt: the prompt, its reference answer, and every algorithm's answer in every phase."""
    names = prompt_names(study.first)
    ids = list(names)
    if knobs.sample_prompts and knobs.sample_prompts < len(ids):
        picks = np.linspace(0, len(ids) - 1, knobs.sample_prompts).round().astype(int)
        ids = [ids[i] for i in dict.fromkeys(picks.tolist())]
    gold = study.gold
    header = ["Phase", "Algorithm", "RM"] + (["Gold"] if gold else []) + ["Answer"]
    blocks = []
    for pid in ids:
        first = study.first.study[study.first.study["prompt_id"] == pid].iloc[0]
        prompt = str(first["instruction"]) + (f" ⏎ {first['input']}" if str(first.get("input") or "").strip() else "")
        lines = [f"#### {md_escape(names[pid])}\n", f"**Prompt:** {md_escape(prompt)}  "]
        ref = first.get("reference")
        if isinstance(ref, str) and ref.strip():
            lines.append(f"**Reference:** {md_escape(_shorten(ref, knobs.answer_chars))}")
        rows = []
        for ph in study.phases:
            st = ph.study
            if "seed" in st.columns:  # the first seed's answers: one per algorithm
                st = st[st["seed"] == ph.seeds[0]]
            sub = st[(st["prompt_id"] == pid) & (st["sample"] == st["sample"].min())]
            for a in ALGOS:
                r = sub[sub["algo"] == a]
                if r.empty:
                    continue
                r = r.iloc[0]
                text = _shorten(str(r["response"]), knobs.answer_chars)
                rows.append(
                    [md_escape(ph.name), LABEL[a], fmt(r["rm"])]
                    + ([fmt(r["gold"], sign=False)] if gold else [])
                    + [md_escape(text) if text else "*(empty)*"]
                )
        align = ["---", "---", "---:"] + (["---:"] if gold else []) + ["---"]
        blocks.append("\n".join(lines) + "\n\n" + markdown_table(header, rows, align))
    return "\n".join(blocks)


# ---------------------------------------------------------------------------------------------- verdicts


def _vk(knobs: ReportParams, seed: int) -> V.Knobs:
    return V.Knobs(n_boot=knobs.bootstrap, ci=knobs.ci, seed=seed)


def vs_sft_table(study: Study, k: V.Knobs) -> pd.DataFrame:
    """Each RL algorithm minus SFT on the held-out prompts of its phase, paired over prompts."""
    rows = []
    for ph in study.phases:
        for a in TRAINED:
            row: dict[str, Any] = {"phase": ph.name, "algo": a}
            for key in ("rm", "gold") if study.gold else ("rm",):
                d = V.vs_sft(ph.answers, a, key, k)
                row.update({f"{key}_diff": d.mean, f"{key}_lo": d.lo, f"{key}_hi": d.hi, f"{key}_n": d.n})
                row[f"{key}_verdict"] = "higher" if d.above else ("lower" if d.below else "within noise")
            rows.append(row)
    return pd.DataFrame(rows)


def vs_sft_markdown(study: Study, k: V.Knobs) -> tuple[str, pd.DataFrame]:
    df = vs_sft_table(study, k)
    if df.empty or not (df["rm_n"] >= 2).any():
        return "*No held-out prompts were evaluated: the algorithms cannot be compared beyond noise.*\n", df
    keys = ("rm", "gold") if study.gold else ("rm",)
    pct = _pct(k.ci)
    header = ["Phase", "Algorithm"]
    for key in keys:
        header += [f"{'RM' if key == 'rm' else 'Gold'} − SFT [{pct} CI]", "Verdict"]
    rows = []
    for r in df.to_dict("records"):
        row = [md_escape(r["phase"]), LABEL[r["algo"]]]
        for key in keys:
            iv = V.Interval(r[f"{key}_diff"], r[f"{key}_lo"], r[f"{key}_hi"], int(r[f"{key}_n"]))
            verdict = r[f"{key}_verdict"]
            row += [iv.text(3), verdict if verdict == "within noise" else f"**{verdict}**"]
        rows.append(row)
    n_prompts = max(ph.heldout["prompt_id"].nunique() for ph in study.phases)
    seeds = study.first.seeds
    if len(seeds) > 1:
        how = (
            f"then the mean over {n_prompts} prompts and {len(seeds)} seeds with a {pct} hierarchical bootstrap "
            "interval (seeds, then prompts within each seed)"
        )
    else:
        how = (
            f"then the mean over {n_prompts} prompts with a {pct} bootstrap interval over prompts. One training "
            "seed: the interval does not include seed-to-seed variation"
        )
    note = (
        f"\n*Per prompt, the algorithm's mean score minus SFT's on the same held-out prompt (both answered on the "
        f"same random stream), {how}. Higher/lower = the interval excludes 0.*\n"
    )
    lines = []
    for ph in study.phases:
        for key in keys:
            lines.append(
                f"- {md_escape(ph.name)}, held-out {'RM' if key == 'rm' else 'gold'}: "
                f"{V.ordering(ph.answers, list(ALGOS), key, k)}"
            )
    order = (
        "\nOrdering by held-out mean, best first: `>` where the two neighbours differ beyond noise (the paired "
        "interval above), `≈` where they do not — a tie, not a ranking.\n\n" + "\n".join(lines) + "\n"
    )
    return markdown_table(header, rows, ["---", "---"] + ["---:", "---"] * len(keys)) + note + order, df


def phase_net_table(study: Study, k: V.Knobs) -> pd.DataFrame:
    """Each algorithm's change from the first to the last phase, and the same net of SFT's own change."""
    rows = []
    for a in ALGOS:
        row: dict[str, Any] = {"algo": a}
        for key in ("rm", "gold") if study.gold else ("rm",):
            for net in (False, True):
                if net and a == "sft":
                    continue
                d = V.phase_change(study.first.answers, study.last.answers, a, key, k, net=net)
                tag = f"{key}_{'net' if net else 'change'}"
                row.update({tag: d.mean, f"{tag}_lo": d.lo, f"{tag}_hi": d.hi, f"{tag}_n": d.n})
        rows.append(row)
    return pd.DataFrame(rows)


def phase_net_markdown(study: Study, k: V.Knobs) -> tuple[str, pd.DataFrame]:
    df = phase_net_table(study, k)
    keys = ("rm", "gold") if study.gold else ("rm",)
    f, l = study.first.name, study.last.name
    if not (df.get("rm_change_n", pd.Series([0])) >= 2).any():
        return "*No held-out prompts were evaluated in both phases: phase changes cannot be told from noise.*\n", df
    pct = _pct(k.ci)
    header = ["Algorithm"]
    for key in keys:
        name = "RM" if key == "rm" else "Gold"
        header += [f"{name} change [{pct} CI]", f"{name} change net of SFT [{pct} CI]"]
    rows = []
    for r in df.to_dict("records"):
        row = [LABEL[r["algo"]]]
        for key in keys:
            for tag in (f"{key}_change", f"{key}_net"):
                if f"{tag}_n" not in r or (isinstance(r[f"{tag}_n"], float) and math.isnan(r[f"{tag}_n"])):
                    row.append("—")
                    continue
                iv = V.Interval(r[tag], r[f"{tag}_lo"], r[f"{tag}_hi"], int(r[f"{tag}_n"]))
                row.append(_b(iv.text(3), iv.beyond))
        rows.append(row)
    note = (
        f"\n*{md_escape(l)} − {md_escape(f)} on the held-out prompts both phases answered, paired per prompt, "
        f"{pct} bootstrap interval over {_over(study)}; bold = beyond noise. SFT is not retrained between phases, so "
        f'its change is the effect of the eval protocol alone; "net of SFT" subtracts it per prompt, leaving '
        f"what the algorithm's own training changed.*\n"
    )
    return markdown_table(header, rows, ["---"] + ["---:"] * (len(header) - 1)) + note, df


def claims_markdown(claims: Sequence[V.Claim]) -> tuple[str, pd.DataFrame]:
    rows = [
        [md_escape(c.claim), md_escape(c.study), md_escape(c.ours), f"**{c.verdict}**", md_escape(c.why), c.evidence]
        for c in claims
    ]
    md = markdown_table(
        ["The study's claim", "Study", "This run [95% CI]", "Verdict", "Rule", "Evidence"],
        rows,
        ["---", "---", "---", "---", "---", "---"],
    )
    df = pd.DataFrame([dataclasses.asdict(c) for c in claims])
    return md, df


def headline(study: Study, trained: pd.DataFrame, vs: pd.DataFrame, claims: Sequence[V.Claim]) -> str:
    """Three sentences from the numbers: what trained, what changed beyond noise, what reproduced."""
    runs = [f"{LABEL[r.algo]} {r.phase}" for r in trained.itertuples()]
    stuck = [
        f"{LABEL[r.algo]} {r.phase} (KL {_num(r.kl_to_sft):.3f}, {_share(_num(r.differs_from_sft))} of answers changed)"
        for r in trained.itertuples()
        if r.moved is False
    ]
    unknown = [f"{LABEL[r.algo]} {r.phase}" for r in trained.itertuples() if r.moved is None]
    if len(unknown) == len(runs):
        s1 = "Whether the RL runs moved away from SFT is unknown: eval wrote no did-it-train numbers."
    elif not stuck:
        s1 = (
            f"All {len(runs) - len(unknown)} RL runs measured moved away from SFT (held-out KL >= {MOVED_KL} "
            f"nats/token and at least {100 * MOVED_SHARE:.0f}% of answers changed)."
        )
    else:
        s1 = (
            f"{len(runs) - len(stuck) - len(unknown)} of {len(runs)} RL runs moved away from SFT (held-out KL >= "
            f"{MOVED_KL} nats/token and at least {100 * MOVED_SHARE:.0f}% of answers changed); {'; '.join(stuck)} "
            f"did not, so {'it is' if len(stuck) == 1 else 'they are'} too close to SFT to compare."
        )
    key = "gold" if study.gold else "rm"
    name = "gold" if study.gold else "RM reward"
    moved = {(r.phase, r.algo) for r in trained.itertuples() if r.moved}
    found = (
        [
            f"{LABEL[r['algo']]} {r['phase']} {r[f'{key}_verdict']} "
            f"({fmt_ci(r[f'{key}_diff'], r[f'{key}_lo'], r[f'{key}_hi'], 3)})"
            for r in vs.to_dict("records")
            if r[f"{key}_verdict"] != "within noise"
        ]
        if len(vs)
        else []
    )
    if not len(vs) or not (vs[f"{key}_n"] >= 2).any():
        s2 = f"Without held-out prompts no difference in {name} can be told from noise."
    elif found:
        s2 = (
            f"Against SFT on held-out prompts, paired, the differences in {name} beyond noise are: "
            + "; ".join(found)
            + f"; every other run is within noise of SFT ({len(vs) - len(found)} of {len(vs)})."
        )
    else:
        s2 = (
            f"Against SFT on held-out prompts, paired, no run changes {name} beyond noise"
            + (f", although {len(moved)} of them moved" if moved else "")
            + ": on this evidence the algorithms are indistinguishable from SFT and from each other."
        )
    t = V.tally(claims)
    s3 = (
        f"Of the study's {len(claims)} claims checked here: reproduced {t[V.REPRODUCED]}, partly {t[V.PARTLY]}, "
        f"not reproduced {t[V.NOT]}, cannot tell from noise {t[V.CANNOT]} ("
        + (
            f"{len(study.first.seeds)} training seeds; intervals over seeds and prompts)."
            if len(study.first.seeds) > 1
            else "one training seed; intervals over prompts)."
        )
        if claims
        else "The study's claims compare phases and need two of them."
    )
    return " ".join([s1, s2, s3])


def rm_markdown(study: Study) -> str:
    """The three reward-model numbers that matter, and what they measure."""
    m = study.rm_metrics or {}
    held, gold = m.get("heldout") or {}, m.get("gold") or {}
    acc = (held.get("accuracy_per_source") or {}).get("sft_ranked")
    rows = [
        [
            "Accuracy on held-out policy-like pairs (SFT samples ranked by gold)",
            fmt(acc, 3, sign=False),
            f"{(m.get('pairs') or {}).get('heldout', {}).get('sft_ranked', '—')} pairs",
        ],
        [
            "Pairwise accuracy against gold on fresh SFT samples of held-out prompts",
            fmt(gold.get("pairwise_accuracy"), 3, sign=False),
            f"{gold.get('pairs', '—')} pairs",
        ],
        [
            "Spearman ρ(RM, gold) within a prompt, same samples",
            fmt(gold.get("spearman_within_prompt"), 3),
            f"{gold.get('prompts_ranked', '—')} prompts",
        ],
        [
            "All held-out pairs (incl. reference vs corrupted)",
            fmt(held.get("accuracy"), 3, sign=False),
            f"{held.get('pairs', '—')} pairs",
        ],
    ]
    md = markdown_table(["Reward model", "Value", "Over"], rows, ["---", "---:", "---:"])
    return md + (
        "\n*The RM is trained on pairs that the gold judge ranked (SFT samples of training prompts) and on "
        "reference-vs-corrupted pairs, so its agreement with gold is partly by construction; what matters is "
        "how well it ranks answers of the kind the policies write, on prompts it never saw: the first three "
        "rows. 0.5 = chance. Full metrics: [tables/reward_model.md](tables/reward_model.md).*\n"
    )


# ---------------------------------------------------------------------------------------------- findings


def overoptimisation(
    log: pd.DataFrame, rm_col: str, bins: int = OVER_BINS, n_perm: int = OVER_PERMS, seed: int = 0
) -> dict | None:
    """Does the RM reward keep rising after gold has peaked and fallen (Gao et al. 2022, "Scaling laws
    for reward model overoptimization")? A permutation test on one RL training log; None without gold.

    The log's steps (those with both an RM reward and a gold score) are cut, in step order, into
    `bins` equal-count bins of training progress. Progress rather than KL: the log's KL goes back and
    forth, and shuffling steps must destroy any time order for the null to mean "no trend". Each bin
    gives a mean and a standard error. Gold's peak is the best bin before the last; the verdict needs
    (a) gold's last bin below its peak bin and (b) the RM's last bin above its value in gold's peak bin,
    each a difference of two bin means divided by its standard error. Dividing by the within-bin
    spread keeps a steep RM climb from widening the null (shuffling spreads the climb into every bin).

    Each p-value is the share of `n_perm` shuffles of the steps at least as extreme as the log
    (RM and gold of a step move together, keeping their per-step correlation). The peak is picked
    again on every shuffle, so choosing the best of several noisy bins is paid for: without that, "gold
    peaked, then fell" is what noise usually looks like. Steps are shuffled in blocks whose length,
    (1 + φ) / (1 - φ) for φ the lag-1 autocorrelation of the steps around their bin means, is the
    number of consecutive AR(1) steps worth one independent step: plain step shuffles call smooth
    wandering noise a trend. Over-optimisation needs both (a) and (b), so its p-value is the larger
    of the two (an intersection-union test: level alpha also when only one of them holds).

    "drift" is the weaker verdict: over the run (first bin to last) the RM rose and gold fell, both
    beyond noise, whatever happened between. `p_rm_change` and `p_gold_change` are two-sided
    p-values of each change alone. The seed is fixed, so the result is deterministic. False-positive
    rate and power, measured: docs/overoptimisation.md (`python -m bench.overopt`)."""
    rows = _overopt_rows(log, rm_col)
    return None if rows is None else _overopt_test(rows, bins, n_perm, seed)


def overoptimisation_bins(log: pd.DataFrame, rm_col: str, bins: int = OVER_BINS) -> pd.DataFrame | None:
    """The bins `overoptimisation` compares: steps, mean KL, RM and gold means with standard errors."""
    rows = _overopt_rows(log, rm_col)
    k = _overopt_nbins(len(rows["rm"]), bins) if rows is not None else 0
    return pd.DataFrame(_overopt_table(rows, k)) if k else None


def _overopt_table(rows: dict, k: int) -> dict:
    n = len(rows["rm"])
    starts = np.searchsorted(np.arange(n) * k // n, np.arange(k))
    ends = np.append(starts[1:], n)
    kl = np.isfinite(rows["kl"])
    mean, se2 = _bin_moments(np.stack([rows["rm"], rows["gold"]]), np.arange(n)[None], k)
    with np.errstate(invalid="ignore"):  # a bin without a logged KL has no mean KL
        kl_mean = np.add.reduceat(np.where(kl, rows["kl"], 0), starts) / np.add.reduceat(kl, starts)
    return {
        "first_step": rows["step"][starts].astype(int),
        "last_step": rows["step"][ends - 1].astype(int),
        "n": ends - starts,
        "kl": kl_mean,
        "rm": mean[0, 0],
        "rm_se": np.sqrt(se2[0, 0]),
        "gold": mean[1, 0],
        "gold_se": np.sqrt(se2[1, 0]),
    }


def overoptimisation_fpr(log: pd.DataFrame, rm_col: str, n_shuffles: int = OVER_FPR_SHUFFLES, seed: int = 0) -> dict:
    """The share of `n_shuffles` step-shuffled copies of `log` that `overoptimisation` flags: the same
    values (a step's RM, gold and KL together) in random order, so any trend is noise and every flag a
    false positive. `seed` draws the copies; the test keeps its own fixed seed, as in the report."""
    rows = _overopt_rows(log, rm_col)
    if rows is None or not _overopt_nbins(len(rows["rm"]), OVER_BINS):
        return {"over": math.nan, "drift": math.nan, "shuffles": 0}
    rm, gold = rows["rm"], rows["gold"]
    rng = np.random.default_rng(seed)
    hits = {"over": 0, "drift": 0}
    for _ in range(n_shuffles):
        i = rng.permutation(len(rm))
        v = _overopt_verdicts(rm[i], gold[i], OVER_BINS, OVER_PERMS, 0)  # the test itself, minus the summary
        hits["over"] += v["over"]
        hits["drift"] += v["drift"]
    return {"over": hits["over"] / n_shuffles, "drift": hits["drift"] / n_shuffles, "shuffles": n_shuffles}


def _overopt_rows(log: pd.DataFrame, rm_col: str) -> dict | None:
    """Steps with a finite RM reward and gold score, in step order, as arrays; None when the log has no gold."""
    if "gold_mean" not in log or rm_col not in log:
        return None
    cols = {"step": "step", "rm": rm_col, "gold": "gold_mean", "kl": "kl"}
    a = {
        k: pd.to_numeric(log[c], errors="coerce").to_numpy(float) if c in log else np.full(len(log), np.nan)
        for k, c in cols.items()
    }
    if np.isnan(a["gold"]).all():
        return None
    keep = np.isfinite(a["step"]) & np.isfinite(a["rm"]) & np.isfinite(a["gold"])
    order = np.argsort(a["step"][keep], kind="stable")
    return {k: v[keep][order] for k, v in a.items()}


def _overopt_nbins(n: int, bins: int) -> int:
    """Bins for n steps: at most `bins`, each of at least 3 steps (a spread); 0 when fewer than 3 fit."""
    k = min(bins, n // 3)
    return k if k >= 3 else 0


def _overopt_test(rows: dict, bins: int, n_perm: int, seed: int) -> dict:
    n = len(rows["rm"])
    k = _overopt_nbins(n, bins)
    if not k:  # too short to tell a peak from noise
        return {"n": n, "bins": 0, "p_over": math.nan, "over": False, "p_drift": math.nan, "drift": False}
    v = _overopt_verdicts(rows["rm"], rows["gold"], k, n_perm, seed)
    b, peak = _overopt_table(rows, k), v.pop("peak")
    at = {"start": 0, "peak": peak, "end": k - 1}
    return {
        "n": n,
        "bins": k,
        **{f"{w}_steps": (int(b["first_step"][i]), int(b["last_step"][i])) for w, i in at.items()},
        **{f"{w}_{c}": float(b[c][i]) for w, i in at.items() for c in ("rm", "gold", "kl")},
        **v,
    }


def _overopt_verdicts(rm: np.ndarray, gold: np.ndarray, bins: int, n_perm: int, seed: int) -> dict:
    """The test on arrays in step order (at least 3 bins' worth): p-values, verdicts, gold's peak bin."""
    n = len(rm)
    k = _overopt_nbins(n, bins)
    block = _overopt_block(rm, gold, k)
    obs = _overopt_stats(rm, gold, np.arange(n)[None], k)
    null = _overopt_stats(rm, gold, _shuffled_order(n, block, n_perm, np.random.default_rng(seed)), k)

    def p(key: str, sign: int = 1) -> float:  # the share of shuffles at least as extreme, the log counted in
        return float((1 + np.count_nonzero(sign * null[key] >= sign * obs[key][0] - 1e-9)) / (1 + n_perm))

    p_over, p_drift = max(p("gold_drop"), p("rm_rise")), max(p("rm_up"), p("gold_down"))
    return {
        "block": block,
        "peak": int(obs["peak"][0]),
        "p_over": p_over,
        "over": bool(p_over <= OVER_ALPHA and obs["gold_drop"][0] > 0 and obs["rm_rise"][0] > 0),
        "p_drift": p_drift,
        "drift": bool(p_drift <= OVER_ALPHA and obs["rm_up"][0] > 0 and obs["gold_down"][0] > 0),
        "p_rm_change": min(1.0, 2 * min(p("rm_up"), p("rm_up", -1))),
        "p_gold_change": min(1.0, 2 * min(p("gold_down"), p("gold_down", -1))),
    }


def _bin_moments(x: np.ndarray, order: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin means of each row of x (steps in step order) and their squared standard errors, (rows, shuffles,
    k), for each shuffle in `order` (rows of step indices); bin b holds positions b·n/k to (b+1)·n/k."""
    n = x.shape[-1]
    starts = np.searchsorted(np.arange(n) * k // n, np.arange(k))
    count = np.diff(starts, append=n)
    mu = x.mean(axis=-1, keepdims=True)
    c = x - mu  # centred: the sums of squares lose no digits
    s = np.add.reduceat(np.take(np.concatenate([c, c * c]), order, axis=-1), starts, axis=-1)
    mean = s[: len(x)] / count
    return mean + mu[..., None], np.maximum(s[len(x) :] - count * mean * mean, 0) / (count - 1) / count


def _overopt_stats(rm: np.ndarray, gold: np.ndarray, order: np.ndarray, k: int) -> dict:
    """The four studentised bin differences (and gold's peak bin) for each shuffle in `order`."""
    (r, g), (rse, gse) = _bin_moments(np.stack([rm, gold]), order, k)
    i = np.arange(len(r))
    peak = g[:, : k - 1].argmax(1)

    def t(diff, a, b, x):  # the floor: a constant column gives 0, not 0 / 0
        den = np.sqrt(a + b) + 1e-9 * x.std()
        return np.divide(diff, den, out=np.zeros_like(diff), where=den > 0)

    return {
        "peak": peak,
        "gold_drop": t(g[i, peak] - g[:, -1], gse[i, peak], gse[:, -1], gold),
        "rm_rise": t(r[:, -1] - r[i, peak], rse[i, peak], rse[:, -1], rm),
        "rm_up": t(r[:, -1] - r[:, 0], rse[:, 0], rse[:, -1], rm),
        "gold_down": t(g[:, 0] - g[:, -1], gse[:, 0], gse[:, -1], gold),
    }


def _overopt_block(rm: np.ndarray, gold: np.ndarray, k: int) -> int:
    """Shuffle-block length: (1 + φ) / (1 - φ) steps, φ the larger lag-1 autocorrelation of RM and gold
    around their bin means (bin means, not the overall mean: a trend is no autocorrelation)."""
    where = np.arange(len(rm)) * k // len(rm)
    phi = 0.0
    for x in (rm, gold):
        res = x - (np.bincount(where, x) / np.bincount(where))[where]
        ss = float(res @ res)
        if ss > 0:
            phi = max(phi, float(res[1:] @ res[:-1]) / ss)
    phi = min(phi, 0.95)
    return int(max(1, min(math.ceil((1 + phi) / (1 - phi) - 1e-9), len(rm) // k)))


def _shuffled_order(n: int, block: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """(n_perm, n): step indices in shuffled order, blocks of `block` consecutive steps kept together."""
    if block == 1:
        return rng.permuted(np.tile(np.arange(n), (n_perm, 1)), axis=1)
    blk = np.arange(n) // block
    lengths = np.bincount(blk)
    order = rng.permuted(np.tile(np.arange(len(lengths)), (n_perm, 1)), axis=1)
    placed = np.cumsum(lengths[order], axis=1) - lengths[order]  # where the j-th placed block starts
    start = np.empty_like(placed)
    np.put_along_axis(start, order, placed, axis=1)  # where each original block starts
    pos = start[:, blk] + (np.arange(n) - (np.cumsum(lengths) - lengths)[blk])
    out = np.empty_like(pos)
    np.put_along_axis(out, pos, np.broadcast_to(np.arange(n), pos.shape), axis=1)
    return out


def overoptimisation_findings(study: Study) -> list[str]:
    """One sentence per (algorithm, phase, seed), a count over seeds where there are several, and the
    test's false-positive rate measured on step-shuffled copies of every log."""
    out, fpr = [], []
    for a, col in RM_LOG.items():
        for ph in study.phases:
            many = len(ph.seeds) > 1
            calls = []
            for sd, log in zip(ph.seeds, ph.all_logs(a)):
                o = overoptimisation(log, col)
                if o is None:
                    continue
                who = f"{LABEL[a]} {ph.name}" + (f" seed {sd}" if many else "")
                out.append(overoptimisation_sentence(who, o))
                if o["bins"]:
                    calls.append(o)
                    f = overoptimisation_fpr(log, col, OVER_FPR_SHUFFLES)
                    fpr.append(f"{who} {f['over']:.1%} / {f['drift']:.1%}")
            if many and calls:
                out.append(
                    f"**{LABEL[a]} {ph.name}, over its {len(ph.seeds)} seeds**: over-optimisation called in "
                    f"{sum(bool(o['over']) for o in calls)} and drift in {sum(bool(o['drift']) for o in calls)} of "
                    f"{len(calls)} (each test has a false-positive rate of at most {OVER_ALPHA:.0%}, so one call in "
                    f"{len(calls)} seeds is weak evidence)."
                )
    if fpr:
        out.append(
            f"False-positive rate of these tests, measured on {OVER_FPR_SHUFFLES} step-shuffled copies of each "
            "log (the same values in random order, so any trend is noise): over-optimisation / drift called on "
            + ", ".join(fpr)
            + f" of the copies; at most {OVER_ALPHA:.0%} by design (α = {OVER_ALPHA:g})."
        )
    return out


def overoptimisation_sentence(who: str, o: dict) -> str:
    """One finding from `overoptimisation`: the RM pushed up past gold's peak (Gao et al. 2022's
    over-optimisation), an RM gain with a gold loss over the run without that shape, or no evidence
    of either, with each change's size and whether it is beyond noise."""
    if not o["bins"]:
        return f"{who}: too few logged steps with a gold score ({o['n']}) to test for over-optimisation."

    def steps(s: tuple) -> str:
        return f"{s[0]}–{s[1]}"

    if o["over"]:
        return (
            f"{who} over-optimises the RM: gold peaks in steps {steps(o['peak_steps'])} ({o['peak_gold']:.3f}, "
            f"KL {o['peak_kl']:.3g}) and falls to {o['end_gold']:.3f} by steps {steps(o['end_steps'])} while the "
            f"RM reward keeps rising ({fmt(o['peak_rm'])} → {fmt(o['end_rm'])}, KL {o['end_kl']:.3g}); both "
            f"changes are beyond noise (p = {_pval(o['p_over'])}, permutation test over {o['bins']} bins of training)."
        )
    if o["drift"]:
        return (
            f"{who}: the RM reward rose over training ({fmt(o['start_rm'])} → {fmt(o['end_rm'])}) while gold "
            f"fell ({o['start_gold']:.3f} → {o['end_gold']:.3f}), both beyond noise (p = {_pval(o['p_drift'])}), so "
            f"the RM gain is not a real one; but there is no evidence that the RM was pushed up past a gold peak "
            f"(over-optimisation p = {_pval(o['p_over'])}, KL at the end {o['end_kl']:.3g})."
        )

    def change(p: float) -> str:
        return f"{'beyond' if p <= OVER_ALPHA else 'within'} noise, p = {_pval(p)}"

    s = (
        f"{who}: no evidence of over-optimisation (p = {_pval(o['p_over'])}); from steps {steps(o['start_steps'])} "
        f"to {steps(o['end_steps'])} the RM reward went {fmt(o['start_rm'])} → {fmt(o['end_rm'])} "
        f"({change(o['p_rm_change'])}) and gold {o['start_gold']:.3f} → {o['end_gold']:.3f} "
        f"({change(o['p_gold_change'])}), KL at the end {o['end_kl']:.3g}"
    )
    if o["p_gold_change"] <= OVER_ALPHA and o["end_gold"] < o["start_gold"] and o["end_rm"] <= o["start_rm"]:
        s += "; gold fell without an RM gain, which is not over-optimisation"
    return s + "."


# ---------------------------------------------------------------------------------------------- figures


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


RC = {
    "svg.hashsalt": "rlhf-report",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


def _figure(nrows: int, ncols: int, height: float, **kw):
    _mpl()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _save(fig, path: Path) -> list[str]:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    if fig.get_suptitle():
        titles.insert(0, fig.get_suptitle())
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return titles


def _algo_legend(ax, algos: Sequence[str] = ALGOS, **kw) -> None:
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=COLOR[a], label=LABEL[a]) for a in algos], **kw)


def _phase_style(i: int, n: int) -> dict:
    """First phase hatched and faded, middle phases dotted, the last solid."""
    if i == 0:
        return {"alpha": 0.45, "hatch": "///"}
    return {"alpha": 1.0} if i == n - 1 else {"alpha": 0.75, "hatch": ".."}


def _eval_label(ph: Phase) -> str:
    s = ph.settings
    parts = [
        f"T={s['temperature']}" if s.get("temperature") is not None else "",
        f"top_k={s['top_k']}" if s.get("top_k") is not None else "",
        f"max_new_tokens={s['max_new_tokens']}" if s.get("max_new_tokens") is not None else "",
    ]
    return ", ".join(p for p in parts if p)


def fig_per_prompt(phase: Phase, path: Path, gold: bool) -> list[str]:
    """Fig 1 / Fig 5: per-prompt scores of every algorithm in one phase (RM; gold beside it)."""
    keys = ["rm"] + (["gold"] if gold else [])
    tables = {k: per_prompt(phase, k) for k in keys}
    n = len(tables["rm"])
    with _rc():
        fig, axes = _figure(1, len(keys), 1.6 + 0.42 * n, sharey=True)
        y = np.arange(n)
        h = 0.8 / len(ALGOS)
        for ax, k in zip(axes[0], keys):
            t = tables[k]
            for i, a in enumerate(ALGOS):
                ax.barh(y - 0.4 + h * (i + 0.5), t[a].to_numpy(), height=h, color=COLOR[a], label=LABEL[a])
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(y, [_shorten(s, 28) for s in t.index])
            if k == keys[0]:
                ax.invert_yaxis()  # first prompt on top (the y axis is shared)
            ax.set_xlabel("reward-model score" if k == "rm" else "gold score (0-1)")
            ax.set_title(f"{phase.name}: {'RM' if k == 'rm' else 'gold'} score per prompt")
            ax.grid(axis="x", alpha=0.3)
        _algo_legend(axes[0][-1], loc="lower right", framealpha=0.9)
        fig.suptitle(f"Per-prompt scores, {phase.name} ({_eval_label(phase)})")
        return _save(fig, path)


class Drawn(list):
    """What a figure function returns: its titles (suptitle first), as `_save` gives them, plus for the
    tests what was drawn: per titled panel its limits, scale, texts and lines by label (`panels`); in
    pixels, the extent of every visible text (`texts`), the path of every data line (`lines`), the data
    area of every panel (`frames`) and of every legend (`legends`); and what the figure adds (`data`)."""

    def __init__(self, titles: list[str]):
        super().__init__(titles)
        self.panels: dict[str, dict] = {}
        self.texts: list[tuple[str, tuple[float, float, float, float]]] = []
        self.lines: list[np.ndarray] = []
        self.data: dict = {}
        self.size: tuple[float, float] = (0.0, 0.0)  # the canvas, pixels
        self.frames: list[tuple[float, float, float, float]] = []
        self.legends: list[tuple[float, float, float, float]] = []


def _visible_texts(fig) -> list:
    """Every text the reader sees: titles, axis and tick labels within the limits, annotations, legends."""
    out = list(dict.fromkeys(t for t in (fig._suptitle, fig._supxlabel, fig._supylabel, *fig.texts) if t is not None))
    for leg in fig.legends:
        out += [*leg.get_texts(), leg.get_title()]
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            out += ax.texts
            continue
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for tick in axis.get_major_ticks():
                if lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                    out += [tick.label1, tick.label2]
        if ax.get_legend() is not None:
            out += [*ax.get_legend().get_texts(), ax.get_legend().get_title()]
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def _drawn(fig, path: Path, **data) -> Drawn:
    """`_save`, then record what the figure shows (see `Drawn`)."""
    out = Drawn(_save(fig, path))
    renderer = fig._get_renderer()
    for ax in fig.axes:
        if ax.get_title():
            out.panels[ax.get_title()] = {
                "xlim": tuple(map(float, ax.get_xlim())),
                "ylim": tuple(map(float, ax.get_ylim())),
                "yscale": ax.get_yscale(),
                "texts": [t.get_text() for t in ax.texts],
                "lines": {ln.get_label(): np.asarray(ln.get_ydata(), dtype=float) for ln in ax.lines},
            }
        for ln in ax.lines:
            if ln.get_visible() and len(ln.get_xdata()) > 1:
                xy = np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float)
                out.lines.append(ln.get_transform().transform(xy))
    for t in _visible_texts(fig):
        b = t.get_window_extent(renderer)
        out.texts.append((t.get_text(), (float(b.x0), float(b.y0), float(b.x1), float(b.y1))))
    box = lambda b: (float(b.x0), float(b.y0), float(b.x1), float(b.y1))  # noqa: E731
    out.frames = [box(ax.bbox) for ax in fig.axes if ax.get_visible() and ax.axison]
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    out.legends = [box(leg.get_window_extent(renderer)) for leg in legends]
    out.data = data
    out.size = (float(fig.bbox.width), float(fig.bbox.height))
    return out


def fig_averages(study: Study, path: Path) -> list[str]:
    """Fig 2: average score by algorithm per phase; held-out mean and CI beside each bar.

    The bar (study prompts) sits left of its slot and the held-out diamond right of it, clear of the bar,
    so the bar's value label never meets the whiskers; one legend below the panels."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    keys = ["rm"] + (["gold"] if study.gold else [])
    df = averages(study)
    any_held = bool(df[[f"heldout_{k}" for k in keys]].notna().to_numpy().any())
    bar_x, held_x, bar_w = (-0.12 if any_held else 0.0), 0.27, 0.5  # offsets within an algorithm's slot
    with _rc():
        fig, axes = _figure(len(keys), len(study.phases), 0.9 + 3.2 * len(keys), sharey="row")
        x = np.arange(len(ALGOS))
        for r, k in enumerate(keys):
            for c, ph in enumerate(study.phases):
                ax = axes[r][c]
                sub = df[df["phase"] == ph.name].set_index("algo").reindex(ALGOS)
                vals = sub[f"study_{k}"].to_numpy()
                bars = ax.bar(x + bar_x, vals, color=[COLOR[a] for a in ALGOS], width=bar_w)
                ax.bar_label(bars, labels=[fmt(v, 2, k == "rm") for v in vals], padding=2, fontsize=8)
                held = sub[f"heldout_{k}"].to_numpy(dtype=float)
                if not np.isnan(held).all():
                    err = np.vstack(
                        [
                            held - sub[f"heldout_{k}_lo"].to_numpy(dtype=float),
                            sub[f"heldout_{k}_hi"].to_numpy(dtype=float) - held,
                        ]
                    )
                    ax.errorbar(x + held_x, held, yerr=err, fmt="D", color="black", ms=4, capsize=3)
                ax.axhline(0, color="black", lw=0.8)
                ax.set_xticks(x, [LABEL[a] for a in ALGOS])
                ax.set_xlim(-0.6, len(ALGOS) - 0.4)
                ax.set_ylabel("average RM score" if k == "rm" else "average gold score")
                ax.set_title(f"{ph.name}: average {'RM' if k == 'rm' else 'gold'} score")
                ax.grid(axis="y", alpha=0.3)
                ax.margins(y=0.15)
        handles = [
            Patch(facecolor="#d9d9d9", edgecolor="#7f7f7f", label="mean over the 16 study prompts (bar, value above)")
        ]
        if any_held:
            handles.append(
                Line2D([], [], color="black", marker="D", ms=4, label=f"held-out mean, {_pct(_ci_of(study.first))} CI")
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        fig.suptitle("Average score by algorithm")
        return _drawn(fig, path)


# The study's published DPO margins: its Phase 1 (beta 0.1) reached 599 by step 150, its Phase 5 (beta 0.3)
# peaked at 261. They stand beside the first and the last phase of params.yaml.
STUDY_DPO_MARGIN = {"first": (599.0, 150), "last": (261.0, None)}  # (margin, step or None for "peak")
LN2 = math.log(2)


def _side(ax, x: float) -> tuple[str, int]:
    """Where a label beside data point `x` fits inside the panel: (ha, x offset in points)."""
    lo, hi = ax.get_xlim()
    f = (x - lo) / ((hi - lo) or 1.0)
    return ("right", -8) if f > 0.6 else ("left", 8) if f < 0.4 else ("center", 0)


def _off_scale(ax, x: float, text: str, color: str) -> None:
    """An arrow at the top edge of the panel, at `x`, pointing up at a value above the limits."""
    ha, dx = _side(ax, x)
    ax.annotate(
        text,
        xy=(x, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(dx, -30),
        textcoords="offset points",
        ha=ha,
        va="center",
        fontsize=8,
        color=color,
        arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2, "shrinkA": 0, "shrinkB": 0},
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
    )


def fig_dpo(study: Study, path: Path, knobs: ReportParams) -> Drawn:
    """Fig 3: DPO loss and reward margin per step, one row per phase; the loss panels share one y axis,
    the margin panels another. Reference lines: ln 2 (the loss of a policy with no preference, margin 0)
    and margin 0. The study's published margins are marked on the first and last phase: as a point when
    they fit beside this run's curve, else as an arrow at the top edge (off scale), so that a margin
    hundreds of times larger does not flatten ours to a line."""
    from matplotlib.lines import Line2D

    n = len(study.phases)
    ref_color = "#9467bd"
    marks: dict[int, tuple[float, int | None, str]] = {0: (*STUDY_DPO_MARGIN["first"], "Phase 1")}
    if n >= 2:
        marks[n - 1] = (*STUDY_DPO_MARGIN["last"], "Phase 5")
    logs = [log for ph in study.phases for log in ph.all_logs("dpo")]
    ours_hi = max(float(np.nanmax(log["reward_margin"].to_numpy(dtype=float))) for log in logs)
    ours_lo = min(float(np.nanmin(log["reward_margin"].to_numpy(dtype=float))) for log in logs)
    span = max(ours_hi, 0.0) - min(ours_lo, 0.0) or 1.0
    # a study value fits on the scale when showing it costs our curve at most half the panel's height
    fits = {r: m[0] <= max(ours_hi, 0.0) + span for r, m in marks.items()}
    top = max([ours_hi] + [marks[r][0] for r in marks if fits[r]])
    loss_hi = max(float(np.nanmax(log["loss"].to_numpy(dtype=float))) for log in logs)
    loss_lo = min(float(np.nanmin(log["loss"].to_numpy(dtype=float))) for log in logs)
    refs = []
    with _rc():
        fig, axes = _figure(n, 2, 1.0 + 2.5 * n, sharex=True, sharey="col")
        for r, ph in enumerate(study.phases):
            log = ph.logs["dpo"]
            w = _window(log, knobs)
            beta = ph.knob("dpo", "beta")
            who = f"seed {ph.seeds[0]} " if len(ph.all_logs("dpo")) > 1 else ""  # the thick line's seed
            steps = log["step"].to_numpy(dtype=float)
            for c, (col, label) in enumerate((("loss", "DPO loss"), ("reward_margin", "reward margin"))):
                ax = axes[r][c]
                ma = log[col].rolling(w, min_periods=1).mean()
                ax.plot(steps, log[col], color=COLOR["dpo"], alpha=0.3, lw=0.8)
                ax.plot(steps, ma, color=COLOR["dpo"], lw=1.8, label=f"{w}-step moving average")
                for other in ph.all_logs("dpo")[1:]:  # the other seeds' moving averages, for their spread
                    ax.plot(
                        other["step"].to_numpy(dtype=float),
                        other[col].rolling(w, min_periods=1).mean(),
                        color=COLOR["dpo"],
                        lw=1.0,
                        ls=":",
                    )
                late = float(log[col].iloc[len(log) // 2 :].mean())
                if col == "loss":
                    ax.axhline(LN2, color="black", ls="--", lw=1.0, label="ln 2 (no preference)")
                    ax.set_ylim(min(loss_lo, LN2) - 0.05, max(loss_hi, LN2) + 0.05)
                    ax.set_title(f"{ph.name} (β={beta}): DPO loss, {who}2nd-half mean {late:.3f}")
                else:
                    ax.axhline(0, color="black", lw=1.0, label="margin 0")
                    ax.set_ylim(min(ours_lo, 0.0) - 0.05 * span, top + 0.12 * span)
                    ax.set_title(f"{ph.name} (β={beta}): reward margin, {who}2nd-half mean {late:+.2f}")
                    if r in marks:
                        value, step, who = marks[r]
                        if step is None:  # a peak: compare with our moving average's peak
                            i = int(np.nanargmax(ma.to_numpy(dtype=float)))
                            x, ours = steps[i], float(ma.iloc[i])
                            what = f"study {who}: peak {value:g}", f"ours: peak {ours:+.2f} at step {x:g}"
                        else:
                            i = int(np.abs(steps - step).argmin())  # the step itself, or our last if we stop before
                            x = steps[i]
                            what = (
                                f"study {who}: {value:g} at step {step}",
                                f"ours: {float(ma.iloc[i]):+.2f} at step {x:g}",
                            )
                        refs.append("; ".join(what))
                        if fits[r]:
                            ax.plot([x], [value], marker="*", ms=12, color=ref_color, ls="", label="study (published)")
                            ha, dx = _side(ax, x)
                            ax.annotate(
                                "\n".join(what),
                                (x, value),
                                xytext=(dx or 8, 0),
                                textcoords="offset points",
                                ha=ha if dx else "left",
                                va="center",
                                fontsize=8,
                                color=ref_color,
                            )
                        else:
                            _off_scale(ax, x, f"{what[0]} (off scale)\n{what[1]}", ref_color)
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
                if r == n - 1:
                    ax.set_xlabel("training step")
        handles = [
            Line2D([], [], color=COLOR["dpo"], alpha=0.3, lw=0.8, label="per step"),
            Line2D([], [], color=COLOR["dpo"], lw=1.8, label="moving average"),
            *(
                [Line2D([], [], color=COLOR["dpo"], lw=1.0, ls=":", label="other seeds (moving average)")]
                if any(len(ph.seed_logs["dpo"]) > 1 for ph in study.phases)
                else []
            ),
            Line2D([], [], color="black", ls="--", lw=1.0, label="ln 2 (no preference): loss at margin 0"),
            Line2D([], [], color="black", lw=1.0, label="margin 0"),
        ]
        if any(fits.values()):  # an off-scale value is an arrow that says so itself
            handles.append(
                Line2D([], [], color=ref_color, marker="*", ms=10, ls="", label="the study's published margin")
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        fig.suptitle("DPO training dynamics (one row per phase; y axes shared between rows)")
        return _drawn(fig, path, refs=refs, fits=fits)


# The study's GRPO collapse: in its Phase 1 (k=4) 2 of its 16 prompts had reward std 0; in its Phase 5
# (k=8, T=1.0) one collapse event, at step 140. They stand beside the first and the last phase of params.yaml.
STUDY_GRPO_COLLAPSE = {"first": (2, 16), "last": 140}


def _prompts_per_step(ph: Phase) -> float | None:
    """Groups per GRPO step: the phase's `grpo.prompts_per_step`, else what groups.jsonl shows."""
    v = _num(ph.knob("grpo", "prompts_per_step"))
    if v > 0:
        return v
    if ph.groups is not None and len(ph.groups):
        return float(ph.groups.groupby("step").size().max())
    return None


def collapsed_share(ph: Phase) -> pd.Series | None:
    """Share of the step's groups that collapsed (reward std below the threshold), one value per step:
    comparable across group sizes, unlike a count or the std itself."""
    log = ph.logs["grpo"]
    n = _prompts_per_step(ph)
    if "collapsed_groups" not in log or n is None:
        return None
    return (log["collapsed_groups"].astype(float) / n).clip(0, 1)


def fig_grpo(study: Study, path: Path, knobs: ReportParams) -> Drawn:
    """Fig 4: per phase (columns), the group reward std against the collapse threshold, and the share of
    each step's groups that collapsed (comparable across k), both with moving averages and y axes shared
    between phases; below, when groups.jsonl exists, the std per task family over training."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with_groups = any(ph.groups is not None and len(ph.groups) for ph in study.phases)
    n = len(study.phases)
    rows = 3 if with_groups else 2
    ref_color = "#9467bd"
    shares: dict[str, np.ndarray] = {}
    refs: list[str] = []
    any_min = any_thr = any_family = False
    sep = ":\n" if n >= 3 else ": "  # narrow panels: the phase on one line, what is shown on the next
    with _rc():
        fig, axes = _figure(rows, n, 0.9 + (2.6 if n < 3 else 2.8) * rows)
        for c in range(n):  # the step panels share x and, row by row, y; the family panels share x
            for r in range(rows):
                if r < 2 and c + r > 0:
                    axes[r][c].sharex(axes[0][0])
                if r < 2 and c > 0:
                    axes[r][c].sharey(axes[r][0])
                if r == 2 and c > 0:
                    axes[r][c].sharex(axes[r][0])
        for c, ph in enumerate(study.phases):
            log = ph.logs["grpo"]
            thr = ph.knob("grpo", "collapse_threshold")
            k, temp = ph.knob("grpo", "group_size"), ph.knob("grpo", "gen_temperature")
            who = f"{ph.name} (k={k}, T={temp})"
            w = _window(log, knobs)
            steps = log["step"].to_numpy(dtype=float)

            ax = axes[0][c]
            ax.plot(steps, log["group_std_mean"], color=COLOR["grpo"], alpha=0.3, lw=0.8)
            ax.plot(steps, log["group_std_mean"].rolling(w, min_periods=1).mean(), color=COLOR["grpo"], lw=1.8)
            if "group_std_min" in log:
                any_min = True
                ax.plot(steps, log["group_std_min"], color="#8c564b", lw=0.8, alpha=0.7)
            if thr is not None:
                any_thr = True
                ax.axhline(thr, color="red", ls="--", lw=1.2)
            ax.set_title(f"{who}{sep}group reward std")
            ax.set_ylabel("group reward std")
            ax.grid(alpha=0.3)

            ax = axes[1][c]
            share = collapsed_share(ph)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("share of groups collapsed")
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
            if share is None:
                ax.set_title(f"{who}{sep}collapsed share")
                ax.text(0.5, 0.5, "no collapsed_groups log", ha="center", va="center", transform=ax.transAxes)
            else:
                shares[ph.name] = share.to_numpy()
                ax.plot(steps, share, color="#d62728", alpha=0.3, lw=0.8, drawstyle="steps-mid")
                ax.plot(steps, share.rolling(w, min_periods=1).mean(), color="#d62728", lw=1.8)
                ax.set_title(f"{who}{sep}collapsed share, mean {float(share.mean()):.2f}")
            if c == 0:
                hit, total = STUDY_GRPO_COLLAPSE["first"]
                ax.axhline(hit / total, color=ref_color, ls=":", lw=1.6)
                refs.append(f"study Phase 1: {hit} of {total} prompts at std 0 (share {hit / total:.3g})")
            if c == n - 1 and n >= 2:
                at = STUDY_GRPO_COLLAPSE["last"]
                note = f"study Phase 5: one collapse event, at step {at}"
                if steps[0] <= at <= steps[-1]:
                    ax.axvline(at, color=ref_color, ls="-.", lw=1.4)
                    refs.append(note)
                else:  # nothing to point at: say it under the axis, not over the data
                    ax.set_xlabel(
                        f"training step\n(study Phase 5: one collapse{sep[1:] or ' '}at step {at}, not reached here)"
                    )
                    refs.append(f"{note} (beyond this run's steps)")
            if not with_groups:
                continue
            ax = axes[2][c]
            g = ph.groups
            if g is None or not len(g):
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no groups.jsonl", ha="center", va="center", transform=ax.transAxes)
                continue
            collapsed = (g["std"] < thr).mean() if thr is not None else float("nan")
            if "family" in g and g["family"].notna().all():
                fam = g.groupby("family")["std"].agg(["mean", "count"]).sort_index(ascending=False)
                frac = g.assign(c=g["std"] < (thr if thr is not None else -1)).groupby("family")["c"].mean()
                ax.barh(np.arange(len(fam)), fam["mean"], color=COLOR["grpo"])
                ax.set_yticks(np.arange(len(fam)), [f"{f} ({frac[f]:.0%})" for f in fam.index])
                ax.set_xlabel("mean group reward std over training")
                any_family = True
                if thr is not None:
                    ax.axvline(thr, color="red", ls="--", lw=1.2)
                ax.set_title(f"{ph.name}{sep}std per family ({collapsed:.0%} collapsed)")
            else:
                ax.hist(g["std"], bins=30, color=COLOR["grpo"])
                if thr is not None:
                    ax.axvline(thr, color="red", ls="--", lw=1.2)
                ax.set_xlabel("group reward std")
                ax.set_ylabel("groups")
                ax.set_title(f"{ph.name}{sep}std per group ({collapsed:.0%} collapsed)")
            ax.grid(axis="x", alpha=0.3)
        tops = [
            float(ph.logs["grpo"][c].max())
            for ph in study.phases
            for c in ("group_std_mean", "group_std_min")
            if c in ph.logs["grpo"]
        ]
        tops += [_num(ph.knob("grpo", "collapse_threshold")) for ph in study.phases]
        top = max([v for v in tops if math.isfinite(v)], default=0.0)
        axes[0][0].set_ylim(0, 1.05 * top if top > 0 else 1.0)  # shared: every phase's curves, whole
        thresholds = sorted({ph.knob("grpo", "collapse_threshold") for ph in study.phases} - {None})
        handles = [
            Line2D([], [], color=COLOR["grpo"], alpha=0.3, lw=0.8, label="mean group std, per step"),
            Line2D([], [], color=COLOR["grpo"], lw=1.8, label="mean group std, moving average"),
        ]
        if any_min:
            handles.append(Line2D([], [], color="#8c564b", lw=0.8, alpha=0.7, label="min group std"))
        if any_thr:
            handles.append(
                Line2D(
                    [],
                    [],
                    color="red",
                    ls="--",
                    lw=1.2,
                    label=f"collapse threshold ({', '.join(f'{t:g}' for t in thresholds)})",
                )
            )
        if shares:
            handles += [
                Line2D([], [], color="#d62728", alpha=0.3, lw=0.8, label="share collapsed, per step"),
                Line2D([], [], color="#d62728", lw=1.8, label="share collapsed, moving average"),
            ]
        if any_family:
            handles.append(Patch(color="none", label="family (x%): x = share of the family's groups collapsed"))
        handles.append(Line2D([], [], color=ref_color, ls=":", lw=1.6, label=refs[0]))
        if n >= 2 and not refs[-1].endswith("(beyond this run's steps)"):
            handles.append(Line2D([], [], color=ref_color, ls="-.", lw=1.4, label=refs[-1]))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), frameon=False)
        seeds = study.first.seeds
        fig.suptitle(
            "GRPO group collapse (collapsed = group reward std below the threshold; y axes shared)"
            + (f"; seed {seeds[0]} of {len(seeds)}" if len(seeds) > 1 else "")
        )
        return _drawn(fig, path, shares=shares, refs=refs)


def fig_before_after(study: Study, path: Path) -> list[str]:
    """Fig 6: average per algorithm in every phase (first hatched), last − first annotated."""
    keys = ["rm"] + (["gold"] if study.gold else [])
    df = averages(study)
    n = len(study.phases)
    with _rc():
        from matplotlib.patches import Patch

        fig, axes = _figure(1, len(keys), 4.4)
        x = np.arange(len(ALGOS))
        w = 0.8 / n
        for ax, k in zip(axes[0], keys):
            tops = np.full(len(ALGOS), -np.inf)
            for i, ph in enumerate(study.phases):
                vals = df[df["phase"] == ph.name].set_index("algo").reindex(ALGOS)[f"study_{k}"].to_numpy()
                ax.bar(
                    x - 0.4 + w * (i + 0.5),
                    vals,
                    width=w,
                    color=[COLOR[a] for a in ALGOS],
                    edgecolor="black",
                    lw=0.5,
                    **_phase_style(i, n),
                )
                tops = np.maximum(tops, np.maximum(vals, 0))
            first = df[df["phase"] == study.first.name].set_index("algo").reindex(ALGOS)[f"study_{k}"]
            last = df[df["phase"] == study.last.name].set_index("algo").reindex(ALGOS)[f"study_{k}"]
            span = float(np.nanmax(np.abs(np.concatenate([first.to_numpy(), last.to_numpy()])))) or 1.0
            for j, a in enumerate(ALGOS):
                d = last[a] - first[a]
                ax.annotate(
                    f"Δ {fmt(d, 2 if k == 'rm' else 3)}",
                    (x[j], tops[j] + 0.04 * span),
                    ha="center",
                    fontsize=8,
                    fontweight="bold",
                    color="#2ca02c" if d > 0 else "#d62728" if d < 0 else "black",
                )
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(x, [LABEL[a] for a in ALGOS])
            ax.set_ylabel("average RM score" if k == "rm" else "average gold score")
            ax.set_title(
                f"{'RM' if k == 'rm' else 'Gold'}: {study.first.name} (hatched) vs "
                + ", ".join(p.name for p in study.phases[1:])
            )
            ax.margins(y=0.15)
            ax.grid(axis="y", alpha=0.3)
        fig.legend(
            handles=[
                Patch(facecolor="#999999", edgecolor="black", label=p.name, **_phase_style(i, n))
                for i, p in enumerate(study.phases)
            ],
            loc="outside lower center",
            ncols=n,
        )
        fig.suptitle(f"Average score before and after (Δ = {study.last.name} − {study.first.name})")
        return _save(fig, path)


def fig_delta_heatmap(study: Study, path: Path) -> list[str]:
    """Fig 7: per-prompt delta (last − first); green improvement, red regression."""
    keys = ["rm"] + (["gold"] if study.gold else [])
    tables = {k: per_prompt_delta(study.first, study.last, k) for k in keys}
    n = len(tables["rm"])
    with _rc():
        from matplotlib.colors import TwoSlopeNorm

        fig, axes = _figure(1, len(keys), 1.6 + 0.36 * n)
        for ax, k in zip(axes[0], keys):
            d = tables[k]
            m = d.to_numpy(dtype=float)
            lim = float(np.nanmax(np.abs(m))) if np.isfinite(m).any() else 1.0
            lim = lim or 1.0
            im = ax.imshow(m, cmap="RdYlGn", norm=TwoSlopeNorm(0, -lim, lim), aspect="auto")
            for (i, j), v in np.ndenumerate(m):
                ax.text(
                    j,
                    i,
                    fmt(v, 2),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if abs(v) < 0.6 * lim or np.isnan(v) else "white",
                )
            ax.set_xticks(np.arange(len(ALGOS)), [LABEL[a] for a in ALGOS])
            ax.set_yticks(np.arange(n), [_shorten(s, 28) for s in d.index])
            ax.set_title(f"{'RM' if k == 'rm' else 'Gold'} Δ per prompt")
            for s in ax.spines.values():
                s.set_visible(False)
            fig.colorbar(
                im,
                ax=ax,
                shrink=0.6,
                label=f"{'RM' if k == 'rm' else 'gold'} Δ ({study.last.name} − {study.first.name})",
            )
        fig.suptitle(
            f"Per-prompt delta, {study.last.name} − {study.first.name} (green = improvement, red = regression)"
        )
        return _save(fig, path)


def tied_ranking(phase: Phase, key: str, knobs: ReportParams, seed: int = 0) -> list[dict]:
    """Algorithms by held-out mean (the study prompts when there are no held-out answers), best first,
    each with its interval and rank. An algorithm whose paired difference from the one above it is
    within noise shares that one's rank (1, 1, 3, 4): ties are shown as ties."""
    from rlhf_core import verdicts as V

    answers = phase.answers[phase.answers["set"] == "heldout"]
    source = "held-out"
    if answers.empty:
        answers, source = phase.answers[phase.answers["set"] == "study"].assign(set="heldout"), "study"
    means = {a: V.per_prompt(answers, a, key) for a in ALGOS}
    order = sorted(ALGOS, key=lambda a: -means[a].mean() if len(means[a]) else math.inf)
    out: list[dict] = []
    for i, a in enumerate(order):
        iv = V.seeded_ci(means[a], n_boot=knobs.bootstrap, ci=knobs.ci, seed=seed)
        rank = i + 1
        if out:
            d = V.paired(means[out[-1]["algo"]], means[a], n_boot=knobs.bootstrap, ci=knobs.ci, seed=seed)
            if not d.above:
                rank = out[-1]["rank"]
        out.append({"algo": a, "rank": rank, "mean": iv.mean, "lo": iv.lo, "hi": iv.hi, "source": source})
    return out


def fig_ranking(study: Study, path: Path, knobs: ReportParams = DEFAULT_KNOBS) -> Drawn:
    """Fig 8: ranking across phases by held-out mean (RM; gold below), with ties: algorithms whose
    difference from their neighbour is within noise share a rank, drawn stacked around it on a grey
    bracket. Each point is labelled with its mean and interval on the side away from the lines (the
    first phase's on the left, the others' on the right)."""
    from matplotlib.lines import Line2D

    keys = ["rm"] + (["gold"] if study.gold else [])
    n = len(study.phases)
    dy = 0.22  # rank units between the members of a tie
    table: dict[str, dict[str, dict[str, dict]]] = {}
    with _rc():
        fig, axes = _figure(len(keys), 1, 0.9 + 3.3 * len(keys), sharex=True)
        for ax, k in zip(axes[:, 0], keys):
            digits, sign = (2, True) if k == "rm" else (3, False)
            pos: dict[str, list[tuple[float, float]]] = {a: [] for a in ALGOS}
            sources = set()
            for i, ph in enumerate(study.phases):
                rows = tied_ranking(ph, k, knobs)
                table.setdefault(k, {})[ph.name] = {r["algo"]: r for r in rows}
                sources |= {r["source"] for r in rows}
                for rank in dict.fromkeys(r["rank"] for r in rows):
                    group = [r for r in rows if r["rank"] == rank]
                    ys = [rank + (j - (len(group) - 1) / 2) * dy for j in range(len(group))]
                    if len(group) > 1:
                        ax.plot([i, i], [ys[0], ys[-1]], color="#cccccc", lw=16, solid_capstyle="round", zorder=1)
                    for r, y in zip(group, ys):
                        pos[r["algo"]].append((i, y))
                        left = i == 0 and n > 1
                        ax.annotate(
                            f"{LABEL[r['algo']]} {fmt_ci(r['mean'], r['lo'], r['hi'], digits, sign)}",
                            (i, y),
                            xytext=(-14 if left else 14, 0),
                            textcoords="offset points",
                            ha="right" if left else "left",
                            va="center",
                            fontsize=8,
                            color=COLOR[r["algo"]],
                            # between two phases lines pass on both sides: the label goes over them, opaque
                            bbox=None
                            if left or i == n - 1
                            else {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
                            zorder=4,
                        )
            for a in ALGOS:
                xy = np.array(pos[a], dtype=float)
                ax.plot(xy[:, 0], xy[:, 1], "-o", color=COLOR[a], lw=2, ms=7, label=LABEL[a], zorder=3)
            ax.set_xticks(range(n), [p.name for p in study.phases])
            ax.set_yticks(range(1, len(ALGOS) + 1), [_ordinal(i) for i in range(1, len(ALGOS) + 1)])
            ax.set_ylim(len(ALGOS) + 0.6, 0.4)
            ax.set_xlim(-0.8, n - 1 + 0.8)
            what = "held-out" if sources == {"held-out"} else "study-prompt" if sources == {"study"} else "mean"
            ax.set_ylabel(f"rank ({what} mean)")
            ax.set_title(f"Ranking by {what} mean {'RM' if k == 'rm' else 'gold'} score, with its {_pct(knobs.ci)} CI")
            ax.grid(axis="y", alpha=0.3)
        axes[-1][0].set_xlabel("phase")
        fig.legend(
            handles=[
                Line2D(
                    [],
                    [],
                    color="#cccccc",
                    lw=8,
                    label="one rank shared: each algorithm's paired difference to the one above it is within noise "
                    f"(bootstrap over {_over(study)})",
                )
            ],
            loc="outside lower center",
            frameon=False,
        )
        fig.suptitle("Algorithm ranking across phases (ties shown as ties)")
        return _drawn(fig, path, ranks=table)


GOLD_BINS = ((0.0, 0.5, "gold < 0.5"), (0.5, math.inf, "gold ≥ 0.5"))  # gold is nearly binary: wrong vs right


def within_prompt_spearman(answers: pd.DataFrame) -> tuple[float, int]:
    """Mean over prompts of Spearman's rho between RM and gold among one prompt's answers (every
    algorithm and sample), over the prompts where both vary; and how many prompts that is. Unlike
    rho over all answers, it does not credit the RM for telling easy prompts from hard ones."""
    rhos = []
    for _, g in answers.dropna(subset=["rm", "gold"]).groupby(["set", "prompt_id"], sort=True):
        if len(g) >= 3 and g["rm"].nunique() > 1 and g["gold"].nunique() > 1:
            rho = spearman(g["rm"].tolist(), g["gold"].tolist())
            if not math.isnan(rho):
                rhos.append(rho)
    return (float(np.mean(rhos)) if rhos else math.nan), len(rhos)


def fig_rm_vs_gold(study: Study, path: Path) -> Drawn:
    """Fig 9: does the RM score the answers gold calls right above those it calls wrong? Per phase and
    algorithm, the RM scores of every answer (study + held-out) split by gold bin: boxes (median,
    quartiles, whiskers to 1.5 IQR) over jittered points; n per bin under each algorithm; Spearman's
    rho over all answers and within prompt in the titles; the legend below the panels."""
    from matplotlib.patches import Patch

    n = len(study.phases)
    width, gap = 0.36, 0.42  # box width; distance between a slot's two boxes
    offsets = [(b - (len(GOLD_BINS) - 1) / 2) * gap for b in range(len(GOLD_BINS))]
    rng = np.random.default_rng(0)  # jitter only; seeded, so the figure is the same every run
    stats: dict[str, dict] = {}
    with _rc():
        fig, axes = _figure(1, n, 4.6, sharey=True)
        for ax, ph in zip(axes[0], study.phases):
            ans = ph.answers.dropna(subset=["rm", "gold"])
            ticks = []
            for i, a in enumerate(ALGOS):
                sub = ans[ans["algo"] == a]
                counts = []
                for (lo, hi, _), off, b in zip(GOLD_BINS, offsets, range(len(GOLD_BINS))):
                    v = sub.loc[(sub["gold"] >= lo) & (sub["gold"] < hi), "rm"].to_numpy(dtype=float)
                    counts.append(len(v))
                    stats.setdefault(ph.name, {})[(a, b)] = v
                    if not len(v):
                        continue
                    x = i + off
                    ax.scatter(
                        x + rng.uniform(-0.4, 0.4, len(v)) * width,
                        v,
                        s=5,
                        color=COLOR[a],
                        alpha=0.35,
                        lw=0,
                        zorder=2,
                    )
                    ax.boxplot(
                        v,
                        positions=[x],
                        widths=width,
                        showfliers=False,
                        patch_artist=True,
                        boxprops={"facecolor": COLOR[a] if b else "white", "alpha": 0.55, "edgecolor": "black"},
                        medianprops={"color": "black", "lw": 1.6},
                        whiskerprops={"color": "black"},
                        capprops={"color": "black"},
                        zorder=3,
                    )
                rho = spearman(sub["rm"].tolist(), sub["gold"].tolist())
                ticks.append(f"{LABEL[a]}\nn = {' | '.join(str(c) for c in counts)}\nρ = {fmt(rho, 2)}")
            ax.set_xticks(range(len(ALGOS)), ticks)
            ax.set_xlim(-0.6, len(ALGOS) - 0.4)
            rho = spearman(ans["rm"].tolist(), ans["gold"].tolist())
            within, k = within_prompt_spearman(ans)
            sep = "\n" if n >= 3 else "; "
            ax.set_title(f"{ph.name}: ρ = {fmt(rho, 2)} over {len(ans):,} answers{sep}within prompt {fmt(within, 2)}")
            ax.set_ylabel("reward-model score")
            ax.grid(axis="y", alpha=0.3)
            stats[ph.name]["within"] = (within, k)
        fig.legend(
            handles=[
                Patch(facecolor="white", edgecolor="black", label=f"{GOLD_BINS[0][2]}: left box, white"),
                Patch(
                    color="none", label="n = answers per bin (left | right); ρ = Spearman(RM, gold) of the algorithm"
                ),
                Patch(facecolor="#999999", edgecolor="black", label=f"{GOLD_BINS[1][2]}: right box, filled"),
                Patch(color="none", label="within prompt = mean ρ over the prompts whose RM and gold both vary"),
            ],
            loc="outside lower center",
            ncols=2,
            frameon=False,
        )
        fig.suptitle("Reward model vs gold judge: RM score of every answer (study + held-out) by gold bin")
        return _drawn(fig, path, bins=stats)


def fig_overoptimisation(study: Study, path: Path) -> list[str]:
    """RM reward and gold per bin of training against √KL to SFT, as Gao et al. (2022) plot them: for
    each RL algorithm a row of RM panels above a row of gold panels, one column per phase, with
    `overoptimisation`'s verdict in the titles.

    Points are the test's own bins (equal shares of training), not a running mean: a running mean
    drawn against a KL that goes back and forth is a tangle, and its wiggles look like peaks that the
    test says are noise. Bars are ±1.96 standard errors. RM and gold get panels of their own (on one
    pair of axes their bars cover each other); the panels of one algorithm share the x-axis and each
    row its y-range, so phases compare at a glance; the legend sits below the panels."""
    from matplotlib.lines import Line2D

    n, z = len(study.phases), 1.96
    with _rc():
        fig, axes = _figure(2 * len(RM_LOG), n, 1.2 + 2.1 * 2 * len(RM_LOG))
        for r, (a, col) in enumerate(RM_LOG.items()):
            tables = [overoptimisation_bins(ph.logs[a], col) for ph in study.phases]
            tests = [overoptimisation(ph.logs[a], col) for ph in study.phases]
            for q, (key, label, color, marker) in enumerate(
                (("rm", f"{LABEL[a]} RM reward", COLOR[a], "o"), ("gold", "gold score", "black", "s"))
            ):
                shown = [b for b in tables if b is not None]
                lo = min((float((b[key] - z * b[f"{key}_se"]).min()) for b in shown), default=0.0)
                hi = max((float((b[key] + z * b[f"{key}_se"]).max()) for b in shown), default=1.0)
                pad = 0.06 * (hi - lo) or 0.05
                for c, (ph, b, o) in enumerate(zip(study.phases, tables, tests)):
                    ax = axes[2 * r + q][c]
                    if (2 * r + q, c) != (2 * r, 0):
                        ax.sharex(axes[2 * r][0])
                    ax.set_ylabel(label)
                    ax.set_ylim(lo - pad, hi + pad)
                    ax.grid(alpha=0.3)
                    for axis in (ax.xaxis, ax.yaxis):  # no offset text to collide with the labels
                        axis.get_major_formatter().set_useOffset(False)
                    if q == 0:
                        knob = (
                            f"kl_coef={ph.knob('ppo', 'kl_coef')}"
                            if a == "ppo"
                            else f"k={ph.knob('grpo', 'group_size')}, T={ph.knob('grpo', 'gen_temperature')}"
                        )
                        ax.set_title(f"{LABEL[a]} {ph.name} ({knob})\n{'no gold log' if o is None else _verdict(o)}")
                        ax.tick_params(labelbottom=False)
                    else:
                        ax.set_xlabel("√KL to SFT (bin mean)")
                    if b is None:
                        continue
                    x = np.sqrt(b["kl"].clip(lower=0).to_numpy(float))
                    ax.errorbar(x, b[key], yerr=z * b[f"{key}_se"], color=color, marker=marker, ms=4, lw=1, capsize=2)
                    ax.plot(x[:1], b[key].iloc[:1], marker=marker, ms=8, mfc="white", mec=color, ls="")
                    if o is not None and o["bins"] and o["peak_gold"] > o["end_gold"]:  # else gold peaks last
                        peak = int(np.flatnonzero(b["first_step"] == o["peak_steps"][0])[0])
                        ax.axvline(x[peak], color="red", lw=1, ls=":", zorder=0.5)
        handles = [
            Line2D([], [], color=COLOR[a], marker="o", ms=4, lw=1, label=f"{LABEL[a]} RM reward") for a in RM_LOG
        ]
        handles += [
            Line2D([], [], color="black", marker="s", ms=4, lw=1, label="gold score"),
            Line2D([], [], color="grey", marker="o", ms=8, mfc="white", ls="", label="first bin"),
            Line2D([], [], color="red", lw=1, ls=":", label="gold's peak bin"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
        fig.suptitle(
            f"Reward over-optimisation: RM reward and gold in {OVER_BINS} equal bins of training steps, "
            "against √KL to SFT (bars: ±1.96 SE)"
            + (f"; seed {study.first.seeds[0]} of {len(study.first.seeds)}" if len(study.first.seeds) > 1 else "")
        )
        return _save(fig, path)


def _verdict(o: dict) -> str:
    if not o["bins"]:
        return f"too few steps to test ({o['n']})"
    s = f"over-optimisation: {'yes' if o['over'] else 'no evidence'} (p={_pval(o['p_over'])})"
    return s + (f"\ndrift: yes (p={_pval(o['p_drift'])})" if o["drift"] and not o["over"] else "")


def _pval(p: float) -> str:
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


# ---------------------------------------------------------------------------------------------- report


def summary_metrics(study: Study, trained: pd.DataFrame, vs: pd.DataFrame, claims: Sequence[V.Claim]) -> dict:
    """The report's numbers in one JSON (not a declared DVC metric: too many columns for a terminal):
    per phase and algorithm the held-out means (over seeds, with each seed's values under `seeds`),
    distance from SFT and the paired difference to SFT; the
    RM's agreement with gold; the claims' verdict counts."""
    key = "gold" if study.gold else "rm"
    out: dict[str, Any] = {"rl_seeds": list(study.first.seeds)}
    for ph in study.phases:
        sec = out.setdefault(ph.name, {})
        # each algorithm's effective settings, so that a reader of this file (`rlhf frontier`) knows
        # what produced the numbers and can tell a stale file from a fresh one
        sec["configs"] = {a: (ph.configs.get(a) or {}).get(a) or {} for a in TRAINED}
        sec["configs"]["eval"] = {k: v for k, v in ph.settings.items() if k != "seed" and not k.startswith("n_")}
        for a in ALGOS:
            m = ph.metrics.get(a) or {}
            row = {"rm": m.get("heldout_rm"), "gold": m.get("heldout_gold"), "kl": m.get("kl")}
            t = trained[(trained["phase"] == ph.name) & (trained["algo"] == a)]
            if len(t):
                row["differs"] = t.iloc[0]["differs_from_sft"]
            d = vs[(vs["phase"] == ph.name) & (vs["algo"] == a)] if len(vs) else vs
            if len(d):
                r = d.iloc[0]
                row.update(
                    {
                        f"{key}_vs_sft": r[f"{key}_diff"],
                        f"{key}_vs_sft_lo": r[f"{key}_lo"],
                        f"{key}_vs_sft_hi": r[f"{key}_hi"],
                    }
                )
            sec[a] = {k: _json_num(v) for k, v in row.items() if not (v is None or math.isnan(_num(v)))}
            # each seed's own numbers (one entry for a single seed)
            sec[a]["seeds"] = {
                str(sd): {
                    k: _json_num(m[a][f])
                    for k, f in (("rm", "heldout_rm"), ("gold", "heldout_gold"), ("kl", "kl"))
                    if m.get(a, {}).get(f) is not None
                }
                for sd, m in ph.seed_metrics.items()
            }
    rm = study.rm_metrics or {}
    if rm:
        out["rm"] = {
            k: _json_num(v)
            for k, v in {
                "policy_pairs_accuracy": ((rm.get("heldout") or {}).get("accuracy_per_source") or {}).get("sft_ranked"),
                "gold_pairwise_accuracy": (rm.get("gold") or {}).get("pairwise_accuracy"),
                "gold_spearman_within_prompt": (rm.get("gold") or {}).get("spearman_within_prompt"),
            }.items()
            if v is not None
        }
    if claims:
        out["claims"] = {v.replace(" ", "_"): n for v, n in V.tally(claims).items()}
    return out


def headline_files(study: Study, trained: pd.DataFrame) -> dict[str, dict]:
    """One small metrics file per (phase, algorithm): held-out RM and gold with their intervals, KL to SFT
    and the share of answers that changed. DVC shows one row per file and one column per key, so eight
    keys keep `dvc metrics show` and `dvc exp show` inside a 120-column terminal."""
    out = {}
    for ph in study.phases:
        for a in ALGOS:
            m = ph.metrics.get(a) or {}
            t = trained[(trained["phase"] == ph.name) & (trained["algo"] == a)]
            row = {
                "rm": m.get("heldout_rm"),
                "rm_lo": m.get("heldout_rm_lo"),
                "rm_hi": m.get("heldout_rm_hi"),
                "gold": m.get("heldout_gold"),
                "gold_lo": m.get("heldout_gold_lo"),
                "gold_hi": m.get("heldout_gold_hi"),
                "kl": m.get("kl"),
                "changed": t.iloc[0]["differs_from_sft"] if len(t) else (0.0 if a == "sft" else None),
            }
            out[f"{_slug(ph.name)}/{a}.json"] = {
                k: round(float(v), 4) for k, v in row.items() if not (v is None or math.isnan(_num(v)))
            }
    return out


def _json_num(v: Any) -> float:
    """Seven significant digits: stable text across runs, and a KL of 3e-7 stays 3e-7, not 0."""
    return float(f"{float(v):.7g}")


@dataclass
class Written:
    files: list[Path] = field(default_factory=list)
    panels: dict[str, list[str]] = field(default_factory=dict)  # figure file name -> its titles


def write_report(study: Study, reports: Path, knobs: ReportParams = DEFAULT_KNOBS, seed: int = 0) -> Written:
    """Write report.md, figures/*.png and tables/*.md|csv; remove stale ones from earlier runs."""
    reports = Path(reports)
    figs, tabs = reports / "figures", reports / "tables"
    out = Written()
    multi = len(study.phases) >= 2
    ds = deltas(study, knobs, seed) if multi else None

    def table(name: str, md: str, df: pd.DataFrame | None) -> str:
        io.write_text(tabs / f"{name}.md", md)
        out.files.append(tabs / f"{name}.md")
        if df is not None:
            io.write_text(
                tabs / f"{name}.csv",
                df.to_csv(index=df.index.name is not None, float_format="%.6g", lineterminator="\n"),
            )
            out.files.append(tabs / f"{name}.csv")
        return md

    def figure(name: str, draw: Callable[[Path], list[str]], caption: str) -> str:
        path = figs / f"{name}.png"
        out.panels[path.name] = draw(path)
        out.files.append(path)
        return f"![{caption}](figures/{path.name})\n\n*{caption}*\n"

    names = [p.name for p in study.phases]
    slug = {p.name: _slug(p.name) for p in study.phases}
    md = [
        "# RLHF study report\n",
        f"Generated by `rlhf report` from the outputs of eval and training for the phases named in params.yaml: "
        f"{', '.join(f'**{md_escape(n)}**' for n in names)}. "
        + (
            "The data has a gold judge: gold scores stand beside RM scores. "
            if study.gold
            else "The data has no gold judge (hub/local data): sections that need gold are skipped. "
        )
        + ("" if multi else "With a single phase, phase-to-phase deltas are skipped. ")
        + _seeds_sentence(study)
        + "Every number and sentence below is computed from those files.\n",
    ]

    k = _vk(knobs, seed)
    f, l = study.first.name, study.last.name
    heads = {
        "trained": "1. Did each algorithm train?",
        "vs_sft": "2. Each algorithm against SFT",
        "phases": f"3. {f} vs {l}" if multi else "3. Phase comparison",
        "dpo": "4. DPO training dynamics",
        "grpo": "5. GRPO group collapse",
        "rm": "6. The reward model against the truth",
        "prompts": "7. Per-prompt results (single samples)",
        "settings": "8. Settings",
        "samples": "9. Sample answers",
    }
    anchors = {key: f"[§{h.split('.')[0]}](#{_anchor(h)})" for key, h in heads.items()}
    trained_md, trained_df = trained_markdown(study)
    vs_md, vs_df = vs_sft_markdown(study, k)

    claims: list[V.Claim] = []
    if multi:
        claims = V.study_claims(study, k, anchors)
        claims_md, claims_df = claims_markdown(claims)
        md += [
            "## Summary\n",
            headline(study, trained_df, vs_df, claims) + "\n",
            "## The study's claims against this run\n",
            f"The first phase ({md_escape(f)}) plays the study's Phase 1 and the last ({md_escape(l)}) its Phase 5. "
            "Reproduced / not reproduced = the interval excludes zero in the claimed / the opposite direction; "
            "cannot tell = it does not; partly = part of the claim holds. The study's numbers are RM rewards of "
            "its own reward model on 16 prompts and are not on this run's scale: compare directions, not sizes.\n",
            table("claims", claims_md, claims_df),
        ]
    else:
        md += ["## Summary\n", headline(study, trained_df, vs_df, []) + "\n"]

    md += [f"## {heads['trained']}\n", table("trained", trained_md, trained_df)]
    if any(len(ph.seeds) > 1 for ph in study.phases):
        md += ["### Seed by seed\n", table("seeds", *seeds_markdown(study))]

    md += [f"## {md_escape(heads['vs_sft'])}\n", table("vs_sft", vs_md, vs_df)]
    if multi:
        md += [
            figure(
                "fig8_ranking_bump_chart",
                lambda p: fig_ranking(study, p, knobs),
                "Fig 8 — Rank of each algorithm per phase by held-out mean (RM, and gold where there is a gold "
                "judge), with its interval; an algorithm within noise of the one above it (paired interval "
                "includes 0) shares its rank.",
            )
        ]

    if multi:
        net_md, net_df = phase_net_markdown(study, k)
        md += [
            f"## {md_escape(heads['phases'])}\n",
            table("phase_change", net_md, net_df),
            figure(
                "fig6_before_after_averages",
                lambda p: fig_before_after(study, p),
                f"Fig 6 — Average score, {f} (hatched) vs later phases; Δ = {l} − {f} annotated.",
            ),
            table("summary", *summary_markdown(study, ds, knobs.ci)),
        ]
    else:
        md += [
            f"## {heads['phases']}\n",
            f"*Only one phase ({md_escape(f)}): the phase comparison, the study's claims, the delta heatmap and "
            "the ranking bump chart need two or more phases and are skipped.*\n",
        ]

    md += [
        f"## {heads['dpo']}\n",
        figure(
            "fig3_dpo_training_dynamics",
            lambda p: fig_dpo(study, p, knobs),
            "Fig 3 — DPO training dynamics, one row per phase ("
            + ", ".join(f"{n}: β={ph.knob('dpo', 'beta')}" for n, ph in zip(names, study.phases))
            + "). Left: loss. Right: reward margin.",
        ),
        f"## {heads['grpo']}\n",
        figure(
            "fig4_grpo_group_std",
            lambda p: fig_grpo(study, p, knobs),
            "Fig 4 — GRPO per training step, one column per phase (k and T in the titles): group reward std "
            "with the collapse threshold (red dashed); the share of the step's groups that collapsed, which "
            "compares across group sizes; std per task family (when groups.jsonl exists).",
        ),
    ]

    md.append(f"## {heads['rm']}\n")
    if study.rm_metrics:
        md.append(rm_markdown(study))
    if study.gold:
        md += [
            figure(
                "fig9_rm_vs_gold",
                lambda p: fig_rm_vs_gold(study, p),
                "Fig 9 — RM score of every answer (study and held-out) split by its gold score (below / at least "
                "0.5), per phase and algorithm; Spearman ρ(RM, gold) over all answers and within a prompt in the "
                "titles.",
            ),
            "\n".join(f"- {s}" for s in overoptimisation_findings(study)) + "\n",
            figure(
                "fig10_overoptimisation",
                lambda p: fig_overoptimisation(study, p),
                f"Fig 10 — Over-optimisation: RM reward (upper rows) and gold score (lower rows) in {OVER_BINS} "
                "equal bins of PPO and GRPO training steps against √KL to SFT, as in Gao et al. (2022), with "
                "±1.96 SE bars; dotted red line = gold's peak bin; each title gives the permutation test's verdict "
                "(drift = RM up and gold down over the run, both beyond noise).",
            ),
        ]
    else:
        md.append(
            "*No gold judge for this data source (hub/local data): RM-vs-gold agreement and the "
            "over-optimisation curves are skipped.*\n"
        )

    md += [
        f"## {md_escape(heads['prompts'])}\n",
        "*One sample per prompt, algorithm"
        + (" and seed (averaged over seeds)" if len(study.first.seeds) > 1 else "")
        + ": these tables show what the models wrote, not which is better.*\n",
    ]
    for i, ph in enumerate(study.phases):
        fig_no = "1" if i == 0 else ("5" if len(study.phases) == 2 else f"5{chr(ord('a') + i - 1)}")
        md += [
            f"### {md_escape(ph.name)} ({md_escape(_eval_label(ph))})\n",
            figure(
                f"fig{fig_no}_per_prompt_{slug[ph.name]}",
                lambda p, ph=ph: fig_per_prompt(ph, p, study.gold),
                f"Fig {fig_no} — {ph.name} per-prompt scores across all four methods.",
            ),
            table(f"per_prompt_{slug[ph.name]}", *per_prompt_markdown(ph, study.gold)),
        ]
    md += [
        "### Average scores\n",
        figure(
            "fig2_averages",
            lambda p: fig_averages(study, p),
            "Fig 2 — Average score per algorithm and phase; bars = the 16 study prompts, "
            "diamonds = held-out mean with its CI.",
        ),
        table("averages", *averages_markdown(study, _ci_of(study.first))),
    ]
    if multi:
        md += [
            "### Per-prompt deltas\n",
            figure(
                "fig7_delta_heatmap",
                lambda p: fig_delta_heatmap(study, p),
                f"Fig 7 — Delta heatmap ({l} − {f}). Green = improvement. Red = regression.",
            ),
            table("per_prompt_delta", *delta_markdown(study)),
        ]

    md += [f"## {heads['settings']}\n", "### Each phase's settings\n", table("settings", *settings_markdown(study))]
    if multi:
        md += ["### What changed between phases\n", table("changes", *changes_markdown(study))]

    md.append(f"## {heads['samples']}\n")
    md.append(
        f"*Answers to {knobs.sample_prompts or 'all'} of the study prompts in every phase"
        + (f", from the first seed ({study.first.seeds[0]})" if len(study.first.seeds) > 1 else "")
        + f", cut to {knobs.answer_chars} characters (⏎ = line break).*\n"
    )
    md.append(sample_answers_markdown(study, knobs))

    appendix = []
    for name, metrics, src in (
        ("reward_model", study.rm_metrics, "reports/live/rm/metrics.json"),
        ("sft", study.sft_metrics, "reports/live/sft/metrics.json"),
    ):
        if metrics:
            mmd, mdf = metrics_markdown(metrics)
            table(name, mmd, mdf)
            appendix.append(
                f"- {LABEL.get(name, 'Reward model')}: [tables/{name}.md](tables/{name}.md) "
                f"({len(mdf)} metrics, `{src}`)"
            )
    if appendix:
        md += ["## Appendix: every metric\n", "\n".join(appendix) + "\n"]

    io.write_json(reports / "summary.json", summary_metrics(study, trained_df, vs_df, claims))
    out.files.append(reports / "summary.json")
    heads = reports / "headline"
    for name, metrics in headline_files(study, trained_df).items():
        io.write_json(heads / name, metrics)
        out.files.append(heads / name)
    for p in sorted(heads.rglob("*.json")) if heads.is_dir() else []:  # removed phases must not linger
        if p not in out.files:
            p.unlink()
    io.write_text(reports / "report.md", "\n".join(md).rstrip() + "\n")
    out.files.append(reports / "report.md")
    keep = set(out.files)
    for folder in (figs, tabs):  # outputs of removed phases or sections must not linger
        for p in sorted(folder.glob("*")) if folder.is_dir() else []:
            if p.is_file() and p.suffix in (".png", ".md", ".csv") and p not in keep:
                p.unlink()
    return out


# ---------------------------------------------------------------------------------------------- helpers


def _share(x: float) -> str:
    """A share of answers as a percentage; with a decimal where rounding would hide which side of the
    "moved" bar it is on (49.7% is not 50%)."""
    text = f"{100 * x:.0f}%"
    if text == f"{100 * MOVED_SHARE:.0f}%" and x != MOVED_SHARE:
        text = f"{100 * x:.1f}%"
    return text


def _seeds_sentence(study: Study) -> str:
    seeds = study.first.seeds
    if len(seeds) == 1:
        return (
            f"**One RL seed ({seeds[0]})**: every interval covers the prompts and the sampling of the answers, "
            "not the luck of training, so a difference beyond noise may still be that seed's. "
        )
    return (
        f"Every algorithm was trained once per RL seed ({', '.join(map(str, seeds))}); means are over seeds and "
        "intervals come from a hierarchical bootstrap (seeds, then prompts within each seed), so a difference "
        "is beyond noise only if it survives the seed-to-seed variation. Training-curve figures draw the "
        f"first seed ({seeds[0]}). "
    )


def _rc():
    import matplotlib

    _mpl()
    return matplotlib.rc_context(RC)


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _b(s: str, bold: bool) -> str:
    return f"**{s}**" if bold else s


def _pct(ci: float) -> str:
    return f"{ci * 100:g}%"


def _ci_of(ph: Phase) -> float:
    ci = _num(ph.settings.get("ci"))
    return ci if 0 < ci < 1 else 0.95


def _held(d: Delta, digits: int = 3) -> str:
    if d.held is None:
        return "—"
    if d.method == "bootstrap":
        return fmt_ci(d.held, d.lo, d.hi, digits)
    return fmt(d.held, digits) + " (CIs " + ("apart" if d.significant else "overlap") + ")"


def _method_note(ds: Sequence[Delta], ci: float) -> str:
    methods = {d.method for d in ds if d.method}
    if methods == {"bootstrap"}:
        n = max(d.n for d in ds)
        return (
            f"{_pct(ci)} CI of the difference by paired bootstrap over the held-out (seed, prompt) cells both "
            f"phases answered ({n}; seeds resampled first when there are several); beyond noise = the interval "
            "excludes 0"
        )
    if methods == {"overlap"}:
        return f"beyond noise = the two phases' {_pct(ci)} held-out intervals do not overlap (a conservative test)"
    if methods:
        return "paired bootstrap CI of the difference where the held-out prompts match, else non-overlap of intervals"
    return "no held-out prompts, so no interval"


def _over(study: Study) -> str:
    return "seeds, then prompts" if len(study.first.seeds) > 1 else "prompts"


def _direction(d: Delta) -> str:
    """Improved/regressed only when the held-out interval says so; single study samples never decide."""
    if d.significant is None:
        return "no interval"
    if not d.significant:
        return "within noise"
    return "improved" if (d.held or 0.0) > 0 else "regressed"


def _ordinal(i: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(i, f"{i}th")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _shorten(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: max(n - 1, 1)].rstrip() + "…"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _plain(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}" if v.is_integer() and abs(v) < 1e6 else f"{v:.4g}"
    return md_escape(str(v))


def _flatten(d: Any, prefix: str = "") -> dict:
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix.rstrip(".")] = d
    return out


def _window(log: pd.DataFrame, knobs: ReportParams) -> int:
    return knobs.smooth or max(1, len(log) // 20)
