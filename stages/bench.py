"""rlhf bench: how fast this machine trains and samples the default model (random init)."""

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from rlhf_core.bench import bench_sample, bench_train, matmul_peak_gflops
from rlhf_core.io import write_json
from rlhf_core.model import GPTConfig
from rlhf_core.runtime import pick_device
from stages._common import console, user_errors


@user_errors
def main(
    quick: bool = typer.Option(True, "--quick/--full", help="quick (a few seconds on CPU) or full (more repeats, sampling batch 128 too)"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="also write the results to this JSON file"),
) -> None:
    """Measure fp32 matmul peak, training tokens/s and sampling new tokens/s for the default model."""
    dev = pick_device(device)
    cfg = GPTConfig()
    t_start = time.perf_counter()
    peak = matmul_peak_gflops(repeats=3 if quick else 10, device=dev)
    train = bench_train(cfg, batch=16, seq=256, steps=3 if quick else 10, device=dev, peak_gflops=peak)
    batches = (1, 8, 32) if quick else (1, 8, 32, 128)
    samples = [bench_sample(cfg, b, repeats=3 if quick else 5, device=dev) for b in batches]

    table = Table(title=f"rlhf bench ({'quick' if quick else 'full'}, {dev}, {train['n_params']:,} params)")
    for col, just in (("benchmark", "left"), ("median", "right"), ("spread (min-max)", "right"), ("vs peak", "right")):
        table.add_column(col, justify=just)
    table.add_row("fp32 matmul peak", f"{peak:,.0f} GFLOP/s", "", "1.00")
    tps = train["tokens_per_s"]
    table.add_row(f"train {train['batch']}x{train['seq']}", f"{tps['median']:,.0f} tok/s",
                  f"{tps['min']:,.0f}-{tps['max']:,.0f}", f"{train['frac_of_peak']:.2f}")
    for s in samples:
        ntps = s["new_tokens_per_s"]
        table.add_row(f"sample batch {s['batch']}", f"{ntps['median']:,.0f} new tok/s", f"{ntps['min']:,.0f}-{ntps['max']:,.0f}", "")
    console.print(table)
    s0 = samples[0]
    console.print(f"train = forward+backward+AdamW, fp32, {train['achieved_gflops']:,.1f} GFLOP/s at "
                  f"{train['flops_per_token'] / 1e6:.1f} MFLOP/token; sample = prompt {s0['prompt_len']} + "
                  f"{s0['new_tokens']} new tokens, T={s0['temperature']}, top_k={s0['top_k']}, prefill included; "
                  f"{time.perf_counter() - t_start:.1f}s in all")
    if out is not None:
        write_json(out, {"mode": "quick" if quick else "full", "device": str(dev), "config": cfg.to_dict(),
                         "matmul_peak_gflops": peak, "train": train, "sample": samples})
        console.print(f"wrote {out}")
