"""What every stage shares at the CLI boundary: the one-line error handler and the console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from rlhf_core.errors import RlhfError

console = Console(stderr=True, soft_wrap=True)  # no hard wraps in logs


def user_errors(fn: Callable) -> Callable:
    """Turn an RlhfError into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RlhfError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper


PARAMS_OPT = typer.Option("params.yaml", "--params", help="params file")
DATA_OPT = typer.Option(Path("data/raw"), "--data", help="folder written by `rlhf download`")
TOKENIZER_OPT = typer.Option(Path("data/tokenizer"), "--tokenizer", help="folder written by `rlhf bpe`")
SFT_OPT = typer.Option(Path("data/sft"), "--sft", help="SFT checkpoint: the policy's start and the frozen reference")
RM_OPT = typer.Option(Path("data/rm"), "--rm", help="reward-model checkpoint written by `rlhf rm`")

SEED_OPT = typer.Option(
    None,
    "--seed",
    min=0,
    max=2**53,
    help="the RL seed of this run (an entry of rl_seeds): seeds training and sampling; default: the params file's seed",
)

TIMING_OPT = typer.Option(
    None,
    "--timing",
    help="write the stage's wall-clock times (JSON) here; kept apart from its "
    "outputs so that their hashes in dvc.lock repeat across runs",
)


def write_timing(path: Path | None, times: dict) -> None:
    """Wall-clock figures of a stage go to their own file, never into a DVC output: the outputs hold
    only what is deterministic for the seed."""
    if path is not None:
        from rlhf_core import io

        io.write_json(path, {k: round(v, 2) if isinstance(v, float) else v for k, v in times.items()})
