import random

import pytest

from rlhf_core.builtin import FAMILIES, build_suite, gold_score, verifiable
from rlhf_core.errors import RlhfError
from rlhf_core.pairs import (
    SOURCES,
    builtin_pairs,
    mismatched,
    prompt_key,
    ranked_pairs,
    reference_only_pairs,
    reference_pairs,
    repeated,
    shuffled,
    source_counts,
    truncated,
    without_leaks,
)


@pytest.fixture(scope="module")
def suite():
    return build_suite(n_train=300, n_heldout=56, seed=0)


def fake_samples(rows, k=3, seed=0):
    """Stand-ins for SFT samples: a mix of the reference, a corruption and another row's answer."""
    rng = random.Random(seed)
    return [
        [
            rng.choice([r["output"], truncated(r["output"], rng) or "", rng.choice(rows)["output"], "um"])
            for _ in range(k)
        ]
        for r in rows
    ]


def test_corruptions():
    rng = random.Random(0)
    text = "The capital of France is Paris and it is lovely"
    cut = truncated(text, rng)
    assert text.startswith(cut) and 0 < len(cut.split()) < len(text.split())
    mixed = shuffled(text, rng)
    assert mixed != text and sorted(mixed.split()) == sorted(text.split())
    rep = repeated(text, rng)
    words = rep.split()
    n = next(n for n in range(2, 6) if words[n:] == words[:-n])  # period of the repetition
    assert len(words) >= 4 * n and " ".join(words[:n]) in text
    assert truncated("Paris", rng) is None and shuffled("Paris", rng) is None and shuffled("no no", rng) is None
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}", "family": "f"} for i in range(3)]
    assert mismatched(rows[0], rows, rng) in ("a1", "a2")
    assert mismatched(rows[0], rows[:1], rng) is None  # no other prompt to borrow from


def test_ranked_pairs_respect_the_margin():
    row = {"id": "r", "instruction": "q", "input": "", "output": "ref", "family": "f"}
    samples, golds = ["a", "b", "c", "d"], [0.9, 0.85, 0.1, 0.1]
    pairs = ranked_pairs(row, samples, golds, margin=0.2, max_pairs=10, rng=random.Random(0))
    got = sorted((p["chosen"], p["rejected"]) for p in pairs)
    assert got == [("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")]  # a vs b, c vs d: gaps below the margin
    assert all(p["gold_chosen"] - p["gold_rejected"] >= 0.2 and p["source"] == "sft_ranked" for p in pairs)
    assert all(p["strength"] == pytest.approx(p["gold_chosen"] - p["gold_rejected"]) for p in pairs)
    assert len(ranked_pairs(row, samples, golds, margin=0.2, max_pairs=1, rng=random.Random(0))) == 1
    # identical texts never make a pair, whatever their scores
    assert ranked_pairs(row, ["x", "x "], [1.0, 0.0], margin=0.1, max_pairs=5, rng=random.Random(0)) == []


def test_reference_pairs_agree_with_the_judge(suite):
    rows = suite.train[:60]
    pairs = []
    for row in rows:
        pairs += reference_pairs(row, rows, n=4, rng=random.Random(row["id"]), gold=gold_score, margin=0.3)
    assert pairs and {p["source"] for p in pairs} <= set(SOURCES)
    for p in pairs:
        assert p["chosen"] == next(r["output"] for r in rows if r["id"] == p["prompt_id"])
        if FAMILIES[p["family"]].verifiable:
            assert p["gold_chosen"] - p["gold_rejected"] >= 0.3
        else:  # no gold to check against: the reference wins unchecked, as with hub data
            assert p["gold_chosen"] is None and p["gold_rejected"] is None and p["strength"] == 1.0


def test_rows_without_gold_are_paired_as_hub_rows_and_the_rest_never_are(suite):
    rows = suite.train[:300]
    samples = fake_samples(rows)
    pairs = builtin_pairs(rows, samples, gold=gold_score, margin=0.2, sft_pairs=3, ref_pairs=2, seed=0, split="train")
    unverified = {r["id"] for r in rows if not verifiable(r)}
    assert unverified, "the sample must hold a family the judge cannot verify"
    for p in pairs:
        if p["prompt_id"] in unverified:
            assert p["source"] != "sft_ranked" and p["gold_chosen"] is None
        else:
            assert p["source"] != "ref_vs_sft" and p["gold_chosen"] is not None
    by_row = {r["id"]: (r, outs) for r, outs in zip(rows, samples)}
    for p in (p for p in pairs if p["source"] == "ref_vs_sft"):
        row, outs = by_row[p["prompt_id"]]
        assert p["chosen"] == row["output"] and p["rejected"] in outs and p["rejected"].strip() != row["output"].strip()
    # an SFT sample identical to the reference, or repeated, makes no second pair
    row = next(r for r in rows if not verifiable(r))
    same = [row["output"], row["output"] + " ", "x", "x", "y"]
    got = builtin_pairs([row], [same], gold=gold_score, margin=0.2, sft_pairs=5, ref_pairs=0, seed=0, split="t")
    assert [p["rejected"] for p in got] == ["x", "y"]


def test_training_pairs_never_see_held_out_prompts(suite):
    heldout_keys = {prompt_key(r) for r in suite.heldout}
    heldout_answers = {r["output"] for r in suite.heldout} - {r["output"] for r in suite.train}
    # a hub/local file may repeat a held-out prompt in train: such rows are dropped before pairs are built
    train = suite.train + [dict(suite.heldout[0], id="dup")]
    kept, dropped = without_leaks(train, suite.heldout, suite.study)
    assert dropped == 1 and all(prompt_key(r) not in heldout_keys for r in kept)
    pairs = builtin_pairs(
        kept, fake_samples(kept), gold=gold_score, margin=0.2, sft_pairs=3, ref_pairs=4, seed=0, split="train"
    )
    counts = source_counts(pairs)
    assert set(counts) == set(SOURCES), counts  # every source occurs (ref_vs_sft: rows without gold)
    train_keys = {prompt_key(r) for r in kept}
    for p in pairs:
        assert prompt_key(p) in train_keys and prompt_key(p) not in heldout_keys
        assert p["chosen"] not in heldout_answers and p["rejected"] not in heldout_answers
        assert p["split"] == "train"
    held = builtin_pairs(
        suite.heldout,
        fake_samples(suite.heldout),
        gold=gold_score,
        margin=0.2,
        sft_pairs=3,
        ref_pairs=4,
        seed=0,
        split="heldout",
    )
    assert held and all(prompt_key(p) in heldout_keys for p in held)


def test_pairs_are_deterministic_for_a_seed(suite):
    rows = suite.train[:40]
    samples = fake_samples(rows)
    kw = dict(gold=gold_score, margin=0.2, sft_pairs=2, ref_pairs=2, split="train")
    assert builtin_pairs(rows, samples, seed=0, **kw) == builtin_pairs(rows, samples, seed=0, **kw)
    assert builtin_pairs(rows, samples, seed=0, **kw) != builtin_pairs(rows, samples, seed=1, **kw)
    with pytest.raises(RlhfError, match="one list per row"):
        builtin_pairs(rows, samples[:-1], seed=0, **kw)


def test_reference_only_pairs_for_data_without_a_judge():
    rows = [
        {
            "id": f"row{i}",
            "instruction": f"question {i}",
            "input": "",
            "output": f"answer {i}",
            "family": None,
            "meta": None,
        }
        for i in range(5)
    ]
    samples = ["a sample", "answer 1", "", "x", "y"]
    pairs = reference_only_pairs(rows, samples, n=2, seed=0, split="train")
    sft = [p for p in pairs if p["source"] == "ref_vs_sft"]
    assert len(sft) == 3  # identical-to-reference and empty samples make no pair
    assert all(
        p["chosen"] == f"answer {p['prompt_id'][3:]}" and p["gold_chosen"] is None and p["strength"] == 1.0
        for p in pairs
    )
    mism = [p for p in pairs if p["source"] == "ref_vs_mismatched"]
    assert len(mism) == 5 and all(p["rejected"] != p["chosen"] for p in mism)
    assert len(reference_only_pairs(rows, samples, n=1, seed=0, split="train")) == 5
