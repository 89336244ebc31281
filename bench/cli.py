"""`python -m bench` (also `rlhf bench`): how fast this machine trains and samples the default model (random
init), optionally beside transformers and TRL; prints tables and writes the figures as JSON."""

import os
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from bench import targets
from bench.machine import load_average, machine_info, machine_line, matmul_peak_gflops, memory_bandwidth_gbs
from bench.model import bench_sample, bench_train
from rlhf_core.io import write_json
from rlhf_core.model import GPTConfig
from rlhf_core.runtime import pick_device
from stages._common import console, user_errors


@user_errors
def main(
    quick: bool = typer.Option(
        True,
        "--quick/--full",
        help="quick (under a minute on a quiet CPU) or full (more repeats, sampling batch 128 too)",
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    out: Path | None = typer.Option(None, "--out", "-o", help="also write the results to this JSON file"),
    compare: bool = typer.Option(
        False,
        "--compare",
        help="also run the same benchmarks on Hugging Face transformers' "
        "LlamaForCausalLM of the same shape, and our GRPO/DPO steps against TRL's trainers "
        "(needs: pip install -e '.\\[bench]')",
    ),
    rl: bool = typer.Option(False, "--rl", help="time our GRPO step and PPO update (implied by --compare)"),
    compile: bool = typer.Option(
        False,
        "--compile",
        help="also measure whether torch.compile pays for its compile "
        "time (training step, batch-1 and batch-32 sampling; cold compile)",
    ),
    scaling: bool = typer.Option(
        False, "--scaling", help="also measure how time grows with model width, response length and data size"
    ),
    trl_ppo: Path | None = typer.Option(
        None,
        "--trl-ppo",
        help="time TRL 1.12's PPOTrainer (gone from TRL 1.16) "
        "beside our PPO update, in a child process: a folder holding TRL 1.12 "
        "(pip install --no-deps --target DIR 'trl==1.12.*') or a python that has "
        "it; without it the PPO row compares with a reference figure "
        "(bench/targets.json)",
    ),
) -> None:
    """Measure fp32 matmul peak, training tokens/s and sampling new tokens/s for the default model."""
    dev = pick_device(device)
    if compare:
        from bench.hf import transformers_version

        transformers_version()  # the install hint before minutes of work, not after
    cfg = GPTConfig()
    load_start = load_average()
    if load_start is not None and load_start >= max(1.0, (os.cpu_count() or 1) / 4):
        console.print(
            f"[yellow]warning: load average {load_start:.1f} on {os.cpu_count()} cores before the run; other "
            "work shares the processors, so timings (and ratios of sides timed one after the other) are "
            "noisy[/yellow]"
        )
    t_start = time.perf_counter()
    peak = matmul_peak_gflops(repeats=3 if quick else 10, device=dev)
    machine = {
        **machine_info(dev),
        "matmul_peak_gflops": peak,
        "memory_gbs": memory_bandwidth_gbs(repeats=3 if quick else 5, device=dev),
    }
    train = bench_train(cfg, batch=16, seq=256, steps=3 if quick else 10, device=dev, peak_gflops=peak)
    batches = (1, 8, 32, 64) if quick else (1, 8, 32, 64, 128)  # 64: a GRPO rollout, 8 prompts x 8 samples
    samples = [bench_sample(cfg, b, repeats=3 if quick else 5, device=dev) for b in batches]

    table = Table(title=f"rlhf bench ({'quick' if quick else 'full'}, {dev}, {train['n_params']:,} params)")
    for col, just in (("benchmark", "left"), ("median", "right"), ("spread (min-max)", "right"), ("vs peak", "right")):
        table.add_column(col, justify=just)
    table.add_row("fp32 matmul peak", f"{peak:,.0f} GFLOP/s", "", "1.00")
    tps = train["tokens_per_s"]
    table.add_row(
        f"train {train['batch']}x{train['seq']}",
        f"{tps['median']:,.0f} tok/s",
        f"{tps['min']:,.0f}-{tps['max']:,.0f}",
        f"{train['frac_of_peak']:.2f}",
    )
    for s in samples:
        ntps = s["new_tokens_per_s"]
        table.add_row(
            f"sample batch {s['batch']}" + (" (GRPO 8x8)" if s["batch"] == 64 else ""),
            f"{ntps['median']:,.0f} new tok/s",
            f"{ntps['min']:,.0f}-{ntps['max']:,.0f}",
            "",
        )
    console.print(table)
    console.print(machine_line(machine))
    result = {
        "mode": "quick" if quick else "full",
        "device": str(dev),
        "machine": machine,
        "config": cfg.to_dict(),
        "matmul_peak_gflops": peak,
        "train": train,
        "sample": samples,
    }
    s0 = samples[0]
    console.print(
        f"train = forward+backward+AdamW, fp32, {train['achieved_gflops']:,.1f} GFLOP/s at "
        f"{train['flops_per_token'] / 1e6:.1f} MFLOP/token; sample = prompt {s0['prompt_len']} + "
        f"{s0['new_tokens']} new tokens, T={s0['temperature']}, top_k={s0['top_k']}, prefill included; "
        f"{time.perf_counter() - t_start:.1f}s for this table"
    )
    result["lmhead"] = _lmhead(cfg, dev, quick)
    result["rm"] = _rm(dev, quick)
    if compare or rl or trl_ppo is not None:
        result["rl"] = _rl(cfg, dev, quick, compare, trl_ppo)
    if compare:
        result["compare"] = _compare(cfg, dev, quick, peak, train, samples)
        result["compare"]["rl"] = result["rl"]
        result["targets"] = _targets(train, result["compare"]["ratio"], result["rl"])
    if compile:
        result["compile"] = _compile(cfg, dev, quick)
    if scaling:
        result["scaling"] = _scaling(dev, quick)
    result["total_s"] = time.perf_counter() - t_start
    result["load_average"] = {"start": load_start, "end": load_average(), "cpu_count": os.cpu_count()}
    console.print(f"rlhf bench: {result['total_s']:.0f}s in all")
    if out is not None:
        write_json(out, result)
        console.print(f"wrote {out}")


def _compare(cfg: GPTConfig, dev, quick: bool, peak: float, train: dict, samples: list[dict]) -> dict:
    """The same benchmarks on transformers; prints benchmark | ours | transformers | ratio."""
    from bench import hf
    from bench.rl import bench_dpo

    version = hf.transformers_version()
    hf_train = hf.bench_train_hf(
        cfg, batch=train["batch"], seq=train["seq"], steps=3 if quick else 10, device=dev, peak_gflops=peak
    )
    hf_samples = [hf.bench_sample_hf(cfg, s["batch"], repeats=3 if quick else 5, device=dev) for s in samples]
    dpo = trl_dpo = None
    if hf.trl_available():
        dpo = bench_dpo(cfg, repeats=3 if quick else 5, device=dev)
        trl_dpo = hf.bench_dpo_trl(cfg, repeats=3 if quick else 5, device=dev)
    ratio = hf.ratios(train, samples, hf_train, hf_samples, dpo, trl_dpo)

    def cell(spread: dict, fmt: str = ",.0f") -> str:
        return f"{spread['median']:{fmt}} ({spread['min']:{fmt}}-{spread['max']:{fmt}})"

    table = Table(
        title=f"ours vs transformers {version} (LlamaForCausalLM, {hf_train['n_params']:,} params): median (min-max)"
    )
    for col, just in (("benchmark", "left"), ("ours", "right"), ("transformers", "right"), ("ratio", "right")):
        table.add_column(col, justify=just)
    table.add_row(
        f"train {train['batch']}x{train['seq']} tok/s",
        cell(train["tokens_per_s"]),
        cell(hf_train["tokens_per_s"]),
        f"{ratio['train']:.2f}x",
    )
    for s, h in zip(samples, hf_samples):
        r = ratio[f"sample_batch_{s['batch']}"]
        table.add_row(
            f"sample b={s['batch']} tok/s", cell(s["new_tokens_per_s"]), cell(h["new_tokens_per_s"]), f"{r:.2f}x"
        )
    if dpo is not None:
        table.add_row(
            f"DPO {dpo['pairs']}x{dpo['seq']} s/step",
            cell(dpo["step_s"], ".2f"),
            f"{cell(trl_dpo['step_s'], '.2f')} TRL",
            f"{ratio['dpo_step']:.2f}x",
        )
    console.print(table)
    console.print(
        "ratio: speed-up of ours (> 1: ours faster). sample = new tokens/s, transformers via model.generate "
        "(same T, top_k, min_new_tokens = max_new_tokens); DPO step = reference + policy passes, clip, "
        "AdamW" + ("" if dpo is not None else "; DPO row skipped: pip install trl")
    )
    return {
        "transformers_version": version,
        "train": hf_train,
        "sample": hf_samples,
        "dpo": dpo,
        "trl_dpo": trl_dpo,
        "ratio": ratio,
    }


def _rl(cfg: GPTConfig, dev, quick: bool, with_trl: bool, trl_ppo: Path | None = None) -> dict:
    """Our GRPO step and PPO update at TRL's reference shapes; TRL's GRPOTrainer beside ours with --compare,
    TRL 1.12's PPOTrainer (child process) with --trl-ppo, else the reference figure of targets.json."""
    from bench import rl as br

    reference = targets.load()["trl_ppo_reference"]
    repeats = 2 if quick else 3
    t0 = time.perf_counter()
    grpo = br.bench_grpo(cfg, repeats=repeats, device=dev)
    ppo = br.bench_ppo(cfg, repeats=repeats, device=dev)
    trl_grpo = trl_ppo_run = None
    if with_trl:
        from bench.hf import bench_grpo_trl, trl_available

        if trl_available():
            trl_grpo = bench_grpo_trl(cfg, repeats=repeats, device=dev)
    if trl_ppo is not None:
        from bench.trl112 import bench_ppo_trl112

        if dev.type != "cpu":
            trl_ppo_run = {"error": "the TRL 1.12 PPO child runs on CPU only; compare on --device cpu"}
        else:
            trl_ppo_run = bench_ppo_trl112(
                cfg,
                trl_ppo,
                rollouts=ppo["rollouts"],
                new_tokens=ppo["new_tokens"],
                prompt_len=ppo["prompt_len"],
                epochs=ppo["epochs"],
                repeats=repeats,
            )
    ppo_same_run = trl_ppo_run is not None and "error" not in trl_ppo_run

    def cell(step: dict) -> str:
        return f"{step['median']:.2f} ({step['min']:.2f}-{step['max']:.2f})"

    table = Table(title="RL steps, seconds per optimiser step: median (min-max)")
    for col, just in (("benchmark", "left"), ("ours", "right"), ("TRL", "right"), ("ratio", "right")):
        table.add_column(col, justify=just)
    g = f"GRPO {grpo['prompts']} prompts x {grpo['group']} samples x {grpo['new_tokens']} new tokens"
    if trl_grpo is not None:
        table.add_row(
            g,
            cell(grpo["step_s"]),
            f"{cell(trl_grpo['step_s'])} GRPOTrainer {trl_grpo['trl_version']}",
            f"{trl_grpo['step_s']['median'] / grpo['step_s']['median']:.2f}x",
        )
    else:
        table.add_row(g, cell(grpo["step_s"]), "-", "-")
    p = f"PPO {ppo['rollouts']} rollouts x {ppo['new_tokens']} new tokens, {ppo['epochs']} epochs"
    if ppo_same_run:
        table.add_row(
            p,
            cell(ppo["step_s"]),
            f"{cell(trl_ppo_run['step_s'])} PPOTrainer 1.12 (child process)",
            f"{trl_ppo_run['step_s']['median'] / ppo['step_s']['median']:.2f}x",
        )
    table.add_row(
        p if not ppo_same_run else "PPO, vs the reference figure",
        cell(ppo["step_s"]),
        f"{reference['step_s']:.1f} (figure*)",
        f"{reference['step_s'] / ppo['step_s']['median']:.2f}x*",
    )
    console.print(table)
    rm = (
        "; PPO reward = a random-init reward model of the policy's shape (ours: RewardModel, TRL: "
        "LlamaForSequenceClassification)"
        if ppo.get("rm_forward")
        else ""
    )
    console.print(
        "ratio: TRL seconds / ours (> 1: ours faster). Same shapes, random-init models, GRPO reward = "
        f"fraction of even token ids on both sides{rm}. *{reference['note']}."
        + (
            " PPOTrainer 1.12 ran in a child process (same torch/transformers) with a separate value "
            "model of the policy's size (TRL's design; ours is a head on the policy's trunk)."
            if ppo_same_run
            else ""
        )
    )
    if trl_ppo_run is not None and not ppo_same_run:
        console.print(f"TRL 1.12 PPO row skipped: {trl_ppo_run['error']}")
    ratio = {
        "grpo_step": trl_grpo["step_s"]["median"] / grpo["step_s"]["median"] if trl_grpo else None,
        "ppo_update": trl_ppo_run["step_s"]["median"] / ppo["step_s"]["median"] if ppo_same_run else None,
        "ppo_update_vs_reference": reference["step_s"] / ppo["step_s"]["median"],
    }
    return {
        "grpo": grpo,
        "ppo": ppo,
        "trl_grpo": trl_grpo,
        "trl_ppo": trl_ppo_run,
        "trl_ppo_reference_s": reference["step_s"],
        "trl_ppo_reference_note": reference["note"],
        "ratio": ratio,
        "seconds": time.perf_counter() - t0,
    }


def _targets(train: dict, ratio: dict, rl: dict) -> dict:
    """The goals of targets.json against this run's figures; prints target | goal | measured | met."""
    out = targets.check(targets.load()["goals"], train, ratio, rl)
    table = Table(title="speed-up targets (bench/targets.json)")
    for col in ("target", "goal", "measured", "met"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for name, t in out.items():
        fmt = (lambda v: f"{v:.0%}") if name.endswith("frac_of_peak") else (lambda v: f"{v:.2f}x")
        met = "-" if t["met"] is None else ("yes" if t["met"] else "NO")
        table.add_row(
            name + (" (vs figure*)" if t.get("vs_figure") else ""),
            fmt(t["goal"]),
            "-" if t["measured"] is None else fmt(t["measured"]),
            met,
        )
    console.print(table)
    return out


def _lmhead(cfg: GPTConfig, dev, quick: bool) -> dict:
    from bench.model import bench_lmhead

    chunks = (256, 512, 1024) if quick else (128, 256, 512, 1024, 2048)
    result = bench_lmhead(cfg, repeats=3 if quick else 7, chunks=chunks, device=dev)
    table = Table(
        title=f"LM head + loss, forward + backward over {result['rows']:,} positions x {result['vocab']:,} "
        "vocab: seconds, median (min-max)"
    )
    for col in ("case", "plain (N x V logits)", "fused (rlhf_core.lmhead)", "speed-up", "fused by block rows"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for name in ("cross_entropy", "logprobs_entropy"):
        r = result[name]
        by = ", ".join(f"{c}: {s:.3f}" for c, s in r["by_chunk_rows"].items())
        table.add_row(
            name.replace("_", " + ") if name != "cross_entropy" else "SFT cross-entropy",
            f"{r['plain_s']['median']:.3f} ({r['plain_s']['min']:.3f}-{r['plain_s']['max']:.3f})",
            f"{r['fused_s']['median']:.3f} ({r['fused_s']['min']:.3f}-{r['fused_s']['max']:.3f})",
            f"{r['speedup']:.2f}x",
            by,
        )
    console.print(table)
    console.print(
        f"fused = the head a block of rows at a time (CHUNK_ROWS = {result['chunk_rows']}), logits never "
        "kept for backward; plain = F.cross_entropy / gather_logprobs + entropy_from_logits on full logits"
    )
    return result


def _rm(dev, quick: bool) -> dict:
    """The reward model's training step at the default RM size (params.yaml's rm section)."""
    from bench.model import bench_rm
    from rlhf_core.params import RMParams

    p = RMParams()
    cfg = GPTConfig(n_layer=p.n_layer, n_head=p.n_head, d_model=p.d_model, ffn_hidden=p.ffn_hidden)
    r = bench_rm(cfg, pairs=p.batch_size, steps=3 if quick else 7, device=dev)
    e, f = r["eos_rows_s"], r["full_s"]
    console.print(
        f"reward model step ({r['n_layer']} layers, d_model {r['d_model']}, {r['pairs']} pairs, "
        f"{r['tokens_per_step']:,} tokens): {e['median']:.3f} s ({e['min']:.3f}-{e['max']:.3f}) with the "
        f"last block at the EOS positions only, {f['median']:.3f} s ({f['min']:.3f}-{f['max']:.3f}) with it "
        f"at every position: {r['speedup']:.2f}x"
    )
    return r


def _compile(cfg: GPTConfig, dev, quick: bool) -> dict:
    from bench.model import bench_compile

    t0 = time.perf_counter()
    result = bench_compile(cfg, steps=3 if quick else 5, decode_batches=(1, 32), device=dev)
    result["seconds"] = time.perf_counter() - t0
    table = Table(
        title=f"torch.compile ({result['torch']}): seconds per call (train 16x256 step; sample = 32-token "
        "prompt + 64 new tokens, hidden_states compiled with dynamic shapes)"
    )
    for col in ("case", "eager", "compiled", "speed-up", "compile time", "pays off after"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for name, r in result.items():
        if not isinstance(r, dict):
            continue
        name = name.replace("sample_batch_", "sample b=")
        if "error" in r:
            table.add_row(name, r["error"], "", "", "", "")
            continue
        even = f"{r['break_even_calls']:,.0f} calls" if r["break_even_calls"] else "never"
        table.add_row(
            name,
            f"{r['eager_s']:.3f}",
            f"{r['compiled_s']:.3f}",
            f"{r['speedup']:.2f}x",
            f"{r['compile_s']:.1f} s",
            even,
        )
    console.print(table)
    console.print(
        "compile time = first compiled call minus a compiled call, cold (inductor's on-disk caches "
        "bypassed: a first run's cost); eager and compiled calls interleaved; pays off after = compile "
        'time / (eager - compiled) calls; "never" where compiled is not faster'
    )
    return result


def _scaling(dev, quick: bool) -> dict:
    from bench.model import bench_scaling

    t0 = time.perf_counter()
    result = bench_scaling(device=dev, steps=2 if quick else 3)
    result["seconds"] = time.perf_counter() - t0
    table = Table(title="scaling (fp32, median)")
    for col in ("what", "value", "time", "throughput"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for w in result["width"]:
        table.add_row(
            "train step 16x256, d_model",
            f"{w['d_model']} ({w['n_params']:,} params)",
            f"{w['step_s']:.3f} s",
            f"{w['tokens_per_s']:,.0f} tok/s",
        )
    for n in result["response_length"]:
        table.add_row(
            "sample batch 32, new tokens",
            str(n["new_tokens"]),
            f"{n['seconds']:.2f} s",
            f"{n['new_tokens_per_s']:,.0f} new tok/s",
        )
    for r in result["sft_rows"]:
        table.add_row(
            "SFT epoch, rows (batch 32)", f"{r['rows']:,}", f"{r['train_seconds']:.0f} s", f"{r['steps']:,} steps"
        )
    console.print(table)
    console.print(
        f"SFT epoch = steps x the measured 32x128 full-head step ({result['sft_step_s_32x128']:.3f} s); the "
        "stage's response-only head is faster, and sft.max_steps caps the steps."
    )
    return result


app = typer.Typer(name="bench", add_completion=False, pretty_exceptions_enable=False)
app.command()(main)


def run(args: list[str] | None = None, prog_name: str = "python -m bench") -> None:
    """The command line, its output line-buffered so that a piped or logged run shows each table as it lands."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    app(args=args, prog_name=prog_name)
