"""The report's comparisons and the study's claims: intervals that cover, ties called ties, verdicts that
follow planted effects and stay 'cannot tell' on noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlhf_core import report as R
from rlhf_core import verdicts as V

ALGOS = ("sft", "ppo", "grpo", "dpo")
K = V.Knobs(n_boot=400, ci=0.95, seed=0)


def answers(effects: dict[str, float], n_prompts=64, samples=2, seed=0, noise=1.0, prompt_sd=1.0) -> pd.DataFrame:
    """Held-out answers: a per-prompt level shared by every algorithm (paired design) + the algorithm's effect
    + answer noise; gold follows the RM through a logistic."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, prompt_sd, n_prompts)
    rows = []
    for a in ALGOS:
        for i in range(n_prompts):
            for s in range(samples):
                rm = level[i] + effects.get(a, 0.0) + rng.normal(0, noise)
                rows.append(
                    {
                        "algo": a,
                        "set": "heldout",
                        "prompt_id": f"h{i:03d}",
                        "sample": s,
                        "rm": rm,
                        "gold": float(1 / (1 + np.exp(-rm))),
                        "response": "word " * int(rng.integers(3, 30)),
                    }
                )
    for a in ALGOS:  # one study prompt so that Phase.study is not empty
        rows.append(
            {"algo": a, "set": "study", "prompt_id": "s0", "sample": 0, "rm": 0.0, "gold": 0.5, "response": "x"}
        )
    return pd.DataFrame(rows)


def logs(margin, loss, collapsed, steps=200) -> dict:
    return {
        "dpo": pd.DataFrame({"step": range(1, steps + 1), "reward_margin": margin, "loss": loss}),
        "grpo": pd.DataFrame({"step": range(1, steps + 1), "collapsed_groups": collapsed, "reward_mean": 0.0}),
        "ppo": pd.DataFrame({"step": range(1, steps + 1), "reward": 0.0, "kl": 0.0}),
    }


def phase(name, ans, lg, beta, k, kl_coef=0.01) -> R.Phase:
    configs = {
        "dpo": {"dpo": {"beta": beta}},
        "grpo": {"grpo": {"group_size": k, "gen_temperature": 1.0, "prompts_per_step": 4}},
        "ppo": {"ppo": {"kl_coef": kl_coef}},
    }
    return R.Phase(name, {"settings": {"temperature": 0.7, "top_k": 50}}, ans, configs, lg)


ANCHORS = {k: f"[{k}](#{k})" for k in ("trained", "vs_sft", "phases", "dpo", "grpo", "rm", "prompts")}


def claims_of(study) -> dict[str, V.Claim]:
    return {c.claim.split(" ")[0] + str(i): c for i, c in enumerate(V.study_claims(study, K, ANCHORS))}


# ---------------------------------------------------------------------------------------------- statistics


def test_mean_ci_covers_at_its_level_and_block_ci_covers_autocorrelated_series():
    rng = np.random.default_rng(1)
    iid = [V.mean_ci(rng.normal(0, 1, 50).tolist(), n_boot=400, ci=0.9, seed=i) for i in range(300)]
    cover = np.mean([c.lo <= 0 <= c.hi for c in iid])
    assert 0.84 <= cover <= 0.95

    # AR(1) with phi 0.8: the iid bootstrap under-covers badly, the block bootstrap much less
    def ar1(n, phi=0.8):
        x = np.zeros(n)
        for t in range(1, n):
            x[t] = phi * x[t - 1] + rng.normal()
        return x

    series = [ar1(200) for _ in range(200)]
    naive = np.mean([(c := V.mean_ci(s.tolist(), n_boot=300, ci=0.9, seed=0)).lo <= 0 <= c.hi for s in series])
    block = np.mean(
        [(c := V.block_ci(s.tolist(), block=20, n_boot=300, ci=0.9, seed=0)).lo <= 0 <= c.hi for s in series]
    )
    assert naive < 0.6 and block > 0.75 and block > naive + 0.2


def test_intervals_degenerate_inputs():
    assert not V.mean_ci([], n_boot=10, ci=0.9, seed=0).valid
    one = V.mean_ci([3.0], n_boot=10, ci=0.9, seed=0)
    assert one.mean == 3.0 and not one.valid and not one.beyond
    const = V.mean_ci([2.0] * 20, n_boot=50, ci=0.9, seed=0)
    assert (const.lo, const.hi) == (2.0, 2.0) and const.above
    assert V.block_ci([1.0, float("nan"), 1.0], block=10, n_boot=50, ci=0.9, seed=0).mean == 1.0
    assert V.Interval(0.1, -0.2, 0.3, 10).text(2) == "+0.10 [-0.20, +0.30]"
    assert V.NAN.text() == "—"


# ---------------------------------------------------------------------------------------------- comparisons


def seeded(effects_per_seed: list[dict], **kw) -> pd.DataFrame:
    """One `answers` frame per seed, the same prompts in each, stacked with a `seed` column."""
    return pd.concat(
        [answers(e, seed=100 + i, **kw).assign(seed=i) for i, e in enumerate(effects_per_seed)], ignore_index=True
    )


def test_seeded_ci_with_one_seed_is_the_bootstrap_over_prompts():
    a = answers({"ppo": 0.3}, seed=3).assign(seed=7)
    d = V.per_prompt(a, "ppo", "rm") - V.per_prompt(a, "sft", "rm")
    assert d.index.names == ["seed", "prompt_id"]
    one = V.seeded_ci(d, n_boot=400, ci=0.95, seed=0)
    flat = V.mean_ci(d.tolist(), n_boot=400, ci=0.95, seed=0)
    assert (one.mean, one.lo, one.hi, one.n) == (flat.mean, flat.lo, flat.hi, flat.n)


def test_one_lucky_seed_is_not_a_finding():
    """An effect that one seed shows and the others do not (or reverse) is beyond noise for an interval over
    prompts alone, and within noise once seeds are resampled."""
    a = seeded([{"ppo": 1.0}, {"ppo": 0.1}, {"ppo": -0.5}], noise=0.2, prompt_sd=0.5)
    d = V.vs_sft(a, "ppo", "rm", K)
    pooled = V.mean_ci(
        (V.per_prompt(a, "ppo", "rm") - V.per_prompt(a, "sft", "rm")).tolist(), n_boot=400, ci=0.95, seed=0
    )
    assert pooled.above  # 192 (seed, prompt) cells taken as independent: a false finding
    assert d.n == 3 and not d.beyond and d.lo < 0 < d.hi
    assert abs(d.mean - 0.2) < 0.05  # the mean over seeds


def test_an_effect_every_seed_shows_survives_the_seed_bootstrap():
    a = seeded([{"ppo": 0.6}, {"ppo": 0.5}, {"ppo": 0.7}], noise=0.5)
    assert V.vs_sft(a, "ppo", "rm", K).above
    assert V.ordering(a, ["sft", "ppo"], "rm", K) == "PPO > SFT"


def test_hierarchical_interval_covers_the_true_mean_when_seeds_vary():
    """Seed effects drawn around a true mean of 0 (SD 0.3), prompt noise on top: with 8 seeds the
    hierarchical interval covers 0 close to its level; the prompt-only interval misses it far more often."""
    rng = np.random.default_rng(5)
    hier, flat = [], []
    for rep in range(60):
        effects = rng.normal(0, 0.3, 8)
        parts = []
        for i, e in enumerate(effects):
            x = e + rng.normal(0, 1.0, 40)
            parts.append(pd.Series(x, index=pd.MultiIndex.from_product([[i], range(40)], names=["seed", "prompt_id"])))
        d = pd.concat(parts)
        h = V.seeded_ci(d, n_boot=300, ci=0.9, seed=rep)
        f = V.mean_ci(d.tolist(), n_boot=300, ci=0.9, seed=rep)
        hier.append(h.lo <= 0 <= h.hi)
        flat.append(f.lo <= 0 <= f.hi)
    assert np.mean(hier) >= 0.75 and np.mean(hier) > np.mean(flat) + 0.15, (np.mean(hier), np.mean(flat))


def test_three_seeds_coverage_with_the_small_sample_correction():
    """Three seeds whose effects vary as much as the prompt noise allows to see: the interval covers at
    least 90% at a nominal 95%, far better than resampling the three seed means as they are (67% here)."""
    rng = np.random.default_rng(11)
    hits, raw = [], []
    for rep in range(150):
        effects = rng.normal(0, 0.3, 3)
        d = pd.concat(
            pd.Series(
                e + rng.normal(0, 1.0, 128),
                index=pd.MultiIndex.from_product([[i], range(128)], names=["seed", "prompt_id"]),
            )
            for i, e in enumerate(effects)
        )
        h = V.seeded_ci(d, n_boot=300, ci=0.95, seed=rep)
        hits.append(h.lo <= 0 <= h.hi)
        means = d.groupby(level="seed").mean().to_numpy()
        boot = means[np.random.default_rng(rep).integers(0, 3, (300, 3))].mean(axis=1)
        raw.append(np.quantile(boot, 0.025) <= 0 <= np.quantile(boot, 0.975))
    assert np.mean(hits) >= 0.9 and np.mean(hits) > np.mean(raw) + 0.1, (np.mean(hits), np.mean(raw))


def test_coverage_when_training_luck_dominates():
    """Seed luck (SD 0.2) far above what 64 prompts of noise 0.3 let each seed's mean wander (0.04): the
    bootstrap over three seeds alone covers 79-86% at a nominal 95%; with the t floor at least 90%."""
    from bench.coverage import intervals, study

    rng = np.random.default_rng(12)
    covered, boot_only = [], []
    for r in range(150):
        iv = intervals(study(rng, 3, 64, 0.2, 0.0, 0.3), 300, 0.95, r)
        covered.append(iv["report"][0] <= 0 <= iv["report"][1])
        boot_only.append(iv["bootstrap"][0] <= 0 <= iv["bootstrap"][1])
    assert np.mean(covered) >= 0.9 and np.mean(boot_only) < 0.88, (np.mean(covered), np.mean(boot_only))


def test_the_bootstrap_still_rules_where_prompts_dominate():
    """Seeds that agree (tiny spread of their means) but noisy prompts: the t interval of three equal-ish
    means is narrow, and the prompt bootstrap keeps the interval as wide as the prompts demand."""
    from bench.coverage import study

    rng = np.random.default_rng(13)
    d = study(rng, 3, 64, 0.0, 0.0, 1.0)
    d = d - d.groupby(level="seed").transform("mean")  # seed means exactly 0: their t interval is [0, 0]
    iv = V.seeded_ci(d, n_boot=500, ci=0.95, seed=0)
    assert iv.lo < -0.1 and iv.hi > 0.1  # about +-1.96 / sqrt(192), from the prompts


@pytest.mark.parametrize(
    "q, df, want",
    [
        (0.975, 1, 12.7062),
        (0.975, 2, 4.3027),
        (0.975, 3, 3.1824),
        (0.975, 10, 2.2281),
        (0.95, 2, 2.92),
        (0.995, 5, 4.0321),
        (0.975, 1e7, 1.96),
    ],
)
def test_t_quantile_matches_the_tables(q, df, want):
    assert V.t_quantile(q, df) == pytest.approx(want, abs=1e-4)


def test_t_quantile_refuses_a_lower_tail():
    with pytest.raises(ValueError):
        V.t_quantile(0.4, 3)


def test_seeded_block_ci_resamples_seeds():
    flat = [[0.0] * 50, [0.0] * 50, [3.0] * 50]
    iv = V.seeded_block_ci(flat, block=10, n_boot=400, ci=0.95, seed=0)
    # the bootstrap of the three seed means spans [1 - 1.22, 1 + 2.45]; the t interval of the seed means
    # (sd sqrt 3, standard error 1, t at 2 degrees of freedom 4.303) is wider on both sides, so it rules
    assert iv.mean == 1.0 and iv.n == 3
    assert iv.lo == pytest.approx(1 - 4.3027, abs=1e-4) and iv.hi == pytest.approx(1 + 4.3027, abs=1e-4)
    assert V.seeded_block_ci([[1.0, 2.0, 3.0]], block=2, n_boot=100, ci=0.9, seed=0).n == 3  # one seed: steps


def test_paired_comparison_sees_a_small_shift_that_unpaired_intervals_would_hide():
    # prompt-to-prompt spread 3, effect 0.3, answer noise 0.3: the phases' own intervals overlap, the paired
    # difference does not
    ans = answers({"ppo": 0.3}, prompt_sd=3.0, noise=0.3)
    d = V.vs_sft(ans, "ppo", "rm", K)
    assert d.above and d.mean == pytest.approx(0.3, abs=0.1)
    a, s = V.per_prompt(ans, "ppo", "rm"), V.per_prompt(ans, "sft", "rm")
    ia = V.mean_ci(a.tolist(), n_boot=400, ci=0.95, seed=0)
    isf = V.mean_ci(s.tolist(), n_boot=400, ci=0.95, seed=0)
    assert ia.lo < isf.hi  # unpaired: overlapping


def test_no_effect_is_within_noise_at_about_the_nominal_rate():
    flagged = [V.vs_sft(answers({}, seed=s), "ppo", "rm", K).beyond for s in range(60)]
    assert sum(flagged) <= 7  # 5% of 60 = 3; binomial tail


def test_identical_answers_give_a_zero_interval():
    ans = answers({})
    ans.loc[ans["algo"] == "ppo", "rm"] = ans.loc[ans["algo"] == "sft", "rm"].to_numpy()
    d = V.vs_sft(ans, "ppo", "rm", K)
    assert (d.mean, d.lo, d.hi) == (0.0, 0.0, 0.0) and not d.beyond


def test_ordering_shows_ties_as_ties():
    text = V.ordering(answers({"ppo": 3.0, "grpo": 0.02}, noise=0.3), list(ALGOS), "rm", K)
    assert text.startswith("PPO > ")
    rest = text.split(" > ", 1)[1]
    assert " > " not in rest and rest.count("≈") == 2  # SFT, GRPO, DPO tied
    assert V.ordering(answers({}), list(ALGOS), "rm", K).count("≈") == 3


def test_phase_change_net_of_sft_removes_the_eval_protocol_effect():
    a1 = answers({}, seed=3)
    a5 = a1.copy()
    a5["rm"] = a5["rm"] + 1.0  # every algorithm, SFT included, +1: the protocol, not training
    a5.loc[a5["algo"] == "grpo", "rm"] += 0.5
    assert V.phase_change(a1, a5, "ppo", "rm", K, net=False).above
    net = V.phase_change(a1, a5, "ppo", "rm", K, net=True)
    assert (net.mean, net.lo, net.hi) == pytest.approx((0.0, 0.0, 0.0))
    g = V.phase_change(a1, a5, "grpo", "rm", K, net=True)
    assert g.mean == pytest.approx(0.5) and g.above


def test_short_correct_penalty_detects_a_planted_length_bias_and_not_noise():
    ans = answers({}, n_prompts=40, samples=6, seed=5)
    ans["gold"] = 1.0
    n_words = ans["response"].map(V.words)
    biased = ans.assign(rm=n_words * 0.1 + np.random.default_rng(0).normal(0, 0.2, len(ans)))
    rho, used = V.short_correct_penalty(biased, K)
    assert rho.above and rho.mean > 0.5 and used > 0
    false_alarms = 0
    for s in range(30):
        noise = ans.assign(rm=np.random.default_rng(s).normal(size=len(ans)))
        false_alarms += V.short_correct_penalty(noise, K)[0].beyond
    assert false_alarms <= 4
    wrong = ans.assign(gold=0.0)
    assert not V.short_correct_penalty(wrong, K)[0].valid  # no correct answers: nothing to measure


# ---------------------------------------------------------------------------------------------- claims


def study_of(margin1, margin5, collapsed1, collapsed5, a1=None, a5=None) -> R.Study:
    steps = len(margin1)
    loss1 = np.log1p(np.exp(-0.1 * np.asarray(margin1)))
    loss5 = np.log1p(np.exp(-0.3 * np.asarray(margin5)))
    p1 = phase("phase1", answers({}, seed=1) if a1 is None else a1, logs(margin1, loss1, collapsed1, steps), 0.1, 4)
    p5 = phase("phase5", answers({}, seed=1) if a5 is None else a5, logs(margin5, loss5, collapsed5, steps), 0.3, 8)
    p5.metrics["settings"] = {"temperature": 0.3, "top_k": 20}
    return R.Study([p1, p5])


def test_planted_margin_explosion_and_calming_are_reproduced():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    s = study_of(3 * t + rng.normal(0, 5, 200), 1.2 * t + rng.normal(0, 5, 200), rng.integers(0, 3, 200), np.zeros(200))
    c = V.study_claims(s, K, ANCHORS)
    assert c[0].verdict == V.REPRODUCED and c[1].verdict == V.REPRODUCED
    assert c[2].verdict == V.REPRODUCED  # collapse share fell from ~1/4 to 0


def test_noise_margins_are_not_an_explosion_and_leave_nothing_to_calm():
    rng = np.random.default_rng(1)
    s = study_of(rng.normal(0, 3, 200), rng.normal(0, 3, 200), rng.integers(0, 2, 200), rng.integers(0, 2, 200))
    c = V.study_claims(s, K, ANCHORS)
    assert c[0].verdict == V.NOT
    assert c[1].verdict == V.CANNOT and "nothing to calm" in c[1].why
    assert c[2].verdict == V.CANNOT  # the same collapse rate in both phases


def test_margin_near_the_healthy_bound_cannot_be_told():
    rng = np.random.default_rng(2)
    s = study_of(10 + rng.normal(0, 20, 200), rng.normal(0, 3, 200), np.zeros(200), np.zeros(200))
    assert V.study_claims(s, K, ANCHORS)[0].verdict == V.CANNOT


def test_ranking_reversal_needs_pairs_separated_in_both_phases():
    flip = study_of(
        np.zeros(50), np.zeros(50), np.zeros(50), np.zeros(50),
        a1=answers({"ppo": 2.0}, noise=0.3, seed=4), a5=answers({"ppo": -2.0}, noise=0.3, seed=4),
    )  # fmt: skip
    rev = next(c for c in V.study_claims(flip, K, ANCHORS) if c.claim.startswith("The ranking"))
    assert rev.verdict == V.REPRODUCED and "PPO" in rev.why
    # no effect anywhere, independent answers in each phase
    same = study_of(
        np.zeros(50), np.zeros(50), np.zeros(50), np.zeros(50), a1=answers({}, seed=7), a5=answers({}, seed=8)
    )
    rev = next(c for c in V.study_claims(same, K, ANCHORS) if c.claim.startswith("The ranking"))
    assert rev.verdict == V.CANNOT  # nothing separated: no ranking to reverse


def test_eval_protocol_claim_follows_sft_change():
    a1 = answers({}, seed=6, noise=0.3)
    a5 = a1.copy()
    a5["rm"] += 1.0
    a5["gold"] = 1 / (1 + np.exp(-a5["rm"]))
    s = study_of(np.zeros(50), np.zeros(50), np.zeros(50), np.zeros(50), a1=a1, a5=a5)
    c = next(c for c in V.study_claims(s, K, ANCHORS) if c.claim.startswith("The eval protocol"))
    assert c.verdict == V.REPRODUCED
    a5["rm"] -= 2.0
    a5["gold"] = 1 / (1 + np.exp(-a5["rm"]))
    c = next(c for c in V.study_claims(s, K, ANCHORS) if c.claim.startswith("The eval protocol"))
    assert c.verdict == V.NOT


def test_every_claim_has_a_verdict_from_the_four_and_an_evidence_link():
    s = study_of(np.zeros(50), np.zeros(50), np.zeros(50), np.zeros(50))
    claims = V.study_claims(s, K, ANCHORS)
    assert len(claims) == 10
    assert {c.verdict for c in claims} <= {V.REPRODUCED, V.PARTLY, V.NOT, V.CANNOT}
    assert all(c.evidence.startswith("[") for c in claims)
    assert sum(V.tally(claims).values()) == len(claims)


def test_the_coverage_bench_prints_a_row_per_mix_and_the_report_covers_at_least_the_bootstrap():
    from typer.testing import CliRunner

    from bench.coverage import MIXES, app

    res = CliRunner().invoke(app, ["--seeds", "3", "--studies", "20", "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("| 3 |")]
    assert len(rows) == len(MIXES)
    for line in rows:  # the report's interval contains the bootstrap's, so it covers at least as often
        boot, t, report = (float(cell.split()[0]) for cell in line.strip("| ").split(" | ")[4:])
        assert report >= max(boot, t) - 1e-9
