"""rlhf grpo: Group Relative Policy Optimisation against the reward model."""

from pathlib import Path

import typer

from rlhf_core import io
from rlhf_core.grpo import train_grpo
from rlhf_core.params import load_params, with_seed
from stages._common import DATA_OPT, PARAMS_OPT, RM_OPT, SEED_OPT, SFT_OPT, TIMING_OPT, TOKENIZER_OPT, user_errors
from stages._rl import RLRun, gold_fn, reward_fn, section


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = DATA_OPT,
    tokenizer: Path = TOKENIZER_OPT,
    sft: Path = SFT_OPT,
    rm: Path = RM_OPT,
    out: Path = typer.Option(Path("data/phase1/seed0/grpo"), help="checkpoint folder to write"),
    live: Path = typer.Option(Path("reports/live/phase1/seed0/grpo"), help="dvclive folder: logs, groups.jsonl"),
    timing: Path | None = TIMING_OPT,
    seed: int | None = SEED_OPT,
) -> None:
    """k samples per prompt at grpo.gen_temperature; logs group reward std and collapsed groups."""
    p = with_seed(load_params(params), seed)
    run = RLRun(
        "grpo",
        p,
        data=data,
        tokenizer=tokenizer,
        sft=sft,
        live=live,
        out=out,
        timing=timing,
        new_tokens=("grpo.resp_len", p.grpo.resp_len),
        rm=rm,
    )
    groups: list[dict] = []
    on_groups = run.resume.recorded("groups", lambda step, gs: groups.extend(dict(g, step=step) for g in gs))
    summary = run.train(
        train_grpo,
        policy=run.policy,
        ref=run.ref,
        tok=run.tok,
        rows=run.rows,
        reward_fn=reward_fn(rm, run),
        gold_fn=gold_fn(run.rows),
        p=p.grpo,
        seed=p.seed,
        generator=run.generator,
        on_groups=on_groups,
    )
    io.write_jsonl(live / "groups.jsonl", groups)
    run.save(out, section(p, "grpo"), summary)
