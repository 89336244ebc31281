"""rlhf dpo: Direct Preference Optimisation from the SFT checkpoint (no reward model)."""

from pathlib import Path

import typer

from rlhf_core.dpo import train_dpo
from rlhf_core.params import load_params, with_seed
from stages._common import DATA_OPT, PARAMS_OPT, SEED_OPT, SFT_OPT, TIMING_OPT, TOKENIZER_OPT, user_errors
from stages._rl import RLRun, section


@user_errors
def main(
    params: Path = PARAMS_OPT,
    data: Path = DATA_OPT,
    tokenizer: Path = TOKENIZER_OPT,
    sft: Path = SFT_OPT,
    out: Path = typer.Option(Path("data/phase1/seed0/dpo"), help="checkpoint folder to write"),
    live: Path = typer.Option(Path("reports/live/phase1/seed0/dpo"), help="dvclive folder: per-step logs and metrics"),
    timing: Path | None = TIMING_OPT,
    seed: int | None = SEED_OPT,
) -> None:
    """Chosen = the reference answer; rejected = a reference-model sample at dpo.rej_temperature."""
    p = with_seed(load_params(params), seed)
    run = RLRun(
        "dpo",
        p,
        data=data,
        tokenizer=tokenizer,
        sft=sft,
        live=live,
        out=out,
        timing=timing,
        new_tokens=("dpo.rej_max_new_tokens", p.dpo.rej_max_new_tokens),
    )
    summary = run.train(
        train_dpo,
        policy=run.policy,
        ref=run.ref,
        tok=run.tok,
        rows=run.rows,
        p=p.dpo,
        seed=p.seed,
        generator=run.generator,
    )
    run.save(out, section(p, "dpo"), summary)
