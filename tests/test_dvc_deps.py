"""dvc.yaml lists, for every stage, each source file whose code can change that stage's outputs.

A module missing from a stage's deps is a silent staleness bug: edit it, and `dvc repro` keeps the old
outputs. The check follows the stage's imports (module level and inside functions) through the
repository's own packages and compares with the listed deps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rlhf_core", "stages")
# Imported by stages but unable to change any output, so deliberately not deps (a change to them
# must not rerun the pipeline):
NOT_DEPS = {
    "rlhf_core/__init__.py": "the package docstring and version string",
    "rlhf_core/errors.py": "the exception type of one-line user errors",
    "stages/__init__.py": "the package docstring",
    "stages/_common.py": "the console and the one-line error handler",
    "rlhf_core/resume.py": "resume state lives outside every output; a resumed stage ends byte-identical "
    "(tests/test_resume.py)",
}


def module_file(name: str) -> Path | None:
    base = ROOT / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_files(path: Path) -> set[Path]:
    """Files of this repository's packages that `path` imports, at any depth of its code."""
    found = set()
    package = path.relative_to(ROOT).parent.as_posix().replace("/", ".")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y, inside a package: resolve against the file's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES and (f := module_file(name)) is not None:
                found.add(f)
        if names and names[0].split(".")[0] in PACKAGES:
            parts = names[0].split(".")  # importing a.b.c runs a/__init__.py and a/b/__init__.py too
            found |= {f for i in range(1, len(parts)) if (f := module_file(".".join(parts[:i]))) is not None}
    return found


def closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += imported_files(path)
    return seen


def stage_specs() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: spec.get("do", spec) for name, spec in stages.items()}


def covered(rel: str, deps: list[str]) -> bool:
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def test_every_stage_lists_the_code_it_runs():
    missing = {}
    for name, spec in stage_specs().items():
        command = spec["cmd"].split()[1]  # "rlhf <command> ..."
        entry = ROOT / "stages" / f"{command}.py"
        assert entry.is_file(), f"stage {name}: no stages/{command}.py for `rlhf {command}`"
        deps = [str(d) for d in spec.get("deps", [])]
        lacking = sorted(
            rel
            for f in closure(entry)
            if (rel := f.relative_to(ROOT).as_posix()) not in NOT_DEPS and not covered(rel, deps)
        )
        if lacking:
            missing[name] = lacking
    assert not missing, f"add these to the stages' deps in dvc.yaml (or to NOT_DEPS, with the reason): {missing}"


def test_listed_code_deps_exist_and_the_import_walk_finds_lazy_imports():
    for name, spec in stage_specs().items():
        for dep in spec.get("deps", []):
            if str(dep).endswith(".py"):
                assert (ROOT / dep).is_file(), f"stage {name}: dep {dep} does not exist"
    # the reward model is imported inside a function of stages/_rl.py; the walk must see it
    assert ROOT / "rlhf_core" / "reward.py" in imported_files(ROOT / "stages" / "_rl.py")
    # relative imports inside a package are followed: the gold judge's modules behind rlhf_core.builtin
    assert ROOT / "rlhf_core" / "builtin" / "judge.py" in imported_files(ROOT / "rlhf_core" / "builtin" / "__init__.py")
    assert not set(NOT_DEPS) - {f.relative_to(ROOT).as_posix() for f in closure(ROOT / "stages" / "sft.py")}


def test_dvc_plots_render_offline_with_the_vendored_template():
    """`dvc plots show` must work without a network: the configured HTML template carries vega,
    vega-lite and vega-embed inline and loads nothing from a CDN."""
    import configparser
    import re

    root = Path(__file__).resolve().parents[1]
    cfg = configparser.ConfigParser()
    cfg.read(root / ".dvc" / "config")
    template = root / ".dvc" / cfg["plots"]["html_template"]
    html = template.read_text()
    assert "{plot_divs}" in html and "{scripts}" not in html  # DVC's CDN scripts have nowhere to go
    assert not re.search(r"<script[^>]+src=", html)
    for lib in ("vega ", "vega-lite ", "vega-embed "):
        assert f"<!-- {lib}" in html
    assert "vegaEmbed" in html
