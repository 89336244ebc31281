"""Coverage of the report's intervals over seeds and prompts, simulated where the truth is known.

Each simulated study has per-(seed, prompt) values of true mean 0: seed luck (one offset per seed) + an
effect per prompt shared by every seed (the prompts are the same held-out set in every seed) + noise.
A nominal 95% interval should contain 0 in 95% of studies; how often it does not is the rate at which
the report would call a difference "beyond noise" where there is none. Three intervals are compared:

- `bootstrap`: the hierarchical bootstrap alone (seeds, then prompts; `verdicts.over_seeds`);
- `seed t`: Student's t interval of the seed means (n - 1 degrees of freedom);
- `report`: what the report uses (`verdicts.seeded_ci`): the bootstrap widened to contain the t interval.

    python -m bench.coverage                 # 3 and 2 seeds, 300 studies per mix (about 30 s)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import typer

from rlhf_core import verdicts as V

# (seed SD, prompt SD, noise SD) per answer cell; 64 prompts, so noise 0.3 moves a seed's mean by 0.04
MIXES = [
    (0.0, 0.0, 1.0),
    (0.0, 0.1, 0.3),
    (0.0, 0.3, 0.3),
    (0.05, 0.3, 1.0),
    (0.1, 0.1, 0.3),
    (0.1, 0.0, 0.3),
    (0.1, 0.0, 0.1),
    (0.2, 0.0, 0.3),
    (0.3, 0.0, 1.0),
]

app = typer.Typer(add_completion=False)


def study(rng: np.random.Generator, n_seeds: int, n_prompts: int, seed_sd: float, prompt_sd: float, noise: float):
    d = rng.normal(0, seed_sd, (n_seeds, 1)) + rng.normal(0, prompt_sd, (1, n_prompts))
    d = d + rng.normal(0, noise, (n_seeds, n_prompts))
    idx = pd.MultiIndex.from_product([range(n_seeds), range(n_prompts)], names=["seed", "prompt_id"])
    return pd.Series(d.ravel(), index=idx)


def intervals(d: pd.Series, n_boot: int, ci: float, seed: int) -> dict[str, tuple[float, float]]:
    groups = [g.to_numpy() for _, g in d.groupby(level="seed", sort=True)]
    means = [float(g.mean()) for g in groups]
    rng = np.random.default_rng(seed)
    reps = [g[rng.integers(0, len(g), size=(n_boot, len(g)))].mean(axis=1) for g in groups]
    boot = V.over_seeds(reps, means, ci, rng)
    rep = V.seeded_ci(d, n_boot=n_boot, ci=ci, seed=seed)
    return {"bootstrap": (boot.lo, boot.hi), "seed t": V.seed_t(means, ci), "report": (rep.lo, rep.hi)}


@app.command()
def main(
    seeds: str = typer.Option("3,2", help="numbers of seeds to simulate, comma-separated"),
    prompts: int = typer.Option(64, min=2, help="held-out prompts per seed"),
    studies: int = typer.Option(300, min=10, help="simulated studies per mix"),
    n_boot: int = typer.Option(1000, min=100, help="bootstrap resamples"),
    ci: float = typer.Option(0.95, min=0.5, max=0.999, help="nominal coverage"),
    seed: int = typer.Option(0, help="simulation seed"),
) -> None:
    """Print, per mix of seed luck, prompt effects and noise, how often each interval contains the truth
    and its median width."""
    rng = np.random.default_rng(seed)
    names = ("bootstrap", "seed t", "report")
    print(f"{studies} simulated studies per row, {prompts} prompts, nominal {100 * ci:g}%: coverage (median width)\n")
    print("| seeds | seed SD | prompt SD | noise SD | " + " | ".join(names) + " |")
    print("| ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in names) + " |")
    for n_seeds in (int(s) for s in seeds.split(",")):
        for seed_sd, prompt_sd, noise in MIXES:
            hits = dict.fromkeys(names, 0)
            widths: dict[str, list[float]] = {k: [] for k in names}
            for r in range(studies):
                d = study(rng, n_seeds, prompts, seed_sd, prompt_sd, noise)
                for k, (lo, hi) in intervals(d, n_boot, ci, r).items():
                    hits[k] += lo <= 0 <= hi
                    widths[k].append(hi - lo)
            cells = " | ".join(f"{hits[k] / studies:.2f} ({np.median(widths[k]):.3f})" for k in names)
            print(f"| {n_seeds} | {seed_sd} | {prompt_sd} | {noise} | {cells} |", flush=True)


if __name__ == "__main__":
    app()
