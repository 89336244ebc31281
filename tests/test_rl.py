"""The RL loops on a tiny model: each step moves the policy and not the reference; DPO's gradient
accumulation is exact; the per-token bookkeeping matches the study's get_logps."""

import copy
import types

import pytest
import torch

import rlhf_core.dpo as dpo
from rlhf_core.builtin import build_suite
from rlhf_core.dpo import accumulate_gradients, make_pairs, make_step_pairs, train_dpo
from rlhf_core.errors import RlhfError
from rlhf_core.grpo import train_grpo
from rlhf_core.losses import exact_kl, sequence_logprobs
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.ppo import train_ppo
from rlhf_core.rollout import ValueHead, build_sequences, policy_ref_stats, token_stats
from rlhf_core.tokenizer import load_tokenizer, save_tokenizer, train_bpe, training_texts


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rows = build_suite(n_train=200, n_heldout=16, seed=0).train
    path = tmp_path_factory.mktemp("tok")
    save_tokenizer(train_bpe(training_texts(rows), vocab_size=400), path)
    tok = load_tokenizer(path)
    torch.manual_seed(0)
    policy = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=256, n_layer=1, n_head=2, d_model=32))
    return tok, rows, policy


def frozen_copy(model):
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref


def params(**kw):
    return types.SimpleNamespace(**kw)


def snapshot(model):
    return [t.detach().clone() for t in model.parameters()]


def changed(before, model):
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def length_reward(rows, texts):  # any deterministic reward with spread
    return torch.tensor([float(len(t) % 7) for t in texts])


def test_build_sequences_layout():
    batch = build_sequences([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]], pad_id=0)
    assert batch.tokens.tolist() == [[1, 2, 3, 5, 6], [4, 7, 8, 9, 0]]
    # mask[t] marks positions whose next token is a response token
    assert batch.mask.tolist() == [[False, False, True, True], [True, True, True, False]]
    sub = batch.select([0])
    assert sub.tokens.tolist() == [[1, 2, 3, 5, 6]] and sub.mask.shape == (1, 4)


def test_token_stats_sum_equals_study_get_logps(setup):
    tok, rows, policy = setup
    prompts = tok.encode_prompts(rows[:3])
    responses = [tok.encode(r["output"]) + [tok.eos_id] for r in rows[:3]]
    batch = build_sequences(prompts, responses, tok.pad_id)
    response_mask = torch.zeros_like(batch.tokens)
    for b, (p, r) in enumerate(zip(prompts, responses)):
        response_mask[b, len(p) : len(p) + len(r)] = 1
    with torch.no_grad():
        expected = sequence_logprobs(policy(batch.tokens), batch.tokens, response_mask)
        got = token_stats(policy, batch).logp.sum(-1)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.slow
def test_dpo_accumulation_is_exact(setup):
    tok, rows, policy = setup
    ref = frozen_copy(policy)
    pairs, _ = make_pairs(
        ref, tok, rows[:4], temperature=1.0, top_k=None, max_new_tokens=12, generator=torch.Generator().manual_seed(0)
    )
    grads = []
    for micro in (1, 4, 2):
        model = copy.deepcopy(policy)
        stats = accumulate_gradients(model, pairs, beta=0.1, micro_batch=micro, pad_id=tok.pad_id)
        grads.append(([t.grad.clone() for t in model.parameters()], stats["loss"]))
    for g, loss in grads[1:]:
        assert abs(loss - grads[0][1]) < 1e-6
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g, grads[0][0]))


def test_dpo_step_moves_policy_not_reference(setup):
    tok, rows, policy = setup
    policy, ref = copy.deepcopy(policy), frozen_copy(policy)
    before_p, before_r = snapshot(policy), snapshot(ref)
    logs = []
    p = params(
        steps=2,
        batch_size=2,
        grad_accum=1,
        lr=1e-3,
        beta=0.1,
        rej_temperature=1.0,
        rej_top_k=0,
        void_redraws=3,
        rej_max_new_tokens=12,
        weight_decay=0.0,
        grad_clip=1.0,
    )
    train_dpo(
        policy,
        ref,
        tok,
        rows,
        p,
        seed=0,
        generator=torch.Generator().manual_seed(0),
        on_log=lambda s, st: logs.append(st),
    )
    assert changed(before_p, policy) and not changed(before_r, ref)
    assert len(logs) == 2 and {"loss", "reward_margin", "accuracy", "both_falling"} <= set(logs[0])


def grpo_params(**kw):
    """GRPO settings for a tiny model: one step of 2 prompts x 3 samples unless overridden."""
    base = dict(
        steps=1,
        prompts_per_step=2,
        group_size=3,
        gen_temperature=1.0,
        gen_top_k=0,
        resp_len=12,
        lr=1e-3,
        kl_coef=0.04,
        clip_eps=0.2,
        epochs=1,
        collapse_threshold=0.1,
        weight_decay=0.0,
        grad_clip=1.0,
    )
    return params(**{**base, **kw})


def run_grpo(policy, ref, tok, rows, p, logs, **kw):
    train_grpo(
        policy,
        ref,
        tok,
        rows,
        length_reward,
        p,
        seed=0,
        generator=torch.Generator().manual_seed(0),
        on_log=lambda s, st: logs.append(st),
        **kw,
    )


def test_grpo_step_moves_policy_not_reference(setup):
    tok, rows, policy = setup
    policy, ref = copy.deepcopy(policy), frozen_copy(policy)
    before_p, before_r = snapshot(policy), snapshot(ref)
    logs, groups = [], []
    run_grpo(policy, ref, tok, rows, grpo_params(), logs, on_groups=lambda s, g: groups.extend(g))
    assert changed(before_p, policy) and not changed(before_r, ref)
    assert len(groups) == 2 and len(groups[0]["rewards"]) == 3
    assert logs[0]["collapsed_groups"] == sum(g["std"] < 0.1 for g in groups)


def test_ppo_step_moves_policy_and_value_head_not_reference(setup):
    tok, rows, policy = setup
    policy, ref = copy.deepcopy(policy), frozen_copy(policy)
    value_head = ValueHead(32)
    before_p, before_r, before_v = snapshot(policy), snapshot(ref), snapshot(value_head)
    logs = []
    p = params(
        steps=1,
        batch_size=4,
        mini_batch_size=2,
        epochs=2,
        lr=1e-3,
        kl_coef=0.01,
        reward_placement="every",
        resp_len=12,
        temperature=1.0,
        top_k=0,
        gamma=1.0,
        lam=0.95,
        clip_eps=0.2,
        vf_clip=0.2,
        vf_coef=0.1,
        vf_lr=1e-3,
        weight_decay=0.0,
        grad_clip=1.0,
    )
    train_ppo(
        policy,
        value_head,
        ref,
        tok,
        rows,
        length_reward,
        p,
        seed=0,
        generator=torch.Generator().manual_seed(0),
        on_log=lambda s, st: logs.append(st),
    )
    assert changed(before_p, policy) and changed(before_v, value_head) and not changed(before_r, ref)
    for key in (
        "reward",
        "kl",
        "kl_k1",
        "kl_k3",
        "clipfrac",
        "approx_kl",
        "value_loss",
        "explained_variance",
        "entropy",
        "response_len",
    ):
        assert key in logs[0]


def test_tempered_logprobs_and_kl_match_a_naive_reference(setup):
    """At sampling temperature T the log-probs, entropy and exact KL are those of softmax(logits / T)."""
    tok, rows, policy = setup
    ref = frozen_copy(policy)
    other = copy.deepcopy(policy)
    with torch.no_grad():
        for w in other.parameters():
            w.add_(0.05 * torch.randn_like(w))
    prompts = tok.encode_prompts(rows[:3])
    batch = build_sequences(prompts, [[5, 6, 7], [8, 9], [10]], tok.pad_id)
    T = 0.6
    with torch.no_grad():
        logits = other(batch.inputs)[batch.mask].float() / T
        ref_logits = ref(batch.inputs)[batch.mask].float() / T
        want_logp = torch.log_softmax(logits, -1).gather(-1, batch.targets[batch.mask][:, None]).squeeze(-1)
        got = token_stats(other, batch, temperature=T).logp[batch.mask]
        stats, ref_logp, kl = policy_ref_stats(other, ref, batch, temperature=T)
    assert torch.allclose(got, want_logp, atol=1e-5)
    assert torch.allclose(stats.logp[batch.mask], want_logp, atol=1e-5)
    assert torch.allclose(kl[batch.mask], exact_kl(logits, ref_logits), atol=1e-5)
    # and T really matters: the untempered KL is a different number
    assert not torch.allclose(kl[batch.mask], policy_ref_stats(other, ref, batch)[2][batch.mask], atol=1e-4)


def fake_generate(script):
    """A stand-in for generate(): call i returns script[i](prompts) as (token lists, all finished)."""
    calls = []

    def gen(model, prompts, **kw):
        out = script[min(len(calls), len(script) - 1)](prompts)
        calls.append(len(prompts))
        return types.SimpleNamespace(to_lists=lambda: out, finished=torch.ones(len(out), dtype=torch.bool))

    return gen, calls


def test_void_pairs_are_resampled_then_dropped(setup, monkeypatch):
    tok, rows, policy = setup
    ref = frozen_copy(policy)
    rs = rows[:3]
    copies = [tok.encode(r["output"]) for r in rs]  # the reference answer again (+ EOS: identical to chosen)
    # first draw: rows 0 and 1 copy the chosen answer; one redraw fixes row 0; row 1 copies again
    gen, calls = fake_generate(
        [lambda p: [copies[0], copies[1], [7]], lambda p: [[5], copies[1]][: len(p)], lambda p: [copies[1]][: len(p)]]
    )
    monkeypatch.setattr(dpo, "generate", gen)
    pairs, counts = make_pairs(
        ref,
        tok,
        rs,
        temperature=1.0,
        top_k=None,
        max_new_tokens=12,
        generator=torch.Generator().manual_seed(0),
        redraws=2,
    )
    assert counts == {"void": 2, "skipped": 1}
    assert calls == [3, 2, 1]  # only the void rows are resampled
    assert len(pairs) == 2 and all(c != r for c, r in zip(pairs.chosen, pairs.rejected))


def test_step_pairs_replace_void_prompts_and_fail_clearly_when_all_stay_void(setup, monkeypatch):
    tok, rows, policy = setup
    ref = frozen_copy(policy)
    p = params(rej_temperature=1.0, rej_top_k=0, rej_max_new_tokens=12, void_redraws=1)
    by_prompt = {tuple(tok.encode_prompts([r])[0]): tok.encode(r["output"]) for r in rows}
    copy_all = lambda prompts: [by_prompt[tuple(q)] for q in prompts]  # noqa: E731
    # the first prompt's pair stays void through its redraw; a fresh prompt replaces it
    gen, calls = fake_generate([copy_all, copy_all, lambda prompts: [[5, 6]] * len(prompts)])
    monkeypatch.setattr(dpo, "generate", gen)
    pairs, counts = make_step_pairs(
        ref, tok, rows, 1, p, rng=__import__("random").Random(0), order=[], generator=torch.Generator().manual_seed(0)
    )
    assert len(pairs) == 1 and counts == {"drawn": 2, "void": 1, "skipped": 1}
    gen, _ = fake_generate([copy_all])
    monkeypatch.setattr(dpo, "generate", gen)
    with pytest.raises(RlhfError, match="rej_temperature"):
        make_step_pairs(
            ref,
            tok,
            rows,
            2,
            p,
            rng=__import__("random").Random(0),
            order=[],
            generator=torch.Generator().manual_seed(0),
        )


def test_value_head_has_its_own_learning_rate(setup):
    """One update: the value head moves by about vf_lr (Adam), the policy by about lr, 10^4 apart."""
    tok, rows, policy = setup
    policy, ref = copy.deepcopy(policy), frozen_copy(policy)
    value_head = ValueHead(32)
    before_p, before_v = snapshot(policy), snapshot(value_head)
    p = params(
        steps=1,
        batch_size=2,
        mini_batch_size=2,
        epochs=1,
        lr=1e-6,
        vf_lr=1e-2,
        kl_coef=0.01,
        reward_placement="every",
        resp_len=8,
        temperature=1.0,
        top_k=0,
        gamma=1.0,
        lam=0.95,
        clip_eps=0.2,
        vf_clip=0.0,
        vf_coef=0.1,
        weight_decay=0.0,
        grad_clip=0.0,
    )
    train_ppo(
        policy,
        value_head,
        ref,
        tok,
        rows,
        length_reward,
        p,
        seed=0,
        generator=torch.Generator().manual_seed(0),
        on_log=lambda s, st: None,
    )
    moved = lambda before, m: max(float((a - b.detach()).abs().max()) for a, b in zip(before, m.parameters()))  # noqa: E731
    assert moved(before_v, value_head) > 5e-3
    assert 0 < moved(before_p, policy) < 1e-5


def test_time_aware_value_head_hand_computed_and_fits_score_times_tokens_left():
    from rlhf_core.rollout import ValueHead, head_values

    head = ValueHead(2, horizon=5)
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))  # a = h0, c = h1
    mask = torch.tensor([[False, True, True, True], [True, True, False, False]])
    sel = torch.tensor([[2.0, 1.0], [2.0, 1.0], [2.0, 1.0], [-1.0, 0.5], [-1.0, 0.5]])
    v = head_values(head, sel, mask)
    # tokens left before the cap of 5: 5, 4, 3 for the first response and 5, 4 for the second
    assert v[0].tolist() == [0.0, 1 + 2 * 5, 1 + 2 * 4, 1 + 2 * 3]
    assert v[1].tolist() == [0.5 - 5, 0.5 - 4, 0.0, 0.0]
    assert ValueHead(3)(torch.ones(4, 3)).shape == (4,)  # plain head: unchanged
    # the return under every-token reward, score x tokens left, is out of reach of a plain linear head
    # on a state that does not encode time, and within reach of the time-aware one
    torch.manual_seed(0)
    n, T = 64, 8
    score = torch.randn(n)
    h = torch.cat([score[:, None], torch.ones(n, 1)], 1).repeat_interleave(T, 0)  # the state knows the score
    k = torch.arange(T).repeat(n)
    target = score.repeat_interleave(T) * (T - k)

    def fit(head) -> float:
        opt = torch.optim.Adam(head.parameters(), lr=0.05)
        for _ in range(400):
            pred = head(h, k) if head.horizon else head(h)
            loss = ((pred - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return 1 - float(((pred - target).var() / target.var()).detach())

    assert fit(ValueHead(2, horizon=T)) > 0.99
    assert fit(ValueHead(2)) < 0.9


def test_value_head_mlp_fits_what_a_linear_head_cannot_and_starts_at_zero():
    from rlhf_core.rollout import ValueHead

    # a linear head keeps the checkpoint layout of earlier runs: only proj.weight and proj.bias
    assert set(ValueHead(4, horizon=8).state_dict()) == {"proj.weight", "proj.bias"}
    head = ValueHead(2, horizon=8, hidden=32)
    h = torch.randn(10, 2)
    k = torch.arange(10) % 8
    assert torch.equal(head(h, k), torch.zeros(10))  # initialised to predict zero, like the linear head
    # a return that depends on the state non-linearly (|score| x tokens left) is out of reach of a linear
    # map of h even with the time factor, and within reach of the MLP
    torch.manual_seed(0)
    n, T = 64, 8
    score = torch.randn(n)
    h = torch.cat([score[:, None], torch.ones(n, 1)], 1).repeat_interleave(T, 0)
    k = torch.arange(T).repeat(n)
    target = score.abs().repeat_interleave(T) * (T - k)

    def fit(head) -> float:
        opt = torch.optim.Adam(head.parameters(), lr=0.02)
        for _ in range(600):
            loss = ((head(h, k) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return 1 - float((head(h, k) - target).var() / target.var())

    torch.manual_seed(1)
    assert fit(ValueHead(2, horizon=T, hidden=32)) > 0.95
    assert fit(ValueHead(2, horizon=T)) < 0.7


def test_batch_gold_mean_skips_rows_without_gold():
    from rlhf_core.rollout import batch_gold_mean

    nan = float("nan")
    assert batch_gold_mean(torch.tensor([1.0, nan, 0.0])) == 0.5
    assert batch_gold_mean(torch.tensor([nan, nan])) is None  # no gold in the batch: no number, no fault
    assert batch_gold_mean(torch.tensor([])) is None


@pytest.mark.parametrize("gold", ["none", "some"])
def test_a_batch_of_only_unverifiable_rows_is_not_a_numerical_fault(setup, gold):
    """With a few prompts per step, every prompt of a step can be one the judge cannot verify (explain,
    tips): its gold is all NaN. Training must go on, logging no gold for that step."""
    tok, rows, policy = setup
    policy, ref = copy.deepcopy(policy), frozen_copy(policy)
    logs = []

    def gold_fn(rs, texts):
        if gold == "none":
            return torch.full((len(texts),), float("nan"))
        return torch.tensor([float("nan") if i % 2 else 1.0 for i in range(len(texts))])

    run_grpo(policy, ref, tok, rows, grpo_params(steps=2, group_size=2, resp_len=8), logs, gold_fn=gold_fn)
    assert len(logs) == 2
    if gold == "none":
        assert all("gold_mean" not in st for st in logs)
    else:
        assert all(st["gold_mean"] == 1.0 for st in logs)


def test_summarize_is_unchanged_when_every_step_logs_every_statistic():
    from stages._rl import summarize

    g = torch.Generator().manual_seed(0)
    history = [
        {"loss": float(torch.rand(1, generator=g)), "kl": float(torch.rand(1, generator=g)), "step": i}
        for i in range(50)
    ]
    s = summarize(history)
    for k in ("loss", "kl", "step"):
        assert s["final"][k] == history[-1][k]
        assert s["last20"][k] == sum(h[k] for h in history[-20:]) / 20  # the same sum, in the same order
        assert s["second_half"][k] == sum(h[k] for h in history[25:]) / 25
        assert s["overall"][k] == sum(h[k] for h in history) / 50
    assert list(s["final"]) == ["loss", "kl", "step"]


def test_summarize_averages_a_statistic_over_the_steps_that_logged_it():
    from stages._rl import summarize

    history = [{"loss": 1.0, "gold_mean": 0.5}] * 10 + [{"loss": 2.0}] * 30 + [{"loss": 3.0, "gold_mean": 0.1}]
    s = summarize(history)
    assert s["final"]["gold_mean"] == 0.1
    assert s["overall"]["gold_mean"] == pytest.approx((10 * 0.5 + 0.1) / 11)
    assert s["last20"]["gold_mean"] == 0.1
    assert s["final"]["loss"] == 3.0
    only_early = summarize([{"loss": 1.0, "gold_mean": 0.5}] + [{"loss": 2.0}] * 40)
    assert only_early["last20"]["gold_mean"] is None and only_early["overall"]["gold_mean"] == 0.5
    assert only_early["final"]["gold_mean"] == 0.5  # the last value it had
