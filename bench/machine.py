"""What the numbers were measured on: fp32 matmul peak, memory bandwidth, CPU model and instruction sets,
core counts, load. Timings mean little without them: the same code runs several times faster or slower
from one machine to the next, and other work on a shared machine slows every side of a comparison."""

from __future__ import annotations

import os
import platform
import statistics

import torch

from bench.timing import resolve_device, sync, timed

# instruction sets that decide fp32 matmul speed on x86 CPUs (reported as found in /proc/cpuinfo)
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")


def matmul_peak_gflops(n: int | None = None, repeats: int = 5, device: str | torch.device | None = None) -> float:
    """Median fp32 GEMM GFLOP/s for an n x n x n product (n defaults to 2048 on CPU, 8192 on GPU)."""
    dev = resolve_device(device)
    n = n or (8192 if dev.type == "cuda" else 2048)
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dev)
    b = torch.randn(n, n, generator=g).to(dev)
    c = torch.empty(n, n, device=dev)
    torch.mm(a, b, out=c)  # warm-up (allocations, kernel selection)
    sync(dev)
    return 2 * n**3 / statistics.median(timed(lambda: torch.mm(a, b, out=c), repeats, dev)) / 1e9


def memory_bandwidth_gbs(mbytes: int = 256, repeats: int = 5, device: str | torch.device | None = None) -> float:
    """Median GB/s of an elementwise add over float32 tensors of `mbytes` each (two read, one written:
    STREAM's "add"). Too big for any cache by default, so it is the memory bandwidth that bounds every
    elementwise op (norms, activations, softmax passes) once its tensors outgrow the caches."""
    dev = resolve_device(device)
    n = mbytes * 2**20 // 4
    a, b, c = (torch.ones(n, device=dev) for _ in range(3))
    torch.add(a, b, out=c)  # warm-up: first touch of the pages
    sync(dev)
    t = statistics.median(timed(lambda: torch.add(a, b, out=c), repeats, dev))
    return 3 * n * 4 / t / 1e9


def machine_info(device: str | torch.device | None = None) -> dict:
    """CPU model and matmul-relevant instruction sets (Linux), core and thread counts, torch version, and
    the GPU when the device is CUDA."""
    dev = resolve_device(device)
    cpu, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        fields = dict(line.split(":", 1) for line in reversed(info.splitlines()) if ":" in line)  # first CPU's
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        cpu = fields.get("model name", cpu)
        flags = [f for f in CPU_FLAGS if f in fields.get("flags", "").split()]
    except OSError:
        pass  # not Linux: the model name from platform is all there is
    out = {
        "cpu": cpu,
        "cpu_flags": flags,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out


def machine_line(m: dict) -> str:
    """One line naming the machine and its balance. Matmuls scale with the peak, but the norms,
    activations and softmax passes scale with memory bandwidth, so the share of the peak a training
    step can reach falls as the peak-to-bandwidth ratio rises."""
    where = m.get("gpu") or m["cpu"]
    flags = " ".join(m["cpu_flags"]) or "-"
    return (
        f"machine: {where}; {m['cpu_count']} cores, {m['torch_threads']} torch threads; ISA: {flags}; "
        f"fp32 matmul peak {m['matmul_peak_gflops']:,.0f} GFLOP/s, memory {m['memory_gbs']:,.0f} GB/s "
        f"(balance {m['matmul_peak_gflops'] / m['memory_gbs']:.1f} FLOP/byte)"
    )


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
