import pytest
import torch

from conftest import sharpen
from rlhf_core import generate as gen_mod
from rlhf_core.errors import RlhfError
from rlhf_core.generate import Generation, _sample_probs, generate, generate_in_batches
from rlhf_core.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=64, block_size=48, n_layer=2, n_head=2, d_model=32)
PAD = 0
PROMPTS = [[5, 9, 2, 33, 7, 1, 60], [4, 8, 15], [16, 23, 42, 11, 3], [7]]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return sharpen(GPT(TINY)).eval()


def naive_greedy(model, prompt, max_new, eos_id):
    """Reference: full forward over the whole sequence every step, no cache, no padding."""
    seq, out = list(prompt), []
    for _ in range(max_new):
        with torch.no_grad():
            nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
        out.append(nxt)
        seq.append(nxt)
        if nxt == eos_id:
            break
    return out


@pytest.mark.slow
def test_kv_cache_greedy_matches_naive(model):
    g = generate(model, PROMPTS, max_new_tokens=20, eos_id=-1, pad_id=PAD, greedy=True)
    assert g.tokens.shape == (4, 20)
    assert g.lengths.tolist() == [20] * 4 and not g.finished.any()
    for row, p in zip(g.tokens.tolist(), PROMPTS):
        assert row == naive_greedy(model, p, 20, -1)


def test_alone_equals_in_batch(model):
    batch = generate(model, PROMPTS, max_new_tokens=12, eos_id=-1, pad_id=PAD, greedy=True).to_lists()
    for p, row in zip(PROMPTS, batch):
        alone = generate(model, [p], max_new_tokens=12, eos_id=-1, pad_id=PAD, greedy=True).to_lists()[0]
        assert alone == row


@pytest.mark.slow
def test_eos_stops_row_and_pads(model):
    free = generate(model, PROMPTS, max_new_tokens=16, eos_id=-1, pad_id=PAD, greedy=True)
    eos = free.tokens[0, 2].item()  # row 0 emits this at step 3 (or earlier)
    g = generate(model, PROMPTS, max_new_tokens=16, eos_id=eos, pad_id=PAD, greedy=True)
    assert g.finished[0] and g.lengths[0] <= 3
    for b in range(len(PROMPTS)):
        row, n = g.tokens[b].tolist(), int(g.lengths[b])
        if g.finished[b]:
            assert row[n - 1] == eos and eos not in row[: n - 1]
            assert all(t == PAD for t in row[n:])
            assert g.to_lists()[b] == row[: n - 1]
            assert row[:n] == naive_greedy(model, PROMPTS[b], 16, eos)
        else:
            assert n == g.tokens.shape[1] and eos not in row


def test_stops_early_when_all_finished(model):
    first = generate(model, [PROMPTS[1]], max_new_tokens=1, eos_id=-1, pad_id=PAD, greedy=True).tokens[0, 0].item()
    g = generate(model, [PROMPTS[1]], max_new_tokens=30, eos_id=first, pad_id=PAD, greedy=True)
    assert g.finished.all() and g.lengths.tolist() == [1]
    assert g.tokens.shape[1] <= gen_mod.CHECK_EVERY
    assert g.to_lists() == [[]]


def test_seeded_sampling_deterministic(model):
    kw = dict(max_new_tokens=15, eos_id=-1, pad_id=PAD, temperature=1.0)
    a = generate(model, PROMPTS, generator=torch.Generator().manual_seed(123), **kw).tokens
    b = generate(model, PROMPTS, generator=torch.Generator().manual_seed(123), **kw).tokens
    c = generate(model, PROMPTS, generator=torch.Generator().manual_seed(124), **kw).tokens
    assert torch.equal(a, b) and not torch.equal(a, c)
    a = generate(model, PROMPTS, top_k=5, generator=torch.Generator().manual_seed(7), **kw).tokens
    b = generate(model, PROMPTS, top_k=5, generator=torch.Generator().manual_seed(7), **kw).tokens
    assert torch.equal(a, b)


def test_top_k_one_and_temperature_zero_equal_greedy(model):
    kw = dict(max_new_tokens=15, eos_id=-1, pad_id=PAD)
    greedy = generate(model, PROMPTS, greedy=True, **kw).tokens
    k1 = generate(model, PROMPTS, top_k=1, temperature=1.3, generator=torch.Generator().manual_seed(0), **kw).tokens
    t0 = generate(model, PROMPTS, temperature=0.0, **kw).tokens
    assert torch.equal(greedy, k1) and torch.equal(greedy, t0)


def test_top_k_restricts_support(model):
    # with top_k=3 every sampled first token is among the 3 most likely
    prompt = PROMPTS[0]
    with torch.no_grad():
        top3 = set(model(torch.tensor([prompt]))[0, -1].topk(3).indices.tolist())
    g = generate(
        model,
        [prompt] * 64,
        max_new_tokens=1,
        eos_id=-1,
        pad_id=PAD,
        top_k=3,
        temperature=2.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert set(g.tokens[:, 0].tolist()) <= top3


def test_sample_probs_distribution():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3]).expand(20000, 4)
    draws = _sample_probs(probs, torch.rand(20000, 1, generator=torch.Generator().manual_seed(0)))
    freq = torch.bincount(draws, minlength=4).float() / 20000
    assert freq[1] == 0
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.0, 0.6, 0.3]), atol=0.015, rtol=0)


def test_block_size_error(model):
    with pytest.raises(RlhfError, match=r"7.*42.*49.*48"):
        generate(model, PROMPTS, max_new_tokens=42, eos_id=-1, pad_id=PAD)
    generate(model, PROMPTS, max_new_tokens=41, eos_id=-1, pad_id=PAD, greedy=True)  # exactly fits
    with pytest.raises(RlhfError):
        generate(model, [[]], max_new_tokens=2, eos_id=-1, pad_id=PAD)
    with pytest.raises(RlhfError, match="vocab_size"):
        generate(model, [[3, 64]], max_new_tokens=2, eos_id=-1, pad_id=PAD)


def test_generate_in_batches_preserves_order(model):
    prompts = PROMPTS + [[3, 3, 3, 3], [9, 1]]
    got = generate_in_batches(model, prompts, 3, max_new_tokens=8, eos_id=-1, pad_id=PAD, greedy=True)
    want = [generate(model, [p], max_new_tokens=8, eos_id=-1, pad_id=PAD, greedy=True).to_lists()[0] for p in prompts]
    assert got == want


def test_restores_training_mode(model):
    model.train()
    try:
        generate(model, PROMPTS[:1], max_new_tokens=2, eos_id=-1, pad_id=PAD, greedy=True)
        assert model.training
    finally:
        model.eval()


def test_to_lists():
    g = Generation(
        tokens=torch.tensor([[4, 9, 2, 0], [5, 6, 7, 8]]),
        lengths=torch.tensor([3, 4]),
        finished=torch.tensor([True, False]),
    )
    assert g.to_lists() == [[4, 9], [5, 6, 7, 8]]
