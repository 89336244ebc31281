"""rlhf compare: two runs' held-out answers, paired per (seed, prompt), with intervals on the difference."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer
import yaml

from rlhf_core import io
from rlhf_core.errors import RlhfError
from stages._common import console, user_errors


@dataclass
class Source:
    name: str
    params: dict
    read: Callable[[str], list[dict]]  # repository-relative path of a JSON-lines file -> its rows


def _git(repo: Path, *args: str) -> str | None:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _params(text: str | None, where: str) -> dict:
    if text is None:
        raise RlhfError(f"{where} has no params.yaml")
    try:
        p = yaml.safe_load(text)
    except yaml.YAMLError:
        raise RlhfError(f"{where}: params.yaml is not valid YAML") from None
    if not isinstance(p, dict):
        raise RlhfError(f"{where}: params.yaml is not a mapping")
    return p


def _experiment_rev(repo: Path, name: str) -> str | None:
    """The commit of the DVC experiment called `name`; the one based on HEAD when several share the name."""
    refs = _git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps") or ""
    hits = [line.split(" ", 1) for line in refs.splitlines() if line.endswith(f"/{name}")]
    if not hits:
        return None
    if len(hits) == 1:
        return hits[0][0]
    head = _git(repo, "rev-parse", "HEAD") or ""
    on_head = [sha for sha, ref in hits if ref.split("/")[2] + ref.split("/")[3] == head]
    if len(on_head) == 1:
        return on_head[0]
    raise RlhfError(
        f"{len(hits)} experiments are called {name!r}, none of them on HEAD; name one by its commit: "
        + ", ".join(sha[:7] for sha, _ in hits)
    )


def resolve(spec: str, repo: Path) -> Source:
    """A run: `workspace` (the files under --repo), a folder holding another checkout's params.yaml and
    data/, a DVC experiment's name, or a git revision (HEAD, a commit, a tag)."""
    folder = Path(spec)
    if spec == "workspace" or (folder.is_dir() and (folder / "params.yaml").is_file()):
        root = repo if spec == "workspace" else folder

        def read_file(path: str) -> list[dict]:
            f = root / path
            if not f.is_file():
                raise RlhfError(f"{spec}: {f} is missing; run `dvc repro` there")
            return io.read_jsonl(f)

        return Source(spec, _params((root / "params.yaml").read_text(encoding="utf-8"), spec), read_file)
    rev = _experiment_rev(repo, spec) or _git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    if not rev:
        raise RlhfError(
            f"{spec!r} is not `workspace`, a folder with params.yaml, an experiment (`dvc exp list`) or a git "
            f"revision of {repo}"
        )

    def read_rev(path: str) -> list[dict]:
        import dvc.api

        try:
            with dvc.api.open(path, repo=str(repo), rev=rev, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except Exception as e:  # DVC raises many kinds here: missing path, missing cache, no remote
            raise RlhfError(
                f"cannot read {path} of {spec} ({rev[:7]}): {type(e).__name__}; its outputs must be in the "
                "local DVC cache (`dvc exp pull` or `dvc pull` fetches them)"
            ) from None

    return Source(spec, _params(_git(repo, "show", f"{rev}:params.yaml"), f"{spec} ({rev[:7]})"), read_rev)


def _phases_seeds(src: Source) -> tuple[list[str], list[int]]:
    phases = src.params.get("phases") or {}
    seeds = src.params.get("rl_seeds") or [0]
    if not isinstance(phases, dict) or not phases:
        raise RlhfError(f"{src.name}: params.yaml names no phases")
    return list(phases), [int(s) for s in seeds]


@user_errors
def main(
    a: str = typer.Argument(..., help="the baseline run: HEAD, a commit, an experiment name, `workspace` or a folder"),
    b: str = typer.Argument("workspace", help="the run compared with it (same forms)"),
    repo: Path = typer.Option(Path("."), help="the DVC project the revisions and experiments belong to"),
    out: Path | None = typer.Option(None, help="also write the comparison as markdown here"),
    bootstrap: int = typer.Option(2000, min=100, help="bootstrap resamples"),
    ci: float = typer.Option(0.95, min=0.5, max=0.999, help="confidence level"),
    seed: int = typer.Option(0, min=0, help="bootstrap seed"),
) -> None:
    """Compare run B with run A answer by answer: for every phase, algorithm and metric (RM, gold, KL to
    SFT, share changed, length), B - A over the held-out (seed, prompt) cells both answered, with a
    hierarchical-bootstrap interval (seeds, then prompts) and each seed's own difference. Example, after
    `dvc exp run -n beta03 -S dpo.beta=0.3`: `rlhf compare HEAD beta03`."""
    from rlhf_core import compare as C
    from rlhf_core import verdicts as V

    sa, sb = resolve(a, repo), resolve(b, repo)
    (pa, seeds_a), (pb, seeds_b) = _phases_seeds(sa), _phases_seeds(sb)
    phases = [p for p in pa if p in pb]
    seeds = [s for s in seeds_a if s in seeds_b]
    if not phases or not seeds:
        raise RlhfError(
            f"{sa.name} and {sb.name} share no {'phase' if not phases else 'RL seed'} "
            f"(phases {pa} / {pb}, rl_seeds {seeds_a} / {seeds_b})"
        )
    notes = []
    if set(seeds_a) != set(seeds_b) or set(pa) != set(pb):
        notes.append(f"compared on what both ran: phases {', '.join(phases)}; RL seeds {seeds}")
    if len(seeds) == 1:
        notes.append("one RL seed: the intervals cover prompts and sampling, not the luck of training")
    k = V.Knobs(n_boot=bootstrap, ci=ci, seed=seed)
    rows = []
    for ph in phases:
        frames = []
        for src in (sa, sb):
            recs = []
            for s in seeds:
                recs += src.read(f"data/eval/{ph}/seed{s}/answers.jsonl")
            frames.append(C.heldout_frame(recs, f"{src.name}: data/eval/{ph}"))
        same = C.same_rm(*frames)
        if same is False:
            notes.append(
                f"{ph}: the two reward models score SFT's same answers differently, "
                "so RM numbers are on different scales"
            )
        if not C.same_sft(*frames):
            notes.append(f"{ph}: SFT answered differently in the two runs; RL verdicts are read net of SFT")
        found, same = C.compare_phase(frames[0], frames[1], ph, k)
        if same:
            names = ", ".join(V.LABEL[x] for x in same)
            notes.append(f"{ph}: identical answers and scores in both runs, left out: {names}")
        rows += found
    text = C.markdown(sa.name, sb.name, C.params_diff(sa.params, sb.params), rows, notes, ci=ci)
    if out is not None:
        io.write_text(out, text)
    print(text, end="")
    beyond = [r for r in rows if r.verdict in ("higher", "lower")]
    console.print(f"[bold]compare[/]: {len(rows)} paired comparisons, {len(beyond)} beyond noise")
