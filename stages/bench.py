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
    compare: bool = typer.Option(False, "--compare", help="also run the same benchmarks on Hugging Face transformers' "
                                 "LlamaForCausalLM of the same shape, and our GRPO/DPO steps against TRL's trainers "
                                 "(needs: pip install -e '.\\[bench]')"),
    rl: bool = typer.Option(False, "--rl", help="time our GRPO step and PPO update (implied by --compare)"),
    compile: bool = typer.Option(False, "--compile", help="also measure whether torch.compile pays for its compile "
                                 "time (training step and batch-1 sampling)"),
    scaling: bool = typer.Option(False, "--scaling", help="also measure how time grows with model width, response "
                                 "length and data size"),
) -> None:
    """Measure fp32 matmul peak, training tokens/s and sampling new tokens/s for the default model."""
    dev = pick_device(device)
    if compare:
        from rlhf_core.bench_compare import transformers_version

        transformers_version()  # the install hint before minutes of work, not after
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
    result = {"mode": "quick" if quick else "full", "device": str(dev), "config": cfg.to_dict(),
              "matmul_peak_gflops": peak, "train": train, "sample": samples}
    s0 = samples[0]
    console.print(f"train = forward+backward+AdamW, fp32, {train['achieved_gflops']:,.1f} GFLOP/s at "
                  f"{train['flops_per_token'] / 1e6:.1f} MFLOP/token; sample = prompt {s0['prompt_len']} + "
                  f"{s0['new_tokens']} new tokens, T={s0['temperature']}, top_k={s0['top_k']}, prefill included; "
                  f"{time.perf_counter() - t_start:.1f}s in all")
    if compare or rl:
        result["rl"] = _rl(cfg, dev, quick, compare)
    if compare:
        result["compare"] = _compare(cfg, dev, quick, peak, train, samples)
        result["compare"]["rl"] = result["rl"]
    if compile:
        result["compile"] = _compile(cfg, dev, quick)
    if scaling:
        result["scaling"] = _scaling(dev, quick)
    if out is not None:
        write_json(out, result)
        console.print(f"wrote {out}")


def _compare(cfg: GPTConfig, dev, quick: bool, peak: float, train: dict, samples: list[dict]) -> dict:
    """The same benchmarks on transformers; prints benchmark | ours | transformers | ratio."""
    from rlhf_core import bench_compare as bc

    version = bc.transformers_version()
    hf_train = bc.bench_train_hf(cfg, batch=train["batch"], seq=train["seq"], steps=3 if quick else 10,
                                 device=dev, peak_gflops=peak)
    hf_samples = [bc.bench_sample_hf(cfg, s["batch"], repeats=3 if quick else 5, device=dev) for s in samples]
    dpo = trl_dpo = None
    if bc.trl_available():
        dpo = bc.bench_dpo(cfg, repeats=3 if quick else 5, device=dev)
        trl_dpo = bc.bench_dpo_trl(cfg, repeats=3 if quick else 5, device=dev)
    ratio = bc.ratios(train, samples, hf_train, hf_samples, dpo, trl_dpo)

    def cell(spread: dict, fmt: str = ",.0f") -> str:
        return f"{spread['median']:{fmt}} ({spread['min']:{fmt}}-{spread['max']:{fmt}})"

    table = Table(title=f"ours vs transformers {version} (LlamaForCausalLM, {hf_train['n_params']:,} params): "
                        "median (min-max)")
    for col, just in (("benchmark", "left"), ("ours", "right"), ("transformers", "right"), ("ratio", "right")):
        table.add_column(col, justify=just)
    table.add_row(f"train {train['batch']}x{train['seq']} tok/s", cell(train["tokens_per_s"]),
                  cell(hf_train["tokens_per_s"]), f"{ratio['train']:.2f}x")
    for s, h in zip(samples, hf_samples):
        r = ratio[f"sample_batch_{s['batch']}"]
        table.add_row(f"sample b={s['batch']} tok/s", cell(s["new_tokens_per_s"]), cell(h["new_tokens_per_s"]), f"{r:.2f}x")
    if dpo is not None:
        table.add_row(f"DPO {dpo['pairs']}x{dpo['seq']} s/step", cell(dpo["step_s"], ".2f"),
                      f"{cell(trl_dpo['step_s'], '.2f')} TRL", f"{ratio['dpo_step']:.2f}x")
    console.print(table)
    console.print("ratio: speed-up of ours (> 1: ours faster). sample = new tokens/s, transformers via model.generate "
                  "(same T, top_k, min_new_tokens = max_new_tokens); DPO step = reference + policy passes, clip, "
                  "AdamW" + ("" if dpo is not None else "; DPO row skipped: pip install trl"))
    return {"transformers_version": version, "train": hf_train, "sample": hf_samples, "dpo": dpo, "trl_dpo": trl_dpo,
            "ratio": ratio}


def _rl(cfg: GPTConfig, dev, quick: bool, with_trl: bool) -> dict:
    """Our GRPO step and PPO update at TRL's reference shapes; TRL's GRPOTrainer beside ours with --compare."""
    from rlhf_core import bench_rl as br

    repeats = 2 if quick else 3
    grpo = br.bench_grpo(cfg, repeats=repeats, device=dev)
    ppo = br.bench_ppo(cfg, repeats=repeats, device=dev)
    trl_grpo = None
    if with_trl:
        from rlhf_core.bench_compare import trl_available

        if trl_available():
            trl_grpo = br.bench_grpo_trl(cfg, repeats=repeats, device=dev)

    def cell(step: dict) -> str:
        return f"{step['median']:.2f} ({step['min']:.2f}-{step['max']:.2f})"

    table = Table(title="RL steps, seconds per optimiser step: median (min-max)")
    for col, just in (("benchmark", "left"), ("ours", "right"), ("TRL", "right"), ("ratio", "right")):
        table.add_column(col, justify=just)
    g = f"GRPO {grpo['prompts']} prompts x {grpo['group']} samples x {grpo['new_tokens']} new tokens"
    if trl_grpo is not None:
        table.add_row(g, cell(grpo["step_s"]), f"{cell(trl_grpo['step_s'])} GRPOTrainer",
                      f"{trl_grpo['step_s']['median'] / grpo['step_s']['median']:.2f}x")
    else:
        table.add_row(g, cell(grpo["step_s"]), "-", "-")
    table.add_row(f"PPO {ppo['rollouts']} rollouts x {ppo['new_tokens']} new tokens, {ppo['epochs']} epochs",
                  cell(ppo["step_s"]), f"{br.TRL_PPO_REFERENCE_S:.1f} (figure*)",
                  f"{br.TRL_PPO_REFERENCE_S / ppo['step_s']['median']:.2f}x*")
    console.print(table)
    console.print("ratio: TRL seconds / ours (> 1: ours faster). Same shapes, random-init models, reward = fraction "
                  "of even token ids. *TRL 1.12's PPOTrainer is gone from TRL 1.16 and does not install beside it: "
                  "its figure is issue #6's, measured on another machine, not in this run.")
    return {"grpo": grpo, "ppo": ppo, "trl_grpo": trl_grpo, "trl_ppo_reference_s": br.TRL_PPO_REFERENCE_S,
            "ratio": {"grpo_step": trl_grpo["step_s"]["median"] / grpo["step_s"]["median"] if trl_grpo else None,
                      "ppo_update_vs_reference": br.TRL_PPO_REFERENCE_S / ppo["step_s"]["median"]}}


def _compile(cfg: GPTConfig, dev, quick: bool) -> dict:
    from rlhf_core.bench import bench_compile

    result = bench_compile(cfg, steps=3 if quick else 5, device=dev)
    table = Table(title=f"torch.compile ({result['torch']}): seconds per call")
    for col in ("case", "eager", "compiled", "speed-up", "compile time", "pays off after"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, r in result.items():
        if not isinstance(r, dict):
            continue
        if "error" in r:
            table.add_row(name, r["error"], "", "", "", "")
            continue
        even = f"{r['break_even_calls']:,.0f} calls" if r["break_even_calls"] else "never"
        table.add_row(name, f"{r['eager_s']:.3f}", f"{r['compiled_s']:.3f}", f"{r['speedup']:.2f}x",
                      f"{r['compile_s']:.1f} s", even)
    console.print(table)
    return result


def _scaling(dev, quick: bool) -> dict:
    from rlhf_core.bench import bench_scaling

    result = bench_scaling(device=dev, steps=2 if quick else 3)
    table = Table(title="scaling (fp32, median)")
    for col in ("what", "value", "time", "throughput"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for w in result["width"]:
        table.add_row("train step 16x256, d_model", f"{w['d_model']} ({w['n_params']:,} params)",
                      f"{w['step_s']:.3f} s", f"{w['tokens_per_s']:,.0f} tok/s")
    for n in result["response_length"]:
        table.add_row("sample batch 32, new tokens", str(n["new_tokens"]), f"{n['seconds']:.2f} s",
                      f"{n['new_tokens_per_s']:,.0f} new tok/s")
    for r in result["sft_rows"]:
        table.add_row("SFT epoch, rows (batch 32)", f"{r['rows']:,}", f"{r['train_seconds']:.0f} s",
                      f"{r['steps']:,} steps")
    console.print(table)
    console.print(f"SFT epoch = steps x the measured 32x128 full-head step ({result['sft_step_s_32x128']:.3f} s); the "
                  "stage's response-only head is faster, and sft.max_steps caps the steps.")
    return result
