import math

import torch

from rlhf_core.losses import bradley_terry_loss


def test_bradley_terry_hand_computed():
    # diffs 0 and ln 3: -log sigmoid(0) = ln 2, -log sigmoid(ln 3) = -log(3/4)
    loss, stats = bradley_terry_loss(torch.tensor([1.0, math.log(3.0)]), torch.tensor([1.0, 0.0]))
    assert math.isclose(loss.item(), (math.log(2) - math.log(0.75)) / 2, rel_tol=1e-6)
    assert stats["accuracy"] == 0.5 and math.isclose(stats["margin"], math.log(3) / 2, rel_tol=1e-6)


def test_bradley_terry_margin_and_centering():
    rc, rr = torch.tensor([2.0]), torch.tensor([1.0])
    loss, _ = bradley_terry_loss(rc, rr, margin=1.0)
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-6)
    loss, _ = bradley_terry_loss(rc, rr, center_coef=0.5)
    assert math.isclose(loss.item(), -math.log(1 / (1 + math.exp(-1))) + 0.5 * 9, rel_tol=1e-6)


# --- PPO / GRPO / DPO maths -----------------------------------------------------------------------

import pytest  # noqa: E402

from rlhf_core.losses import (  # noqa: E402
    dpo_loss,
    entropy_from_logits,
    exact_kl,
    gae,
    gather_logprobs,
    grpo_advantages,
    grpo_loss,
    kl_estimators,
    masked_mean,
    masked_whiten,
    ppo_policy_loss,
    ppo_value_loss,
    sequence_logprobs,
    shaped_rewards,
)


def close(a, b, tol=1e-5):
    a, b = (x.detach() if isinstance(x, torch.Tensor) else x for x in (a, b))
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def test_dpo_hand_computed():
    # pair 0: chosen logratio 0.5, rejected -0.5 -> margin 1; pair 1: chosen -1, rejected 0 -> margin -1
    pc, pr = torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -1.0])
    rc, rr = torch.tensor([-1.5, -2.0]), torch.tensor([-1.5, -1.0])
    loss, s = dpo_loss(pc, pr, rc, rr, beta=0.5)
    assert close(loss, (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(0.5))) / 2)
    assert close(s["reward_margin"], 0.0) and s["accuracy"] == 0.5
    assert close(s["chosen_logratio"], -0.25) and close(s["rejected_logratio"], -0.25)
    assert close(s["chosen_reward"], -0.125) and close(s["rejected_reward"], -0.125)


def test_dpo_huge_margin_is_finite():
    pc = torch.tensor([0.0, -600.0], requires_grad=True)
    z = torch.zeros(2)
    loss, s = dpo_loss(pc, torch.tensor([-600.0, 0.0]), z, z, beta=0.1)  # margins +600, -600 -> logits +-60
    assert torch.isfinite(loss) and close(loss, (0.0 + 60.0) / 2, 1e-6)
    loss.backward()
    assert torch.isfinite(pc.grad).all()
    assert close(s["reward_margin"], 0.0) and s["accuracy"] == 0.5
    loss, s = dpo_loss(torch.tensor([0.0]), torch.tensor([-600.0]), torch.zeros(1), torch.zeros(1), beta=0.3)
    assert loss.item() >= 0.0 and loss.item() < 1e-30 and close(s["reward_margin"], 600.0)
    assert s["accuracy"] == 1.0 and close(s["chosen_reward"], 0.0) and close(s["rejected_reward"], -180.0)


def test_ppo_policy_loss_clipped_hand_computed():
    ratio = torch.tensor([[1.5, 0.5, 1.1, 0.5, 1.0]])
    adv = torch.tensor([[1.0, 1.0, -2.0, -1.0, 1000.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]], dtype=torch.bool)
    old = torch.tensor([[-1.0, -2.0, -0.5, -3.0, -1.0]])
    logp = (old + ratio.log()).clone()
    logp[0, 4] = 1e4  # garbage token off the mask
    logp.requires_grad_(True)
    loss, s = ppo_policy_loss(logp, old, adv, mask, clip_eps=0.2)
    # per-token max(-A*rho, -A*clip(rho)) = -1.2 (clipped), -0.5, 2.2, 0.8 (clipped)
    assert close(loss, (-1.2 - 0.5 + 2.2 + 0.8) / 4)
    assert close(s["clipfrac"], 0.5)
    assert close(s["ratio_mean"], 0.9) and close(s["ratio_max"], 1.5)
    r = torch.tensor([1.5, 0.5, 1.1, 0.5])
    assert close(s["approx_kl"], (r - 1 - r.log()).mean())
    loss.backward()
    # clipped tokens get no gradient; d/dlogp (-A rho)/4 = -A rho / 4 elsewhere
    assert torch.allclose(logp.grad, torch.tensor([[0.0, -0.125, 0.55, 0.0, 0.0]]), atol=1e-6)


def test_ppo_policy_loss_unclipped_hand_computed():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.1, 0.9, 1.0]]))
    adv = torch.tensor([[2.0, -1.0, 3.0]])
    loss, s = ppo_policy_loss(logp, old, adv, torch.ones(1, 3), clip_eps=0.2)
    assert close(loss, -(2.2 - 0.9 + 3.0) / 3) and s["clipfrac"] == 0.0


def test_ppo_policy_loss_extreme_log_ratio_finite():
    logp = torch.tensor([[500.0, -500.0]], requires_grad=True)
    loss, s = ppo_policy_loss(logp, torch.zeros(1, 2), torch.tensor([[-1.0, 1.0]]), torch.ones(1, 2), 0.2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all() and math.isfinite(s["approx_kl"])


def test_ppo_value_loss_hand_computed():
    v, old, R = torch.tensor([[1.0, 2.0, 9.0]]), torch.tensor([[0.5, 2.0, 0.0]]), torch.tensor([[2.0, 2.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, s = ppo_value_loss(v, old, R, mask, clip_eps=0.2)
    # token 0: max((1-2)^2, (0.7-2)^2) = 1.69 (clipped); token 1: 0.25
    assert close(loss, 0.5 * (1.69 + 0.25) / 2) and close(s["vf_clipfrac"], 0.5)
    assert close(s["explained_variance"], 0.0)  # Var[R - V] = Var[R] = 0.0625
    loss, s = ppo_value_loss(v, old, R, mask, clip_eps=None)
    assert close(loss, 0.5 * (1.0 + 0.25) / 2) and s["vf_clipfrac"] == 0.0


def test_grpo_advantages_normal_and_collapsed_group():
    adv, std = grpo_advantages(torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.1, 0.1, 0.1, 0.1]]))
    sd = math.sqrt(5 / 3)  # unbiased std of 1..4
    assert torch.allclose(adv[0], torch.tensor([-1.5, -0.5, 0.5, 1.5]) / sd, atol=1e-6)
    assert close(std[0], sd)
    assert torch.equal(adv[1], torch.zeros(4)) and std[1].item() == 0.0


def test_grpo_loss_hand_computed():
    # seq 0: 2 tokens, A=+1; seq 1: 1 token, A=-1; seq 2: empty. rho = 1 everywhere.
    logp = torch.tensor([[-1.0, -2.0], [-0.5, 7.0], [3.0, 3.0]])
    mask = torch.tensor([[1, 1], [1, 0], [0, 0]], dtype=torch.bool)
    ref = logp.clone()
    ref[0, 0] += math.log(2.0)  # k3 = 2 - 1 - ln 2 on that token only
    adv = torch.tensor([1.0, -1.0, 5.0])
    loss, s = grpo_loss(logp, logp, ref, adv, mask, clip_eps=0.2, kl_coef=0.1)
    kl = (1 - math.log(2)) / 2 / 2  # seq-0 token mean, then mean over 2 sequences
    assert close(s["pg_loss"], 0.0)  # per-sequence means -1 and +1 (token mean: -1/3)
    assert close(s["kl"], kl) and close(loss, 0.1 * kl) and s["clipfrac"] == 0.0


def _gae_reference(r, v, mask, gamma, lam):
    adv = torch.zeros_like(r)
    for b in range(r.shape[0]):
        L = int(mask[b].sum())
        nxt_a = 0.0
        for t in reversed(range(L)):
            nv = v[b, t + 1].item() if t + 1 < L else 0.0
            delta = r[b, t].item() + gamma * nv - v[b, t].item()
            nxt_a = delta + gamma * lam * nxt_a
            adv[b, t] = nxt_a
    return adv, (adv + v) * mask


def test_gae_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    B, T = 5, 7
    r, v = torch.randn(B, T, generator=g), torch.randn(B, T, generator=g)
    lengths = torch.tensor([7, 3, 0, 1, 5])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    v_garbage = torch.where(mask.bool(), v, torch.full_like(v, float("nan")))
    adv, ret = gae(r, v_garbage, mask, gamma=0.9, lam=0.8)
    ref_adv, ref_ret = _gae_reference(r, v, mask, 0.9, 0.8)
    assert torch.allclose(adv, ref_adv, atol=1e-5) and torch.allclose(ret, ref_ret, atol=1e-5)
    assert (adv[mask == 0] == 0).all() and (ret[mask == 0] == 0).all()


def test_gather_logprobs_matches_log_softmax_and_grads():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 11, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 11, (2, 4), generator=g)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    out = gather_logprobs(a, labels)
    ref = torch.log_softmax(b.float(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-5)
    w = torch.randn(2, 4, generator=g)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-5)
    assert gather_logprobs(logits.bfloat16(), labels).dtype == torch.float32


def test_sequence_logprobs_shift_and_mask():
    g = torch.Generator().manual_seed(2)
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    resp = torch.tensor([[0, 0, 1, 1, 0]])  # prompt 3 1 | response 4 1 | pad
    logits = torch.randn(1, 5, 6, generator=g)
    base = sequence_logprobs(logits, ids, resp)
    study = (torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1) * resp[:, 1:].float()).sum(
        -1
    )
    assert torch.allclose(base, study, atol=1e-6)
    lp = torch.log_softmax(logits, -1)[0]
    assert close(base[0], lp[1, 4] + lp[2, 1])  # positions 1, 2 predict tokens 2, 3
    for pos, changes in [(0, False), (3, False), (4, False), (1, True), (2, True)]:
        bumped = logits.clone()
        bumped[0, pos, ids[0, pos + 1] if pos < 4 else 0] += 2.0
        assert (not torch.allclose(sequence_logprobs(bumped, ids, resp), base)) == changes, pos


def test_exact_kl_and_entropy():
    g = torch.Generator().manual_seed(3)
    lg, rg = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    p, q = torch.softmax(lg, -1), torch.softmax(rg, -1)
    assert torch.allclose(exact_kl(lg, rg), (p * (p.log() - q.log())).sum(-1), atol=1e-6)
    assert torch.allclose(exact_kl(lg, lg), torch.zeros(2, 3), atol=1e-6)
    assert torch.allclose(entropy_from_logits(torch.zeros(1, 2, 8)), torch.full((1, 2), math.log(8)))
    masked = torch.tensor([[[0.0, float("-inf"), 1.0]]])
    assert torch.isfinite(exact_kl(masked, torch.zeros(1, 1, 3))).all()
    assert torch.isfinite(entropy_from_logits(masked)).all()


def test_kl_estimators_hand_and_sampled():
    k = kl_estimators(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)]))
    assert close(k["k1"], math.log(2)) and close(k["k2"], 0.5 * math.log(2) ** 2)
    assert close(k["k3"], 0.5 - 1 + math.log(2))
    p, q = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.2, 0.3, 0.5])
    kl = (p * (p / q).log()).sum().item()
    x = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(4))
    k = kl_estimators(p.log()[x], q.log()[x])
    assert abs(k["k1"].mean().item() - kl) < 0.01 and abs(k["k3"].mean().item() - kl) < 0.01
    assert (k["k3"] >= 0).all() and (k["k2"] >= 0).all()


def test_shaped_rewards_both_placements():
    score = torch.tensor([1.0, 2.0, 3.0])
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]])
    ref = torch.tensor([[-2.0, -2.0, -1.0], [-1.5, 0.0, 0.0], [1.0, 1.0, 1.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    every = shaped_rewards(score, logp, ref, mask, kl_coef=0.1, placement="every")
    assert torch.allclose(every, torch.tensor([[1 - 0.1, 1.0, 0], [2 - 0.05, 0, 0], [0, 0, 0]]))
    last = shaped_rewards(score, logp, ref, mask, kl_coef=0.1, placement="last")
    assert torch.allclose(last, torch.tensor([[-0.1, 1.0, 0], [2 - 0.05, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError):
        shaped_rewards(score, logp, ref, mask, 0.1, placement="first")


def test_masked_mean_and_whiten():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 9, generator=g) * 3 + 7
    mask = torch.rand(4, 9, generator=g) > 0.3
    x_garbage = torch.where(mask, x, torch.full_like(x, float("nan")))
    assert close(masked_mean(x_garbage, mask), x[mask].mean())
    assert torch.allclose(
        masked_mean(x_garbage, mask, dim=1), torch.stack([x[i][mask[i]].mean() for i in range(4)]), atol=1e-5
    )
    assert masked_mean(x, torch.zeros_like(mask)).item() == 0.0
    w = masked_whiten(x_garbage, mask)
    assert abs(w[mask].mean().item()) < 1e-5 and close(w[mask].std(), 1.0, 1e-4)
    assert (w[~mask] == 0).all()
    w2 = masked_whiten(x, mask, shift_mean=False)  # rescaled to unit std, mean kept
    assert close(w2[mask].mean(), x[mask].mean(), 1e-4) and close(w2[mask].std(), 1.0, 1e-4)
