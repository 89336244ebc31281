"""The speed-up goals, kept as data (targets.json), and how a run's figures meet them."""

from __future__ import annotations

import json
from pathlib import Path

TARGETS_FILE = Path(__file__).with_name("targets.json")


def load(path: Path = TARGETS_FILE) -> dict:
    """{"goals": {name: minimum}, "trl_ppo_reference": {"step_s", "note"}} from targets.json."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check(goals: dict[str, float], train: dict, ratio: dict, rl: dict) -> dict:
    """Each goal against this run's figure: {name: {"goal", "measured", "met"}}, measured and met None where
    the run has no figure for it. The PPO ratio comes from TRL 1.12 run beside ours when it ran, else from
    the reference figure (marked "vs_figure")."""
    measured = {
        "sample_batch_1": ratio.get("sample_batch_1"),
        "sample_batch_32": ratio.get("sample_batch_32"),
        "train": ratio.get("train"),
        "train_frac_of_peak": train["frac_of_peak"],
        "dpo_step": ratio.get("dpo_step"),
        "grpo_step": rl["ratio"]["grpo_step"],
        "ppo_update": rl["ratio"]["ppo_update"],
    }
    ppo_from_figure = measured["ppo_update"] is None
    if ppo_from_figure:
        measured["ppo_update"] = rl["ratio"]["ppo_update_vs_reference"]
    out = {}
    for name, goal in goals.items():
        m = measured.get(name)
        out[name] = {"goal": goal, "measured": m, "met": None if m is None else m >= goal}
        if name == "ppo_update" and ppo_from_figure:
            out[name]["vs_figure"] = True
    return out
