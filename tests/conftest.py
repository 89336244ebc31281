import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: `rlhf` and `dvc` live beside this python


def dvc_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update({"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site-cache"), "CI": "true",
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "GIT_AUTHOR_NAME": "test",
                "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
                "GIT_COMMITTER_EMAIL": "test@example.com", "PYTHONHASHSEED": "0"})
    return env


def make_project(dest: Path, params: Path) -> Path:
    """A throwaway git + DVC project: this repo's pipeline with the given params file."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("stages", "rlhf_core"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / ".dvc", dest / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    shutil.copy(params, dest / "params.yaml")
    env = dvc_env(dest)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=dest, env=env, check=True)
    return dest


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=dvc_env(cwd), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory) -> Path:
    """The whole DAG run once on the tiny configuration; tests read its outputs (do not modify them)."""
    dest = make_project(tmp_path_factory.mktemp("tiny"), ROOT / "tests/fixtures/params-tiny.yaml")
    run(["dvc", "repro"], dest)
    return dest


def sharpen(model):
    """Random init (std 0.02) makes a tiny model nearly constant (it echoes its last token); larger
    weights make attention, positions and padding matter, so equality tests can fail."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.weight.normal_(0, 1.0 / mod.in_features**0.5)
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.normal_(0, 1.0)
    return model
