"""`rlhf compare`: paired differences between two runs. The tests plant known differences (and none) in
synthetic answers and check that the comparison finds them, and only them."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rlhf_core import compare as C
from rlhf_core import verdicts as V
from rlhf_core.errors import RlhfError
from stages import compare as S
from stages.cli import app

K = V.Knobs(n_boot=400, ci=0.95, seed=0)


def answers(rng, *, seeds=(0, 1, 2), prompts=40, samples=2, shift=None, seed_luck=0.0, difficulty=None):
    """Held-out answers of SFT and DPO. Each prompt has a difficulty shared by every run (the part pairing
    removes); `shift` adds to DPO's gold; `seed_luck` draws a per-seed offset of DPO (training luck)."""
    shift = shift or {}
    difficulty = rng.normal(0, 0.3, prompts) if difficulty is None else difficulty
    rows = []
    for s in seeds:
        luck = rng.normal(0, seed_luck)
        for p in range(prompts):
            for j in range(samples):
                for algo in ("sft", "dpo"):
                    base = difficulty[p] + (shift.get(algo, 0.0) + luck if algo == "dpo" else shift.get("sft", 0.0))
                    rows.append(
                        {
                            "algo": algo,
                            "set": "heldout",
                            "seed": s,
                            "prompt_id": f"h{p:03d}",
                            "sample": j,
                            "response": f"{algo}-{s}-{p}-{j}" if algo == "dpo" else f"sft-{s}-{p}-{j}",
                            "gold": base + (rng.normal(0, 0.05) if algo == "dpo" else 0.0),
                            "rm": base,
                            "kl": 0.0 if algo == "sft" else 0.3,
                            "length": 20,
                        }
                    )
    rows.append({**rows[0], "set": "study", "prompt_id": "study-01"})  # study answers are not compared
    return rows


def test_changed_is_against_sfts_answer_on_the_same_sample():
    rows = answers(np.random.default_rng(0), seeds=(0,), prompts=2, samples=1)
    rows[1]["response"] = rows[0]["response"]  # DPO repeats SFT on (seed 0, h000, sample 0)
    df = C.heldout_frame(rows, "t")
    dpo = df[df["algo"] == "dpo"].set_index("prompt_id")["changed"]
    assert dpo["h000"] == 0.0 and dpo["h001"] == 1.0
    assert "study-01" not in set(df["prompt_id"])


@pytest.mark.parametrize(
    "rows, words",
    [
        ([], "no answers"),
        ([{"algo": "sft", "set": "heldout"}], "lacks seed"),
        ([dict.fromkeys(C.NEEDED, 0)], "no held-out"),
    ],
)
def test_bad_answer_files_stop_with_one_line(rows, words):
    with pytest.raises(RlhfError, match=words):
        C.heldout_frame(rows, "data/eval/phase1")


def test_identical_runs_give_no_rows_and_name_what_is_identical():
    rows = answers(np.random.default_rng(1))
    a, b = C.heldout_frame(rows, "a"), C.heldout_frame(json.loads(json.dumps(rows)), "b")
    found, same = C.compare_phase(a, b, "phase1", K)
    assert found == [] and same == ["sft", "dpo"]
    assert "Nothing to compare" in C.markdown("a", "b", [], found, [], ci=0.95)


def test_a_shift_hidden_by_prompt_difficulty_is_found_paired():
    """Prompts differ by far more than the shift: each run's own interval overlaps the other's, yet the
    paired difference is beyond noise and its interval holds the planted shift."""
    rng = np.random.default_rng(2)
    difficulty = rng.normal(0, 1.0, 40)
    a = C.heldout_frame(answers(rng, difficulty=difficulty), "a")
    b = C.heldout_frame(answers(rng, difficulty=difficulty, shift={"dpo": 0.1}), "b")
    found, same = C.compare_phase(a, b, "phase1", K)
    assert same == ["sft"]
    gold = next(r for r in found if r.algo == "dpo" and r.metric == "gold")
    assert gold.a.hi > gold.b.lo  # unpaired, the two intervals overlap
    assert gold.verdict == "higher" and gold.diff.lo < 0.1 < gold.diff.hi
    assert len(gold.seed_diffs) == 3 and all(d > 0 for d in gold.seed_diffs)
    assert next(r for r in found if r.metric == "kl").verdict == "within noise"  # nothing planted there


def test_false_positive_rate_under_the_null():
    """A/A: both runs share the setting and differ only by training luck per seed and sampling noise, and
    luck dominates. A bootstrap over three seeds alone called 32 of these 120 beyond noise; the report's
    interval (its t floor over seed means) calls 11, near the nominal 5% given 120 trials."""
    rng = np.random.default_rng(3)
    hits, trials = 0, 120
    for _ in range(trials):
        difficulty = rng.normal(0, 0.3, 40)
        a = C.heldout_frame(answers(rng, difficulty=difficulty, seed_luck=0.05), "a")
        b = C.heldout_frame(answers(rng, difficulty=difficulty, seed_luck=0.05), "b")
        found, _ = C.compare_phase(a, b, "phase1", K)
        gold = next(r for r in found if r.algo == "dpo" and r.metric == "gold")
        hits += gold.verdict != "within noise"
    assert hits / trials <= 0.12, f"{hits} of {trials} A/A comparisons called beyond noise"


def test_only_cells_both_runs_answered_are_paired():
    rng = np.random.default_rng(4)
    difficulty = rng.normal(0, 0.3, 40)
    a = C.heldout_frame(answers(rng, difficulty=difficulty), "a")
    b = C.heldout_frame(answers(rng, difficulty=difficulty, seeds=(1, 2), prompts=30, shift={"dpo": 0.2}), "b")
    found, _ = C.compare_phase(a, b, "phase1", K)
    gold = next(r for r in found if r.algo == "dpo" and r.metric == "gold")
    assert gold.cells == 2 * 30 and len(gold.seed_diffs) == 2


def test_a_changed_sft_is_netted_out():
    """B's SFT and DPO both moved by +1 (say, a different SFT learning rate): DPO's own change is zero."""
    rng = np.random.default_rng(5)
    difficulty = rng.normal(0, 0.3, 40)
    a = C.heldout_frame(answers(rng, difficulty=difficulty), "a")
    rows = answers(rng, difficulty=difficulty, shift={"sft": 1.0, "dpo": 1.0})
    for r in rows:
        r["response"] += "-other-sft" if r["algo"] == "sft" else ""
    b = C.heldout_frame(rows, "b")
    assert not C.same_sft(a, b)
    found, _ = C.compare_phase(a, b, "phase1", K)
    gold = next(r for r in found if r.algo == "dpo" and r.metric == "gold")
    assert gold.diff.above and gold.net is not None and gold.verdict == "within noise"


def test_same_rm_tells_a_retrained_reward_model():
    rows = answers(np.random.default_rng(6), seeds=(0,), prompts=3)
    a = C.heldout_frame(rows, "a")
    other = [dict(r, rm=r["rm"] + (0.5 if r["algo"] == "sft" else 0.0)) for r in rows]
    assert C.same_rm(a, C.heldout_frame(json.loads(json.dumps(rows)), "b")) is True
    assert C.same_rm(a, C.heldout_frame(other, "b")) is False


def test_params_diff_walks_nested_settings():
    a = {"dpo": {"beta": 0.1, "lr": 1e-4}, "rl_seeds": [0, 1, 2], "phases": {"phase1": {}}}
    b = {"dpo": {"beta": 0.3, "lr": 1e-4}, "rl_seeds": [0, 1], "phases": {"phase1": {}, "phase5": {"dpo": {"beta": 1}}}}
    assert C.params_diff(a, b) == [
        ("dpo.beta", 0.1, 0.3),
        ("phases.phase5.dpo.beta", "(absent)", 1),
        ("rl_seeds", [0, 1, 2], [0, 1]),
    ]


def _checkout(path, rows, params):
    (path / "data/eval/phase1/seed0").mkdir(parents=True)
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    with open(path / "data/eval/phase1/seed0/answers.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def test_cli_compares_two_checkouts(tmp_path):
    rng = np.random.default_rng(7)
    difficulty = rng.normal(0, 0.3, 40)
    params = {"rl_seeds": [0], "phases": {"phase1": {}}, "dpo": {"beta": 0.1}}
    _checkout(tmp_path / "a", answers(rng, seeds=(0,), difficulty=difficulty), params)
    _checkout(
        tmp_path / "b",
        answers(rng, seeds=(0,), difficulty=difficulty, shift={"dpo": 0.3}),
        {**params, "dpo": {"beta": 0.3}},
    )
    out = tmp_path / "cmp.md"
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "| `dpo.beta` | 0.1 | 0.3 |" in text
    assert "one RL seed" in text and "identical answers and scores in both runs, left out: SFT" in text
    gold = next(line for line in text.splitlines() if "| DPO | gold |" in line)
    assert gold.endswith("| higher |")


def test_cli_names_a_run_it_cannot_find(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    res = CliRunner().invoke(app, ["compare", "no-such-run", "workspace", "--repo", str(tmp_path)])
    assert res.exit_code == 2
    assert "'no-such-run' is not `workspace`, a folder with params.yaml, an experiment" in res.output


def test_experiment_names_resolve_to_the_one_on_head(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "base")
    head = git("rev-parse", "HEAD").strip()
    other = "ab" + "c" * 38
    git("update-ref", f"refs/exps/{other[:2]}/{other[2:]}/beta03", head)
    assert S._experiment_rev(tmp_path, "beta03") == head  # one experiment of that name
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "exp")
    exp = git("rev-parse", "HEAD").strip()
    git("update-ref", f"refs/exps/{other[:2]}/{'d' * 38}/beta03", exp)
    with pytest.raises(RlhfError, match="2 experiments are called 'beta03', none of them on HEAD"):
        S._experiment_rev(tmp_path, "beta03")
    new_head = git("rev-parse", "HEAD").strip()
    git("update-ref", f"refs/exps/{new_head[:2]}/{new_head[2:]}/beta03", exp)
    assert S._experiment_rev(tmp_path, "beta03") == exp
    assert S._experiment_rev(tmp_path, "nothing") is None
