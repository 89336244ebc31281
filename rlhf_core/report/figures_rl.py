"""The report's figures of training: DPO loss and margin, GRPO group collapse, and the RM reward and
gold against √KL that the over-optimisation test reads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from rlhf_core.params import ReportParams

from .common import COLOR, LABEL, _num
from .figures import Drawn, _drawn, _figure, _rc, _save
from .findings import OVER_BINS, _verdict, overoptimisation, overoptimisation_bins
from .load import RM_LOG, Study
from .tables import collapsed_share

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


def _window(log: pd.DataFrame, knobs: ReportParams) -> int:
    return knobs.smooth or max(1, len(log) // 20)
