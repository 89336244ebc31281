"""rlhf ppo: PPO with a value head against the reward model, KL-shaped per-token rewards."""

from pathlib import Path

import typer

from rlhf_core.params import load_params, with_seed
from rlhf_core.ppo import train_ppo
from rlhf_core.rollout import ValueHead
from stages._common import DATA_OPT, PARAMS_OPT, RM_OPT, SEED_OPT, SFT_OPT, TIMING_OPT, TOKENIZER_OPT, user_errors
from stages._rl import RLRun, gold_fn, reward_fn, section


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = DATA_OPT,
    tokenizer: Path = TOKENIZER_OPT,
    sft: Path = SFT_OPT,
    rm: Path = RM_OPT,
    out: Path = typer.Option(Path("data/phase1/seed0/ppo"), help="checkpoint folder to write"),
    live: Path = typer.Option(Path("reports/live/phase1/seed0/ppo"), help="dvclive folder: per-step logs and metrics"),
    timing: Path | None = TIMING_OPT,
    seed: int | None = SEED_OPT,
) -> None:
    """Rollouts, RM score, shaped reward r - kl_coef * (log pi - log pi_ref), GAE, clipped updates."""
    p = with_seed(load_params(params), seed)
    run = RLRun(
        "ppo",
        p,
        data=data,
        tokenizer=tokenizer,
        sft=sft,
        live=live,
        out=out,
        timing=timing,
        new_tokens=("ppo.resp_len", p.ppo.resp_len),
        rm=rm,
    )
    value_head = ValueHead(run.policy.cfg.d_model, p.ppo.resp_len if p.ppo.value_time else 0, p.ppo.value_hidden).to(
        run.device
    )
    summary = run.train(
        train_ppo,
        policy=run.policy,
        value_head=value_head,
        ref=run.ref,
        tok=run.tok,
        rows=run.rows,
        reward_fn=reward_fn(rm, run),
        gold_fn=gold_fn(run.rows),
        p=p.ppo,
        seed=p.seed,
        generator=run.generator,
    )
    run.save(out, section(p, "ppo"), summary, extra_modules={"value_head": value_head})
