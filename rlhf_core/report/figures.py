"""The report's figures (matplotlib, Agg, fixed metadata so that a PNG is byte-identical across runs):
the shared figure machinery (`_figure`, `_save`, `Drawn`) and the figures of scores: per prompt,
averages, before/after, the delta heatmap, the ranking bump chart and RM against gold."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rlhf_core import io
from rlhf_core.params import ALGOS, ReportParams
from rlhf_core.stats import spearman

from .common import COLOR, DEFAULT_KNOBS, LABEL, _pct, _shorten, fmt, fmt_ci
from .load import Phase, Study
from .tables import _ci_of, _over, averages, per_prompt, per_prompt_delta, tied_ranking, within_prompt_spearman

DPI = 110
WIDTH = 10.0


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


def _rc():
    import matplotlib

    _mpl()
    return matplotlib.rc_context(RC)


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
            for j in np.flatnonzero(t[list(ALGOS)].isna().all(axis=1).to_numpy()):
                # an empty row would read as a score of 0: say why there is no bar
                ax.text(
                    0.02,
                    y[j],
                    "no gold (unverifiable)",
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    fontsize=8,
                    color="0.4",
                    style="italic",
                )
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(y, [_shorten(s, 28) for s in t.index])
            if k == keys[0]:
                ax.invert_yaxis()  # first prompt on top (the y axis is shared)
            ax.set_xlabel("reward-model score" if k == "rm" else "gold score (0-1)")
            if k == "gold":  # scores in [0, 1]: no negative side, and a readable axis when none is earned
                ax.set_xlim(0.0, max(ax.get_xlim()[1], 0.1))
            ax.set_title(f"{phase.name}: {'RM' if k == 'rm' else 'gold'} score per prompt")
            ax.grid(axis="x", alpha=0.3)
        from matplotlib.patches import Patch

        fig.legend(  # outside the axes: a bar at 1.0 on the last prompt must not hide under it
            handles=[Patch(color=COLOR[a], label=LABEL[a]) for a in ALGOS], loc="outside lower center", ncols=len(ALGOS)
        )
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
            if k == "gold":  # scores in [0, 1]: an all-zero row (no gold earned) keeps a readable axis
                lo, hi = axes[r][0].get_ylim()
                axes[r][0].set_ylim(min(lo, 0.0), max(hi, 0.1))
        handles = [
            Patch(facecolor="#d9d9d9", edgecolor="#7f7f7f", label=f"mean over {study.prompts} (bar, value above)")
        ]
        if any_held:
            handles.append(
                Line2D([], [], color="black", marker="D", ms=4, label=f"held-out mean, {_pct(_ci_of(study.first))} CI")
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        fig.suptitle("Average score by algorithm")
        return _drawn(fig, path)


def fig_before_after(study: Study, path: Path, ds: dict | None = None) -> list[str]:
    """Fig 6: average per algorithm in every phase (first hatched) over the study prompts. Annotated with
    the held-out change and its interval where `ds` (tables.deltas) has one, coloured only beyond noise:
    the 16 single-sample study prompts alone cannot tell a change from noise."""
    keys = ["rm"] + (["gold"] if study.gold else [])
    df = averages(study)
    n = len(study.phases)
    with _rc():
        from matplotlib.patches import Patch

        fig, axes = _figure(1, len(keys), 4.4)
        x = np.arange(len(ALGOS))
        w = 0.8 / n
        for ax, k in zip(axes[0], keys):
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
            first = df[df["phase"] == study.first.name].set_index("algo").reindex(ALGOS)[f"study_{k}"]
            last = df[df["phase"] == study.last.name].set_index("algo").reindex(ALGOS)[f"study_{k}"]
            held = {d.algo: d for d in (ds or {}).get(k, []) if d.held is not None and d.method == "bootstrap"}
            nd = 2 if k == "rm" else 3
            labels, colors, bold = [], [], []
            for a in ALGOS:
                text, color = f"{LABEL[a]}\nstudy Δ {fmt(last[a] - first[a], nd)}", "black"
                if a in held:
                    h = held[a]
                    text += f"\nheld out: {fmt(h.held, nd)}\n[{fmt(h.lo, nd)}, {fmt(h.hi, nd)}]"
                    if h.significant:
                        color = "#2ca02c" if h.held > 0 else "#d62728"
                labels.append(text)
                colors.append(color)
                bold.append(a in held and bool(held[a].significant))
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(x, labels, fontsize=7)
            for t, c, b in zip(ax.get_xticklabels(), colors, bold):
                t.set_color(c)
                t.set_fontweight("bold" if b else "normal")
            ax.set_ylabel("average RM score" if k == "rm" else "average gold score")
            ax.set_title(
                f"{'RM' if k == 'rm' else 'Gold'}: {study.first.name} (hatched) vs "
                + ", ".join(p.name for p in study.phases[1:])
            )
            ax.margins(y=0.15)
            if k == "gold":  # scores in [0, 1]: an all-zero panel (no gold earned) keeps a readable axis
                lo, hi = ax.get_ylim()
                ax.set_ylim(min(lo, 0.0), max(hi, 0.1))
            ax.grid(axis="y", alpha=0.3)
        fig.legend(
            handles=[
                Patch(facecolor="#999999", edgecolor="black", label=p.name, **_phase_style(i, n))
                for i, p in enumerate(study.phases)
            ]
            + (
                [Patch(color="none", label="held-out change (below each algorithm) coloured only beyond noise")]
                if ds
                else []
            ),
            loc="outside lower center",
            ncols=n,
        )
        fig.suptitle(
            f"Average score over {study.prompts}, {study.first.name} vs {study.last.name}\n"
            f"(study Δ = {study.last.name} − {study.first.name}; held-out change with its 95% CI)"
        )
        return _save(fig, path)


def fig_delta_heatmap(study: Study, path: Path) -> list[str]:
    """Fig 7: per-prompt delta (last − first), one sample per prompt and phase: green higher, red lower."""
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
            f"Per-prompt delta, {study.last.name} − {study.first.name} (green = higher, red = lower)\n"
            "one sample per prompt and phase, so a single cell is mostly noise"
        )
        return _save(fig, path)


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


def _ordinal(i: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(i, f"{i}th")
