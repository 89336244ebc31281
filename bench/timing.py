"""Timing helpers shared by every benchmark: the device, synchronisation, repeated timing, and the
median/min/max summary that every result reports (the median is the figure, min/max the spread)."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The device to time on: CUDA where there is one, unless named."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def sync(dev: torch.device) -> None:
    """Wait for queued GPU work, so that a wall-clock reading covers it."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def spread(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "n": len(samples)}


def timed(fn: Callable[[], object], repeats: int, dev: torch.device) -> list[float]:
    """Wall seconds of `repeats` calls of fn, each synchronised with the device."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        times.append(time.perf_counter() - t0)
    return times


def between_logs(run: Callable[[Callable], object], steps: int) -> list[float]:
    """Seconds between consecutive on_log calls of a training loop run for `steps` steps, the first
    (warm-up) dropped. `run` takes the on_log callback and runs the loop."""
    stamps = [time.perf_counter()]
    run(lambda step, stats: stamps.append(time.perf_counter()))
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(times) == steps
    return times[1:]
