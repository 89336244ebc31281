"""Kill and resume: every training loop, stopped mid-run and started again from its last
resume checkpoint, ends bit-identical to an uninterrupted run, logs included.

The in-process tests stop a loop by raising from its logging callback (fast, every loop); the
SIGKILL tests at the end kill the real `rlhf` stage processes of the tiny project.
"""

import json
import math
import os
import random
import signal
import subprocess
import time
import types

import pytest
import torch

from conftest import run
from rlhf_core import io
from rlhf_core.builtin import build_suite
from rlhf_core.dpo import train_dpo
from rlhf_core.errors import RlhfError
from rlhf_core.grpo import train_grpo
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.params import RMParams, SFTParams
from rlhf_core.ppo import train_ppo
from rlhf_core.resume import Resume, fingerprint, read_step, state_path
from rlhf_core.reward import RewardModel, model_config, train_rm
from rlhf_core.rollout import ValueHead
from rlhf_core.runtime import check_finite
from rlhf_core.sft import encode_examples, train_sft
from rlhf_core.tokenizer import load_tokenizer, save_tokenizer, train_bpe, training_texts


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rows = build_suite(n_train=200, n_heldout=16, seed=0).train
    path = tmp_path_factory.mktemp("tok")
    save_tokenizer(train_bpe(training_texts(rows), vocab_size=400), path)
    return load_tokenizer(path), rows


def small_gpt(tok, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=256, n_layer=1, n_head=2, d_model=32))


def ns(**kw):
    return types.SimpleNamespace(**kw)


def length_reward(rows, texts):
    return torch.tensor([float(len(t) % 7) for t in texts])


# Each loop as `run(resume, on_log) -> modules`, building everything from scratch with fixed seeds so an
# uninterrupted run and a killed-then-resumed one start from the same objects.


def sft_loop(tok, rows):
    examples, _ = encode_examples(tok, rows, 256)
    p = SFTParams(max_steps=12, batch_size=4, warmup_steps=2, log_every=2, eval_every=5)

    def go(resume, on_log):
        model = small_gpt(tok)
        train_sft(model, examples, p, pad_id=tok.pad_id, seed=0, on_log=on_log, on_eval=lambda s: {}, resume=resume)
        return [model]

    return go


def rm_loop(tok, rows):
    g = random.Random(0)
    pairs = [
        (
            [g.randrange(3, 400) for _ in range(g.randrange(4, 20))] + [tok.eos_id],
            [g.randrange(3, 400) for _ in range(g.randrange(4, 20))] + [tok.eos_id],
            1.0,
        )
        for _ in range(64)
    ]
    p = RMParams(n_layer=1, n_head=2, d_model=32, max_steps=12, batch_size=4, warmup_steps=2, log_every=2, eval_every=5)

    def go(resume, on_log):
        torch.manual_seed(0)
        model = RewardModel(model_config(p, tok.vocab_size), p.pooling)
        train_rm(model, pairs, p, pad_id=tok.pad_id, seed=0, on_log=on_log, on_eval=lambda s: {}, resume=resume)
        return [model]

    return go


def ppo_loop(tok, rows):
    p = ns(
        steps=5,
        batch_size=4,
        mini_batch_size=2,
        epochs=2,
        lr=1e-3,
        kl_coef=0.01,
        reward_placement="every",
        resp_len=10,
        temperature=1.0,
        top_k=0,
        gamma=1.0,
        lam=0.95,
        clip_eps=0.2,
        vf_clip=0.2,
        vf_coef=0.1,
        vf_lr=1e-3,
        weight_decay=0.0,
        grad_clip=1.0,
    )

    def go(resume, on_log):
        policy, ref = small_gpt(tok), small_gpt(tok).requires_grad_(False)
        torch.manual_seed(1)
        value_head = ValueHead(32)
        train_ppo(
            policy,
            value_head,
            ref,
            tok,
            rows,
            length_reward,
            p,
            seed=0,
            generator=torch.Generator().manual_seed(0),
            on_log=on_log,
            resume=resume,
        )
        return [policy, value_head]

    return go


def grpo_loop(tok, rows):
    p = ns(
        steps=5,
        prompts_per_step=2,
        group_size=3,
        gen_temperature=1.0,
        gen_top_k=0,
        resp_len=10,
        lr=1e-3,
        kl_coef=0.04,
        clip_eps=0.2,
        epochs=1,
        collapse_threshold=0.1,
        weight_decay=0.0,
        grad_clip=1.0,
    )

    def go(resume, on_log):
        policy, ref = small_gpt(tok), small_gpt(tok).requires_grad_(False)
        train_grpo(
            policy,
            ref,
            tok,
            rows,
            length_reward,
            p,
            seed=0,
            generator=torch.Generator().manual_seed(0),
            on_log=on_log,
            resume=resume,
        )
        return [policy]

    return go


def dpo_loop(tok, rows):
    p = ns(
        steps=5,
        batch_size=1,
        grad_accum=2,
        lr=1e-3,
        beta=0.1,
        rej_temperature=1.0,
        rej_top_k=0,
        void_redraws=3,
        rej_max_new_tokens=10,
        weight_decay=0.0,
        grad_clip=1.0,
    )

    def go(resume, on_log):
        policy, ref = small_gpt(tok), small_gpt(tok).requires_grad_(False)
        train_dpo(
            policy, ref, tok, rows, p, seed=0, generator=torch.Generator().manual_seed(0), on_log=on_log, resume=resume
        )
        return [policy]

    return go


LOOPS = {"sft": (sft_loop, 8), "rm": (rm_loop, 8), "ppo": (ppo_loop, 3), "grpo": (grpo_loop, 3), "dpo": (dpo_loop, 3)}


def state(modules):
    return [t.detach().clone() for m in modules for t in m.state_dict().values()]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LOOPS))
def test_loop_stopped_and_resumed_is_bit_identical(setup, tmp_path, name):
    tok, rows = setup
    make, kill_at = LOOPS[name]
    go = make(tok, rows)
    path = tmp_path / "state.safetensors"

    clean_logs: list = []
    clean = state(go(None, lambda s, m: clean_logs.append([s, m])))

    def attempt(kill):
        logs: list = []
        resume = Resume(path, "fp", every=0)
        record = resume.recorded("log", lambda s, m: logs.append([s, m]))

        def on_log(step, metrics):
            record(step, metrics)
            if step == kill:
                raise Killed

        return resume, logs, lambda: go(resume, on_log)

    _, _, first = attempt(kill_at)
    with pytest.raises(Killed):
        first()
    saved = read_step(path)
    assert saved is not None and 0 < saved < kill_at  # stopped after a checkpoint, before the end
    resume, logs, second = attempt(None)
    resumed = state(second())
    assert resume.resumed_from == saved
    assert logs == clean_logs  # the replayed logs plus the new ones are the uninterrupted run's
    assert len(resumed) == len(clean) and all(torch.equal(a, b) for a, b in zip(resumed, clean))


@pytest.mark.slow
def test_state_from_other_params_or_inputs_is_ignored(setup, tmp_path):
    tok, rows = setup
    go = sft_loop(tok, rows)
    path = tmp_path / "state.safetensors"
    resume = Resume(path, "params-A", every=0)
    with pytest.raises(Killed):
        go(resume, lambda s, m: (_ for _ in ()).throw(Killed) if s == 6 else None)
    assert read_step(path) == 4
    messages = []
    other = Resume(path, "params-B", every=0, log=messages.append)
    assert not other.resuming and "other params, inputs or code" in messages[0]
    assert Resume(path, "params-A", every=0, log=messages.append).resuming


def test_fingerprint_covers_params_and_input_bytes(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("one")
    a = fingerprint("sft", {"lr": 1}, [tmp_path / "in"])
    assert a == fingerprint("sft", {"lr": 1}, [tmp_path / "in"])
    assert a != fingerprint("sft", {"lr": 2}, [tmp_path / "in"]) != fingerprint("rm", {"lr": 1}, [tmp_path / "in"])
    (tmp_path / "in" / "a.txt").write_text("two")
    assert a != fingerprint("sft", {"lr": 1}, [tmp_path / "in"])


def test_fingerprint_covers_the_code(tmp_path, monkeypatch):
    from rlhf_core import resume

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "notes.txt").write_text("not code")
    d = resume.code_digest((pkg,))
    (pkg / "notes.txt").write_text("still not code")
    resume._code_digest.cache_clear()
    assert resume.code_digest((pkg,)) == d
    (pkg / "sub" / "b.py").write_text("y = 3\n")  # a one-character fix in a nested module
    resume._code_digest.cache_clear()
    assert resume.code_digest((pkg,)) != d
    # the default digest covers this repository's own modules, and the fingerprint follows it
    assert resume.code_digest() == resume.code_digest() and len(resume.code_digest()) == 64
    before = fingerprint("sft", {"lr": 1}, [])
    monkeypatch.setattr(resume, "code_digest", lambda roots=None: "other code")
    assert fingerprint("sft", {"lr": 1}, []) != before


def test_corrupted_state_is_ignored_not_fatal(tmp_path):
    path = tmp_path / "state.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    messages = []
    resume = Resume(path, "fp", every=0, log=messages.append)
    assert not resume.resuming and "unreadable" in messages[0]
    model = torch.nn.Linear(2, 2)
    resume.track(model=model)
    assert resume.restore() is None
    resume.save(3, {"step": 3})  # replaces the bad file
    assert read_step(path) == 3


def test_negative_interval_turns_checkpoints_off(tmp_path):
    path = tmp_path / "state.safetensors"
    resume = Resume(path, "fp", every=-1)
    resume.track(model=torch.nn.Linear(2, 2))
    assert not resume.save_if_due(1, {"step": 1}, force=True) and not path.exists()


def test_bad_interval_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_CHECKPOINT_EVERY", "often")
    with pytest.raises(RlhfError, match="RLHF_CHECKPOINT_EVERY='often' is not a number"):
        Resume(tmp_path / "s.safetensors", "fp")


def test_state_path_is_outside_outputs(monkeypatch, tmp_path):
    monkeypatch.delenv("RLHF_RESUME_DIR", raising=False)
    assert state_path("data/phase1/ppo").as_posix() == ".rlhf-resume/data__phase1__ppo.safetensors"
    monkeypatch.setenv("RLHF_RESUME_DIR", str(tmp_path))
    assert state_path("data/sft") == tmp_path / "data__sft.safetensors"


def test_non_finite_stops_naming_step_and_last_checkpoint(tmp_path):
    check_finite(3, {"loss": 1.0, "steps": 3})
    with pytest.raises(RlhfError, match=r"non-finite loss, grad_norm at step 7 \(no checkpoint was saved"):
        check_finite(7, {"loss": math.nan, "grad_norm": math.inf})
    resume = Resume(tmp_path / "s.safetensors", "fp", every=0)
    resume.track(model=torch.nn.Linear(2, 2))
    resume.save(5, {"step": 5})
    with pytest.raises(RlhfError, match=r"at step 7 \(last good checkpoint: step 5 in .*s\.safetensors"):
        check_finite(7, {"loss": math.nan}, resume.where())


def test_sft_nan_stops_the_loop_with_the_checkpoint(setup, tmp_path):
    tok, rows = setup
    examples, _ = encode_examples(tok, rows, 256)
    model = small_gpt(tok)
    p = SFTParams(max_steps=12, batch_size=4, warmup_steps=2, log_every=2, eval_every=50)
    resume = Resume(tmp_path / "s.safetensors", "fp", every=0)

    def poison(step, metrics):  # a NaN weight after step 4: the next loss is NaN
        if step == 4:
            with torch.no_grad():
                model.lm_head.weight[:] = math.nan

    with pytest.raises(RlhfError, match=r"non-finite loss.* at step 5 \(last good checkpoint: step 4"):
        train_sft(model, examples, p, pad_id=tok.pad_id, seed=0, on_log=poison, on_eval=lambda s: {}, resume=resume)


def test_atomic_write_killed_mid_write_keeps_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json(target, {"v": 1})
    code = (
        "import os, signal\nfrom rlhf_core import io\n"
        f"with io.atomic_path({str(target)!r}) as tmp:\n"
        '    tmp.write_text(\'{"v": 2, "half\')\n'
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([os.sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"v": 1}
    assert list(tmp_path.glob(".metrics.json.*.tmp"))  # the killed writer's temp file...
    io.write_json(target, {"v": 3})
    assert json.loads(target.read_text()) == {"v": 3}
    assert target.stat().st_mode & 0o777 == 0o666 & ~io._UMASK  # not mkstemp's private 0600
    assert not list(tmp_path.glob(".metrics.json.*.tmp"))  # ...is swept by the next write


# --- the real thing: SIGKILL an `rlhf` stage process of the tiny project, start it again ---------------

STAGES = {
    # stage: (config to copy, section, overrides that make it long enough to kill, extra CLI args)
    "sft": (
        "reports/configs/sft.json",
        "sft",
        {"max_steps": 60, "epochs": 2.0},
        ["--data", "data/raw", "--tokenizer", "data/tokenizer"],
    ),
    "rm": (
        "reports/configs/rm.json",
        "rm",
        {"max_steps": 60, "log_every": 2},
        ["--data", "data/raw", "--tokenizer", "data/tokenizer", "--sft", "data/sft"],
    ),
    "ppo": (
        "reports/configs/phase1/ppo.json",
        "ppo",
        {"steps": 12},
        ["--data", "data/raw", "--tokenizer", "data/tokenizer", "--sft", "data/sft", "--rm", "data/rm"],
    ),
    "grpo": (
        "reports/configs/phase1/grpo.json",
        "grpo",
        {"steps": 12},
        ["--data", "data/raw", "--tokenizer", "data/tokenizer", "--sft", "data/sft", "--rm", "data/rm"],
    ),
    "dpo": (
        "reports/configs/phase1/dpo.json",
        "dpo",
        {"steps": 12},
        ["--data", "data/raw", "--tokenizer", "data/tokenizer", "--sft", "data/sft"],
    ),
}


def tree_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# One stage per resume path in the CI run (its 15-minute budget): SFT for StageRun's recipes (the RM's is
# the same machinery), PPO for the RL loops with a value head and rollouts (GRPO's is the same), DPO for
# the pair state. RLHF_TEST_ALL_RESUME=1 runs all five.
RESUME_STAGES = list(STAGES) if os.environ.get("RLHF_TEST_ALL_RESUME") else ["sft", "ppo", "dpo"]


@pytest.mark.slow
@pytest.mark.parametrize("stage", RESUME_STAGES)
def test_stage_killed_with_sigkill_resumes_to_the_same_bytes(tiny_project, tmp_path, stage):
    """Uninterrupted run vs a run SIGKILLed after a checkpoint and started again: same files, byte for byte."""
    src, section, overrides, args = STAGES[stage]
    config = json.loads((tiny_project / src).read_text())
    config[section].update(overrides)
    cfg = tmp_path / f"{stage}.json"
    cfg.write_text(json.dumps(config))
    env = {"RLHF_RESUME_DIR": str(tmp_path / "resume"), "RLHF_CHECKPOINT_EVERY": "0"}

    def cmd(name):
        return [
            "rlhf",
            stage,
            "--params",
            str(cfg),
            *args,
            "--out",
            str(tmp_path / name / "out"),
            "--live",
            str(tmp_path / name / "live"),
            "--timing",
            str(tmp_path / f"{name}.timing.json"),
        ]

    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        run(cmd("clean"), tiny_project)
        assert not list((tmp_path / "resume").glob("*"))  # a finished stage leaves no state behind

        from conftest import dvc_env

        state = state_path(tmp_path / "killed" / "out")
        proc = subprocess.Popen(
            cmd("killed"),
            cwd=tiny_project,
            env=dvc_env(tiny_project),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and (read_step(state) or 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, "the stage finished before it could be killed"
        killed_at = read_step(state)
        assert killed_at and not (tmp_path / "killed" / "out" / "model.safetensors").exists()

        again = run(cmd("killed"), tiny_project)
        assert f"resume: continuing from step {killed_at} " in again.stderr
        assert not state.exists()

    clean, resumed = tree_bytes(tmp_path / "clean"), tree_bytes(tmp_path / "killed")
    assert clean.keys() == resumed.keys()
    assert [k for k in clean if clean[k] != resumed[k]] == []
    timing = json.loads((tmp_path / "killed.timing.json").read_text())
    assert timing["resumed_from_step"] >= killed_at > 0
