import math

import pytest
import torch

from conftest import sharpen
from rlhf_core.checkpoint import save_checkpoint
from rlhf_core.errors import RlhfError
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.params import RMParams
from rlhf_core.reward import (
    RewardModel,
    collate,
    encode_inputs,
    encode_pairs,
    gold_agreement,
    load_reward_model,
    pair_accuracy,
    pair_loss,
    prompt_text,
    save_reward_model,
    score,
    score_ids,
    train_rm,
)
from rlhf_core.stats import average_ranks, spearman
from rlhf_core.tokenizer import format_prompt, load_tokenizer, save_tokenizer, train_bpe, training_texts

ROWS = [
    {"instruction": "What is the capital of France?", "input": "", "output": "The capital of France is Paris."},
    {"instruction": "Sort these numbers.", "input": "3, 1, 2", "output": "1, 2, 3"},
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "1. Eat well. 2. Sleep. 3. Move."},
    {"instruction": "What is 2 + 2?", "input": "", "output": "2 + 2 = 4."},
]


def make_tok(path, rows=ROWS):
    save_tokenizer(train_bpe(training_texts(rows * 5), vocab_size=300, min_frequency=1), path)
    return load_tokenizer(path)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return make_tok(tmp_path_factory.mktemp("tok"))


def make_rm(vocab=300, pooling="eos", seed=0, block=96):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=vocab, block_size=block, n_layer=2, n_head=2, d_model=32)
    return sharpen(RewardModel(cfg, pooling)).eval()


def test_encoder_is_bidirectional():
    m = make_rm(vocab=64)
    idx = torch.randint(0, 64, (2, 12))
    later = idx.clone()
    later[:, 9] = (later[:, 9] + 1) % 64
    a, b = m.encoder.hidden_states(idx), m.encoder.hidden_states(later)
    assert not torch.allclose(a[:, :9], b[:, :9])  # an earlier position sees the later token
    lengths = torch.tensor([12, 12])
    assert not torch.allclose(m(idx, lengths), m(later, lengths))


@pytest.mark.parametrize("pooling", ["eos", "mean"])
def test_score_is_padding_invariant(tok, pooling):
    m = make_rm(pooling=pooling)
    short = ["Paris."]
    longer = ["The capital of France is Paris, a city on the Seine.", "1. Eat well. 2. Sleep. 3. Move. 4. Rest."]
    alone = score(m, tok, ROWS[:1], short, batch_size=8)
    batched = score(m, tok, [ROWS[0], ROWS[2], ROWS[0]], [longer[0], longer[1], short[0]], batch_size=8)
    assert abs(batched[2].item() - alone[0].item()) < 1e-5
    # and batch size / order do not matter either
    one_by_one = score(m, tok, [ROWS[0], ROWS[2], ROWS[0]], [longer[0], longer[1], short[0]], batch_size=1)
    torch.testing.assert_close(one_by_one, batched, atol=1e-5, rtol=0)
    assert batched.dtype == torch.float32 and batched.shape == (3,)


def test_score_accepts_prompts_and_token_ids(tok):
    m = make_rm()
    text = score(m, tok, ROWS[:2], ["Paris.", "1, 2, 3"])
    ids = score(
        m,
        tok,
        [format_prompt(r["instruction"], r["input"]) for r in ROWS[:2]],
        [tok.encode("Paris."), tok.encode("1, 2, 3")],
    )
    torch.testing.assert_close(text, ids)
    bare = score(m, tok, ["What is the capital of France?"], ["Paris."])
    assert bare[0].item() == pytest.approx(text[0].item(), abs=1e-5)
    assert prompt_text("Do it.") == prompt_text(format_prompt("Do it.")) == format_prompt("Do it.")


def test_encode_inputs_fits_the_block_and_keeps_eos(tok):
    long_response = "Paris " * 200
    long_prompt = {"instruction": "word " * 200, "input": ""}
    seqs = encode_inputs(tok, [ROWS[0], long_prompt], ["Paris.", long_response], block_size=96)
    assert seqs[0] == tok.encode(prompt_text(ROWS[0])) + tok.encode("Paris.") + [tok.eos_id]
    seqs = encode_inputs(tok, [ROWS[0], long_prompt], ["Paris.", long_response], block_size=40)
    assert all(len(s) <= 40 and s[-1] == tok.eos_id for s in seqs)
    assert len(seqs[1]) == 40 and seqs[1][-1] == tok.eos_id
    # a prompt too long keeps its end (the response header), leaving room for the response
    text = tok.decode(seqs[1])
    assert text.startswith("d word") and "word\n\n### Response:\nParis Paris" in text
    with pytest.raises(RlhfError, match="one prompt per response"):
        encode_inputs(tok, ROWS[:2], ["x"], block_size=40)


def test_collate_right_pads():
    idx, lengths = collate([[5, 6, 7], [8]], pad_id=0)
    assert idx.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_average_ranks_and_spearman_with_ties():
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    assert average_ranks([1, 1, 1]) == [2.0, 2.0, 2.0]
    # ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: sxy = 4.5, sxx = 4.5, syy = 5 -> 4.5 / sqrt(22.5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks x = [1, 2, 3, 4, 5], y = [2, 1, 4, 3, 5]: d^2 sum = 4 -> 1 - 6*4 / (5*24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([1], [2]))


def test_gold_agreement_hand_computed():
    # prompt a: gold 1 > 0.5 > 0; rm ranks 0.5 above 1 -> 2 of 3 pairs agree
    # prompt b: gold ties (no pair) ; prompt c: one pair, rm tie -> 1/2
    out = gold_agreement(
        ["x", "x", "y"], [[3.0, 5.0, 1.0], [1.0, 2.0], [0.0, 0.0]], [[1.0, 0.5, 0.0], [0.2, 0.2], [0.9, 0.1]]
    )
    assert out["pairs"] == 4 and out["pairwise_accuracy"] == pytest.approx(2.5 / 4)
    assert out["per_family"]["x"]["pairs"] == 3 and out["per_family"]["x"]["pairwise_accuracy"] == pytest.approx(2 / 3)
    assert out["per_family"]["y"]["pairwise_accuracy"] == 0.5 and out["per_family"]["y"]["spearman"] is None
    assert out["samples"] == 7
    assert out["spearman"] == pytest.approx(spearman([3, 5, 1, 1, 2, 0, 0], [1, 0.5, 0, 0.2, 0.2, 0.9, 0.1]))
    # within prompt: a -> spearman([3, 5, 1], [1, .5, 0]) = 0.5; b undefined (gold constant); c undefined (rm tie)
    assert out["prompts_ranked"] == 1 and out["spearman_within_prompt"] == pytest.approx(0.5)
    # a prompt without gold (a family the judge cannot verify) changes nothing, nor appears per family
    more = gold_agreement(
        ["x", "x", "y", "z"],
        [[3.0, 5.0, 1.0], [1.0, 2.0], [0.0, 0.0], [9.0, -9.0]],
        [[1.0, 0.5, 0.0], [0.2, 0.2], [0.9, 0.1], [None, None]],
    )
    assert {k: v for k, v in more.items() if k != "per_family"} == {k: v for k, v in out.items() if k != "per_family"}
    assert sorted(more["per_family"]) == ["x", "y"]


def _pairs(n=24):
    """A learnable preference: the right answer beats a repeated wrong one."""
    pairs = []
    for i in range(n):
        row = ROWS[i % len(ROWS)]
        pairs.append(
            {
                "instruction": row["instruction"],
                "input": row["input"],
                "chosen": row["output"],
                "rejected": "no no no no no no",
                "strength": 1.0,
                "source": "test",
            }
        )
    return pairs


@pytest.mark.slow
def test_training_learns_a_simple_preference(tok):
    torch.manual_seed(0)
    m = RewardModel(GPTConfig(vocab_size=tok.vocab_size, block_size=96, n_layer=1, n_head=2, d_model=32))
    ids = encode_pairs(tok, _pairs(), 96)
    before = pair_accuracy(m, ids, ["test"] * len(ids), pad_id=tok.pad_id, batch_size=16)
    p = RMParams(max_steps=30, epochs=20.0, batch_size=8, lr=3e-3, warmup_steps=2, eval_every=100, log_every=10)
    logs, evals = [], []
    w0 = m.head.weight.detach().clone()
    speed = train_rm(
        m, ids, p, pad_id=tok.pad_id, seed=0, on_log=lambda s, d: logs.append((s, d)), on_eval=lambda s: evals.append(s)
    )
    after = pair_accuracy(m, ids, ["test"] * len(ids), pad_id=tok.pad_id, batch_size=16)
    assert not torch.equal(w0, m.head.weight)
    assert after["accuracy"] == 1.0 and after["loss"] < before["loss"]
    assert after["accuracy_per_source"] == {"test": 1.0}
    assert [s for s, _ in logs] == [10, 20, 30] and evals == [30] and speed["steps"] == 30
    assert {"train/loss", "train/accuracy", "train/margin", "train/reward_mean", "train/reward_std"} <= set(logs[0][1])
    with pytest.raises(RlhfError, match="no training pairs"):
        train_rm(m, [], p, pad_id=tok.pad_id, seed=0, on_log=lambda *a: None, on_eval=lambda s: {})


def test_margin_and_centring_raise_the_loss(tok):
    m = make_rm(vocab=tok.vocab_size)
    batch = encode_pairs(tok, _pairs(4), 96)
    plain, _ = pair_loss(m, batch, RMParams(margin=0.0, center_coef=0.0), tok.pad_id)
    with_margin, _ = pair_loss(m, batch, RMParams(margin=1.0, center_coef=0.0), tok.pad_id)
    centred, _ = pair_loss(m, batch, RMParams(margin=0.0, center_coef=0.1), tok.pad_id)
    assert with_margin > plain and centred > plain


def test_save_load_roundtrip_and_refusals(tok, tmp_path):
    m = make_rm(vocab=tok.vocab_size, pooling="mean")
    save_reward_model(tmp_path / "rm", m, tok, stage="test")
    loaded = load_reward_model(tmp_path / "rm", tok)
    assert loaded.pooling == "mean"
    seqs = encode_inputs(tok, ROWS, [r["output"] for r in ROWS], 96)
    torch.testing.assert_close(score_ids(loaded, seqs, pad_id=tok.pad_id), score_ids(m, seqs, pad_id=tok.pad_id))

    other = make_tok(tmp_path / "other", ROWS[:2])
    with pytest.raises(RlhfError, match="different tokenizer") as e:
        load_reward_model(tmp_path / "rm", other)
    assert "\n" not in str(e.value)

    policy_cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, d_model=16)
    save_checkpoint(tmp_path / "sft", GPT(policy_cfg), policy_cfg, tok, kind="policy")
    with pytest.raises(RlhfError, match="is a 'policy' checkpoint, not a reward model"):
        load_reward_model(tmp_path / "sft", tok)


def test_gold_means_skip_answers_without_gold():
    """Answers of a family the judge cannot verify have gold None: the means and intervals are over the rest, and
    data where no answer has gold has no gold numbers at all."""
    from rlhf_core.builtin.study import study_rows
    from rlhf_core.evaluate import gold_summary
    from rlhf_core.phase_eval import summarize_answers

    rows = {r["name"]: r for r in study_rows()}
    france, crash = rows["Capital of France"], rows["Great Depression causes"]
    s = gold_summary([france, crash, france], ["Paris.", crash["output"], "Lyon."])
    assert s["scores"] == [1.0, None, 0.0] and s["mean"] == 0.5 and s["per_family"] == {"capital": 0.5}

    def rec(set_, pid, rm, gold):
        return {"set": set_, "prompt_id": pid, "rm": rm, "gold": gold, "kl": 0.1, "length": 5, "eos": True}

    records = [rec("study", "s1", 1.0, 1.0), rec("study", "s2", 3.0, None)]
    records += [rec("heldout", f"h{i}", float(i), None if i % 2 else i / 10) for i in range(8)]
    out = summarize_answers(records, n_boot=200, ci=0.9, seed=0)
    assert out["study_gold"] == 1.0 and out["study_rm"] == 2.0
    assert out["heldout_gold"] == pytest.approx((0 + 0.2 + 0.4 + 0.6) / 4) and out["heldout_rm"] == 3.5
    assert out["heldout_gold_lo"] <= out["heldout_gold"] <= out["heldout_gold_hi"] <= 0.6
    hub = summarize_answers([dict(r, gold=None) for r in records], n_boot=200, ci=0.9, seed=0)
    assert hub["study_gold"] is None and hub["heldout_gold"] is None and hub["heldout_rm"] == 3.5
