"""Shared fixtures and helpers, and the fast/slow split of the suite.

`pytest` runs the fast tests (pyproject's addopts deselect `slow`); `pytest -m slow` runs the rest;
CI runs both. Mark a test `@pytest.mark.slow` when it takes more than a second or two on a laptop
(an end-to-end DAG run, a report rendered with figures, a training loop long enough to learn).
"""

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: `rlhf` and `dvc` live beside this python

# Benchmark tests time real training steps and compiles: slow as a whole, whatever their file marks.
SLOW_FILES = ("test_bench*.py",)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(item.path.match(pattern) for pattern in SLOW_FILES):
            item.add_marker(pytest.mark.slow)


_deselected = 0


def pytest_deselected(items):
    global _deselected
    _deselected += len(items)


def pytest_sessionfinish(session, exitstatus):
    """`pytest -m slow tests/test_data.py` (or plain `pytest` on a file of slow tests) selects nothing:
    that is a pass, not pytest's "no tests collected" failure (exit code 5). A path with no tests at all
    still fails."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _deselected:
        session.exitstatus = pytest.ExitCode.OK


def dvc_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site-cache"),
            "CI": "true",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "PYTHONHASHSEED": "0",
        }
    )
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


# --- hostile inputs: helpers shared by the tests of each unit that reads user input --------------------
# Every refusal ends in one clear line (an RlhfError naming the problem and the fix; `error: ...` and exit
# code 2 at the CLI), and nothing a user can swap in (params, data files, checkpoints, a dataset folder)
# is unpickled or executed.


def one_line(excinfo) -> str:
    """The error's text, asserted to be one short line."""
    text = str(excinfo.value)
    assert "\n" not in text and text.strip() == text and len(text) < 400, text
    return text


def rows(n=80, **override):
    out = [{"instruction": f"Do task {i}.", "input": "", "output": f"Done {i}."} for i in range(n)]
    for i, row in override.items():
        out[int(i)].update(row)
    return out


def write_records(path: Path, records) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(records))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif path.suffix == ".csv":
        pd.DataFrame(records).to_csv(path, index=False)
    else:
        pd.DataFrame(records).to_parquet(path)
    return path


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory):
    """A BPE tokenizer trained on the builtin suite, built once per run (read it, do not modify it)."""
    from rlhf_core.builtin import build_suite
    from rlhf_core.tokenizer import save_tokenizer, train_bpe, training_texts

    suite = build_suite(n_train=200, n_heldout=16, seed=0)
    path = tmp_path_factory.mktemp("tok")
    save_tokenizer(train_bpe(training_texts(suite.train), vocab_size=400), path)
    return path


@pytest.fixture(scope="session")
def tok(tok_dir):
    from rlhf_core.tokenizer import load_tokenizer

    return load_tokenizer(tok_dir)


def small_config(tok, d=32, layers=1):
    from rlhf_core.model import GPTConfig

    return GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=layers, n_head=2, d_model=d)


class Payload:
    """Unpickling this creates `marker`: proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled_payload(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))
