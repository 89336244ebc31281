"""The losses and estimators of the study, as pure functions of tensors.

Each returns the loss (a scalar tensor) and, where useful, a dict of float statistics for logging.
Every function cites the equation it implements and is tested against hand-computed values or a
naive reference in tests/test_losses.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, margin: torch.Tensor | float = 0.0, center_coef: float = 0.0
) -> tuple[torch.Tensor, dict]:
    """Reward-model loss: -log sigmoid(r_w - r_l - margin), mean over pairs (Christiano et al. 2017;
    Ouyang et al. 2022, eq. 1). `margin` is Llama-2's optional per-pair margin; `center_coef` adds
    center_coef * mean((r_w + r_l)^2), which pins the reward scale's free offset near zero.
    """
    diff = r_chosen - r_rejected
    loss = -F.logsigmoid(diff - margin).mean()
    if center_coef:
        loss = loss + center_coef * ((r_chosen + r_rejected) ** 2).mean()
    stats = {
        "accuracy": (diff > 0).float().mean().item(),
        "margin": diff.mean().item(),
        "reward_mean": torch.cat([r_chosen, r_rejected]).mean().item(),
        "reward_std": torch.cat([r_chosen, r_rejected]).std().item() if diff.numel() > 1 else 0.0,
    }
    return loss, stats


# ---------------------------------------------------------------------------------------------
# Shared numerics
# ---------------------------------------------------------------------------------------------

#: Bound on a per-token log-ratio before it is exponentiated (PPO/GRPO ratio, k3 estimator).
#: exp(20) ~ 4.9e8: far beyond any clip range, yet finite, so one degenerate token cannot turn
#: the loss into inf/NaN. Beyond the bound the gradient through that token is zero.
LOG_RATIO_CLAMP = 20.0


def _maskf(mask: torch.Tensor) -> torch.Tensor:
    """A bool/float mask as float32 weights (1 = a response token that counts)."""
    return mask.to(torch.float32)


def _masked_select_zero(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x where mask is set, exactly 0 elsewhere (NaN/inf off the mask cannot leak, unlike x * mask)."""
    return torch.where(mask.bool(), x, torch.zeros((), dtype=x.dtype, device=x.device))


# ---------------------------------------------------------------------------------------------
# Log-probabilities, KL and entropy
# ---------------------------------------------------------------------------------------------


def gather_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[labels] per position: (B,T,V), (B,T) -> (B,T), float32.

    Computed as logits.gather(labels) - logsumexp(logits), so no (B,T,V) log-softmax tensor is
    materialised and kept for backward (logsumexp saves only its input and its (B,T) result).
    Math is float32 even for bf16/fp16 logits (a bf16 input is upcast once).
    """
    logits = logits.float()  # (B,T,V)
    picked = logits.gather(-1, labels.long().unsqueeze(-1)).squeeze(-1)  # (B,T)
    return picked - torch.logsumexp(logits, dim=-1)  # (B,T)


def sequence_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Sum of response-token log-probs per sequence: the study's `get_logps` (DPO write-up, 3.3).

    logits (B,T,V) from the model on input_ids (B,T); response_mask (B,T), 1 on response tokens.
    logits[:, :-1] predict input_ids[:, 1:]; the mask is shifted with the labels, so position t's
    logits count iff token t+1 is a response token. Returns (B,) float32.
    """
    token_logps = gather_logprobs(logits[:, :-1, :], input_ids[:, 1:])  # (B,T-1)
    return _masked_select_zero(token_logps, response_mask[:, 1:]).sum(dim=-1)  # (B,)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of x over entries with mask set (mask same shape as x; float weights allowed).

    dim=None: a scalar over everything; else the mean along `dim`. An empty mask gives 0, not NaN.
    """
    m = _maskf(mask)
    xm = _masked_select_zero(x.float(), mask) * m
    if dim is None:
        return xm.sum() / m.sum().clamp_min(1e-8)
    return xm.sum(dim) / m.sum(dim).clamp_min(1e-8)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of x over the masked entries (scalar); Bessel-corrected when `unbiased` and n > 1."""
    m = _maskf(mask)
    mean = masked_mean(x, mask)
    sq = _masked_select_zero((x.float() - mean) ** 2, mask) * m
    n = m.sum()
    if unbiased:
        return sq.sum() / (n - 1.0).clamp_min(1.0)  # n <= 1: the sum is 0, so 0
    return sq.sum() / n.clamp_min(1e-8)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) with mean and (unbiased) variance over the masked entries of the
    whole tensor, as PPO implementations whiten advantages (e.g. TRL's masked_whiten).

    shift_mean=False adds the mean back (rescale only). Entries off the mask are set to 0. (B,T) -> (B,T).
    """
    mean = masked_mean(x, mask)
    var = masked_var(x, mask, unbiased=True)
    out = (x.float() - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return _masked_select_zero(out, mask)


def kl_estimators(logp: torch.Tensor, ref_logp: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-token Monte-Carlo estimators of KL(pi || pi_ref) for tokens sampled from pi
    (Schulman 2020, "Approximating KL divergence"). With log r = ref_logp - logp:

      k1 = -log r = logp - ref_logp            unbiased, high variance, can be negative
      k2 = 0.5 * (log r)^2                      biased, low variance, >= 0
      k3 = (r - 1) - log r                      unbiased, low variance, >= 0 (DeepSeekMath's KL)

    log r is clamped to +-LOG_RATIO_CLAMP before the exp in k3. All (B,T) float32.
    """
    log_r = ref_logp.float() - logp.float()  # (B,T)
    log_r_c = log_r.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": torch.expm1(log_r_c) - log_r_c}


def exact_kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """Full KL(pi || pi_ref) = sum_v pi(v) (log pi(v) - log pi_ref(v)) per position, (B,T,V) -> (B,T).

    float32; vocabulary entries with pi(v) = 0 contribute 0 (no 0 * inf NaN).
    """
    logp = F.log_softmax(logits.float(), dim=-1)  # (B,T,V)
    ref_logp = F.log_softmax(ref_logits.float(), dim=-1)  # (B,T,V)
    p = logp.exp()
    diff = torch.where(p > 0, logp - ref_logp, torch.zeros((), device=p.device))
    return (p * diff).sum(dim=-1)  # (B,T)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy H(pi) = -sum_v pi(v) log pi(v) per position, (B,T,V) -> (B,T), float32 (0 log 0 = 0)."""
    logp = F.log_softmax(logits.float(), dim=-1)  # (B,T,V)
    p = logp.exp()
    return -(p * torch.where(p > 0, logp, torch.zeros((), device=p.device))).sum(dim=-1)


# ---------------------------------------------------------------------------------------------
# PPO (Schulman et al. 2017) with GAE (Schulman et al. 2016)
# ---------------------------------------------------------------------------------------------


def shaped_rewards(
    score: torch.Tensor,
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    placement: str = "every",
) -> torch.Tensor:
    """Per-token KL-shaped reward (Ziegler et al. 2019; Ouyang et al. 2022; the study's 2.2):

      r_t = score * [t gets the score] - kl_coef * (logp_t - ref_logp_t)    on masked tokens, 0 off it.

    placement="every": the study's form, the scalar score at every response token.
    placement="last":  the standard form, the score on the last masked token of each row only.
    score (B,), logp/ref_logp/mask (B,T) -> (B,T) float32. Pass detached log-probs: this is a reward.
    """
    if placement not in ("every", "last"):
        raise ValueError(f"placement must be 'every' or 'last', got {placement!r}")
    m = _maskf(mask)  # (B,T)
    kl = _masked_select_zero(logp.float() - ref_logp.float(), mask)  # (B,T)
    score = score.float().reshape(-1, 1)  # (B,1)
    if placement == "every":
        at = m
    else:
        T = m.shape[1]
        pos = torch.arange(T, device=m.device, dtype=torch.float32)  # (T,)
        last = torch.where(m > 0, pos, torch.full_like(pos, -1.0)).argmax(dim=-1)  # (B,) last masked index
        at = F.one_hot(last, T).float() * (m.sum(-1, keepdim=True) > 0).float()  # (B,T); empty rows: none
    return (score * at - kl_coef * kl) * (m > 0).float()


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised Advantage Estimation (Schulman et al. 2016, eq. 16), per row of a right-padded batch:

      delta_t = r_t + gamma * V_{t+1} - V_t,    A_t = delta_t + gamma * lam * A_{t+1},    R_t = A_t + V_t,

    with V_{t+1} = A_{t+1} = 0 past the last masked token (episode ends: bootstrap 0). mask (B,T) is a
    prefix of ones per row (rows may be empty). rewards/values (B,T); returns (advantages, returns),
    both (B,T) float32, detached (they are targets), 0 off the mask.
    """
    m = _maskf(mask)  # (B,T)
    r = _masked_select_zero(rewards.detach().float(), mask)  # (B,T)
    v = _masked_select_zero(values.detach().float(), mask)  # (B,T)
    B, T = r.shape
    adv = torch.zeros_like(r)
    next_adv = torch.zeros(B, dtype=torch.float32, device=r.device)  # (B,)
    next_val = torch.zeros(B, dtype=torch.float32, device=r.device)  # (B,)
    next_m = torch.zeros(B, dtype=torch.float32, device=r.device)  # (B,) is t+1 in the episode
    for t in range(T - 1, -1, -1):
        delta = r[:, t] + gamma * next_val * next_m - v[:, t]
        next_adv = delta + gamma * lam * next_m * next_adv
        adv[:, t] = next_adv
        next_val, next_m = v[:, t], m[:, t]
    adv = adv * m
    return adv, (adv + v) * m


def ppo_policy_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip_eps: float
) -> tuple[torch.Tensor, dict]:
    """PPO clipped surrogate (Schulman et al. 2017, eq. 7), masked token mean:

      L = -E_t[ min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t) ],  rho_t = exp(logp_t - old_logp_t).

    The log-ratio is clamped to +-LOG_RATIO_CLAMP before exp. old_logp and advantages are constants
    (detached). All inputs (B,T). Stats: clipfrac (fraction of tokens where the clipped term is the
    active one), approx_kl (k3 estimate of KL(pi_old || pi), tokens drawn from pi_old), ratio_mean,
    ratio_max (over masked tokens).
    """
    log_ratio = (logp.float() - old_logp.detach().float()).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)  # (B,T)
    adv = advantages.detach().float()
    pg_unclipped = -adv * ratio  # (B,T)
    pg_clipped = -adv * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)  # (B,T)
    loss = masked_mean(torch.maximum(pg_unclipped, pg_clipped), mask)
    with torch.no_grad():
        mb = mask.bool()
        stats = {
            "clipfrac": masked_mean((pg_clipped > pg_unclipped).float(), mask).item(),
            "approx_kl": masked_mean(torch.expm1(log_ratio) - log_ratio, mask).item(),
            "ratio_mean": masked_mean(ratio, mask).item(),
            "ratio_max": ratio[mb].max().item() if mb.any() else 0.0,
        }
    return loss, stats


def ppo_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip_eps: float | None
) -> tuple[torch.Tensor, dict]:
    """Clipped value loss of PPO implementations (Schulman et al. 2017 baselines; Ouyang et al. 2022):

      L_V = 0.5 * E_t[ max((V_t - R_t)^2, (clip(V_t, V_old - eps, V_old + eps) - R_t)^2) ]

    masked token mean; clip_eps=None gives the plain 0.5 * E[(V - R)^2]. All inputs (B,T).
    Stats: vf_clipfrac (fraction where the clipped term is larger), explained_variance
    1 - Var[R - V] / Var[R] over masked tokens (0.0 when Var[R] = 0).
    """
    v = values.float()
    R = returns.detach().float()
    err = (v - R) ** 2  # (B,T)
    if clip_eps is None:
        per_tok = err
        clipped_active = torch.zeros_like(err)
    else:
        old = old_values.detach().float()
        v_clip = old + (v - old).clamp(-clip_eps, clip_eps)
        err_clip = (v_clip - R) ** 2
        per_tok = torch.maximum(err, err_clip)
        clipped_active = (err_clip > err).float()
    loss = 0.5 * masked_mean(per_tok, mask)
    with torch.no_grad():
        var_r = masked_var(R, mask, unbiased=False)
        ev = (1.0 - masked_var(R - v, mask, unbiased=False) / var_r).item() if var_r.item() > 0 else 0.0
        stats = {"vf_clipfrac": masked_mean(clipped_active, mask).item(), "explained_variance": ev}
    return loss, stats


# ---------------------------------------------------------------------------------------------
# GRPO (Shao et al. 2024, DeepSeekMath)
# ---------------------------------------------------------------------------------------------


def grpo_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-relative advantages (DeepSeekMath 4.1.2, outcome supervision; the study's 2.3):

      A_i = (r_i - mean(r)) / max(std(r), eps)    per group, std unbiased (torch .std()).

    rewards (P,k): P prompts, k samples each -> (advantages (P,k), std (P,)). A group whose rewards
    are all equal ("group collapse") gives exactly 0 advantages and std 0; k = 1 gives 0 and std 0.
    """
    r = rewards.float()  # (P,k)
    mean = r.mean(dim=-1, keepdim=True)  # (P,1)
    if r.shape[-1] > 1:
        std = r.std(dim=-1)  # (P,)
    else:
        std = torch.zeros(r.shape[0], dtype=r.dtype, device=r.device)
    equal = (r == r[:, :1]).all(dim=-1)  # (P,)
    std = torch.where(equal, torch.zeros_like(std), std)
    adv = (r - mean) / std.clamp_min(eps).unsqueeze(-1)  # (P,k)
    adv = torch.where(equal.unsqueeze(-1), torch.zeros_like(adv), adv)
    return adv, std


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
    kl_coef: float,
) -> tuple[torch.Tensor, dict]:
    """GRPO objective (DeepSeekMath, Shao et al. 2024, eq. 3), as a loss to minimise:

      L = mean_i (1/|o_i|) sum_t [ -min(rho_t A_i, clip(rho_t, 1-eps, 1+eps) A_i) + kl_coef * k3_t ],
      rho_t = exp(logp_t - old_logp_t),  k3_t = pi_ref/pi - log(pi_ref/pi) - 1   (eq. 4).

    logp/old_logp/ref_logp/mask (B,T) with B = P*k flattened responses; advantages (B,) (or (B,1)),
    one per response, broadcast over its tokens. Per-sequence token mean, then mean over non-empty
    sequences. Log-ratios are clamped to +-LOG_RATIO_CLAMP before exp. Stats: clipfrac (masked token
    fraction where clipping is active), kl (mean k3, same aggregation as the loss), pg_loss.
    """
    m = _maskf(mask)  # (B,T)
    log_ratio = (logp.float() - old_logp.detach().float()).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)  # (B,T)
    adv = advantages.detach().float().reshape(-1, 1)  # (B,1)
    pg_unclipped = -adv * ratio  # (B,T)
    pg_clipped = -adv * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    pg = torch.maximum(pg_unclipped, pg_clipped)  # (B,T)
    k3 = kl_estimators(logp, ref_logp.detach())["k3"]  # (B,T)

    lengths = m.sum(dim=-1)  # (B,)
    nonempty = (lengths > 0).float()
    n_seq = nonempty.sum().clamp_min(1.0)

    def seq_then_batch(x: torch.Tensor) -> torch.Tensor:
        per_seq = masked_mean(x, mask, dim=-1)  # (B,)
        return (per_seq * nonempty).sum() / n_seq

    pg_loss = seq_then_batch(pg)
    kl = seq_then_batch(k3)
    loss = pg_loss + kl_coef * kl
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((pg_clipped > pg_unclipped).float(), mask).item(),
            "kl": kl.item(),
            "pg_loss": pg_loss.item(),
        }
    return loss, stats


# ---------------------------------------------------------------------------------------------
# DPO (Rafailov et al. 2023)
# ---------------------------------------------------------------------------------------------


def dpo_loss(
    pi_chosen: torch.Tensor,
    pi_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, dict]:
    """DPO loss (Rafailov et al. 2023, eq. 7), mean over the batch:

      L = -log sigmoid( beta * [(log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))] )

    computed with F.logsigmoid, finite for any margin. Inputs (B,) sequence log-probs
    (see sequence_logprobs). Stats, as the study logs them: reward_margin = mean of the un-scaled
    margin (no beta); accuracy = fraction with margin > 0; chosen/rejected_reward = mean of beta *
    log-ratio (the implicit reward, up to beta log Z); chosen/rejected_logratio = mean log-ratio.
    """
    chosen_lr = pi_chosen.float() - ref_chosen.detach().float()  # (B,)
    rejected_lr = pi_rejected.float() - ref_rejected.detach().float()  # (B,)
    margin = chosen_lr - rejected_lr  # (B,)
    loss = -F.logsigmoid(beta * margin).mean()
    with torch.no_grad():
        stats = {
            "reward_margin": margin.mean().item(),
            "accuracy": (margin > 0).float().mean().item(),
            "chosen_reward": (beta * chosen_lr).mean().item(),
            "rejected_reward": (beta * rejected_lr).mean().item(),
            "chosen_logratio": chosen_lr.mean().item(),
            "rejected_logratio": rejected_lr.mean().item(),
        }
    return loss, stats
