"""rlhf download: read the data source named by data.source into data/raw/{train,heldout,study}.jsonl."""

from pathlib import Path

import typer

from rlhf_core import io
from rlhf_core.data import dataset_stats, load_source, write_dataset
from rlhf_core.params import load_params
from stages._common import PARAMS_OPT, console, user_errors


@user_errors
def main(
    params: Path = PARAMS_OPT,
    out: Path = typer.Option(Path("data/raw"), help="folder for train/heldout/study.jsonl"),
    stats: Path = typer.Option(Path("reports/metrics/data.json"), help="data stats (rows read, dropped and why)"),
) -> None:
    """Load the builtin suite, a Hugging Face dataset or a local file; write the three splits."""
    p = load_params(params)
    ds = load_source(p.data, p.seed)
    summary = dataset_stats(ds)
    write_dataset(ds, out)
    io.write_json(stats, summary)
    console.print(
        f"[bold]download[/]: {summary['n_train']} train, {summary['n_heldout']} held-out, "
        f"{summary['n_study']} study prompts from {p.data.source} (dropped: {summary['dropped'] or 'none'})"
    )
