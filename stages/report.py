"""rlhf report: the study's tables, figures and findings from what eval and training wrote."""

from pathlib import Path

import typer

from rlhf_core.params import load_params
from stages._common import PARAMS_OPT, console, user_errors


@user_errors
def main(
    params: Path = PARAMS_OPT,
    reports: Path = typer.Option(
        Path("reports"), help="folder with metrics/, live/, configs/; report.md, figures/ and tables/ are written here"
    ),
    data: Path = typer.Option(Path("data"), help="folder with eval/PHASE/answers.jsonl"),
) -> None:
    """Reads only the phases named in params.yaml (in order) and writes reports/report.md,
    reports/figures/*.png and reports/tables/*.md + *.csv."""
    from rlhf_core.report import load_study, write_report  # pandas + matplotlib: only here

    p = load_params(params)
    study = load_study(list(p.phases), reports, data, list(p.rl_seeds))
    written = write_report(study, reports, p.report, seed=p.seed)
    n_fig = sum(f.suffix == ".png" for f in written.files)
    n_tab = sum(f.suffix == ".md" and f.parent.name == "tables" for f in written.files)
    console.print(
        f"[bold]report[/]: {reports / 'report.md'} with {n_fig} figures and {n_tab} tables for "
        f"{', '.join(p.phases)}" + ("" if study.gold else " (no gold judge: gold sections skipped)")
    )
