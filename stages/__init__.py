"""One thin Typer command per DAG stage; `stages.cli` composes them into the `rlhf` command."""
