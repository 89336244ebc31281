"""The study's numbers as tables (pandas): per-prompt scores, averages, first-to-last-phase deltas with
intervals, settings, whether each algorithm trained, seed by seed, each algorithm against SFT, phase
changes net of SFT, tied rankings, the GRPO collapsed share and the RM's agreement with gold."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rlhf_core import verdicts as V
from rlhf_core.params import ALGOS, ReportParams
from rlhf_core.params import RL_ALGOS as TRAINED
from rlhf_core.stats import spearman

from .common import _num, _shorten, fmt
from .load import Phase, Study


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


# The settings the study states (its sections 4.1-4.4 and the DPO write-up: one pair per step), for its
# Phase 1 (this run's first phase) and Phase 5 (the last). Keys as in `changes_table`.
STUDY_SETTINGS = {
    "first": {
        "ppo.lr": 1e-5, "ppo.kl_coef": 0.01, "ppo.resp_len": 64,
        "grpo.lr": 1e-5, "grpo.group_size": 4, "grpo.gen_temperature": 0.8,
        "dpo.lr": 1e-5, "dpo.beta": 0.1, "dpo.batch_size": 1, "dpo.grad_accum": 1, "dpo.rej_temperature": 0.9,
        "dpo.rej_top_k": 50,
        "eval.temperature": 0.7, "eval.top_k": 50, "eval.max_new_tokens": 64,
    },
    "last": {
        "ppo.lr": 5e-6, "ppo.kl_coef": 0.1, "ppo.resp_len": 96,
        "grpo.lr": 5e-6, "grpo.group_size": 8, "grpo.gen_temperature": 1.0,
        "dpo.lr": 5e-6, "dpo.beta": 0.3, "dpo.batch_size": 1, "dpo.grad_accum": 1, "dpo.rej_temperature": 1.1,
        "dpo.rej_top_k": 50,
        "eval.temperature": 0.3, "eval.top_k": 20, "eval.max_new_tokens": 96,
    },
}  # fmt: skip


def departures_table(study: Study) -> pd.DataFrame:
    """Every setting the study states whose value in this run's first or last phase differs from the study's."""
    rows = []
    for role, ph in (("first", study.first), ("last", study.last)):
        if role == "last" and ph is study.first:
            break
        have = {k: v for a in TRAINED for k, v in _flatten(ph.configs.get(a) or {}).items() if k.startswith(a + ".")}
        have.update({f"eval.{k}": v for k, v in ph.settings.items()})
        for key, theirs in STUDY_SETTINGS[role].items():
            ours = have.get(key)
            if ours is not None and not math.isclose(float(ours), float(theirs), rel_tol=1e-9):
                rows.append({"phase": ph.name, "setting": key, "study": theirs, "this run": ours})
    return pd.DataFrame(rows, columns=["phase", "setting", "study", "this run"], dtype=object)


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


# An algorithm "moved" when its held-out answers are this far from SFT's (per-token KL, nats) on every seed, and
# at least this share of them differ from SFT's answer on the same random stream. Every seed, not the lower end
# of the mean's interval: that end falls when one seed moves further than the others, so a run could stop
# counting as moved by moving more.
MOVED_KL = 0.01
MOVED_SHARE = 0.5


def _seed_means(values: pd.Series) -> list[float]:
    """Each seed's mean of per-(seed, prompt) values; the one overall mean when there are no seeds."""
    if isinstance(values.index, pd.MultiIndex) and "seed" in values.index.names:
        return [float(v) for v in values.groupby(level="seed").mean().dropna()]
    return [float(values.mean())] if len(values.dropna()) else []


def trained_table(study: Study, k: V.Knobs | None = None) -> pd.DataFrame:
    """Did each RL algorithm leave SFT? Eval's distance measures beside the stage's own diagnostics; with
    knobs, the KL's interval over seeds and held-out prompts (how far apart the seeds' runs landed)."""
    rows = []
    for ph in study.phases:
        for a in TRAINED:
            m = ph.metrics.get(a) or {}
            t = m.get("trained") or {}
            kl, share = _num(m.get("kl")), _num(t.get("differs_from_sft"))
            kl_iv, seed_kls = V.NAN, [kl]
            if "kl" in ph.answers:
                per = V.per_prompt(ph.answers, a, "kl")
                seed_kls = _seed_means(per) or seed_kls
                if k is not None:
                    kl_iv = V.seeded_ci(per, n_boot=k.n_boot, ci=k.ci, seed=k.seed)
            diag = {
                "ppo": [("explained var. (2nd half)", t.get("explained_variance_2nd_half"))],
                "grpo": [("collapsed groups", t.get("collapsed_share"))],
                "dpo": [
                    ("margin (last 20)", t.get("margin_last20")),
                    ("accuracy (last 20)", t.get("accuracy_last20")),
                    ("void pairs", t.get("void_share")),
                ],
            }[a]
            far = min(seed_kls)  # the seed that moved least must be far enough
            moved = None if math.isnan(kl) or math.isnan(share) else bool(far >= MOVED_KL and share >= MOVED_SHARE)
            rows.append(
                {
                    "phase": ph.name,
                    "algo": a,
                    "optimizer_steps": t.get("optimizer_steps"),
                    "kl_to_sft": kl,
                    "kl_lo": kl_iv.lo,
                    "kl_hi": kl_iv.hi,
                    "differs_from_sft": share,
                    "diagnostics": "; ".join(f"{k} {fmt(v, 3, sign=False)}" for k, v in diag if v is not None),
                    "moved": moved,
                }
            )
    return pd.DataFrame(rows, dtype=object)


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


def _share(x: float) -> str:
    """A share of answers as a percentage; with a decimal where rounding would hide which side of the
    "moved" bar it is on (49.7% is not 50%)."""
    text = f"{100 * x:.0f}%"
    if text == f"{100 * MOVED_SHARE:.0f}%" and x != MOVED_SHARE:
        text = f"{100 * x:.1f}%"
    return text


def _ci_of(ph: Phase) -> float:
    ci = _num(ph.settings.get("ci"))
    return ci if 0 < ci < 1 else 0.95


def _over(study: Study) -> str:
    return "seeds, then prompts, at least the seeds' t interval" if len(study.first.seeds) > 1 else "prompts"


def _flatten(d: Any, prefix: str = "") -> dict:
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix.rstrip(".")] = d
    return out
