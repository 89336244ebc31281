"""Calibration sweep: train one RL algorithm of one phase at several settings from the same SFT and RM,
then measure how far it moved and what it gained on held-out prompts.

Each point runs the pipeline's own stage command (`rlhf ppo|grpo|dpo`) on a params file with the
point's overrides, then answers held-out prompts with the phase's eval settings, SFT and the trained
policy on the same random stream, and reports: mean per-token KL to SFT, the share of answers that
differ from SFT's, RM and gold means (paired difference to SFT with a bootstrap interval), the
stage's diagnostics, and wall time. One JSON line per point.

    python -m bench.calibrate --data data --algo dpo --phase phase1 --grid lr=1e-5,1e-4,3e-4 --grid steps=200
"""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import typer
import yaml

app = typer.Typer(add_completion=False)


def parse_value(text: str):
    """'1e-4' is a string to YAML 1.1; numbers first, then YAML (true, 'every', ...)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def point_params(raw: dict, phase: str, algo: str, point: dict) -> dict:
    """params.yaml with `point` applied to the algorithm's section as the phase sees it (phase overrides win
    over the base section, so the point goes into the phase's overrides)."""
    out = copy.deepcopy(raw)
    overrides = out.setdefault("phases", {}).setdefault(phase, {}) or {}
    out["phases"][phase] = overrides
    overrides.setdefault(algo, {}).update(point)
    return out


@torch.inference_mode()
def measure(data: Path, model_dir: Path, phase_eval: dict, n_prompts: int, samples: int, seed: int) -> dict:
    from rlhf_core.checkpoint import load_policy
    from rlhf_core.data import read_split
    from rlhf_core.evaluate import fitting_rows
    from rlhf_core.phase_eval import answer_records
    from rlhf_core.stats import bootstrap_ci
    from rlhf_core.tokenizer import load_tokenizer
    from stages._rl import reward_fn_from

    tok = load_tokenizer(data / "tokenizer")
    sft = load_policy(data / "sft", tok, "cpu")
    model = load_policy(model_dir, tok, "cpu")
    # DPO needs no reward model: without data/rm the RM columns are left out
    reward = (
        reward_fn_from(data / "rm", tok, "cpu")
        if (data / "rm").is_dir()
        else (lambda rows, texts: torch.full((len(texts),), float("nan")))
    )
    held = fitting_rows(tok, read_split(data / "raw", "heldout"), sft.cfg.block_size, phase_eval["max_new_tokens"])[
        :n_prompts
    ]
    rows = [r for r in held for _ in range(samples)]
    recs = {}
    for name, m in (("sft", sft), ("policy", model)):
        g = torch.Generator().manual_seed(seed)
        recs[name] = answer_records(
            m,
            sft,
            tok,
            rows,
            reward,
            max_new_tokens=phase_eval["max_new_tokens"],
            temperature=phase_eval["temperature"],
            top_k=phase_eval["top_k"] or None,
            batch_size=64,
            generator=g,
        )
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    out = {
        "kl_to_sft": mean([r["kl"] for r in recs["policy"]]),
        "differs_from_sft": mean([a["response"] != b["response"] for a, b in zip(recs["policy"], recs["sft"])]),
        "length": mean([r["length"] for r in recs["policy"]]),
    }
    for key in ("rm", "gold"):
        # a prompt whose row gives no gold (None) is left out of every gold number, as in eval
        graded = [i for i in range(len(held)) if recs["sft"][i * samples][key] is not None]
        per_prompt = [
            mean([recs["policy"][i * samples + s][key] - recs["sft"][i * samples + s][key] for s in range(samples)])
            for i in graded
        ]
        lo, hi = bootstrap_ci(per_prompt, n_boot=1000, ci=0.95, seed=seed)
        kept = [i * samples + s for i in graded for s in range(samples)]
        out.update(
            {
                key: mean([recs["policy"][j][key] for j in kept]),
                f"{key}_sft": mean([recs["sft"][j][key] for j in kept]),
                f"{key}_delta": mean(per_prompt),
                f"{key}_delta_lo": lo,
                f"{key}_delta_hi": hi,
            }
        )
    return out


@app.command()
def main(
    data: Path = typer.Option(Path("data"), help="folder with raw/, tokenizer/, sft/, rm/ of a finished run"),
    params: Path = typer.Option(Path("params.yaml"), help="base params; the grid's values override them"),
    algo: str = typer.Option(..., help="ppo | grpo | dpo"),
    phase: str = typer.Option("phase1", help="the phase whose settings the points start from"),
    grid: list[str] = typer.Option(..., help="KEY=V1,V2,... (repeatable; the points are the product)"),
    prompts: int = typer.Option(64, help="held-out prompts answered per point"),
    samples: int = typer.Option(2, help="answers per prompt"),
    out: Path = typer.Option(Path("calibration.jsonl"), help="one JSON line per point is appended here"),
    seeds: str = typer.Option("0", help="RL seeds, comma-separated: each point trains and answers once per seed"),
) -> None:
    from rlhf_core.params import load_params

    raw = yaml.safe_load(params.read_text())
    keys = [g.split("=", 1)[0] for g in grid]
    values = [[parse_value(v) for v in g.split("=", 1)[1].split(",")] for g in grid]
    rl_seeds = [int(x) for x in seeds.split(",")]
    for combo, seed in itertools.product(itertools.product(*values), rl_seeds):
        point = dict(zip(keys, combo))
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "params.yaml").write_text(yaml.safe_dump(point_params(raw, phase, algo, point)))
            p = load_params(tmp / "params.yaml", phase=phase)
            cmd = [
                sys.executable,
                "-m",
                "stages.cli",
                "resolve",
                "--params",
                str(tmp / "params.yaml"),
                "--phase",
                phase,
                "--out",
                str(tmp / "configs"),
            ]
            subprocess.run(cmd, check=True, capture_output=True)
            cmd = [
                sys.executable,
                "-m",
                "stages.cli",
                algo,
                "--params",
                str(tmp / "configs" / f"{algo}.json"),
                "--data",
                str(data / "raw"),
                "--tokenizer",
                str(data / "tokenizer"),
                "--sft",
                str(data / "sft"),
                "--out",
                str(tmp / "model"),
                "--live",
                str(tmp / "live"),
                "--timing",
                str(tmp / "timing.json"),
                "--seed",
                str(seed),
            ]
            if algo != "dpo":
                cmd += ["--rm", str(data / "rm")]
            t = time.perf_counter()
            subprocess.run(
                cmd, check=True, capture_output=True, env={**__import__("os").environ, "RLHF_CHECKPOINT_EVERY": "-1"}
            )
            train_s = time.perf_counter() - t
            live = json.loads((tmp / "live" / "metrics.json").read_text())
            eval_settings = {
                "max_new_tokens": p.eval.max_new_tokens,
                "temperature": p.eval.temperature,
                "top_k": p.eval.top_k,
            }
            # each seed answers on its own random stream, as the pipeline's eval does
            res = measure(data, tmp / "model", eval_settings, prompts, samples, seed)
        diag = {
            k: live[w].get(k)
            for w, k in [
                ("last20", "reward_margin"),
                ("last20", "accuracy"),
                ("overall", "void_share"),
                ("second_half", "explained_variance"),
                ("overall", "collapsed_frac"),
                ("last20", "kl"),
                ("last20", "kl_per_token"),
            ]
            if k in live.get(w, {})
        }
        row = {"algo": algo, "phase": phase, "seed": seed, **point, **res, **diag, "train_s": train_s}
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    app()
