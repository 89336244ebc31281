"""The bookkeeping every training stage shares: seeding, device, resume state, dvclive logs, progress,
wall-clock timing. Stages keep their recipe (load, train, save) and hand the rest to `StageRun`.

Order matters for reproducibility: seeding happens first, before any model is built, exactly as in
the recipes, so a stage's random numbers do not depend on this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rlhf_core.params import Params, to_dict
from rlhf_core.resume import Resume
from rlhf_core.runtime import pick_device, seed_everything
from stages._common import console, write_timing

PLAIN_EVERY_SECONDS = 30.0  # without a terminal, a progress line at least this often ...
PLAIN_EVERY_FRACTION = 0.1  # ... or at every tenth of the run


class StageRun:
    """One run of one training stage. `log(step, metrics)` writes dvclive metrics (inside `live()`) and is
    recorded with the resume state, so a run resumed after a kill replays the killed run's logs first."""

    def __init__(
        self, name: str, params: Params, *, out: Path, inputs: Iterable[Path], live: Path, timing: Path | None
    ):
        self.t0 = time.perf_counter()
        self.name, self.p, self.live_dir, self.timing = name, params, live, timing
        self.generator = seed_everything(params.seed)
        self.device = pick_device(params.device)
        self.out, self.inputs = out, list(inputs)
        self.history: list[dict] = []  # every logged metrics dict, in order

    @cached_property
    def resume(self) -> Resume:
        """Made on first use, after the recipe has loaded its inputs: a missing input is then the recipe's
        one-line error, not a hashing failure here."""
        return Resume.for_stage(self.name, self.out, to_dict(self.p), self.inputs, log=console.print)

    @contextmanager
    def live(self, prefix: str = "") -> Iterator[tuple]:
        """dvclive for the stage's folder (no dvc.yaml rewrite, no experiment: DVC runs the stage).
        Yields `(lv, log)`: `log(step, metrics)` logs each metric as `prefix + name`, keeps it in `history`,
        and is recorded with the resume state, so a resumed run first replays what the killed run logged."""
        from dvclive import Live

        with Live(dir=str(self.live_dir), dvcyaml=False, save_dvc_exp=False, report=None) as lv:

            def log_live(step: int, metrics: dict) -> None:
                self.history.append(metrics)
                lv.step = step
                for k, v in metrics.items():
                    lv.log_metric(prefix + k, v)

            yield lv, self.resume.recorded("log", log_live)

    @contextmanager
    def progress(self) -> Iterator[Callable[[int, int], None]]:
        """A progress callback `(done, total)`: a live bar in a terminal; plain lines as they happen when
        the output is a pipe or a log file (a bar would print nothing until the stage ends)."""
        if console.is_terminal:
            with Progress(
                TextColumn(f"[bold]{self.name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task(self.name, total=None)
                yield lambda done, total: bar.update(task, completed=done, total=total)
            return
        yield PlainProgress(self.name)

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def finish(self, times: dict) -> None:
        """Write the wall-clock times (apart from the outputs) and delete the resume state."""
        write_timing(self.timing, {**times, "stage_seconds": self.seconds()})
        self.resume.finish()


class PlainProgress:
    """`(done, total)` -> a line such as `sft: 300/1500 (20%), 45 s, about 3 min left`, printed when a
    tenth of the run or PLAIN_EVERY_SECONDS have passed since the last line."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic):
        self.name, self.clock = name, clock
        self.t0 = self.last_t = clock()
        self.last_frac = 0.0
        self.first_done: int | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.first_done is None:
            self.first_done, self.t0 = done - 1, now  # a resumed run starts mid-way
        frac = done / max(total, 1)
        if done < total and frac - self.last_frac < PLAIN_EVERY_FRACTION and now - self.last_t < PLAIN_EVERY_SECONDS:
            return
        self.last_t, self.last_frac = now, frac
        elapsed = now - self.t0
        rate = (done - self.first_done) / elapsed if elapsed > 0 else 0.0
        left = f", about {_duration((total - done) / rate)} left" if rate > 0 and done < total else ""
        console.print(f"{self.name}: {done}/{total} ({100 * frac:.0f}%), {_duration(elapsed)}{left}")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
