"""Grouped training curves for `dvc plots`: one long-format CSV per quantity (`reports/plots/NAME.csv`, columns
step, value, series, phase, seed) gathered from every run's dvclive log, so that one chart shows one quantity
across algorithms, phases and seeds. dvc.yaml points a single top-level plot at the folder with the `grouped`
template (.dvc/plots/grouped.json: phases side by side, colour = series, one line per seed); a new phase,
seed or quantity needs no new plot declaration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rlhf_core import io

from .load import Study, read_log

# name -> (what it is, [(series, algorithm, dvclive stat)]); a run without the stat is left out of that chart.
QUANTITIES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "rm_reward": (
        "RM score of the policy's training samples",
        [("PPO", "ppo", "reward"), ("GRPO", "grpo", "reward_mean")],
    ),
    "gold": (
        "gold score of the policy's training samples",
        [("PPO", "ppo", "gold_mean"), ("GRPO", "grpo", "gold_mean")],
    ),
    "kl_per_token": (
        "KL to the reference per response token (PPO: its penalty's estimate; GRPO: k3)",
        [("PPO", "ppo", "kl_per_token"), ("GRPO", "grpo", "kl")],
    ),
    "response_length": ("response tokens", [("PPO", "ppo", "response_len"), ("GRPO", "grpo", "response_len")]),
    "grad_norm": (
        "gradient norm before clipping",
        [("PPO", "ppo", "grad_norm"), ("GRPO", "grpo", "grad_norm"), ("DPO", "dpo", "grad_norm")],
    ),
    "dpo_margin": ("DPO reward margin beta x (chosen - rejected log-ratio)", [("DPO", "dpo", "reward_margin")]),
    "dpo_log_ratios": (
        "DPO log-ratios to the reference",
        [("chosen", "dpo", "chosen_logratio"), ("rejected", "dpo", "rejected_logratio")],
    ),
    "dpo_accuracy": ("DPO pairs with chosen above rejected", [("DPO", "dpo", "accuracy")]),
    "grpo_group_std": ("GRPO reward std within a group (mean over groups)", [("GRPO", "grpo", "group_std_mean")]),
    "ppo_explained_variance": ("PPO critic's explained variance", [("PPO", "ppo", "explained_variance")]),
}
COLUMNS = ["step", "value", "series", "phase", "seed"]


def _stat(reports: Path, phase: str, seed: int, algo: str, stat: str) -> pd.DataFrame:
    """One logged statistic of one run as (step, value); empty when the run did not log it."""
    folder = reports / "live" / phase / f"seed{seed}" / algo / "plots" / "metrics" / "train"
    log = read_log(folder, (), (stat,), f"{algo}@{phase}-{seed}")
    return log.rename(columns={stat: "value"}) if stat in log.columns else log.assign(value=[])


def grouped_curves(study: Study, reports: Path) -> dict[str, pd.DataFrame]:
    """name -> long-format curves of every (series, phase, seed) that logged the quantity (empty ones left out)."""
    out = {}
    for name, (_, sources) in QUANTITIES.items():
        parts = []
        for ph in study.phases:
            for seed in ph.seeds:
                for series, algo, stat in sources:
                    df = _stat(reports, ph.name, seed, algo, stat)
                    if len(df):
                        parts.append(df.assign(series=series, phase=ph.name, seed=str(seed)))
        if parts:
            out[name] = pd.concat(parts, ignore_index=True)[COLUMNS]
    return out


def write_grouped(study: Study, reports: Path) -> list[Path]:
    """Write reports/plots/NAME.csv for each quantity and remove files of quantities no longer drawn."""
    folder = Path(reports) / "plots"
    written = []
    for name, df in grouped_curves(study, reports).items():
        path = folder / f"{name}.csv"
        io.write_text(path, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
        written.append(path)
    for p in sorted(folder.glob("*")) if folder.is_dir() else []:
        if p.is_file() and p not in written:
            p.unlink()
    return written
