"""What every part of the report shares: the algorithms' labels and colours, the `report:` knobs'
defaults, and how a number is written (fixed digits, a sign, "—" for a missing one)."""

from __future__ import annotations

import math
from typing import Any

from rlhf_core.params import ReportParams

LABEL = {"sft": "SFT", "ppo": "PPO", "grpo": "GRPO", "dpo": "DPO"}
COLOR = {"sft": "#7f7f7f", "ppo": "#1f77b4", "grpo": "#ff7f0e", "dpo": "#2ca02c"}
DEFAULT_KNOBS = ReportParams()  # the `report:` section's defaults, for callers without params


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def fmt(x: Any, digits: int = 2, sign: bool = True) -> str:
    v = _num(x)
    if math.isnan(v):
        return "—"
    s = f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"
    return "+0." + "0" * digits if s == "-0." + "0" * digits else s


def fmt_ci(mean: Any, lo: Any, hi: Any, digits: int = 2, sign: bool = True) -> str:
    if math.isnan(_num(mean)):
        return "—"
    if math.isnan(_num(lo)) or math.isnan(_num(hi)):
        return fmt(mean, digits, sign)
    return f"{fmt(mean, digits, sign)} [{fmt(lo, digits, sign)}, {fmt(hi, digits, sign)}]"


def _pct(ci: float) -> str:
    return f"{ci * 100:g}%"


def _shorten(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: max(n - 1, 1)].rstrip() + "…"
