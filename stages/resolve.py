"""rlhf resolve: validate params.yaml and write the effective config each stage reads."""

from pathlib import Path

import typer

from rlhf_core import io
from rlhf_core.params import PHASE_SECTIONS, STAGE_SECTIONS, load_params, stage_config
from stages._common import PARAMS_OPT, console, user_errors


@user_errors
def main(
    params: Path = PARAMS_OPT,
    phase: str | None = typer.Option(
        None,
        help="write this phase's ppo/grpo/dpo/eval configs (base values "
        "merged with phases.PHASE overrides) instead of the shared stages'",
    ),
    out: Path = typer.Option(Path("reports/configs"), help="folder for one <stage>.json per stage"),
) -> None:
    """Check every value in params.yaml (every phase included), then write <out>/<stage>.json holding
    exactly the sections that stage reads."""
    p = load_params(params)
    sections = STAGE_SECTIONS
    if phase is not None:
        p, sections = load_params(params, phase=phase), PHASE_SECTIONS
    for stage in sections:
        io.write_json(out / f"{stage}.json", stage_config(p, stage, sections))
    console.print(f"[bold]resolve[/]: params valid; wrote {', '.join(sections)} configs to {out}/")
