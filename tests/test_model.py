import json

import pytest
import torch

from conftest import sharpen
from rlhf_core.model import GPT, GPTConfig, apply_rope, rope_tables

TINY = GPTConfig(vocab_size=64, block_size=64, n_layer=2, n_head=2, d_model=32)


def make(causal=True, cfg=TINY, seed=0):
    torch.manual_seed(seed)
    return sharpen(GPT(cfg, causal=causal)).eval()


def left_pad_batch(rows, pad_id=0):
    """rows of real tokens -> idx (B, T) left-padded, attn_mask, positions."""
    T = max(len(r) for r in rows)
    idx = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    pos = torch.zeros(len(rows), T, dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r)
        idx[b, T - n :] = torch.tensor(r)
        mask[b, T - n :] = True
        pos[b, T - n :] = torch.arange(n)
    return idx, mask, pos


def test_default_param_count():
    cfg = GPTConfig()
    assert cfg.hidden == 344
    n = GPT(cfg).num_params()
    assert 1.41e6 < n < 1.43e6, n


def test_config_roundtrip_and_tied_embeddings():
    d = json.loads(json.dumps(TINY.to_dict()))
    assert GPTConfig.from_dict(d) == TINY
    with pytest.raises(ValueError):
        GPTConfig.from_dict({**d, "bogus": 1})
    m = make()
    assert m.lm_head.weight is m.wte.weight
    untied = GPT(GPTConfig(**{**d, "tie_embeddings": False}))
    assert untied.num_params() == m.num_params() + TINY.vocab_size * TINY.d_model


def test_logits_shape_dtype():
    m = make()
    out = m(torch.randint(0, 64, (3, 10)))
    assert out.shape == (3, 10, 64) and out.dtype == torch.float32
    h = m.hidden_states(torch.randint(0, 64, (3, 10)))
    assert h.shape == (3, 10, 32)


def test_causality():
    m = make()
    idx = torch.randint(0, 64, (2, 12))
    idx2 = idx.clone()
    idx2[:, 7] = (idx2[:, 7] + 1) % 64
    a, b = m(idx), m(idx2)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_bidirectional_sees_future():
    m = make(causal=False)
    idx = torch.randint(0, 64, (2, 12))
    idx2 = idx.clone()
    idx2[:, 7] = (idx2[:, 7] + 1) % 64
    a, b = m.hidden_states(idx), m.hidden_states(idx2)
    assert not torch.allclose(a[:, :7], b[:, :7])


@pytest.mark.parametrize("causal", [True, False])
def test_left_padding_invariance(causal):
    m = make(causal=causal)
    rows = [[5, 9, 2, 33, 7, 1, 60], [4, 8, 15], [16, 23, 42, 11, 3]]
    idx, mask, pos = left_pad_batch(rows)
    batched = m(idx, positions=pos, attn_mask=mask)
    assert torch.isfinite(batched).all()  # padding queries must not produce NaN that leaks
    for b, r in enumerate(rows):
        alone = m(torch.tensor([r]))[0]
        torch.testing.assert_close(batched[b, -len(r) :], alone, atol=1e-5, rtol=1e-4)


def test_kv_cache_chunks_match_full_forward():
    m = make()
    idx = torch.randint(0, 64, (2, 20))
    full = m(idx)
    cache = m.new_kv_cache(32)
    parts = [m(idx[:, :8], kv_cache=cache), m(idx[:, 8:9], kv_cache=cache), m(idx[:, 9:20], kv_cache=cache)]
    assert cache.length == 20
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-4)


def test_rope_positions():
    m = make()
    idx = torch.randint(0, 64, (2, 10))
    base = m(idx)
    # explicit default positions are the default
    pos = torch.arange(10).expand(2, 10)
    torch.testing.assert_close(m(idx, positions=pos), base)
    # RoPE only encodes relative position: a constant shift leaves the logits unchanged
    torch.testing.assert_close(m(idx, positions=pos + 17), base, atol=1e-4, rtol=1e-4)
    # per-row positions are honoured: shifting only row 1 changes nothing either
    pos_rows = pos.clone()
    pos_rows[1] += 5
    torch.testing.assert_close(m(idx, positions=pos_rows), base, atol=1e-4, rtol=1e-4)
    # but a non-uniform change of positions does change the output
    scrambled = pos.clone()
    scrambled[:, 5:] += 7
    assert not torch.allclose(m(idx, positions=scrambled)[:, 5:], base[:, 5:], atol=1e-4)
    # rotation preserves norms and is the identity at position 0
    cos, sin = rope_tables(16, 8, 10000.0)
    x = torch.randn(1, 2, 8, 16)
    y = apply_rope(x, cos[None, None], sin[None, None])
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])


def test_too_long_raises():
    m = make()
    with pytest.raises(ValueError):
        m(torch.zeros(1, 65, dtype=torch.long))


def test_init_scales():
    torch.manual_seed(0)
    m = GPT(GPTConfig())
    assert abs(m.wte.weight.std().item() - 0.02) < 2e-3
    resid = m.blocks[0].mlp.down.weight.std().item()
    assert abs(resid - 0.02 / 2.0) < 2e-3  # 1/sqrt(2 * n_layer) = 1/2


def test_backward_runs():
    m = make()
    m.train()
    idx = torch.randint(0, 64, (2, 9))
    logits = m(idx[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 64), idx[:, 1:].reshape(-1))
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("padded", [False, True])
def test_encoder_rows_equal_the_full_output_at_those_rows(padded):
    """hidden_states(rows=...) runs the last block at one position per row; values and gradients must
    be those of the full computation indexed at the same positions."""
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, block_size=16, n_layer=3, n_head=2, d_model=16)
    enc = GPT(cfg, causal=False)
    idx = torch.randint(0, 64, (4, 12))
    lengths = torch.tensor([12, 7, 3, 10]) if padded else torch.full((4,), 12)
    real = torch.arange(12)[None, :] < lengths[:, None]
    mask = real if padded else None
    rows = lengths - 1
    w = torch.randn(4, 16)

    def grads(fn):
        enc.zero_grad(set_to_none=True)
        out = fn()
        (out * w).sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}

    full, g_full = grads(lambda: enc.hidden_states(idx, attn_mask=mask)[torch.arange(4), rows])
    part, g_part = grads(lambda: enc.hidden_states(idx, attn_mask=mask, rows=rows))
    torch.testing.assert_close(part, full, atol=1e-5, rtol=1e-4)
    assert g_part.keys() == g_full.keys()
    for name in g_full:
        torch.testing.assert_close(g_part[name], g_full[name], atol=1e-5, rtol=1e-4, msg=name)
    # other rows than the last one work too (any position per row)
    mid = torch.tensor([0, 3, 1, 5])
    torch.testing.assert_close(
        enc.hidden_states(idx, attn_mask=mask, rows=mid),
        enc.hidden_states(idx, attn_mask=mask)[torch.arange(4), mid],
        atol=1e-5,
        rtol=1e-4,
    )
    with pytest.raises(ValueError, match="bidirectional"):
        GPT(cfg).hidden_states(idx, rows=rows)
