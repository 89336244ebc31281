"""The fused LM-head ops against the plain math of rlhf_core.losses / torch: values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from rlhf_core import lmhead
from rlhf_core.lmhead import exact_kl_rows, label_logprobs, linear_cross_entropy
from rlhf_core.losses import entropy_from_logits, exact_kl, gather_logprobs


@pytest.fixture(params=[3, 256], ids=["blocks_of_3", "blocks_of_256"])
def chunk(request, monkeypatch):
    """Small blocks exercise the block edges (N not a multiple of the block); 256 is the default."""
    monkeypatch.setattr(lmhead, "CHUNK_ROWS", request.param)
    return request.param


def inputs(n=10, d=6, v=11, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = (torch.randn(n, d, generator=g, dtype=dtype) * 2).requires_grad_()
    w = torch.randn(v, d, generator=g, dtype=dtype).requires_grad_()
    y = torch.randint(v, (n,), generator=g)
    return h, w, y


def grads(out, *leaves):
    return torch.autograd.grad(out, leaves)


def test_label_logprobs_match_gather_logprobs_values_and_grads(chunk):
    h, w, y = inputs()
    weights = torch.linspace(-1, 2, h.shape[0], dtype=h.dtype)  # an arbitrary upstream gradient
    logp, ent = label_logprobs(h, w, y)
    ref = gather_logprobs(h @ w.t(), y)
    assert ent is None
    torch.testing.assert_close(logp, ref.float())
    for a, b in zip(grads((logp.double() * weights).sum(), h, w), grads((ref * weights).sum(), h, w)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # the op's math is float32


def test_label_logprobs_gradcheck():
    h, w, y = inputs(n=5, d=3, v=7)
    # float32 inside: compare finite differences loosely
    assert torch.autograd.gradcheck(
        lambda a, b: label_logprobs(a, b, y)[0].double(), (h, w), eps=1e-3, atol=2e-3, rtol=2e-3
    )


def test_entropy_matches_reference_and_has_no_gradient(chunk):
    h, w, y = inputs()
    logp, ent = label_logprobs(h, w, y, entropy=True)
    torch.testing.assert_close(ent, entropy_from_logits(h @ w.t()).float(), rtol=1e-5, atol=1e-5)
    assert not ent.requires_grad


def test_entropy_of_a_near_one_hot_row_is_zero_not_nan():
    h = torch.tensor([[1.0]])
    w = torch.tensor([[500.0], [-500.0], [0.0]])  # softmax underflows to exactly (1, 0, 0)
    logp, ent = label_logprobs(h, w, torch.tensor([0]), entropy=True)
    assert logp.item() == 0.0 and ent.item() == 0.0


def test_linear_cross_entropy_matches_f_cross_entropy(chunk):
    h, w, y = inputs()
    for reduction in ("mean", "sum"):
        ours = linear_cross_entropy(h, w, y, reduction)
        ref = F.cross_entropy(h @ w.t(), y, reduction=reduction)
        torch.testing.assert_close(ours.double(), ref, rtol=1e-6, atol=1e-6)
        for a, b in zip(grads(ours * 3.0, h, w), grads(ref * 3.0, h, w)):  # scaled upstream gradient
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_linear_cross_entropy_trains_a_tied_head_like_the_plain_loss():
    """Through a real GPT with tied embeddings: the same loss and the same gradient on every parameter."""
    from rlhf_core.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, d_model=16))
    x = torch.randint(50, (3, 16))
    y = torch.randint(50, (3, 16))
    h = model.hidden_states(x).flatten(0, 1)
    ours = linear_cross_entropy(h, model.lm_head.weight, y.flatten())
    g_ours = torch.autograd.grad(ours, list(model.parameters()))
    ref = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    g_ref = torch.autograd.grad(ref, list(model.parameters()))
    torch.testing.assert_close(ours, ref)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_linear_cross_entropy_without_grad_computes_no_gradient():
    h, w, y = inputs()
    with torch.no_grad():
        loss = linear_cross_entropy(h, w, y, "sum")
    assert not loss.requires_grad
    torch.testing.assert_close(
        loss.double(), F.cross_entropy(h @ w.t(), y, reduction="sum").detach(), rtol=1e-6, atol=0
    )


def test_linear_cross_entropy_rejects_unknown_reduction():
    h, w, y = inputs()
    with pytest.raises(ValueError, match="reduction"):
        linear_cross_entropy(h, w, y, "none")


def test_exact_kl_rows_matches_reference(chunk):
    h, w, _ = inputs(seed=1)
    h2, w2, _ = inputs(seed=2)
    ours = exact_kl_rows(h, w, h2, w2)
    torch.testing.assert_close(ours, exact_kl(h @ w.t(), h2 @ w2.t()).float().detach(), rtol=1e-5, atol=1e-6)
    assert (ours >= -1e-6).all()
    torch.testing.assert_close(exact_kl_rows(h, w, h, w), torch.zeros(h.shape[0]), atol=1e-6, rtol=0)


def test_exact_kl_rows_with_zero_probability_entries_is_finite():
    h = torch.tensor([[1.0]])
    w = torch.tensor([[500.0], [-500.0]])  # pi = (1, 0)
    w_ref = torch.tensor([[0.0], [0.0]])  # pi_ref = (1/2, 1/2)
    torch.testing.assert_close(exact_kl_rows(h, w, h, w_ref), torch.tensor([0.6931472]))


def test_empty_input():
    h, w, y = inputs(n=0)
    logp, ent = label_logprobs(h, w, y, entropy=True)
    assert logp.shape == (0,) and ent.shape == (0,)
    assert exact_kl_rows(h, w, h, w).shape == (0,)
