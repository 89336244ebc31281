"""The `rlhf` command: one subcommand per DAG stage, plus tools (generate, judge, compare, sweep, frontier; bench =
`python -m bench`)."""

import sys

import typer

from stages import bpe, compare, download, dpo, eval, frontier, generate, grpo, judge, ppo, report, resolve, rm, sft

app = typer.Typer(
    name="rlhf",
    help="A reproducible RLHF study: download -> bpe -> sft -> rm -> ppo/grpo/dpo -> eval -> report. "
    "Stages read params.yaml; run them all with `dvc repro`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("resolve")(resolve.main)
app.command("download")(download.main)
app.command("bpe")(bpe.main)
app.command("sft")(sft.main)
app.command("rm")(rm.main)
app.command("ppo")(ppo.main)
app.command("grpo")(grpo.main)
app.command("dpo")(dpo.main)
app.command("eval")(eval.main)
app.command("report")(report.main)
app.command("generate")(generate.main)
app.command("judge")(judge.main)
app.command("compare")(compare.main)
app.command("frontier")(frontier.main)
app.command("sweep")(frontier.sweep)


@app.command(
    "bench", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def bench(ctx: typer.Context) -> None:
    """Throughput benchmarks of the default model (the same as `python -m bench`; `rlhf bench --help` for options)."""
    # imported only when called: the pipeline stages never load the benchmarks
    try:
        from bench.cli import app as bench_app
    except ModuleNotFoundError as e:
        if e.name != "bench":
            raise
        print(
            "error: the bench package is not importable here: run from the repository root, or reinstall "
            "(pip install -e .)",
            file=sys.stderr,
        )
        raise typer.Exit(2) from None
    bench_app(args=ctx.args, prog_name="rlhf bench")


def main() -> None:
    # progress must reach a pipe or a log file as it happens (`dvc repro | tee`), not when a buffer fills
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    app()


if __name__ == "__main__":
    main()
