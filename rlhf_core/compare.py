"""Two runs of the pipeline compared answer by answer: `rlhf compare A B`.

`dvc metrics diff` puts two runs' numbers side by side, each with its own interval. Those intervals
include how hard the held-out prompts happen to be, which both runs share, so two settings can move
every seed the same way and still show overlapping intervals. Both runs answer the same held-out
prompts with the same random stream per (seed, prompt, sample), so the difference can be taken per
(seed, prompt) cell first; its mean gets the report's hierarchical bootstrap (seeds, then prompts;
`verdicts.paired`). A change is beyond noise only when that interval excludes zero, and each seed's
own difference is listed beside it, so "all seeds agree" and "one seed carries it" can be told apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlhf_core import verdicts as V
from rlhf_core.errors import RlhfError

ALGOS = ("sft", "ppo", "grpo", "dpo")
# per-answer numbers compared; "changed" is derived: the answer differs from SFT's on the same sample
METRICS = ("rm", "gold", "kl", "changed", "length")
NEEDED = ("algo", "set", "seed", "prompt_id", "sample", "response")


@dataclass(frozen=True)
class Row:
    phase: str
    algo: str
    metric: str
    a: V.Interval  # run A's mean over the cells both runs answered
    b: V.Interval
    diff: V.Interval  # B - A, paired per (seed, prompt)
    net: V.Interval | None  # (B - B's SFT) - (A - A's SFT): only when the two SFTs answered differently
    seed_diffs: tuple[float, ...]  # B - A within each seed, seeds in order
    cells: int  # (seed, prompt) cells both runs answered

    @property
    def verdict(self) -> str:
        d = self.net if self.net is not None else self.diff
        if not d.valid:
            return "one seed and one prompt: no interval" if d.n < 2 else "no interval"
        if d.above:
            return "higher"
        if d.below:
            return "lower"
        return "within noise"


def heldout_frame(rows: Sequence[Mapping], where: str) -> pd.DataFrame:
    """The held-out answers of one phase of one run, with the derived column `changed`."""
    if not rows:
        raise RlhfError(f"{where} has no answers; rerun `dvc repro` there")
    lacking = [k for k in NEEDED if k not in rows[0]]
    if lacking:
        raise RlhfError(f"{where} lacks {', '.join(lacking)}; it was written by an older eval: rerun `dvc repro`")
    df = pd.DataFrame(list(rows))
    df = df[df["set"] == "heldout"].copy()
    if df.empty:
        raise RlhfError(f"{where} has no held-out answers; set data.n_heldout > 0 and rerun `dvc repro`")
    for m in ("rm", "gold", "kl", "length"):
        df[m] = pd.to_numeric(df[m], errors="coerce") if m in df else math.nan
    sft = df[df["algo"] == "sft"].set_index(["seed", "prompt_id", "sample"])["response"]
    key = pd.MultiIndex.from_frame(df[["seed", "prompt_id", "sample"]])
    ref = sft.reindex(key).to_numpy()
    df["changed"] = np.where(pd.isna(ref), np.nan, (df["response"].to_numpy() != ref).astype(float))
    return df


def _cells(df: pd.DataFrame, algo: str, metric: str) -> pd.Series:
    """Per (seed, prompt) mean of one metric: the unit the report's intervals resample."""
    return V.per_prompt(df, algo, metric)


def _seed_means(d: pd.Series) -> tuple[float, ...]:
    return tuple(float(g.mean()) for _, g in d.groupby(level="seed", sort=True))


def identical(a: pd.DataFrame, b: pd.DataFrame, algo: str) -> bool:
    """Whether one algorithm gave the same held-out answers, with the same scores, in both runs (an
    unchanged stage that DVC did not rerun): nothing to compare."""
    cols = ["seed", "prompt_id", "sample", "response", "rm", "gold", "kl"]
    xa = a.loc[a["algo"] == algo, cols].sort_values(cols[:3]).reset_index(drop=True)
    xb = b.loc[b["algo"] == algo, cols].sort_values(cols[:3]).reset_index(drop=True)
    return len(xa) > 0 and xa.equals(xb)


def compare_phase(a: pd.DataFrame, b: pd.DataFrame, phase: str, k: V.Knobs) -> tuple[list[Row], list[str]]:
    """B - A for every algorithm and metric of one phase, paired per (seed, prompt) cell; and the
    algorithms whose answers are identical in both runs (left out of the rows)."""
    sft_same = same_sft(a, b)
    out, same = [], []
    for algo in ALGOS:
        if algo not in set(a["algo"]) or algo not in set(b["algo"]):
            continue
        if identical(a, b, algo):
            same.append(algo)
            continue
        for metric in METRICS:
            if metric == "changed" and algo == "sft":
                continue
            ca, cb = _cells(a, algo, metric), _cells(b, algo, metric)
            common = ca.index.intersection(cb.index).sort_values()
            if len(common) == 0:
                continue
            ca, cb = ca[common], cb[common]
            d = cb - ca
            net = None
            if algo != "sft" and not sft_same and metric != "changed":
                sa, sb = _cells(a, "sft", metric), _cells(b, "sft", metric)
                both = common.intersection(sa.index).intersection(sb.index).sort_values()
                net = V.seeded_ci((cb[both] - sb[both]) - (ca[both] - sa[both]), n_boot=k.n_boot, ci=k.ci, seed=k.seed)
            out.append(
                Row(
                    phase,
                    algo,
                    metric,
                    V.seeded_ci(ca, n_boot=k.n_boot, ci=k.ci, seed=k.seed),
                    V.seeded_ci(cb, n_boot=k.n_boot, ci=k.ci, seed=k.seed),
                    V.seeded_ci(d, n_boot=k.n_boot, ci=k.ci, seed=k.seed),
                    net,
                    _seed_means(d),
                    len(common),
                )
            )
    return out, same


def same_sft(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether both runs' SFT gave the same held-out answers (then its difference is zero by construction
    and nothing needs netting out)."""
    key = ["seed", "prompt_id", "sample"]
    sa = a[a["algo"] == "sft"].set_index(key)["response"]
    sb = b[b["algo"] == "sft"].set_index(key)["response"]
    common = sa.index.intersection(sb.index)
    return len(common) > 0 and bool((sa[common] == sb[common]).all())


def same_rm(a: pd.DataFrame, b: pd.DataFrame) -> bool | None:
    """Whether both runs scored SFT's identical answers with the same reward (None: no identical answers
    to tell by). A different reward model puts the two runs' RM numbers on different scales."""
    key = ["seed", "prompt_id", "sample"]
    sa = a[a["algo"] == "sft"].set_index(key)
    sb = b[b["algo"] == "sft"].set_index(key)
    common = sa.index.intersection(sb.index)
    same = common[(sa.loc[common, "response"] == sb.loc[common, "response"]).to_numpy()]
    if len(same) == 0:
        return None
    return bool(np.allclose(sa.loc[same, "rm"].to_numpy(float), sb.loc[same, "rm"].to_numpy(float), atol=1e-6))


def flat_params(p: Mapping, prefix: str = "") -> dict[str, object]:
    """params.yaml as dotted keys (lists stay values), for the list of what differs."""
    out: dict[str, object] = {}
    for key, v in p.items():
        name = f"{prefix}{key}"
        if isinstance(v, Mapping) and v:
            out.update(flat_params(v, name + "."))
        else:
            out[name] = v
    return out


def params_diff(a: Mapping, b: Mapping) -> list[tuple[str, object, object]]:
    fa, fb = flat_params(a), flat_params(b)
    missing = object()
    return [
        (key, fa.get(key, "(absent)"), fb.get(key, "(absent)"))
        for key in sorted(set(fa) | set(fb))
        if fa.get(key, missing) != fb.get(key, missing)
    ]


def _fmt(x: V.Interval, digits: int, sign: bool) -> str:
    return x.text(digits, sign=sign)


def markdown(
    name_a: str,
    name_b: str,
    differs: Sequence[tuple[str, object, object]],
    rows: Sequence[Row],
    notes: Sequence[str],
    *,
    ci: float,
    digits: int = 3,
) -> str:
    pct = f"{100 * ci:g}%"
    lines = [f"# {name_b} against {name_a}, paired\n"]
    if differs:
        lines += ["| setting | " + name_a + " | " + name_b + " |", "| --- | --- | --- |"]
        lines += [f"| `{k}` | {va} | {vb} |" for k, va, vb in differs]
    else:
        lines.append("The two runs have the same params.yaml.")
    lines.append("")
    lines += [f"- {n}" for n in notes]
    if not rows:
        lines += ["", "Nothing to compare: every algorithm gave the same answers, with the same scores, in both runs."]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"| phase | algorithm | metric | {name_a} | {name_b} | {name_b} − {name_a} [{pct} CI] | each seed | verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        diff = _fmt(r.diff, digits, True)
        if r.net is not None:
            diff += f"; net of SFT {_fmt(r.net, digits, True)}"
        seeds = " / ".join(f"{s:+.{digits}f}" for s in r.seed_diffs)
        lines.append(
            f"| {r.phase} | {V.LABEL[r.algo]} | {r.metric} | {_fmt(r.a, digits, False)} | {_fmt(r.b, digits, False)} "
            f"| {diff} | {seeds} | {r.verdict} |"
        )
    lines += [
        "",
        f"*Means over the held-out (seed, prompt) cells both runs answered; the difference is taken per cell, "
        f"and its {pct} interval is a hierarchical bootstrap (seeds, then prompts) widened to at least the t "
        f"interval of the seed means, as in the report. "
        f'"changed": share of answers that differ from SFT\'s on the same sample. kl: per-token KL to SFT.*',
    ]
    return "\n".join(lines) + "\n"
