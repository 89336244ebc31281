"""The gold-vs-KL frontier: each algorithm at several strengths, from finished DVC experiments.

A run (the workspace, or one experiment) has, in `reports/summary.json`, every phase's per-seed
held-out gold, RM and KL to SFT for SFT, PPO, GRPO and DPO, and the effective settings that produced
them. One point = one (run, phase, algorithm) at one setting; points with the same settings from
several runs are merged (their seeds pooled). Each algorithm's points are fitted with the functional
form Gao et al. (2022, "Scaling laws for reward model overoptimization", eq. 2) found for RL:

    gold(d) - gold(SFT) = d * (alpha - beta * ln d),   d = sqrt(KL to SFT)

which is linear in (alpha, beta), so it is an ordinary least-squares fit on the per-seed points. Its
peak, where more distance stops paying, is at ln d* = alpha / beta - 1 (beta > 0). Intervals come from
a bootstrap that resamples settings, then seeds within each setting, and refits.

Runs are never used silently: a run whose summary is missing, lacks the phase, or was written for
other settings than its params.yaml now holds (stale: params changed, pipeline not rerun) is named
and left out, with the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rlhf_core.params import RL_ALGOS, resolve_phase, to_dict
from rlhf_core.verdicts import over_seeds, seed_t

# the knob that sets each algorithm's strength (the rest of its settings are shown when they vary)
STRENGTH = {"ppo": "kl_coef", "grpo": "kl_coef", "dpo": "beta"}
LABEL = {"ppo": "PPO", "grpo": "GRPO", "dpo": "DPO"}
MIN_SETTINGS = 3  # settings (strengths) an algorithm needs before its curve is fitted


@dataclass
class Run:
    """One run's files, as read from the workspace or from an experiment's commit."""

    name: str
    params: dict | None  # params.yaml, parsed
    summary: dict | None  # reports/summary.json, parsed
    state: str = "success"  # the experiment's state in `dvc exp show` (queued, running, failed, ...)


@dataclass
class Point:
    algo: str
    phase: str
    config: dict  # the algorithm's effective settings in that phase
    seeds: dict = field(default_factory=dict)  # seed -> {"gold", "rm", "kl", "sft_gold", "sft_rm"}
    runs: list = field(default_factory=list)  # names of the runs it came from
    eval: dict = field(default_factory=dict)  # the eval settings its answers were sampled with

    @property
    def strength(self) -> float:
        return float(self.config.get(STRENGTH[self.algo], math.nan))

    def values(self, key: str) -> np.ndarray:
        return np.array([s[key] for s in self.seeds.values() if s.get(key) is not None], dtype=np.float64)

    def gain(self) -> np.ndarray:
        """Per-seed held-out gold minus SFT's gold under the same seed's eval stream."""
        return np.array([s["gold"] - s["sft_gold"] for s in self.seeds.values()], dtype=np.float64)

    def d(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.values("kl"), 0.0))


@dataclass
class LeftOut:
    run: str
    reason: str


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def points_of(run: Run, phase: str) -> tuple[list[Point], str | None]:
    """The run's points for `phase`, or the reason it is left out."""
    if run.state not in ("success", "workspace"):
        return [], f"experiment is {run.state}"
    if run.params is None:
        return [], "no params.yaml"
    if run.summary is None:
        return [], "no reports/summary.json (the report stage has not run)"
    sec = run.summary.get(phase)
    if not isinstance(sec, Mapping) or "configs" not in sec:
        return [], f"reports/summary.json has no phase {phase!r} with its settings (rerun the report)"
    try:
        resolved = to_dict(resolve_phase(run.params, phase))
    except Exception as e:  # a params file this version cannot read: name it, do not guess
        return [], f"params.yaml does not resolve: {str(e)[:120]}"
    seeds = list(resolved.get("rl_seeds") or [])
    if not _same(list(run.summary.get("rl_seeds") or []), seeds):
        return [], f"stale: summary is for rl_seeds {run.summary.get('rl_seeds')}, params.yaml says {seeds}"
    ev = sec["configs"].get("eval")
    if ev is not None and not _same(ev, {k: resolved["eval"].get(k) for k in ev}):
        return [], "stale: the eval settings in summary.json differ from params.yaml (rerun `dvc repro`)"
    out = []
    for algo in RL_ALGOS:
        if not _same(sec["configs"].get(algo), resolved[algo]):
            return [], f"stale: the {algo} settings in summary.json differ from params.yaml (rerun `dvc repro`)"
        a, sft = sec.get(algo) or {}, sec.get("sft") or {}
        per = {}
        for sd, v in (a.get("seeds") or {}).items():
            s = (sft.get("seeds") or {}).get(sd) or {}
            if v.get("gold") is None or s.get("gold") is None or v.get("kl") is None:
                return [], f"no gold / KL for {algo} seed {sd} (data without a gold judge has no frontier)"
            per[str(sd)] = {
                "gold": v["gold"],
                "rm": v.get("rm"),
                "kl": v["kl"],
                "sft_gold": s["gold"],
                "sft_rm": s.get("rm"),
            }
        if not per:
            return [], f"summary.json has no per-seed numbers for {algo} (rerun the report)"
        out.append(Point(algo, phase, dict(resolved[algo]), per, [run.name], dict(resolved["eval"])))
    return out, None


def collect(runs: Sequence[Run], phase: str) -> tuple[list[Point], list[LeftOut], list[str]]:
    """Every run's points, merged by (algorithm, settings): seeds pooled. Returns the points, the runs
    left out with their reasons, and notes (e.g. a seed whose numbers differ between two runs)."""
    merged: dict[tuple, Point] = {}
    left, notes = [], []
    ref: tuple[str, dict] | None = None  # points are comparable only under one eval protocol
    for run in runs:
        pts, why = points_of(run, phase)
        if not why and ref is not None and not _same(pts[0].eval, ref[1]):
            keys = sorted(k for k in ref[1] if not _same(ref[1].get(k), pts[0].eval.get(k)))
            why = f"eval settings differ from {ref[0]}'s ({', '.join(keys)}): its points are not comparable"
        if why:
            left.append(LeftOut(run.name, why))
            continue
        ref = ref or (run.name, pts[0].eval)
        for p in pts:
            key = (p.algo, json.dumps(p.config, sort_keys=True))
            if key not in merged:
                merged[key] = p
                continue
            m = merged[key]
            m.runs.append(run.name)
            for sd, v in p.seeds.items():
                if sd in m.seeds and not _same(m.seeds[sd], v):
                    notes.append(
                        f"{LABEL[p.algo]} {_setting(p)} seed {sd}: {run.name} and {m.runs[0]} disagree "
                        f"(gold {v['gold']:.4f} vs {m.seeds[sd]['gold']:.4f}); the first is kept"
                    )
                    continue
                m.seeds.setdefault(sd, v)
    pts = sorted(
        merged.values(), key=lambda p: (RL_ALGOS.index(p.algo), p.strength, json.dumps(p.config, sort_keys=True))
    )
    return pts, left, notes


def varying(points: Sequence[Point]) -> dict[str, list[str]]:
    """Per algorithm, the settings that differ between its points (what a label must show)."""
    out = {}
    for algo in RL_ALGOS:
        cfgs = [p.config for p in points if p.algo == algo]
        keys = sorted({k for c in cfgs for k in c if any(not _same(c.get(k), d.get(k)) for d in cfgs)})
        out[algo] = keys
    return out


def _setting(p: Point, keys: Sequence[str] | None = None) -> str:
    keys = keys or [STRENGTH[p.algo]]
    return ", ".join(f"{k}={p.config.get(k)}" for k in keys)


# ---------------------------------------------------------------------------------------------- fitting


@dataclass
class Fit:
    algo: str
    alpha: float
    beta: float
    n_points: int  # settings
    n_obs: int  # (setting, seed) observations
    alpha_ci: tuple[float, float] = (math.nan, math.nan)
    beta_ci: tuple[float, float] = (math.nan, math.nan)
    peak_kl: float = math.nan  # KL at the fitted peak (nan: no peak, gold still rising)
    peak_kl_ci: tuple[float, float] = (math.nan, math.nan)
    rss: float = math.nan
    r2: float = math.nan
    boots: np.ndarray | None = None  # (n_boot, 2) refitted (alpha, beta)

    def gain(self, d: np.ndarray | float, coef: tuple[float, float] | None = None) -> np.ndarray:
        a, b = coef if coef is not None else (self.alpha, self.beta)
        d = np.asarray(d, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, d * (a - b * np.log(np.where(d > 0, d, 1.0))), 0.0)


def gao_fit(d: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Least squares of y = d * (alpha - beta ln d) through the origin; None if under-determined."""
    d, y = np.asarray(d, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = (d > 0) & np.isfinite(y)
    d, y = d[keep], y[keep]
    if len(np.unique(np.round(d, 12))) < 3:
        return None
    X = np.stack([d, -d * np.log(d)], axis=1)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(coef[0]), float(coef[1])


def peak_kl(alpha: float, beta: float) -> float:
    """KL at the maximum of d (alpha - beta ln d): ln d* = alpha / beta - 1; none when beta <= 0."""
    if not beta > 0:
        return math.nan
    z = 2 * (alpha / beta - 1)  # ln KL* = 2 ln d*
    return math.exp(z) if z < 700 else math.inf


def fit_algo(points: Sequence[Point], algo: str, *, n_boot: int, ci: float, seed: int) -> Fit | None:
    """Fit one algorithm's points (every seed of every setting), with a bootstrap over settings, then
    seeds within each drawn setting. None with fewer than MIN_SETTINGS settings."""
    pts = [p for p in points if p.algo == algo and len(p.seeds)]
    if len(pts) < MIN_SETTINGS:  # a curve over strengths, not over one setting's seed scatter
        return None
    d = np.concatenate([p.d() for p in pts])
    y = np.concatenate([p.gain() for p in pts])
    coef = gao_fit(d, y)
    if coef is None:
        return None
    pred = Fit(algo, *coef, len(pts), len(y)).gain(d)
    rss = float(np.sum((y - pred) ** 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    fit = Fit(algo, coef[0], coef[1], len(pts), len(y), rss=rss, r2=1 - rss / tss if tss > 0 else math.nan)
    fit.peak_kl = peak_kl(*coef)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(pts), len(pts))
        bd, by = [], []
        for i in picks:
            pd_, py = pts[i].d(), pts[i].gain()
            j = rng.integers(0, len(pd_), len(pd_))
            bd.append(pd_[j])
            by.append(py[j])
        c = gao_fit(np.concatenate(bd), np.concatenate(by))
        if c is not None:
            boots.append(c)
    if len(boots) >= max(20, n_boot // 4):
        b = np.array(boots)
        lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
        fit.boots = b
        fit.alpha_ci = tuple(float(v) for v in np.quantile(b[:, 0], [lo_q, hi_q]))
        fit.beta_ci = tuple(float(v) for v in np.quantile(b[:, 1], [lo_q, hi_q]))
        peaks = np.array([peak_kl(a, bb) for a, bb in b])  # nan = no peak in that refit
        peaks = np.sort(np.where(np.isnan(peaks), np.inf, peaks))  # order statistics: inf stays inf
        n = len(peaks)
        fit.peak_kl_ci = (float(peaks[int(lo_q * (n - 1))]), float(peaks[int(round(hi_q * (n - 1)))]))
    return fit


def gain_at(fit: Fit, kl: float, ci: float) -> tuple[float, float, float]:
    """The fitted gold gain at a KL, with the bootstrap interval of the refits."""
    d = math.sqrt(kl)
    mean = float(fit.gain(d))
    if fit.boots is None:
        return mean, math.nan, math.nan
    vals = np.array([float(fit.gain(d, (a, b))) for a, b in fit.boots])
    lo, hi = np.quantile(vals, [(1 - ci) / 2, (1 + ci) / 2])
    return mean, float(lo), float(hi)


def compare_at(fits: dict[str, Fit], kl: float, ci: float) -> tuple[str | None, dict[str, tuple[float, float, float]]]:
    """Which algorithm's fitted gain is highest at this KL beyond the others' intervals (bootstrap
    refits are independent between algorithms, so the difference of two refits is a valid draw of the
    difference). Returns the winner (None = no algorithm separated) and each algorithm's gain."""
    gains = {a: gain_at(f, kl, ci) for a, f in fits.items()}
    if len(fits) < 2:
        return None, gains
    best = max(gains, key=lambda a: gains[a][0])
    d = math.sqrt(kl)
    for a, f in fits.items():
        if a == best:
            continue
        fb, fa = fits[best], f
        if fb.boots is None or fa.boots is None:
            return None, gains
        n = min(len(fb.boots), len(fa.boots))
        diff = np.array([fb.gain(d, tuple(fb.boots[i])) - fa.gain(d, tuple(fa.boots[i])) for i in range(n)])
        if not np.quantile(diff, (1 - ci) / 2) > 0:
            return None, gains
    return best, gains


@dataclass
class Along:
    """How gold and the RM move with distance across one algorithm's settings: least-squares slopes of
    the gains over SFT against d (per-seed observations), with bootstrap intervals (settings, then
    seeds). Gold falling while the RM rises is over-optimisation in Gao et al.'s sense."""

    gold: tuple[float, float, float]  # slope, lo, hi
    rm: tuple[float, float, float]

    @property
    def verdict(self) -> str:
        up = lambda t: t[1] > 0  # noqa: E731
        down = lambda t: t[2] < 0  # noqa: E731
        if up(self.rm) and down(self.gold):
            return "**RM rises while gold falls: over-optimisation**"
        if down(self.gold) and down(self.rm):
            return "gold and RM both fall"
        if up(self.gold) and up(self.rm):
            return "gold and RM both rise"
        if down(self.gold):
            return "gold falls; the RM's trend is within noise"
        if up(self.gold):
            return "gold rises; the RM's trend is within noise"
        return "gold's trend is within noise"


def _slope(d: np.ndarray, y: np.ndarray) -> float:
    d, y = d - d.mean(), y - y.mean()
    return float((d * y).sum() / (d * d).sum()) if (d * d).sum() > 0 else math.nan


def along(points: Sequence[Point], algo: str, *, n_boot: int, ci: float, seed: int) -> Along | None:
    pts = [p for p in points if p.algo == algo and len(p.seeds)]
    if len(pts) < MIN_SETTINGS:
        return None

    def obs(ps, rng=None):
        d, g, r = [], [], []
        for p in ps:
            idx = np.arange(len(p.seeds)) if rng is None else rng.integers(0, len(p.seeds), len(p.seeds))
            rm = np.array([s["rm"] - s["sft_rm"] for s in p.seeds.values()], dtype=np.float64)
            d.append(p.d()[idx])
            g.append(p.gain()[idx])
            r.append(rm[idx])
        return np.concatenate(d), np.concatenate(g), np.concatenate(r)

    d, g, r = obs(pts)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        bd, bg, br = obs([pts[i] for i in rng.integers(0, len(pts), len(pts))], rng)
        boots.append((_slope(bd, bg), _slope(bd, br)))
    b = np.array(boots)
    b = b[~np.isnan(b).any(axis=1)]
    q = [(1 - ci) / 2, (1 + ci) / 2]
    glo, ghi = np.quantile(b[:, 0], q) if len(b) else (math.nan, math.nan)
    rlo, rhi = np.quantile(b[:, 1], q) if len(b) else (math.nan, math.nan)
    return Along((_slope(d, g), float(glo), float(ghi)), (_slope(d, r), float(rlo), float(rhi)))


# ---------------------------------------------------------------------------------------------- output

COLOR = {"ppo": "#1f77b4", "grpo": "#ff7f0e", "dpo": "#2ca02c"}


def _ci_text(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    f = f"{{:+.{digits}f}}"
    if math.isnan(lo):
        return f.format(mean)
    return f"{f.format(mean)} [{f.format(lo)}, {f.format(hi)}]"


def _seed_ci(x: np.ndarray, ci: float, seed: int, n_boot: int = 2000) -> tuple[float, float, float]:
    """Mean of per-seed values with a bootstrap interval over seeds (verdicts.over_seeds), widened like
    the report's to contain Student's t interval of the seed values; nan bounds for one seed. A point
    has one value per seed, so the bootstrap sees only their spread, and with two or three seeds t (12.7
    at 1 degree of freedom, 4.3 at 2) is what an interval for the next seed needs."""
    if len(x) < 2:
        return (float(x.mean()) if len(x) else math.nan), math.nan, math.nan
    iv = over_seeds([np.full(n_boot, v) for v in x], list(x), ci, np.random.default_rng(seed))
    t_lo, t_hi = seed_t(list(x), ci)
    return iv.mean, min(iv.lo, t_lo), max(iv.hi, t_hi)


def kl_range(points: Sequence[Point], algo: str) -> tuple[float, float]:
    kl = np.concatenate([p.values("kl") for p in points if p.algo == algo])
    return float(kl.min()), float(kl.max())


def comparison_kls(points: Sequence[Point], algos: Sequence[str]) -> list[float]:
    """KL values inside every named algorithm's observed range (no extrapolation): the geometric
    quartiles of the overlap; none when the ranges do not overlap."""
    ranges = [kl_range(points, a) for a in algos]
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if not hi > lo or lo <= 0:
        return []
    return [float(v) for v in np.exp(np.quantile([math.log(lo), math.log(hi)], [0.25, 0.5, 0.75]))]


def markdown(
    points: Sequence[Point],
    fits: dict[str, Fit],
    left: Sequence[LeftOut],
    notes: Sequence[str],
    *,
    phase: str,
    ci: float,
    seed: int,
    figure: str | None,
) -> str:
    pct = f"{100 * ci:g}%"
    keys = varying(points)
    md = [
        f"# Gold-vs-KL frontier ({phase})\n",
        "Written by `rlhf frontier` from finished DVC experiments and the workspace. One point = one setting "
        "of one algorithm; its seeds are pooled across the runs that share that setting. Gold gain = held-out "
        "gold minus SFT's under the same seed's eval stream; KL = mean per-token KL(policy || SFT) on the "
        f"held-out answers. Intervals are {pct}: for a point, a bootstrap over seeds widened to Student's t "
        "interval of its seed values (wide with two or three seeds, as it must be); for a fit, a bootstrap over "
        "settings and then seeds.\n",
    ]
    if figure:
        md.append(f"![frontier]({figure})\n")
    rows = []
    for p in points:
        gain = _seed_ci(p.gain(), ci, seed)
        rm = np.array([s["rm"] - s["sft_rm"] for s in p.seeds.values() if s.get("rm") is not None])
        rows.append(
            f"| {LABEL[p.algo]} | {_setting(p, keys[p.algo] or [STRENGTH[p.algo]])} | {len(p.seeds)} | "
            f"{float(np.mean(p.values('kl'))):.3g} | {_ci_text(*gain)} | "
            f"{_ci_text(*_seed_ci(rm, ci, seed), digits=3) if len(rm) else '—'} | {', '.join(p.runs)} |"
        )
    md += [
        "## Points\n",
        "| Algorithm | Setting | Seeds | KL to SFT | Gold gain over SFT | RM gain over SFT | Runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
    ]
    md.append("## Fits: gold gain = d (α − β ln d), d = √KL (Gao et al. 2022, RL form)\n")
    if fits:
        md += [
            "| Algorithm | Settings / observations | KL range | α | β | R² | Gold peak at KL | Along the frontier |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for a, f in fits.items():
            lo, hi = kl_range(points, a)
            if math.isnan(f.peak_kl):
                peak = "no peak (β ≤ 0: gold still rising)"
            else:
                peak = f"{f.peak_kl:.3g}"
                if not math.isnan(f.peak_kl_ci[0]):
                    top = "∞" if math.isinf(f.peak_kl_ci[1]) else f"{f.peak_kl_ci[1]:.3g}"
                    peak += f" [{f.peak_kl_ci[0]:.3g}, {top}]"
                if f.peak_kl < lo:
                    peak += " (below every setting: gold falls from the start)"
                elif f.peak_kl > hi:
                    peak += " (beyond every setting: gold still rising)"
            al = along(points, a, n_boot=max(200, len(f.boots) if f.boots is not None else 200), ci=ci, seed=seed)
            trend = (
                "—"
                if al is None
                else f"{al.verdict} (slope of gold {_ci_text(*al.gold)}, of RM {_ci_text(*al.rm)} per unit d)"
            )
            md.append(
                f"| {LABEL[a]} | {f.n_points} / {f.n_obs} | {lo:.3g}–{hi:.3g} | {_ci_text(f.alpha, *f.alpha_ci)} | "
                f"{_ci_text(f.beta, *f.beta_ci)} | {f.r2:.2f} | {peak} | {trend} |"
            )
        md.append("")
        rows = []
        names = list(fits)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                for kl in comparison_kls(points, [a, b]):
                    best, gains = compare_at({a: fits[a], b: fits[b]}, kl, ci)
                    rows.append(
                        f"| {LABEL[a]} vs {LABEL[b]} | {kl:.3g} | {_ci_text(*gains[a])} | {_ci_text(*gains[b])} | "
                        f"{LABEL[best] if best else 'neither (within noise)'} |"
                    )
        if len(fits) >= 2:
            md.append("## Which algorithm turns KL into gold best\n")
            if rows:
                md += [
                    "Fitted gold gain over SFT of each pair of algorithms at KL values inside both of their observed "
                    "ranges (geometric quartiles of the overlap; no extrapolation). One is named only where its "
                    "gain beats the other's beyond the bootstrap interval of the difference.\n",
                    "| Pair | KL | First | Second | Higher beyond noise |",
                    "| --- | ---: | ---: | ---: | --- |",
                    *rows,
                    "",
                ]
            else:
                md.append(
                    "*No two algorithms' KL ranges overlap: no KL at which to compare them without extrapolating.*\n"
                )
    unfit = [LABEL[a] for a in RL_ALGOS if a not in fits and any(p.algo == a for p in points)]
    if unfit:
        md.append(
            f"*Not fitted (fewer than {MIN_SETTINGS} settings, or fewer than 3 distinct KL values): "
            f"{', '.join(unfit)}.*\n"
        )
    if left:
        md += ["## Runs left out\n", *[f"- `{x.run}`: {x.reason}" for x in left], ""]
    if notes:
        md += ["## Notes\n", *[f"- {n}" for n in notes], ""]
    return "\n".join(md).rstrip() + "\n"


def figure(points: Sequence[Point], fits: dict[str, Fit], path, *, phase: str, ci: float, seed: int) -> None:
    """Gold gain (left) and RM gain (right) against √KL: per-seed dots, per-setting means with seed
    intervals, fitted curves with the fitted gold peak marked."""
    from rlhf_core.report import RC, _figure, _mpl, _save

    _mpl()
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, axes = _figure(1, 2, 4.2, sharex=True)
        dmax = max([float(p.d().max()) for p in points if len(p.seeds)] + [1e-3])
        grid = np.linspace(dmax / 200, dmax * 1.05, 200)
        for c, (key, title) in enumerate((("gold", "held-out gold − SFT"), ("rm", "held-out RM − SFT"))):
            ax = axes[0][c]
            for p in points:
                d = p.d()
                y = p.gain() if key == "gold" else np.array([s["rm"] - s["sft_rm"] for s in p.seeds.values()])
                ax.plot(d, y, "o", ms=3, alpha=0.35, color=COLOR[p.algo])
                m, lo, hi = _seed_ci(y, ci, seed)
                yerr = None if math.isnan(lo) else [[m - lo], [hi - m]]
                ax.errorbar([d.mean()], [m], yerr=yerr, fmt="o", ms=6, color=COLOR[p.algo], capsize=3, lw=1.2)
            if key == "gold":
                for a, f in fits.items():
                    top = math.sqrt(kl_range(points, a)[1])  # the fit is drawn where the algorithm has data
                    ax.plot(grid[grid <= top], f.gain(grid[grid <= top]), color=COLOR[a], lw=1.5)
                    if math.isfinite(f.peak_kl) and math.sqrt(f.peak_kl) <= top:
                        ax.axvline(math.sqrt(f.peak_kl), color=COLOR[a], ls=":", lw=1.2)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xlabel("√KL to SFT  (d, nats/token ^ ½)")
            ax.set_ylabel(title)
            ax.set_title(title + " against d")
            ax.grid(alpha=0.3)
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], color=COLOR[a], marker="o", lw=1.5, label=LABEL[a])
            for a in RL_ALGOS
            if any(p.algo == a for p in points)
        ]
        handles += [
            Line2D([], [], color="grey", marker="o", ls="", ms=3, alpha=0.5, label="one seed"),
            Line2D([], [], color="grey", lw=1.5, label="fit d(α − β ln d)"),
            Line2D([], [], color="grey", ls=":", lw=1.2, label="fitted gold peak"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        fig.suptitle(f"Gold and RM against distance from SFT, {phase} (mean ± {100 * ci:g}% over seeds)")
        _save(fig, path)
