"""rlhf resolve: validate params.yaml and write the effective config each stage reads."""

from pathlib import Path

import typer

from rlhf_core import io
from rlhf_core.params import STAGE_SECTIONS, load_params, stage_config
from stages._common import PARAMS_OPT, console, user_errors


@user_errors
def main(
    params: Path = PARAMS_OPT,
    out: Path = typer.Option(Path("reports/configs"), help="folder for one <stage>.json per stage"),
) -> None:
    """Check every value in params.yaml, then write <out>/<stage>.json with the sections each stage reads."""
    p = load_params(params)
    for stage in STAGE_SECTIONS:
        io.write_json(out / f"{stage}.json", stage_config(p, stage))
    console.print(f"[bold]resolve[/]: params valid; wrote {', '.join(STAGE_SECTIONS)} configs to {out}/")
