"""The study's claims against this run, and the comparisons that are valid to make.

Every comparison here is paired: two algorithms (or two phases) answered the same held-out prompts,
so the per-prompt difference is taken first and its mean gets a bootstrap interval over prompts.
Training curves are compared by a moving-block bootstrap over steps, since neighbouring steps are
correlated. A difference is "beyond noise" only when its interval excludes zero.

Seeds are data: every (phase, algorithm) is trained once per RL seed and each seed's eval answers the
same prompts. Answers carry their seed, per-prompt means are taken per (seed, prompt), and intervals
come from a hierarchical bootstrap - seeds resampled first, then prompts within each drawn seed -
widened to at least Student's t interval of the seed means (a bootstrap of three seeds is too narrow
when training luck dominates), so a difference is "beyond noise" only if it survives both the luck of
training and the choice of prompts. With one seed the intervals cover prompts and sampling only, and
the report says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LABEL = {"sft": "SFT", "ppo": "PPO", "grpo": "GRPO", "dpo": "DPO"}
REPRODUCED, PARTLY, NOT, CANNOT = "reproduced", "partly", "not reproduced", "cannot tell"
# The study calls a DPO margin of 1-10 healthy and reads larger ones as explosion (its section 4.2).
HEALTHY_MARGIN = 10.0
CORRECT_GOLD = 0.9  # an answer the gold judge scores this high counts as correct


# ---------------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float
    n: int

    @property
    def valid(self) -> bool:
        return self.n >= 2 and not any(math.isnan(v) for v in (self.mean, self.lo, self.hi))

    @property
    def above(self) -> bool:
        return self.valid and self.lo > 0

    @property
    def below(self) -> bool:
        return self.valid and self.hi < 0

    @property
    def beyond(self) -> bool:
        return self.above or self.below

    def text(self, digits: int = 3, sign: bool = True) -> str:
        if math.isnan(self.mean):
            return "—"
        f = f"{{:{'+' if sign else ''}.{digits}f}}"
        if not self.valid:
            return f.format(self.mean)
        return f"{f.format(self.mean)} [{f.format(self.lo)}, {f.format(self.hi)}]"


NAN = Interval(math.nan, math.nan, math.nan, 0)


def _percentile_ci(means: np.ndarray, ci: float) -> tuple[float, float]:
    means = np.sort(means)
    n = len(means)
    return float(means[int((1 - ci) / 2 * (n - 1))]), float(means[int(round((1 + ci) / 2 * (n - 1)))])


def mean_ci(values: Sequence[float], *, n_boot: int, ci: float, seed: int) -> Interval:
    """Percentile bootstrap interval of the mean (values independent: one per prompt)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if len(x) == 0:
        return NAN
    if len(x) == 1:
        return Interval(float(x[0]), math.nan, math.nan, 1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    return Interval(float(x.mean()), *_percentile_ci(means, ci), len(x))


def block_ci(values: Sequence[float], *, block: int, n_boot: int, ci: float, seed: int) -> Interval:
    """Moving-block bootstrap interval of the mean of a series whose neighbours are correlated
    (Kunsch 1989): resample overlapping blocks of `block` consecutive values."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if len(x) < 2:
        return mean_ci(x, n_boot=n_boot, ci=ci, seed=seed)
    reps = _block_means(x, block, n_boot, np.random.default_rng(seed))
    return Interval(float(x.mean()), *_percentile_ci(reps, ci), len(x))


def _block_means(x: np.ndarray, block: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot moving-block resamples of the series x (blocks of `block` consecutive values), their means."""
    b = max(1, min(block, len(x)))
    starts = np.arange(len(x) - b + 1)
    picks = starts[rng.integers(0, len(starts), size=(n_boot, math.ceil(len(x) / b)))]  # block starts
    idx = (picks[:, :, None] + np.arange(b)).reshape(n_boot, -1)[:, : len(x)]
    return x[idx].mean(axis=1)


def _seed_groups(values: pd.Series) -> list[np.ndarray] | None:
    """The values of each seed (index level 'seed'), or None when they do not come from several seeds."""
    if not isinstance(values.index, pd.MultiIndex) or "seed" not in values.index.names:
        return None
    groups = [g.to_numpy(dtype=np.float64) for _, g in values.dropna().groupby(level="seed", sort=True)]
    groups = [g for g in groups if len(g)]
    return groups if len(groups) >= 2 else None


def over_seeds(replicates: list[np.ndarray], means: list[float], ci: float, rng: np.random.Generator) -> Interval:
    """Combine per-seed bootstrap replicates (one array of n_boot means per seed) into the interval of the
    mean over seeds: each replicate draws the seeds with replacement, then takes each drawn seed's own
    resampled mean (a seed drawn twice reuses its replicate, which errs on the wide side)."""
    reps = np.stack(replicates)  # (seeds, n_boot)
    n_seeds, n_boot = reps.shape
    # Resampling n seeds shrinks their spread by (n - 1) / n in variance, which matters at three seeds:
    # widen each seed's deviation from the mean over seeds by sqrt(n / (n - 1)) (Davison & Hinkley 1997,
    # section 3.8, for two-stage sampling). Measured coverage of a nominal 95% interval with 3 seeds whose
    # effects vary (SD 0.3, 128 prompts of noise SD 1): 85-91% with it (two simulations), 88% without it,
    # 67% for a bootstrap of the seed means alone; three seeds cannot pin the seed level down.
    grand = float(np.mean(means))
    reps = grand + (reps - grand) * math.sqrt(n_seeds / (n_seeds - 1))
    picks = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    boot = reps[picks, np.arange(n_boot)[:, None]].mean(axis=1)
    return Interval(float(np.mean(means)), *_percentile_ci(boot, ci), n_seeds)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz; Numerical
    Recipes, 3rd ed., section 6.4)."""
    tiny = 1e-300

    def guard(v: float) -> float:
        return v if abs(v) > tiny else tiny

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 500):
        for aa in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 / guard(1.0 + aa * d)
            c = guard(1.0 + aa / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t with `df` degrees of freedom (0.5 < q < 1), by bisection on its CDF,
    P(T <= t) = 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2."""
    if not (0.5 < q < 1.0) or df <= 0:
        raise ValueError(f"t_quantile: need 0.5 < q < 1 and df > 0, got q={q}, df={df}")
    lo, hi = 0.0, 1.0
    while 1.0 - 0.5 * _betainc(df / 2, 0.5, df / (df + hi * hi)) < q:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 1.0 - 0.5 * _betainc(df / 2, 0.5, df / (df + mid * mid)) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def seed_t(means: Sequence[float], ci: float) -> tuple[float, float]:
    """Student-t interval of the mean of per-seed means (n - 1 degrees of freedom)."""
    m = np.asarray(means, dtype=np.float64)
    half = t_quantile((1 + ci) / 2, len(m) - 1) * float(m.std(ddof=1)) / math.sqrt(len(m))
    return float(m.mean()) - half, float(m.mean()) + half


def _at_least_seed_t(iv: Interval, means: Sequence[float], ci: float) -> Interval:
    """Widen a bootstrap interval over seeds to contain the t interval of the seed means.

    With three seeds a bootstrap cannot see how far the next seed may land: when training luck
    dominates, resampling the seeds covered a nominal 95% only 79-86% of the time in simulation
    (`python -m bench.coverage`), because it acts as if the normal quantile held where Student's t
    with 2 degrees of freedom (4.30, not 1.96) does. The t interval of the seed means is exact for
    normal seed means but blind to the shared prompts' sampling (80% where prompts dominate); the
    bootstrap sees the prompts. Their union covered 94-100% in every simulated mix
    (`docs/statistics.md`)."""
    if len(means) < 2 or not iv.valid:
        return iv
    lo, hi = seed_t(means, ci)
    return Interval(iv.mean, min(iv.lo, lo), max(iv.hi, hi), iv.n)


def seeded_ci(values: pd.Series, *, n_boot: int, ci: float, seed: int) -> Interval:
    """Interval of the mean of per-(seed, prompt) values: hierarchical bootstrap (seeds, then prompts
    within each seed), widened to at least the t interval of the seed means, when they come from
    several seeds; else the plain bootstrap over prompts. The mean is the mean over seeds of each
    seed's mean; `n` is the number of seeds (or of prompts)."""
    groups = _seed_groups(values)
    if groups is None:
        return mean_ci(values.dropna().tolist(), n_boot=n_boot, ci=ci, seed=seed)
    rng = np.random.default_rng(seed)
    reps = [g[rng.integers(0, len(g), size=(n_boot, len(g)))].mean(axis=1) for g in groups]
    means = [float(g.mean()) for g in groups]
    return _at_least_seed_t(over_seeds(reps, means, ci, rng), means, ci)


def seeded_block_ci(series: Sequence[Sequence[float]], *, block: int, n_boot: int, ci: float, seed: int) -> Interval:
    """Interval of the mean over seeds of a training statistic: a moving-block bootstrap within each
    seed's series, then seeds resampled, widened to at least the t interval of the seed means. One
    series: the plain block bootstrap."""
    series = [[v for v in s if not math.isnan(v)] for s in series]
    series = [s for s in series if s]
    if len(series) < 2:
        return block_ci(series[0] if series else [], block=block, n_boot=n_boot, ci=ci, seed=seed)
    rng = np.random.default_rng(seed)
    reps = [_block_means(np.asarray(s, dtype=np.float64), block, n_boot, rng) for s in series]
    means = [float(np.mean(s)) for s in series]
    return _at_least_seed_t(over_seeds(reps, means, ci, rng), means, ci)


def diff_ci(a: Interval, b: Interval) -> Interval:
    """a - b for two independent intervals (normal approximation from their half-widths)."""
    if not (a.valid and b.valid):
        return Interval(a.mean - b.mean, math.nan, math.nan, 0)
    half = math.hypot((a.hi - a.lo) / 2, (b.hi - b.lo) / 2)
    d = a.mean - b.mean
    return Interval(d, d - half, d + half, min(a.n, b.n))


def per_prompt(answers: pd.DataFrame, algo: str, key: str) -> pd.Series:
    """Held-out mean score per prompt (over its samples) of one algorithm; indexed by (seed, prompt_id)
    when the answers carry their RL seed."""
    h = answers[(answers["set"] == "heldout") & (answers["algo"] == algo)]
    by = ["seed", "prompt_id"] if "seed" in h.columns else "prompt_id"
    return h.groupby(by)[key].mean().dropna()


def paired(a: pd.Series, b: pd.Series, *, n_boot: int, ci: float, seed: int) -> Interval:
    """Mean of a - b over the (seed, prompt) cells both answered, with a hierarchical bootstrap interval
    (seeds, then prompts; prompts only for one seed)."""
    common = a.index.intersection(b.index).sort_values()
    return seeded_ci(a[common] - b[common], n_boot=n_boot, ci=ci, seed=seed)


# ---------------------------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Knobs:
    n_boot: int = 2000
    ci: float = 0.95
    seed: int = 0
    block: int = 10  # steps per block for training-curve intervals


def vs_sft(answers: pd.DataFrame, algo: str, key: str, k: Knobs) -> Interval:
    """The algorithm minus SFT on the held-out prompts of one phase (same prompts, same random stream)."""
    return paired(
        per_prompt(answers, algo, key), per_prompt(answers, "sft", key), n_boot=k.n_boot, ci=k.ci, seed=k.seed
    )


def phase_change(first: pd.DataFrame, last: pd.DataFrame, algo: str, key: str, k: Knobs, net: bool) -> Interval:
    """last - first phase for one algorithm on the prompts both phases answered; with `net`, minus SFT's
    own change on the same prompts (SFT is not retrained, so its change is the eval protocol's effect).
    With seeds, the two phases' runs of the same seed index are paired; the pairing is arbitrary (they
    are independent trainings) and the bootstrap resamples such pairs as units."""
    a, b = per_prompt(first, algo, key), per_prompt(last, algo, key)
    d = b.sub(a).dropna()
    if net:
        s = per_prompt(last, "sft", key).sub(per_prompt(first, "sft", key)).dropna()
        d = d.sub(s).dropna()
    return seeded_ci(d.sort_index(), n_boot=k.n_boot, ci=k.ci, seed=k.seed)


def ordering(answers: pd.DataFrame, algos: Sequence[str], key: str, k: Knobs) -> str:
    """Algorithms by held-out mean, best first, joined by '>' only where the paired difference of the two
    neighbours is beyond noise and by '≈' where it is not: ties are shown as ties."""
    means = {a: per_prompt(answers, a, key).mean() for a in algos}
    order = sorted(algos, key=lambda a: -means[a])
    out = LABEL[order[0]]
    for prev, a in zip(order, order[1:]):
        d = paired(per_prompt(answers, prev, key), per_prompt(answers, a, key), n_boot=k.n_boot, ci=k.ci, seed=k.seed)
        out += (" > " if d.above else " ≈ ") + LABEL[a]
    return out


def separated_pairs(answers: pd.DataFrame, algos: Sequence[str], key: str, k: Knobs) -> dict[tuple[str, str], int]:
    """For every pair (a, b): +1 if a beats b beyond noise, -1 if b beats a, 0 if within noise."""
    out = {}
    for i, a in enumerate(algos):
        for b in algos[i + 1 :]:
            d = paired(per_prompt(answers, a, key), per_prompt(answers, b, key), n_boot=k.n_boot, ci=k.ci, seed=k.seed)
            out[(a, b)] = 1 if d.above else (-1 if d.below else 0)
    return out


def words(text: str) -> int:
    return len(re.findall(r"\S+", str(text)))


def short_correct_penalty(answers: pd.DataFrame, k: Knobs) -> tuple[Interval, int]:
    """Does the RM pay for length among answers the gold judge calls correct? The mean over prompts of
    Spearman's rho between RM score and length in words, within each prompt's correct answers (prompts
    with at least 3 correct answers of different lengths). Positive = longer correct answers score higher,
    i.e. short correct answers are penalised. Returns the interval and the number of answers used."""
    from rlhf_core.stats import spearman

    ok = answers[answers["gold"] >= CORRECT_GOLD].copy()
    ok["words"] = ok["response"].map(words)
    rhos, used = [], 0
    for (_, _), g in ok.groupby(["set", "prompt_id"]):
        if len(g) >= 3 and g["words"].nunique() > 1 and g["rm"].nunique() > 1:
            rho = spearman(g["rm"].tolist(), g["words"].tolist())
            if not math.isnan(rho):
                rhos.append(rho)
                used += len(g)
    return mean_ci(rhos, n_boot=k.n_boot, ci=k.ci, seed=k.seed), used


# ---------------------------------------------------------------------------------------------- claims


@dataclass
class Claim:
    claim: str  # the study's claim, in a few words
    study: str  # the study's number
    ours: str  # this run's number, with its interval
    verdict: str  # reproduced / partly / not reproduced / cannot tell
    why: str  # the rule that gave the verdict, with the numbers it used
    evidence: str  # where in the report the evidence is (a markdown link)


def _late(logs: Sequence[pd.DataFrame], col: str, k: Knobs) -> Interval:
    """Mean over seeds of a training stat's mean over the second half of training, with a block-bootstrap
    interval within each seed's log and seeds resampled."""
    halves = []
    for log in logs:
        if col in log:
            s = log[col].dropna()
            halves.append(s.iloc[len(s) // 2 :].tolist())
    if not halves:
        return NAN
    return seeded_block_ci(halves, block=k.block, n_boot=k.n_boot, ci=k.ci, seed=k.seed)


def _verdict_sign(d: Interval, want_positive: bool) -> str:
    if not d.valid:
        return CANNOT
    if (d.above and want_positive) or (d.below and not want_positive):
        return REPRODUCED
    if d.beyond:
        return NOT  # beyond noise the other way
    return CANNOT


def study_claims(study, k: Knobs, anchors: dict[str, str]) -> list[Claim]:
    """`study` is a report.Study with at least two phases; `anchors` maps a section key to its markdown
    link. The first phase plays the study's Phase 1, the last its Phase 5."""
    first, last = study.first, study.last
    f, l = first.name, last.name  # noqa: E741
    out: list[Claim] = []
    gold = study.gold

    # 1. DPO's margin explodes at beta 0.1
    m1 = _late(first.all_logs("dpo"), "reward_margin", k)
    loss1 = _late(first.all_logs("dpo"), "loss", k)
    peak1 = float(np.mean([g["reward_margin"].rolling(10, min_periods=1).mean().max() for g in first.all_logs("dpo")]))
    if not m1.valid:
        v = CANNOT
    elif m1.lo > HEALTHY_MARGIN:
        v = REPRODUCED if loss1.valid and loss1.hi < 0.1 else PARTLY
    elif m1.hi < HEALTHY_MARGIN:
        v = NOT
    else:
        v = CANNOT
    out.append(
        Claim(
            f"DPO's reward margin explodes at β={first.knob('dpo', 'beta')} (loss → 0)",
            "margin 599 by step 150; loss ~0 from step 30",
            f"second-half margin {m1.text(2)}, peak of its 10-step mean {peak1:.2f}{_per_seed(first)}; "
            f"loss {loss1.text(3, sign=False)}",
            v,
            f"explosion = second-half margin above the study's healthy bound of {HEALTHY_MARGIN:g}, beyond noise",
            anchors["dpo"],
        )
    )

    # 2. beta 0.3 calms it
    m5 = _late(last.all_logs("dpo"), "reward_margin", k)
    d = diff_ci(m5, m1)
    if out[-1].verdict != REPRODUCED:
        v, why = CANNOT, f"nothing to calm: {f}'s margin did not explode"
    else:
        v, why = (REPRODUCED if d.below else (NOT if d.above else CANNOT)), f"{l} minus {f} second-half margin"
    out.append(
        Claim(
            f"β={last.knob('dpo', 'beta')} calms the margin ({l})",
            "peak 261 instead of 599",
            f"second-half margin {m5.text(2)}; {l} − {f} {d.text(2)}",
            v,
            why + " (the phase also halves the learning rate, so β is not isolated)",
            anchors["dpo"],
        )
    )

    # 3. GRPO's groups collapse at k=4 and recover at k=8, T=1.0
    def collapse(ph) -> Interval:
        n = float(ph.knob("grpo", "prompts_per_step") or 1)
        per_step = [(log["collapsed_groups"] / n).tolist() for log in ph.all_logs("grpo") if "collapsed_groups" in log]
        if not per_step:
            return NAN
        return seeded_block_ci(per_step, block=k.block, n_boot=k.n_boot, ci=k.ci, seed=k.seed)

    c1, c5 = collapse(first), collapse(last)
    d = diff_ci(c5, c1)
    out.append(
        Claim(
            f"GRPO's groups collapse at k={first.knob('grpo', 'group_size')} and recover at "
            f"k={last.knob('grpo', 'group_size')}, T={last.knob('grpo', 'gen_temperature')}",
            "2 of 16 prompts at std 0 in Phase 1; one collapse event in Phase 5",
            f"collapsed share {c1.text(3, sign=False)} → {c5.text(3, sign=False)}",
            _verdict_sign(d, want_positive=False),
            f"{l} minus {f} share of collapsed groups per step, beyond noise and lower",
            anchors["grpo"],
        )
    )

    keys = ["rm"] + (["gold"] if gold else [])
    key_label = {"rm": "RM", "gold": "gold"}

    # 4. GRPO gains the most from phase 1 to phase 5 (net of SFT's own change)
    nets = {a: phase_change(first.answers, last.answers, a, "rm", k, net=True) for a in ("ppo", "grpo", "dpo")}
    g = nets["grpo"]
    best_other = [a for a in ("ppo", "dpo") if nets[a].valid]
    if not g.valid:
        v = CANNOT
    elif g.above and all(
        paired(
            _net_series(first, last, "grpo"), _net_series(first, last, a), n_boot=k.n_boot, ci=k.ci, seed=k.seed
        ).above
        for a in best_other
    ):
        v = REPRODUCED
    elif g.above:
        v = PARTLY
    elif g.below:
        v = NOT
    else:
        v = CANNOT
    out.append(
        Claim(
            f"GRPO gains most from {f} to {l}",
            "+3.43 RM (largest gain; SFT +1.12)",
            "net of SFT, RM: " + ", ".join(f"{LABEL[a]} {nets[a].text(2)}" for a in nets),
            v,
            "held-out change minus SFT's change on the same prompts; reproduced = GRPO's gain beyond noise and "
            "beyond each other algorithm's; partly = a gain beyond noise only",
            anchors["phases"],
        )
    )

    # 5. PPO forgets at kl_coef 0.01
    key = "gold" if gold else "rm"
    p1 = vs_sft(first.answers, "ppo", key, k)
    out.append(
        Claim(
            f"PPO forgets at kl_coef={first.knob('ppo', 'kl_coef')} ({f})",
            "drops on prompts SFT was strong on (camping list +7.44 → −1.21)",
            f"PPO − SFT held-out {key_label[key]} {p1.text(3)}",
            _verdict_sign(p1, want_positive=False),
            f"PPO below SFT on held-out {key_label[key]} beyond noise",
            anchors["vs_sft"],
        )
    )

    # 6. PPO is over-constrained at kl_coef 0.1 (regresses from phase 1 to phase 5)
    n = nets["ppo"]
    out.append(
        Claim(
            f"PPO is over-constrained at kl_coef={last.knob('ppo', 'kl_coef')} ({l})",
            "−0.47 RM from Phase 1 to Phase 5 while SFT gained +1.12",
            f"PPO's RM change net of SFT's {n.text(2)}",
            _verdict_sign(n, want_positive=False),
            "PPO's held-out change minus SFT's, below zero beyond noise",
            anchors["phases"],
        )
    )

    # 7. eval temperature alone lifts SFT
    parts, verdicts = [], []
    for key in keys:
        s = phase_change(first.answers, last.answers, "sft", key, k, net=False)
        parts.append(f"{key_label[key]} {s.text(3)}")
        verdicts.append(_verdict_sign(s, want_positive=True))
    out.append(
        Claim(
            f"The eval protocol alone lifts SFT ({_eval(first)} → {_eval(last)})",
            "+1.12 RM with no retraining",
            "SFT held-out change: " + ", ".join(parts),
            verdicts[0] if len(set(verdicts)) == 1 else PARTLY,
            "SFT's held-out change between the phases (same weights), beyond noise"
            + ("; partly = RM and gold disagree" if len(keys) > 1 else ""),
            anchors["phases"],
        )
    )

    # 8. the ranking reverses
    algos = list(LABEL)
    s1, s5 = separated_pairs(first.answers, algos, "rm", k), separated_pairs(last.answers, algos, "rm", k)
    flips = [p for p in s1 if s1[p] and s5[p] and s1[p] != s5[p]]
    kept = [p for p in s1 if s1[p] and s5[p] and s1[p] == s5[p]]
    both = [p for p in s1 if s1[p] and s5[p]]
    if flips:
        v = REPRODUCED
    elif both:
        v = NOT
    else:
        v = CANNOT
    out.append(
        Claim(
            "The ranking reverses between phases",
            "PPO 1st → 4th, DPO 3rd → 1st (RM, 16 prompts)",
            f"held-out RM: {f} {ordering(first.answers, algos, 'rm', k)}; {l} {ordering(last.answers, algos, 'rm', k)}",
            v,
            f"pairs separated beyond noise in both phases: {len(both)} of {len(s1)}; reversed: "
            + (", ".join(f"{LABEL[a]}/{LABEL[b]}" for a, b in flips) or "none")
            + (f"; kept: {', '.join(f'{LABEL[a]}/{LABEL[b]}' for a, b in kept)}" if kept else ""),
            anchors["vs_sft"],
        )
    )

    # 9. DPO is the best method in phase 5
    others = [a for a in algos if a != "dpo"]
    ds = {
        a: paired(
            per_prompt(last.answers, "dpo", "rm"),
            per_prompt(last.answers, a, "rm"),
            n_boot=k.n_boot,
            ci=k.ci,
            seed=k.seed,
        )
        for a in others
    }
    if all(d.above for d in ds.values()):
        v = REPRODUCED
    elif any(d.below for d in ds.values()):
        v = NOT
    else:
        v = CANNOT
    out.append(
        Claim(
            f"DPO is the best method in {l}",
            "DPO +4.15, SFT +4.13, PPO +3.52, GRPO +3.31 (RM, 16 prompts)",
            "DPO − other, held-out RM: " + ", ".join(f"{LABEL[a]} {ds[a].text(2)}" for a in others),
            v,
            "reproduced = DPO above every other beyond noise; not = some algorithm above DPO beyond noise",
            anchors["vs_sft"],
        )
    )

    # 10. the RM penalises short correct answers
    if gold:
        rho, used = short_correct_penalty(pd.concat([ph.answers for ph in study.phases]), k)
        out.append(
            Claim(
                "The RM penalises short correct answers",
                "'The capital of France is Paris' scores −7.10",
                f"within-prompt Spearman ρ(RM, length) over gold-correct answers {rho.text(2)} ({used:,} answers, "
                f"{rho.n} prompts)",
                _verdict_sign(rho, want_positive=True),
                f"ρ > 0 beyond noise = longer correct answers score higher (correct = gold >= {CORRECT_GOLD})",
                anchors["rm"],
            )
        )
    return out


def _net_series(first, last, algo: str) -> pd.Series:
    """Per-prompt held-out RM change of `algo` minus SFT's change (for paired comparisons of gains)."""
    a = per_prompt(last.answers, algo, "rm").sub(per_prompt(first.answers, algo, "rm"))
    s = per_prompt(last.answers, "sft", "rm").sub(per_prompt(first.answers, "sft", "rm"))
    return a.sub(s).dropna()


def _per_seed(ph) -> str:
    n = len(ph.all_logs("dpo"))
    return f" (mean of {n} seeds)" if n > 1 else ""


def _eval(ph) -> str:
    s = ph.settings
    return f"T={s.get('temperature')}, top_k={s.get('top_k')}"


def tally(claims: Sequence[Claim]) -> dict[str, int]:
    return {v: sum(c.verdict == v for c in claims) for v in (REPRODUCED, PARTLY, NOT, CANNOT)}
