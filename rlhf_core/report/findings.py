"""The report's findings in words: the over-optimisation test on the RL training logs (Gao et al. 2022),
its false-positive rate measured on step-shuffled copies (calibration: docs/overoptimisation.md), its
verdicts as sentences, and the summary's headline from the tables and the study's claims."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rlhf_core import verdicts as V

from .common import LABEL, _num, fmt, fmt_ci
from .load import RM_LOG, Study
from .tables import MOVED_KL, MOVED_SHARE, _share

# the over-optimisation test (`overoptimisation`)
OVER_BINS = 8  # equal-count bins of training progress whose means it compares
OVER_PERMS = 199  # shuffles behind each p-value (resolution 1/200; more costs time, not validity)
OVER_ALPHA = 0.05
OVER_FPR_SHUFFLES = 200  # step-shuffled copies of each log on which the report measures its false-positive rate


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


def _verdict(o: dict) -> str:
    if not o["bins"]:
        return f"too few steps to test ({o['n']})"
    s = f"over-optimisation: {'yes' if o['over'] else 'no evidence'} (p={_pval(o['p_over'])})"
    return s + (f"\ndrift: yes (p={_pval(o['p_drift'])})" if o["drift"] and not o["over"] else "")


def _pval(p: float) -> str:
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


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
            f"nats/token on every seed, and at least {100 * MOVED_SHARE:.0f}% of answers changed)."
        )
    else:
        s1 = (
            f"{len(runs) - len(stuck) - len(unknown)} of {len(runs)} RL runs moved away from SFT (held-out KL >= "
            f"{MOVED_KL} nats/token on every seed, and at least {100 * MOVED_SHARE:.0f}% of "
            f"answers changed); {'; '.join(stuck)} "
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
