"""Preference pairs for the reward model: (prompt, chosen, rejected), each recording where it came from.

Builtin data (a gold judge exists):
  sft_ranked         two SFT samples of the same prompt whose gold scores differ by >= gold_margin;
                     the better one is chosen
  ref_vs_truncated   the reference answer vs its first 25-60% of words
  ref_vs_shuffled    the reference answer vs its words in random order
  ref_vs_mismatched  the reference answer vs another prompt's reference answer (same family half of
                     the time: "The capital of Peru is Lima." for France is a hard negative)
  ref_vs_repeated    the reference answer vs one of its phrases repeated over and over
  A reference pair is kept only if the gold judge agrees by the same margin (a shuffled one-word
  answer is no worse than the original), so every builtin pair is a preference the judge shares.
  Rows the judge cannot verify (no gold) are paired as hub rows: ref_vs_sft (up to
  sft_pairs_per_prompt distinct samples) and reference-vs-corruption pairs without a judge's check.

Hub/local data (no judge): the study's assumption that the human answer beats anything else:
  ref_vs_sft         the reference answer vs an SFT sample (dropped when the two are identical)
  ref_vs_mismatched  the reference answer vs another prompt's reference answer

Training and held-out pairs are built separately from the train and held-out splits; mismatched
answers are drawn from the same split only, and a training prompt whose text also occurs among the
held-out (or study) prompts is dropped, so no held-out prompt or answer reaches training pairs.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable

from rlhf_core.errors import RlhfError
from rlhf_core.params import RMParams
from rlhf_core.tokenizer import prompt_key

SFT_RANKED = "sft_ranked"
REF_VS_SFT = "ref_vs_sft"
CORRUPTIONS = ("truncated", "shuffled", "mismatched", "repeated")
SOURCES = (SFT_RANKED, REF_VS_SFT) + tuple(f"ref_vs_{c}" for c in CORRUPTIONS)

GoldFn = Callable[[dict, str], float | None]  # None: no gold for this row


def without_leaks(train_rows: list[dict], *protected: list[dict]) -> tuple[list[dict], int]:
    """Training rows whose prompt is not among the protected (held-out, study) prompts; and how many were dropped."""
    banned = {prompt_key(r) for rows in protected for r in rows}
    kept = [r for r in train_rows if prompt_key(r) not in banned]
    return kept, len(train_rows) - len(kept)


# --- corruptions of a reference answer (pure functions of the text and an rng) ---------------------


def truncated(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(words) < 2:
        return None
    keep = min(len(words) - 1, max(1, round(len(words) * rng.uniform(0.25, 0.6))))
    return " ".join(words[:keep])


def shuffled(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(set(words)) < 2:
        return None
    for _ in range(10):
        out = words[:]
        rng.shuffle(out)
        if out != words:
            return " ".join(out)
    return None


def repeated(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if not words:
        return None
    n = min(len(words), rng.randint(2, 5))
    start = rng.randint(0, len(words) - n)
    phrase = " ".join(words[start : start + n])
    return " ".join([phrase] * rng.randint(4, 8))


def mismatched(row: dict, pool: list[dict], rng: random.Random) -> str | None:
    """Another prompt's reference answer, from the same family half of the time when families are known."""
    same = [r for r in pool if r.get("family") and r.get("family") == row.get("family")] if rng.random() < 0.5 else []
    candidates = same or pool
    for _ in range(10):
        other = candidates[rng.randrange(len(candidates))]
        if prompt_key(other) != prompt_key(row) and other["output"].strip() != row["output"].strip():
            return other["output"]
    return None


def corrupt(kind: str, row: dict, pool: list[dict], rng: random.Random) -> str | None:
    if kind == "mismatched":
        return mismatched(row, pool, rng)
    return {"truncated": truncated, "shuffled": shuffled, "repeated": repeated}[kind](row["output"], rng)


# --- pair records ---------------------------------------------------------------------------------


def _pair(row: dict, chosen: str, rejected: str, source: str, gold: tuple[float, float] | None) -> dict:
    return {
        "prompt_id": row.get("id"),
        "family": row.get("family"),
        "instruction": row["instruction"],
        "input": row.get("input") or "",
        "chosen": chosen,
        "rejected": rejected,
        "source": source,
        "gold_chosen": gold[0] if gold else None,
        "gold_rejected": gold[1] if gold else None,
        # how strongly chosen beats rejected: the gold gap (builtin) or 1 (the human answer wins)
        "strength": round(gold[0] - gold[1], 6) if gold else 1.0,
    }


def ranked_pairs(
    row: dict, samples: list[str], golds: list[float], *, margin: float, max_pairs: int, rng: random.Random
) -> list[dict]:
    """SFT-vs-SFT pairs of one prompt whose gold scores differ by >= margin (at most max_pairs, chosen at random)."""
    candidates = [
        (i, j)
        for i, j in itertools.combinations(range(len(samples)), 2)
        if abs(golds[i] - golds[j]) >= margin and samples[i].strip() != samples[j].strip()
    ]
    rng.shuffle(candidates)
    pairs = []
    for i, j in candidates[:max_pairs]:
        w, l = (i, j) if golds[i] > golds[j] else (j, i)
        pairs.append(_pair(row, samples[w], samples[l], SFT_RANKED, (golds[w], golds[l])))
    return pairs


def reference_pairs(
    row: dict, pool: list[dict], *, n: int, rng: random.Random, gold: GoldFn | None, margin: float
) -> list[dict]:
    """The reference answer vs up to n corruptions of distinct kinds (with a judge: only those it ranks lower by
    margin)."""
    kinds = list(CORRUPTIONS)
    rng.shuffle(kinds)
    ref = row["output"]
    ref_gold = gold(row, ref) if gold else None
    if ref_gold is None:  # no judge, or a row it cannot verify: the reference wins unchecked
        gold = None
    pairs = []
    for kind in kinds:
        if len(pairs) == n:
            break
        bad = corrupt(kind, row, pool, rng)
        if bad is None or bad.strip() == ref.strip():
            continue
        if gold is None:
            pairs.append(_pair(row, ref, bad, f"ref_vs_{kind}", None))
            continue
        bad_gold = gold(row, bad)
        if ref_gold - bad_gold >= margin:
            pairs.append(_pair(row, ref, bad, f"ref_vs_{kind}", (ref_gold, bad_gold)))
    return pairs


def builtin_pairs(
    rows: list[dict],
    samples: list[list[str]],
    *,
    gold: GoldFn,
    margin: float,
    sft_pairs: int,
    ref_pairs: int,
    seed: int,
    split: str,
) -> list[dict]:
    """Pairs for rows with a gold judge: SFT samples ranked by gold, plus reference-vs-corruption pairs. A row
    the judge gives no gold (it cannot verify it) is paired as hub rows are, on the study's assumption
    that the reference beats anything else: the reference vs up to `sft_pairs` distinct SFT samples, and vs
    corruptions kept without a judge's check."""
    if len(samples) != len(rows):
        raise RlhfError(f"builtin_pairs: {len(samples)} sample lists for {len(rows)} rows; give one list per row")
    rng = random.Random(f"rm-pairs-{split}-{seed}")
    pairs = []
    for row, outs in zip(rows, samples):
        golds = [gold(row, s) for s in outs]
        if None in golds:  # the judge gives this row no gold (every answer is None)
            pairs += reference_vs_samples(row, outs, max_pairs=sft_pairs)
            pairs += reference_pairs(row, rows, n=ref_pairs, rng=rng, gold=gold, margin=margin)
            continue
        pairs += ranked_pairs(row, outs, golds, margin=margin, max_pairs=sft_pairs, rng=rng)
        pairs += reference_pairs(row, rows, n=ref_pairs, rng=rng, gold=gold, margin=margin)
    return _numbered(pairs, split)


def reference_vs_samples(row: dict, samples: list[str], *, max_pairs: int) -> list[dict]:
    """The reference answer vs the first `max_pairs` distinct samples that differ from it."""
    ref, seen, pairs = row["output"].strip(), set(), []
    for s in samples:
        if len(pairs) == max_pairs:
            break
        if s.strip() and s.strip() != ref and s.strip() not in seen:
            seen.add(s.strip())
            pairs.append(_pair(row, row["output"], s, REF_VS_SFT, None))
    return pairs


def reference_only_pairs(rows: list[dict], samples: list[str], *, n: int, seed: int, split: str) -> list[dict]:
    """Hub/local pairs: the reference answer beats an SFT sample and another prompt's answer (n of these two per
    prompt)."""
    if len(samples) != len(rows):
        raise RlhfError(f"reference_only_pairs: {len(samples)} samples for {len(rows)} rows; give one per row")
    rng = random.Random(f"rm-pairs-{split}-{seed}")
    pairs = []
    for row, sample in zip(rows, samples):
        made = []
        if sample.strip() and sample.strip() != row["output"].strip():
            made.append(_pair(row, row["output"], sample, REF_VS_SFT, None))
        other = mismatched(row, rows, rng)
        if other is not None:
            made.append(_pair(row, row["output"], other, "ref_vs_mismatched", None))
        pairs += made[:n]
    return _numbered(pairs, split)


def _numbered(pairs: list[dict], split: str) -> list[dict]:
    return [{"id": f"{split}-{i:06d}", "split": split, **p} for i, p in enumerate(pairs)]


def source_counts(pairs: list[dict]) -> dict[str, int]:
    return dict(sorted(Counter(p["source"] for p in pairs).items()))


def sample_responses(
    policy,
    tok,
    rows: list[dict],
    k: int,
    *,
    temperature: float,
    top_k: int | None,
    max_new_tokens: int,
    batch_size: int,
    generator,
) -> list[list[str]]:
    """k SFT samples per row (the fast batched KV-cache sampler), as decoded text: one list per row."""
    from rlhf_core.evaluate import answer

    flat = answer(
        policy,
        tok,
        [r for r in rows for _ in range(k)],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        greedy=False,
        temperature=temperature,
        top_k=top_k,
        generator=generator,
    )
    return [flat[i * k : (i + 1) * k] for i in range(len(rows))]


def pick_prompts(rows: list[dict], n: int, seed: int) -> list[dict]:
    """Up to n distinct training prompts, a seeded sample in file order (0 = all distinct prompts)."""
    seen, distinct = set(), []
    for row in rows:
        key = prompt_key(row)
        if key not in seen:
            seen.add(key)
            distinct.append(row)
    if not n or n >= len(distinct):
        return distinct
    keep = sorted(random.Random(f"rm-prompts-{seed}").sample(range(len(distinct)), n))
    return [distinct[i] for i in keep]


def rm_sampling(r: RMParams, generator) -> dict:
    """How the reward-model stage samples the SFT policy (pairs and trust samples)."""
    return dict(
        temperature=r.sample_temperature,
        top_k=r.sample_top_k or None,
        max_new_tokens=r.sample_max_new_tokens,
        batch_size=r.gen_batch_size,
        generator=generator,
    )


def preference_pairs(
    policy, tok, rows: list[dict], r: RMParams, *, gold: GoldFn | None, seed: int, split: str, generator
) -> tuple[list[dict], list[list[str]]]:
    """One split's pairs and the SFT samples they came from: with a gold judge, `r.samples_per_prompt`
    samples per prompt ranked by it plus reference-vs-corruption pairs; without, reference vs one sample
    and vs another prompt's answer."""
    sampling = rm_sampling(r, generator)
    if gold is not None:
        samples = sample_responses(policy, tok, rows, r.samples_per_prompt, **sampling)
        return builtin_pairs(
            rows,
            samples,
            gold=gold,
            margin=r.gold_margin,
            sft_pairs=r.sft_pairs_per_prompt,
            ref_pairs=r.ref_pairs_per_prompt,
            seed=seed,
            split=split,
        ), samples
    samples = sample_responses(policy, tok, rows, 1, **sampling)
    return reference_only_pairs(
        rows, [s[0] for s in samples], n=r.ref_pairs_per_prompt, seed=seed, split=split
    ), samples
