"""The bench package: timing helpers, machine facts, our model's benchmarks at tiny sizes, the targets
table, and its place beside the library (no import cycle, never imported by a pipeline stage)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import targets, timing
from bench.model import bench_compile, bench_lmhead, bench_rm, bench_sample, bench_scaling, bench_train
from rlhf_core import lmhead
from rlhf_core.model import GPTConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = GPTConfig(vocab_size=300, block_size=64, n_layer=1, n_head=2, d_model=32)


def test_timing_helpers():
    assert timing.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    calls = []
    times = timing.timed(lambda: calls.append(1), 3, torch.device("cpu"))
    assert len(calls) == len(times) == 3 and all(t >= 0 for t in times)
    assert timing.resolve_device("cpu") == torch.device("cpu") and timing.resolve_device(None).type in ("cpu", "cuda")

    def loop(on_log):  # a training loop logging 4 steps: 3 intervals after the warm-up step
        for step in range(4):
            on_log(step, {})

    assert len(timing.between_logs(loop, 4)) == 3
    with pytest.raises(AssertionError):
        timing.between_logs(loop, 5)  # a loop that logs fewer steps than asked for is not a timing


def test_train_and_sample_results():
    train = bench_train(TINY, batch=2, seq=16, steps=2, device="cpu", peak_gflops=1.0)
    assert train["tokens_per_s"]["n"] == 2 and train["n_params"] > 0
    assert train["frac_of_peak"] == pytest.approx(train["achieved_gflops"])  # peak given as 1 GFLOP/s
    with pytest.raises(ValueError, match="block_size"):
        bench_train(TINY, seq=TINY.block_size + 1, device="cpu")
    s = bench_sample(TINY, 3, prompt_len=4, new_tokens=5, repeats=2, device="cpu")
    assert s["batch"] == 3 and s["new_tokens_per_s"]["n"] == 2 and s["ms_per_token_step"] > 0
    json.dumps([train, s])


def test_compile_bench_reports_break_even_and_failures(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)  # the bookkeeping, not inductor (minutes on CPU)
    r = bench_compile(
        TINY, batch=2, seq=16, steps=2, decode_batches=(1, 3), new_tokens=4, sample_repeats=1, device="cpu"
    )
    for case in ("train", "sample_batch_1", "sample_batch_3"):
        assert r[case]["eager_s"] > 0 and r[case]["compiled_s"] > 0 and r[case]["compile_s"] >= 0
        even = r[case]["break_even_calls"]
        assert even is None or even >= 0

    def broken(fn, **kw):
        raise RuntimeError("inductor: no working C compiler\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    r = bench_compile(TINY, batch=2, seq=16, steps=1, decode_batches=(2,), new_tokens=4, device="cpu")
    assert r["train"] == r["sample_batch_2"] == {"error": "RuntimeError: inductor: no working C compiler"}


def test_lmhead_bench_times_plain_and_fused_and_restores_the_block_size():
    before = lmhead.CHUNK_ROWS
    r = bench_lmhead(TINY, rows=50, repeats=2, chunks=(7, 64), device="cpu")
    assert lmhead.CHUNK_ROWS == before and r["chunk_rows"] == before
    for case in ("cross_entropy", "logprobs_entropy"):
        assert r[case]["plain_s"]["n"] == r[case]["fused_s"]["n"] == 2
        assert set(r[case]["by_chunk_rows"]) == {7, 64} and all(s > 0 for s in r[case]["by_chunk_rows"].values())
        assert r[case]["speedup"] == pytest.approx(r[case]["plain_s"]["median"] / r[case]["fused_s"]["median"])
    json.dumps(r)


def test_scaling_grows_with_width_length_and_rows():
    r = bench_scaling(TINY, device="cpu", steps=1, sft_rows=(64, 128), widths=(16, 32), lengths=(4, 8), seq=32)
    assert [w["d_model"] for w in r["width"]] == [16, 32] and r["width"][0]["n_params"] < r["width"][1]["n_params"]
    assert [x["steps"] for x in r["sft_rows"]] == [2, 4]
    assert r["sft_rows"][1]["train_seconds"] == pytest.approx(2 * r["sft_rows"][0]["train_seconds"])
    assert all(x["seconds"] > 0 for x in r["response_length"])


def test_rm_bench_times_both_last_block_variants():
    r = bench_rm(TINY, pairs=3, seq=20, steps=2, device="cpu")
    assert r["eos_rows_s"]["n"] == r["full_s"]["n"] == 2 and r["pairs"] == 3 and 12 <= r["tokens_per_step"] <= 120
    assert r["speedup"] == pytest.approx(r["full_s"]["median"] / r["eos_rows_s"]["median"])
    json.dumps(r)


def test_machine_info_and_memory_bandwidth_are_reported():
    from bench.machine import CPU_FLAGS, load_average, machine_info, machine_line, memory_bandwidth_gbs

    m = machine_info("cpu")
    assert m["cpu"] and m["cpu_count"] >= 1 and m["torch_threads"] >= 1 and m["torch"] == torch.__version__
    assert set(m["cpu_flags"]) <= set(CPU_FLAGS) and "gpu" not in m
    bw = memory_bandwidth_gbs(mbytes=8, repeats=2, device="cpu")
    assert 0.1 < bw < 10_000  # GB/s: any real machine lies far inside this
    line = machine_line({**m, "matmul_peak_gflops": 100.0, "memory_gbs": 25.0})
    assert line.startswith("machine: ") and "balance 4.0 FLOP/byte" in line
    load = load_average()
    assert load is None or load >= 0
    json.dumps(m)


def test_targets_are_data_and_the_table_reads_ratios_and_marks_the_ppo_figure():
    from bench.cli import _targets

    data = targets.load()
    goals = data["goals"]
    assert goals and all(isinstance(v, (int, float)) and v > 0 for v in goals.values())
    assert data["trl_ppo_reference"]["step_s"] > 0 and data["trl_ppo_reference"]["note"]
    rl = {"ratio": {"grpo_step": 3.0, "ppo_update": None, "ppo_update_vs_reference": 4.0}}
    ratio = {"sample_batch_1": 2.6, "sample_batch_32": 2.0, "train": 1.01, "dpo_step": None}
    t = _targets({"frac_of_peak": 0.3}, ratio, rl)
    assert set(t) == set(goals)
    assert t["sample_batch_1"]["met"] and not t["sample_batch_32"]["met"] and t["train"]["met"]
    assert t["train_frac_of_peak"]["met"] is False and t["dpo_step"]["met"] is None
    assert t["ppo_update"] == {"goal": 2.5, "measured": 4.0, "met": True, "vs_figure": True}
    rl["ratio"]["ppo_update"] = 2.0  # a same-run TRL 1.12 ratio wins over the figure
    assert _targets({"frac_of_peak": 0.7}, ratio, rl)["ppo_update"] == {"goal": 2.5, "measured": 2.0, "met": False}
    # a goal the run has no figure for is reported, not met or failed
    assert targets.check({"new_goal": 1.0}, {"frac_of_peak": 0.5}, {}, rl) == {
        "new_goal": {"goal": 1.0, "measured": None, "met": None}
    }


def bench_imports(path: Path) -> set[str]:
    """bench.* modules that a bench module imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
            found |= {node.module} if node.module != "bench" else {f"bench.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bench.")}
    return found


def test_bench_modules_import_each_other_without_a_cycle():
    graph = {f"bench.{p.stem}": bench_imports(p) for p in (ROOT / "bench").glob("*.py")}
    assert set().union(*graph.values()) <= set(graph), "an import of a bench module that does not exist"
    done: set[str] = set()

    def visit(module: str, path: tuple) -> None:
        assert module not in path, f"import cycle: {' -> '.join(path + (module,))}"
        if module not in done:
            for dep in graph[module]:
                visit(dep, path + (module,))
            done.add(module)

    for module in graph:
        visit(module, ())


def test_no_pipeline_stage_imports_the_benchmarks():
    # stages.cli imports every stage; `rlhf bench` imports bench only when it is called
    code = "import sys, stages.cli; print(sorted(m for m in sys.modules if m == 'bench' or m.startswith('bench.')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_issue_numbers_in_the_benchmarks():
    for path in [*(ROOT / "bench").glob("*.py"), ROOT / "bench" / "targets.json", ROOT / "stages" / "cli.py"]:
        assert not re.search(r"issue\s*#?\d|#\d+\b", path.read_text(), re.I), path


def test_rlhf_bench_is_an_alias_of_python_m_bench():
    from typer.testing import CliRunner

    from stages.cli import app

    out = CliRunner().invoke(app, ["bench", "--help"])
    assert out.exit_code == 0
    options = ("--quick", "--full", "--device", "--out", "--compare", "--rl", "--compile", "--scaling", "--trl-ppo")
    assert all(option in out.output for option in options)
    direct = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert direct.returncode == 0 and "--trl-ppo" in direct.stdout
    bad = CliRunner().invoke(app, ["bench", "--no-such-option"])
    assert bad.exit_code == 2
