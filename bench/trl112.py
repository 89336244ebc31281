"""TRL 1.12's experimental PPOTrainer (removed in TRL 1.16) timed on our benchmark's shapes, in its own process.

TRL 1.12 and the TRL the rest of the comparison uses cannot share one environment, so `python -m bench
--trl-ppo PATH` runs this module in a child process with TRL 1.12 first on the import path: PATH is
either a folder holding it (`pip install --no-deps --target PATH 'trl==1.12.*'`, which reuses this
environment's torch, transformers, accelerate and datasets) or the python of a separate environment
that has it (and torch). The child prints one JSON line.

Same shapes and settings as bench.rl.bench_ppo (bench.hf.bench_ppo_trl does the TRL side):
our model's shape for TRL's policy, reference, reward and value models (the last two
LlamaForSequenceClassification, as TRL requires; our value is a head on the policy's trunk, so TRL's
update does about twice our forward/backward work), `rollouts` prompts per update, `new_tokens` sampled at
temperature 1, 4 PPO epochs over one minibatch. Both sides score every rollout with a reward model of
the policy's shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_trl_ppo(cfg: dict, rollouts: int, new_tokens: int, prompt_len: int, epochs: int, repeats: int) -> dict:
    """In the child: bench.hf.bench_ppo_trl (repeats + 1 updates, the first a warm-up) with the
    TRL 1.12 found first on the import path; the timings plus the library versions."""
    import torch
    import transformers

    from bench.hf import bench_ppo_trl
    from rlhf_core.model import GPTConfig

    r = bench_ppo_trl(
        GPTConfig(**cfg),
        rollouts=rollouts,
        new_tokens=new_tokens,
        prompt_len=prompt_len,
        epochs=epochs,
        repeats=repeats,
        device="cpu",
    )
    return {**r, "transformers_version": transformers.__version__, "torch_version": torch.__version__}


def bench_ppo_trl112(
    cfg,
    trl_path: str | Path,
    rollouts: int = 64,
    new_tokens: int = 64,
    prompt_len: int = 32,
    epochs: int = 4,
    *,
    repeats: int = 3,
    timeout_s: float = 900,
) -> dict:
    """Runs run_trl_ppo in a child process with TRL 1.12 at `trl_path` (a folder, or a python executable);
    its result, or {"error": ...} naming why it did not run. CPU only (the reference figure is a CPU one)."""
    repo = str(Path(__file__).resolve().parent.parent)
    path = Path(trl_path)
    if path.is_dir():
        python, pythonpath = sys.executable, [str(path), repo]
    elif path.is_file():
        python, pythonpath = str(path), [repo]
    else:
        return {"error": f"--trl-ppo {trl_path}: no such folder or python"}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "TRL_EXPERIMENTAL_SILENCE": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    spec = {
        "cfg": cfg.to_dict(),
        "rollouts": rollouts,
        "new_tokens": new_tokens,
        "prompt_len": prompt_len,
        "epochs": epochs,
        "repeats": repeats,
    }
    try:
        proc = subprocess.run(
            [python, "-m", "bench.trl112", json.dumps(spec)],
            env=env,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"TRL 1.12 PPO run exceeded {timeout_s:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {"error": f"TRL 1.12 PPO run failed (exit {proc.returncode}): {tail}"}
    result = json.loads(lines[-1])
    result["separate_process"] = True
    if not str(result.get("trl_version", "")).startswith("1.12"):
        return {"error": f"--trl-ppo {trl_path}: found TRL {result.get('trl_version')}, not 1.12"}
    return result


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    cfg = spec.pop("cfg")
    print(json.dumps(run_trl_ppo(cfg, **spec)))
