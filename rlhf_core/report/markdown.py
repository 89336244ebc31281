"""Markdown: escaping model output, laying out a table, and one `*_markdown` function per section or
table of the report (a table's comes with the DataFrame written beside it as CSV)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rlhf_core import verdicts as V
from rlhf_core.params import ALGOS, ReportParams

from .common import LABEL, _num, _pct, _shorten, fmt, fmt_ci
from .load import Phase, Study
from .tables import (
    MOVED_KL,
    MOVED_SHARE,
    Delta,
    _flatten,
    _over,
    _share,
    averages,
    changes_table,
    departures_table,
    per_prompt,
    per_prompt_delta,
    phase_net_table,
    prompt_names,
    seeds_table,
    settings_table,
    trained_table,
    vs_sft_table,
)


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
    ungraded = int(g.isna().all(axis=1).sum()) if gold else 0
    note = (
        "*Bold = highest score in row"
        + (" (RM and gold separately)" if gold else "")
        + (
            "; single sample per prompt and algorithm"
            if len(phase.seeds) == 1
            else f"; mean of one sample per seed ({len(phase.seeds)} seeds) per prompt and algorithm"
        )
        + (
            f". Gold —: no gold for {ungraded} prompts, whose answers the judge cannot verify "
            "(rlhf_core/builtin/README.md); the gold average is over the rest"
            if ungraded
            else ""
        )
        + ".*\n"
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
        f"*Study = {study.prompts}, one sample each (no algorithm is marked best: single samples cannot "
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
        f"*Delta (study) = {md_escape(l)} − {md_escape(f)} on {study.prompts}, one sample each: too few to "
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


def departures_markdown(study: Study) -> tuple[str, pd.DataFrame]:
    df = departures_table(study)
    if df.empty:
        return "*This run uses the study's value for every setting the study states.*\n", df
    rows = [
        [md_escape(str(r["phase"])), f"`{r['setting']}`", _plain(r["study"]), _plain(r["this run"])]
        for _, r in df.iterrows()
    ]
    md = markdown_table(["Phase", "Setting", "The study", "This run"], rows, ["---", "---", "---:", "---:"])
    note = (
        "*The default params depart from the study on purpose: learning rates calibrated so that each algorithm "
        "trains, and 4 DPO pairs per step so that its seeds can be told apart; any other row is this run's own "
        "choice. [docs/calibration.md](../docs/calibration.md) gives the one command that runs the study's values, "
        "and what they give: at the study's learning rates GRPO and DPO stay at SFT (held-out KL of the order of "
        "1e-3 nats/token) and PPO stays at SFT in phase 5, so their comparisons become comparisons of SFT with "
        "itself.*\n"
    )
    return md + "\n" + note, df


def trained_markdown(study: Study, k: V.Knobs | None = None, ci: float = 0.95) -> tuple[str, pd.DataFrame]:
    df = trained_table(study, k)
    rows = [
        [
            md_escape(r.phase),
            r.algo,
            fmt(r.optimizer_steps, 0, sign=False),
            fmt_ci(r.kl_to_sft, r.kl_lo, r.kl_hi, 4, sign=False),
            "—" if math.isnan(_num(r.differs_from_sft)) else _share(_num(r.differs_from_sft)),
            r.diagnostics or "—",
            "—" if r.moved is None else ("yes" if r.moved else "**no**"),
        ]
        for r in df.itertuples()
    ]
    md = markdown_table(
        [
            "Phase",
            "Algorithm",
            "Optimiser steps",
            f"KL to SFT (nats/token) [{_pct(ci)} CI]",
            "Answers ≠ SFT",
            "Diagnostics",
            "Moved",
        ],
        rows,
        ["---", "---", "---:", "---:", "---:", "---", "---"],
    )
    note = (
        f"\nKL: mean per-token KL(policy || SFT) over the held-out answers (SFT is also every algorithm's "
        f"reference), with its interval over seeds and prompts: a wide one means the seeds' runs landed far "
        f"apart (the seeds table shows each). Answers ≠ SFT: share of held-out answers that differ from SFT's "
        f"answer to the same prompt on the same random stream. Moved = KL >= {MOVED_KL} on every seed and >= "
        f"{100 * MOVED_SHARE:.0f}% of answers differ; an algorithm that did not move cannot be compared with the "
        f"others.\n"
    )
    return md + note, df


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
            "interval (seeds, then prompts within each seed; at least Student's t interval of the seed means)"
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
        "\n*The RM is trained on pairs that the gold judge ranked (SFT samples of training prompts), on "
        "reference-vs-corrupted pairs and, for prompts without gold, on reference-vs-SFT-sample pairs, so its "
        "agreement with gold is partly by construction; what matters is "
        "how well it ranks answers of the kind the policies write, on prompts it never saw: the first three "
        "rows. 0.5 = chance. Full metrics: [tables/reward_model.md](tables/reward_model.md).*\n"
    )


def _b(s: str, bold: bool) -> str:
    return f"**{s}**" if bold else s


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


def _direction(d: Delta) -> str:
    """Improved/regressed only when the held-out interval says so; single study samples never decide."""
    if d.significant is None:
        return "no interval"
    if not d.significant:
        return "within noise"
    return "improved" if (d.held or 0.0) > 0 else "regressed"


def _plain(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}" if v.is_integer() and abs(v) < 1e6 else f"{v:.4g}"
    return md_escape(str(v))
