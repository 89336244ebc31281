"""Resume after a kill: a training stage's whole state in one safetensors file, outside DVC's outputs.

A training loop `track`s what its next step depends on (modules, optimisers, RNGs), calls `restore()`
once before its first step and `save_if_due(step, loop_state)` at step boundaries. The file holds
weights, AdamW moments and step counts, every RNG state (the loop's own, torch's and Python's global
ones), the loop's data position and everything already logged, so a resumed run replays its logs and
ends bit-identical to an uninterrupted one (tests/test_resume.py kills stages with SIGKILL to check).

Safety: tensors go to safetensors and the rest to JSON in its metadata, never pickle; the file is
written atomically (temp file, then rename), so a kill mid-write leaves the previous state. A state is
used only when its fingerprint (stage, params, bytes of every input, the pipeline's source code and
the torch version) matches the run being started;
otherwise it is ignored and replaced. The file is removed when the stage finishes.

Where and how often: `RLHF_RESUME_DIR` (default `.rlhf-resume/` in the working directory) and
`RLHF_CHECKPOINT_EVERY` seconds between saves (default 60; 0 = every step; a negative value turns
checkpointing off). Neither changes results, so neither is a param that would rerun stages.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rlhf_core import io

ENV_DIR = "RLHF_RESUME_DIR"
ENV_EVERY = "RLHF_CHECKPOINT_EVERY"
DEFAULT_EVERY = 60.0
FORMAT = 1


def code_digest(roots: tuple[Path, ...] | None = None) -> str:
    """sha256 over every .py file of the pipeline's code (rlhf_core and stages by default) and the torch
    version. A state saved by other code must not be continued: a run killed to fix a bug in a loss
    would otherwise resume from steps taken with the bug."""
    if roots is None:
        here = Path(__file__).resolve().parent
        roots = (here, here.parent / "stages")
    return _code_digest(tuple(Path(r) for r in roots))


@functools.cache
def _code_digest(roots: tuple[Path, ...]) -> str:
    h = hashlib.sha256(torch.__version__.encode())
    for root in roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else []:
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def fingerprint(stage: str, config: Any, inputs: Iterable[str | os.PathLike]) -> str:
    """sha256 of the stage name, its params, the bytes of every file under `inputs` and `code_digest()`."""
    h = hashlib.sha256(json.dumps([stage, config, code_digest()], sort_keys=True, default=str).encode())
    for root in inputs:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            h.update(str(path.relative_to(root) if root.is_dir() else path.name).encode())
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def state_path(out: str | os.PathLike, resume_dir: str | os.PathLike | None = None) -> Path:
    """The resume file of the stage writing `out`: `<resume dir>/<out with / as __>.safetensors`."""
    base = Path(resume_dir or os.environ.get(ENV_DIR) or ".rlhf-resume")
    name = Path(out).as_posix().strip("/").replace("/", "__") or "stage"
    return base / f"{name}.safetensors"


def every_seconds() -> float:
    raw = os.environ.get(ENV_EVERY, "")
    try:
        return float(raw) if raw.strip() else DEFAULT_EVERY
    except ValueError:
        from rlhf_core.errors import RlhfError

        raise RlhfError(
            f"{ENV_EVERY}={raw!r} is not a number; set seconds between resume checkpoints (0 = every step, -1 = off)"
        ) from None


def read_step(path: str | os.PathLike) -> int | None:
    """Step of the state saved at `path`, or None when there is none (cheap: reads the header only)."""
    info = _read_info(Path(path))
    return None if info is None else int(info["step"])


def _read_info(path: Path) -> dict | None:
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})["rlhf_resume"])
    except (FileNotFoundError, SafetensorError, OSError, KeyError, ValueError):
        return None


class Resume:
    """Periodic resume checkpoints for one run of one stage (see the module docstring)."""

    def __init__(
        self, path: str | os.PathLike, fingerprint: str, every: float | None = None, log: Callable[[str], None] = print
    ):
        self.path, self.fp, self.log = Path(path), fingerprint, log
        self.every = every_seconds() if every is None else every
        self.objects: dict[str, Any] = {}
        self.events: dict[str, list] = {}
        self.meta: dict[str, Any] = {}  # stage-level values computed once (e.g. the untrained model's eval)
        self.saved_step = 0
        self.resumed_from = 0  # the step restore() continued from (0: a fresh run)
        self._last_save = time.monotonic()
        self._tensors: dict[str, torch.Tensor] = {}
        self._info: dict | None = None
        if self.every >= 0:
            self._load()

    @classmethod
    def for_stage(
        cls,
        stage: str,
        out: str | os.PathLike,
        config: Any,
        inputs: Iterable[str | os.PathLike],
        log: Callable[[str], None] = print,
    ) -> Resume:
        return cls(state_path(out), fingerprint(stage, config, inputs), log=log)

    # --- what the stage sees -------------------------------------------------------------------------

    @property
    def resuming(self) -> bool:
        return self._info is not None

    def where(self) -> str:
        """The last good checkpoint, for error messages."""
        if self.saved_step:
            return f"last good checkpoint: step {self.saved_step} in {self.path} (resumed on the next run)"
        return "no checkpoint was saved for this run"

    def recorded(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a logging callback so its calls are saved with the state; a resumed run replays the saved
        calls through `fn` first, so logs and summaries are the same as an uninterrupted run's."""
        calls = self.events.setdefault(name, [])
        for args in (self._info or {}).get("events", {}).get(name, []):
            fn(*args)
            calls.append(args)

        def wrapper(*args):
            calls.append(list(args))
            fn(*args)

        return wrapper

    # --- what the training loop sees -----------------------------------------------------------------

    def track(self, **objects: Any) -> None:
        """Register modules, optimisers and RNGs (random.Random / torch.Generator) by name."""
        self.objects.update(objects)

    def restore(self) -> dict | None:
        """Load the saved state into the tracked objects; return the loop's saved values, or None."""
        if self._info is None:
            return None
        info, t = self._info, self._tensors
        for name, obj in self.objects.items():
            if isinstance(obj, torch.nn.Module):
                prefix = f"module.{name}."
                obj.load_state_dict({k[len(prefix) :]: v for k, v in t.items() if k.startswith(prefix)})
            elif isinstance(obj, torch.optim.Optimizer):
                obj.load_state_dict(_optimizer_state(info["optimizers"][name], t, f"optim.{name}."))
            elif isinstance(obj, torch.Generator):
                obj.set_state(t[f"rng.{name}"])
            elif isinstance(obj, random.Random):
                obj.setstate(_py_state(info["rngs"][name]))
        torch.set_rng_state(t["rng.torch_global"])
        random.setstate(_py_state(info["rngs"]["python_global"]))
        if torch.cuda.is_available() and info.get("cuda_rng"):
            torch.cuda.set_rng_state_all([t[f"rng.cuda.{i}"] for i in range(info["cuda_rng"])])
        self.saved_step = self.resumed_from = int(info["step"])
        self._tensors = {}
        return info["loop"]

    def save_if_due(self, step: int, loop: Callable[[], dict] | dict, force: bool = False) -> bool:
        """Save when `every` seconds have passed since the last save (or `force`). `loop` is the loop's
        own JSON state (or a function building it), e.g. {"step": 120, "batches": [...]}."""
        if self.every < 0 or not (force or time.monotonic() - self._last_save >= self.every):
            return False
        self.save(step, loop() if callable(loop) else loop)
        return True

    def save(self, step: int, loop: dict) -> None:
        tensors: dict[str, torch.Tensor] = {}
        info: dict[str, Any] = {
            "format": FORMAT,
            "fingerprint": self.fp,
            "step": step,
            "loop": loop,
            "events": self.events,
            "meta": self.meta,
            "optimizers": {},
            "rngs": {},
        }
        for name, obj in self.objects.items():
            if isinstance(obj, torch.nn.Module):
                for k, v in obj.state_dict().items():
                    tensors[f"module.{name}.{k}"] = _own(v)
            elif isinstance(obj, torch.optim.Optimizer):
                info["optimizers"][name] = _pack_optimizer(obj, tensors, f"optim.{name}.")
            elif isinstance(obj, torch.Generator):
                tensors[f"rng.{name}"] = obj.get_state()
            elif isinstance(obj, random.Random):
                info["rngs"][name] = obj.getstate()
        tensors["rng.torch_global"] = torch.get_rng_state()
        info["rngs"]["python_global"] = random.getstate()
        if torch.cuda.is_available():
            states = torch.cuda.get_rng_state_all()
            info["cuda_rng"] = len(states)
            tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(states)})
        with io.atomic_path(self.path) as tmp:
            save_file(tensors, str(tmp), metadata={"rlhf_resume": json.dumps(info)})
        self.saved_step = step
        self._last_save = time.monotonic()

    def finish(self) -> None:
        """The stage's outputs are written: the state is no longer needed."""
        self.path.unlink(missing_ok=True)

    # --- loading -------------------------------------------------------------------------------------

    def _load(self) -> None:
        if not self.path.exists():
            return
        info = _read_info(self.path)
        if info is None or info.get("format") != FORMAT:
            self.log(f"resume: ignoring unreadable state {self.path}; starting from step 0")
            return
        if info.get("fingerprint") != self.fp:
            self.log(f"resume: {self.path} was saved by a run with other params, inputs or code; starting from step 0")
            return
        try:
            with safe_open(str(self.path), framework="pt") as f:
                self._tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError) as e:
            self.log(f"resume: ignoring corrupted state {self.path} ({e}); starting from step 0")
            return
        self._info = info
        self.meta = dict(info.get("meta", {}))
        self.log(f"resume: continuing from step {info['step']} ({self.path})")


def _own(t: torch.Tensor) -> torch.Tensor:
    # a private contiguous CPU copy: safetensors refuses shared storage (tied embedding / LM head)
    return t.detach().to("cpu", copy=True).contiguous()


def _pack_optimizer(opt: torch.optim.Optimizer, tensors: dict, prefix: str) -> dict:
    sd = opt.state_dict()
    scalars: dict[str, dict] = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}{idx}.{k}"] = _own(v)
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return {"param_groups": sd["param_groups"], "scalars": scalars, "indices": [int(i) for i in sd["state"]]}


def _optimizer_state(packed: dict, tensors: dict, prefix: str) -> dict:
    state: dict[int, dict] = {}
    for idx in packed["indices"]:
        entry = {k[len(f"{prefix}{idx}.") :]: v for k, v in tensors.items() if k.startswith(f"{prefix}{idx}.")}
        entry.update(packed["scalars"].get(str(idx), {}))
        state[idx] = entry
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in packed["param_groups"]]
    return {"state": state, "param_groups": groups}


def _py_state(state: list) -> tuple:
    # random.Random.getstate() is (version, tuple of 625 ints, gauss_next); JSON turns tuples into lists
    version, internal, gauss = state
    return version, tuple(internal), gauss


# --- the three RL loops' use, where the data position is an `order` list drawn from by `draw` ---------


def restore(resume: Resume | None, order: list[int], **objects: Any) -> int:
    """Track `objects`, restore a saved state into them and `order` (in place); return the first step to run."""
    if resume is None:
        return 0
    resume.track(**objects)
    saved = resume.restore()
    if not saved:
        return 0
    order[:] = saved["order"]
    return int(saved["step"])


def checkpoint(resume: Resume | None, step: int, order: list[int]) -> None:
    """Save after `step` if due; call it after the step's logs so they are part of the state."""
    if resume is not None:
        resume.save_if_due(step, lambda: {"step": step, "order": list(order)})


def where(resume: Resume | None) -> str | None:
    return resume.where() if resume is not None else None
