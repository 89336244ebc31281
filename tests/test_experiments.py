"""Sweeps beyond one machine, with DVC's own machinery: experiments run in two clones are pushed to a
shared Git remote and a DVC remote (`dvc exp push`), pulled in a third clone (`dvc exp pull`), and
`rlhf frontier` and `rlhf compare` there see all of them. The remotes are a local bare Git repository and
a local folder."""

import shutil
import subprocess

import pytest

from conftest import dvc_env, run

pytestmark = pytest.mark.slow


def test_two_clones_push_experiments_a_third_pulls_both_and_builds_the_frontier(tiny_project, tmp_path):
    origin, bare, store = tmp_path / "origin", tmp_path / "remote.git", tmp_path / "dvc-store"
    shutil.copytree(tiny_project, origin, symlinks=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True, env=dvc_env(tmp_path))
    run(["dvc", "remote", "add", "-d", "store", str(store)], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-qm", "results of the default run"], origin)
    run(["git", "remote", "add", "origin", str(bare)], origin)
    run(["git", "push", "-q", "origin", "main"], origin)
    run(["dvc", "push", "-q"], origin)  # the outputs, so that a clone can start from them

    def clone(name):
        path = tmp_path / name
        run(["git", "clone", "-q", str(bare), str(path)], tmp_path)
        return path

    for name, beta in (("alice", "0.05"), ("bob", "0.5")):  # two machines, one sweep point each
        c = clone(name)
        run(["dvc", "pull", "-q"], c)
        out = run(["dvc", "exp", "run", "-n", f"beta-{beta}", "-S", f"dpo.beta={beta}"], c).stdout
        assert "Running stage 'dpo@phase1-0'" in out and "Running stage 'sft'" not in out
        run(["dvc", "exp", "push", "origin", f"beta-{beta}"], c)

    carol = clone("carol")
    listed = run(["dvc", "exp", "list", "origin", "--name-only"], carol).stdout.split()
    assert {"beta-0.05", "beta-0.5"} <= set(listed), listed
    for name in ("beta-0.05", "beta-0.5"):
        run(["dvc", "exp", "pull", "origin", name], carol)
    shown = run(["dvc", "exp", "show", "--json", "--no-pager"], carol).stdout
    assert "beta-0.05" in shown and "beta-0.5" in shown
    out = run(["rlhf", "frontier", "--phase", "phase1", "--bootstrap", "200"], carol)
    md = (carol / "reports" / "frontier.md").read_text()
    for beta in ("0.05", "0.1", "0.5"):  # both pulled experiments and the baseline commit
        assert f"| DPO | beta={beta} | 2 |" in md, md
    assert "beta-0.05" in md and "beta-0.5" in md and (carol / "reports" / "frontier.png").is_file()
    assert "| DPO | 3 / 6 |" in md  # three settings x two seeds fitted
    assert "PPO, GRPO" in md.split("Not fitted")[1]  # one setting each
    assert "from 4 runs (0 left out)" in out.stderr  # workspace, the baseline commit, both experiments

    # the two pulled experiments, answer by answer, their outputs read through DVC from the local cache
    md = run(["rlhf", "compare", "beta-0.05", "beta-0.5", "--bootstrap", "200"], carol).stdout
    assert "| `dpo.beta` | 0.05 | 0.5 |" in md, md
    assert "phase1: identical answers and scores in both runs, left out: SFT, PPO, GRPO" in md, md
    assert "| phase1 | DPO | kl |" in md and "| phase1 | PPO |" not in md, md
