"""What the three RL stages share: load SFT policy + frozen reference, log with dvclive, save.

Each stage passes its own training function; this module owns the bookkeeping around it so the
three loops stay flat and the bookkeeping is written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from rlhf_core import io
from rlhf_core.checkpoint import load_policy, save_checkpoint
from rlhf_core.data import read_split
from rlhf_core.evaluate import require_fitting
from rlhf_core.params import Params, to_dict
from rlhf_core.tokenizer import TextTokenizer, load_tokenizer
from stages._common import console
from stages._run import StageRun

TAIL = 20  # steps averaged for the "last20" summary, smoothing the noise of batch-1 steps


def summarize(history: list[dict]) -> dict:
    """Final values, means over the last TAIL steps, and means over the whole run. A statistic some steps
    do not log (gold, on a step whose prompts the judge cannot verify) is averaged over the steps that
    logged it, its final value is its last one, and it is None where no step of the span logged it."""
    keys = list(dict.fromkeys(k for h in (history[-1], *history) for k, v in h.items() if isinstance(v, (int, float))))

    def mean(hs: list[dict], k: str) -> float | None:
        vals = [h[k] for h in hs if k in h]
        return sum(vals) / len(vals) if vals else None

    return {
        "final": {k: next(h[k] for h in reversed(history) if k in h) for k in keys},
        "last20": {k: mean(history[-TAIL:], k) for k in keys},
        "second_half": {k: mean(history[len(history) // 2 :], k) for k in keys},
        "overall": {k: mean(history, k) for k in keys},
    }


class RLRun(StageRun):
    """One RL stage: the shared bookkeeping plus tokenizer, training rows, policy (trainable) and frozen reference."""

    def __init__(
        self,
        name: str,
        params: Params,
        *,
        data: Path,
        tokenizer: Path,
        sft: Path,
        live: Path,
        out: Path,
        new_tokens: tuple[str, int],
        rm: Path | None = None,
        timing: Path | None = None,
    ):
        """`new_tokens` = (knob, value): the most tokens the stage samples per prompt; training prompts
        that leave no room for them in the block are skipped (hub data can have very long prompts)."""
        inputs = [data, tokenizer, sft] + ([rm] if rm is not None else [])
        super().__init__(name, params, out=out, inputs=inputs, live=live, timing=timing)
        self.tok: TextTokenizer = load_tokenizer(tokenizer)
        self.policy = load_policy(sft, self.tok, self.device)
        knob, n_new = new_tokens
        rows = read_split(data, "train")
        self.rows = require_fitting(self.tok, rows, self.policy.cfg.block_size, n_new, knob)
        if len(self.rows) < len(rows):
            console.print(
                f"{name}: skipping {len(rows) - len(self.rows)} of {len(rows)} training prompts that leave "
                f"no room for {knob} = {n_new} new tokens in the block"
            )
        self.ref = load_policy(sft, self.tok, self.device)
        self.ref.requires_grad_(False)

    def train(self, fn: Callable[..., None], **kw) -> dict:
        """Run `fn(on_log=..., on_progress=..., resume=..., **kw)` under dvclive and progress; return the summary."""
        with self.live(prefix="train/") as (lv, log), self.progress() as on_progress:
            fn(on_log=log, on_progress=on_progress, resume=self.resume, **kw)
            summary = summarize(self.history)
            lv.summary.clear()
            lv.summary.update(summary)
        return summary

    def save(
        self, out: Path, stage_params: dict, summary: dict, extra_modules: dict[str, torch.nn.Module] | None = None
    ) -> None:
        save_checkpoint(
            out,
            self.policy,
            self.policy.cfg,
            self.tok,
            kind="policy",
            stage=self.name,
            params=stage_params,
            metrics=summary,
        )
        for name, module in (extra_modules or {}).items():
            from safetensors.torch import save_model

            with io.atomic_path(out / f"{name}.safetensors") as tmp:
                save_model(module, str(tmp))
        self.finish({"resumed_from_step": self.resume.resumed_from})
        last = summary["last20"]
        shown = ", ".join(f"{k} {last[k]:.4g}" for k in list(last)[:6] if last[k] is not None)
        console.print(
            f"[bold]{self.name}[/]: {len(self.history)} steps in {self.seconds():.0f}s; last {TAIL} steps: {shown}"
        )


def section(params: Params, name: str) -> dict:
    return to_dict(params)[name]


def reward_fn(rm_dir: Path, run: RLRun) -> Callable[[list[dict], list[str]], torch.Tensor]:
    return reward_fn_from(rm_dir, run.tok, run.device)


def reward_fn_from(rm_dir: Path, tok: TextTokenizer, device) -> Callable[[list[dict], list[str]], torch.Tensor]:
    """The frozen reward model as `(rows, responses) -> (N,) scores`."""
    from rlhf_core.reward import load_reward_model, score

    rm = load_reward_model(rm_dir, tok, device)
    return lambda rows, texts: score(rm, tok, rows, texts, batch_size=64)


def gold_fn(rows: list[dict]) -> Callable[[list[dict], list[str]], torch.Tensor] | None:
    """The builtin gold judge as a reward-shaped function, or None for data without one."""
    from rlhf_core.data import has_gold

    if not has_gold(rows):
        return None
    from rlhf_core.builtin import gold_score

    # NaN where the judge gives no gold (a row it cannot verify): the logged mean is a nanmean
    return lambda rs, texts: torch.tensor(
        [math.nan if (g := gold_score(r, t)) is None else g for r, t in zip(rs, texts)]
    )
