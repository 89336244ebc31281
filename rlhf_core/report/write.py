"""`write_report`: report.md, figures/*.png, tables/*.md|csv, summary.json and headline/*.json from a
`Study`, with stale files of removed phases or sections deleted."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rlhf_core import io
from rlhf_core import verdicts as V
from rlhf_core.params import ALGOS, ReportParams
from rlhf_core.params import RL_ALGOS as TRAINED

from .common import DEFAULT_KNOBS, LABEL, _num
from .dvcplots import write_grouped
from .figures import (
    _eval_label,
    fig_averages,
    fig_before_after,
    fig_delta_heatmap,
    fig_per_prompt,
    fig_ranking,
    fig_rm_vs_gold,
)
from .figures_rl import fig_dpo, fig_grpo, fig_overoptimisation
from .findings import OVER_BINS, headline, overoptimisation_findings
from .load import Study
from .markdown import (
    averages_markdown,
    changes_markdown,
    claims_markdown,
    delta_markdown,
    departures_markdown,
    md_escape,
    metrics_markdown,
    per_prompt_markdown,
    phase_net_markdown,
    rm_markdown,
    sample_answers_markdown,
    seeds_markdown,
    settings_markdown,
    summary_markdown,
    trained_markdown,
    vs_sft_markdown,
)
from .tables import _ci_of, _vk, deltas


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
    trained_md, trained_df = trained_markdown(study, k, knobs.ci)
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
                lambda p: fig_before_after(study, p, ds),
                f"Fig 6 — Average score over {study.prompts}, {f} (hatched) vs {l}; each bar pair is annotated "
                f"with the study-prompt Δ = {l} − {f} (one sample each: noise-prone) and the held-out change with "
                "its 95% interval, coloured only beyond noise.",
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
            f"Fig 2 — Average score per algorithm and phase; bars = {study.prompts}, "
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
                f"Fig 7 — Delta heatmap ({l} − {f}), one sample per prompt and phase. Green = higher, red = lower; "
                "a single cell is mostly sampling noise (the held-out verdicts are in the tables above).",
            ),
            table("per_prompt_delta", *delta_markdown(study)),
        ]

    md += [f"## {heads['settings']}\n", "### Each phase's settings\n", table("settings", *settings_markdown(study))]
    if multi:
        md += ["### What changed between phases\n", table("changes", *changes_markdown(study))]
    md += ["### Where this run departs from the study\n", table("departures", *departures_markdown(study))]

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
    out.files += write_grouped(study, reports)  # reports/plots/*.csv: dvc plots, one chart per quantity
    io.write_text(reports / "report.md", "\n".join(md).rstrip() + "\n")
    out.files.append(reports / "report.md")
    keep = set(out.files)
    for folder in (figs, tabs):  # outputs of removed phases or sections must not linger
        for p in sorted(folder.glob("*")) if folder.is_dir() else []:
            if p.is_file() and p.suffix in (".png", ".md", ".csv") and p not in keep:
                p.unlink()
    return out


def _seeds_sentence(study: Study) -> str:
    seeds = study.first.seeds
    if len(seeds) == 1:
        return (
            f"**One RL seed ({seeds[0]})**: every interval covers the prompts and the sampling of the answers, "
            "not the luck of training, so a difference beyond noise may still be that seed's. "
        )
    return (
        f"Every algorithm was trained once per RL seed ({', '.join(map(str, seeds))}); means are over seeds and "
        "intervals come from a hierarchical bootstrap (seeds, then prompts within each seed), widened to at least "
        "Student's t interval of the seed means, so a difference is beyond noise only if it survives the "
        "seed-to-seed variation. Training-curve figures draw the "
        f"first seed ({seeds[0]}). "
    )


def _anchor(heading: str) -> str:
    """GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
