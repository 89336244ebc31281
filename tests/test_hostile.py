"""Hostile inputs (issue #7): each ends in one clear line (an RlhfError naming the problem and the
fix; `error: ...` and exit code 2 at the CLI) and loses nothing. Complements test_params.py,
test_data.py, test_cli.py and test_reward.py, which cover the first cases of each kind.
"""

import ast
import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from conftest import ROOT
from rlhf_core.builtin import build_suite
from rlhf_core.checkpoint import load_policy, save_checkpoint
from rlhf_core.data import MAX_ROW_CHARS, load_source
from rlhf_core.errors import RlhfError
from rlhf_core.evaluate import require_fitting
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.params import DataParams, Params, build, load_raw
from rlhf_core.sft import encode_examples
from rlhf_core.tokenizer import load_tokenizer, save_tokenizer, train_bpe, training_texts


def one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and text.strip() == text and len(text) < 400, text
    return text


# --- params -----------------------------------------------------------------------------------------

DEFAULT = load_raw(ROOT / "params.yaml")


def with_value(path: str, value):
    raw = copy.deepcopy(DEFAULT)
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return raw


@pytest.mark.parametrize("path, value, fragment", [
    ("sft.batch_size", True, "sft.batch_size = True is not allowed: must be an integer"),
    ("sft.batch_size", "many", "sft.batch_size = 'many' is not allowed"),
    ("sft.batch_size", [32], "sft.batch_size = [32] is not allowed"),
    ("sft.lr", None, "sft.lr = None is not allowed: must be a number > 0"),
    ("sft.lr", float("nan"), "sft.lr = nan is not allowed"),
    ("rm", [1, 2], "rm must be a mapping of keys to values"),
    ("tokenizer.vocab_size", -5, "tokenizer.vocab_size = -5 is not allowed: must be an integer >= 300"),
    ("sft.max_steps", 0, "sft.max_steps = 0 is not allowed: must be an integer >= 1"),
    ("ppo.mini_batch_size", -1, "ppo.mini_batch_size = -1 is not allowed"),
    ("grpo.group_size", 1, "grpo.group_size = 1 is not allowed: must be an integer >= 2"),
    ("dpo.beta", 0, "dpo.beta = 0.0 is not allowed: must be a number > 0"),
    ("grpo.gen_temperature", 0, "grpo.gen_temperature = 0.0 is not allowed: must be a number > 0"),
    ("ppo.temperature", -0.5, "ppo.temperature = -0.5 is not allowed"),
    ("dpo.rej_temperature", 0, "dpo.rej_temperature = 0.0 is not allowed"),
    ("rm.sample_temperature", 0, "rm.sample_temperature = 0.0 is not allowed"),
    ("eval.temperature", 0, "eval.temperature = 0.0 is not allowed"),
    ("model.block_size", 64, "must leave at least 16 prompt tokens in model.block_size (64)"),
    ("sft.bogus", 1, "unknown key sft.bogus (allowed in sft: max_steps"),
    ("bogus", 1, "unknown key bogus (allowed in params.yaml: seed"),
    ("phases.phase5", {"dpo": {"beta": 0}}, "params.yaml (phase phase5): dpo.beta = 0.0 is not allowed"),
    ("phases.phase5", {"grpo": {"typo": 2}}, "params.yaml (phase phase5): unknown key grpo.typo"),
    ("phases.phase5", {"phases": {}}, "phases.phase5 cannot override 'phases'"),
    ("phases.phase5", [1], "phases.phase5 must be a mapping of overrides"),
])
def test_malformed_params_are_one_line(path, value, fragment):
    from rlhf_core.params import resolve_phase

    raw = with_value(path, value)
    with pytest.raises(RlhfError) as e:
        build(Params, raw)
        for phase in raw.get("phases") or {}:
            resolve_phase(raw, phase)
    assert fragment in one_line(e)


def test_non_string_yaml_keys_are_one_line():
    raw = copy.deepcopy(DEFAULT)
    raw["sft"][7] = 1
    with pytest.raises(RlhfError) as e:
        build(Params, raw)
    assert "unknown key sft.7" in one_line(e)


# --- data files ---------------------------------------------------------------------------------------

def rows(n=80, **override):
    out = [{"instruction": f"Do task {i}.", "input": "", "output": f"Done {i}."} for i in range(n)]
    for i, row in override.items():
        out[int(i)].update(row)
    return out


def write(path: Path, records) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(records))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif path.suffix == ".csv":
        pd.DataFrame(records).to_csv(path, index=False)
    else:
        pd.DataFrame(records).to_parquet(path)
    return path


def load(path):
    return load_source(DataParams(source=str(path), n_heldout=16), seed=0)


@pytest.mark.parametrize("ext", [".json", ".jsonl", ".csv", ".parquet"])
def test_truncated_files_are_one_line(tmp_path, ext):
    full = write(tmp_path / f"full{ext}", rows(200))
    cut = tmp_path / f"cut{ext}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    if ext == ".csv":  # a CSV cut mid-row is still CSV: the broken last row must be dropped, not crash
        ds = load(cut)
        assert all(r["output"] for r in ds.train)
        return
    with pytest.raises(RlhfError) as e:
        load(cut)
    assert str(cut) in one_line(e)


@pytest.mark.parametrize("ext", [".jsonl", ".csv"])
def test_not_utf8_is_one_line(tmp_path, ext):
    path = tmp_path / f"latin1{ext}"
    text = "instruction,input,output\n" + "".join(f"Caf\xe9 {i},,Cr\xe8me {i}\n" for i in range(60))
    if ext == ".jsonl":
        text = "".join(json.dumps({"instruction": f"Caf\xe9 {i}", "output": "x"}, ensure_ascii=False) + "\n"
                       for i in range(60))
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(RlhfError) as e:
        load(path)
    assert "is not UTF-8 text" in one_line(e) and "re-encode it as UTF-8" in str(e.value)


def test_not_the_claimed_format_is_one_line(tmp_path):
    parquet = write(tmp_path / "real.parquet", rows())
    fake_json = tmp_path / "fake.json"
    fake_json.write_bytes(parquet.read_bytes())
    with pytest.raises(RlhfError) as e:
        load(fake_json)
    assert "a binary file named .json?" in one_line(e)
    fake_parquet = tmp_path / "fake.parquet"
    fake_parquet.write_text(json.dumps(rows()))
    with pytest.raises(RlhfError) as e:
        load(fake_parquet)
    assert "could not be read as parquet" in one_line(e) and "matches its extension" in str(e.value)


def test_missing_columns_and_non_text_values(tmp_path):
    with pytest.raises(RlhfError) as e:
        load(write(tmp_path / "noinstr.jsonl", [{"prompt": "a", "output": "b"}] * 60))
    assert "has no 'instruction' column (columns: output, prompt)" in one_line(e)
    odd = rows(80, **{"3": {"output": 5}, "4": {"instruction": None}, "5": {"input": {"nested": 1}},
                      "6": {"output": ["a", "b"]}})
    ds = load(write(tmp_path / "odd.jsonl", odd))
    assert ds.stats["dropped"]["not_text"] == 4
    assert all(isinstance(r[k], str) for r in ds.train + ds.heldout + ds.study for k in ("instruction", "input", "output"))


def test_gigantic_rows_are_dropped_and_counted(tmp_path):
    huge = rows(80, **{"20": {"output": "word " * (MAX_ROW_CHARS // 4)}, "21": {"instruction": "x" * (MAX_ROW_CHARS + 1)}})
    ds = load(write(tmp_path / "huge.jsonl", huge))
    assert ds.stats["dropped"]["too_long"] == 2
    assert max(len(r["output"]) + len(r["instruction"]) for r in ds.train + ds.heldout) < 100


def test_only_gigantic_rows_is_one_line(tmp_path):
    with pytest.raises(RlhfError) as e:
        load(write(tmp_path / "all_huge.jsonl", rows(60, **{str(i): {"output": "y" * (MAX_ROW_CHARS + 1)} for i in range(60)})))
    assert "0 usable rows after cleaning" in one_line(e) and "'too_long': 60" in str(e.value)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    suite = build_suite(n_train=200, n_heldout=16, seed=0)
    path = tmp_path_factory.mktemp("tok")
    save_tokenizer(train_bpe(training_texts(suite.train), vocab_size=400), path)
    return load_tokenizer(path)


def test_prompts_longer_than_the_block(tok):
    long_row = {"instruction": "Explain " + "this very long thing " * 200, "input": "", "output": "Short."}
    short_row = {"instruction": "Say hi.", "input": "", "output": "Hi."}
    examples, counts = encode_examples(tok, [long_row, short_row], block_size=64)
    assert counts["dropped_prompt_too_long"] == 1 and len(examples) == 1
    assert require_fitting(tok, [long_row, short_row], 64, 16, "ppo.resp_len") == [short_row]
    with pytest.raises(RlhfError) as e:
        require_fitting(tok, [long_row], 64, 16, "ppo.resp_len")
    assert "no prompt of 1 leaves room for ppo.resp_len = 16 new tokens" in one_line(e)


# --- checkpoints --------------------------------------------------------------------------------------

def small(tok, d=32, layers=1):
    return GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=layers, n_head=2, d_model=d)


def test_checkpoint_from_another_model_size(tok, tmp_path):
    cfg = small(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    wide = small(tok, d=64)
    save_checkpoint(tmp_path / "b", GPT(wide), wide, tok, kind="policy")
    # weights of the wide model under the narrow model's config
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "do not fit this model" in one_line(e) and "another model size" in str(e.value)
    deep = small(tok, layers=2)
    save_checkpoint(tmp_path / "c", GPT(deep), deep, tok, kind="policy")
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "c" / "model.safetensors").read_bytes())
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "do not fit this model" in one_line(e)


def test_checkpoint_from_another_tokenizer(tok, tmp_path):
    cfg = small(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    other_dir = tmp_path / "other-tok"
    save_tokenizer(train_bpe(["completely different text " * 50, "more words here"], vocab_size=300), other_dir)
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", load_tokenizer(other_dir))
    assert "different tokenizer" in one_line(e)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "header"])
def test_corrupted_safetensors(tok, tmp_path, damage):
    cfg = small(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    weights = tmp_path / "a" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00\x01garbage" * 100, "empty": b"",
                         "header": (10**12).to_bytes(8, "little") + data[8:]}[damage])
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert str(weights) in one_line(e) and "rerun the stage that writes them" in str(e.value)


def test_wrong_dtype_tensors_and_bad_config(tok, tmp_path):
    cfg = small(tok)
    model = GPT(cfg)
    save_checkpoint(tmp_path / "a", model, cfg, tok, kind="policy")
    ints = {k: torch.zeros(v.shape, dtype=torch.int64) for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(ints, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "model.safetensors" in one_line(e)
    (tmp_path / "a" / "config.json").write_text("{not json")
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "is not valid JSON" in one_line(e)


# --- nothing unsafe is executed -------------------------------------------------------------------------

def unsafe_calls(source: str, filename: str) -> list[str]:
    """Calls that can run code from a file a user could swap in: unpickling (pickle, pandas
    read_pickle, torch.load without weights_only=True), eval/exec, and trust_remote_code."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"{filename}:{node.lineno} {name}"
        if name in ("eval", "exec", "pickle.load", "pickle.loads", "pd.read_pickle", "pandas.read_pickle"):
            found.append(where)
        elif name.endswith("torch.load") and not _constant(kwargs.get("weights_only"), True):
            found.append(where + " without weights_only=True")
        if "trust_remote_code" in kwargs and not _constant(kwargs["trust_remote_code"], False):
            found.append(where + " with trust_remote_code")
    return found


def _constant(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def test_no_unsafe_loads():
    found = []
    for folder in ("rlhf_core", "stages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


@pytest.mark.parametrize("code, bad", [
    ("import torch\ntorch.load('w.pt')", True),
    ("import torch\ntorch.load('w.pt', weights_only=False)", True),
    ("import torch\ntorch.load('w.pt', weights_only=True)", False),
    ("import pickle\npickle.loads(b'')", True),
    ("import pandas as pd\npd.read_pickle('x')", True),
    ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=True)", True),
    ("from datasets import load_dataset\nload_dataset('x')", False),
    ("eval('1+1')", True),
    ("from safetensors.torch import load_file\nload_file('w.safetensors')", False),
])
def test_the_scanner_catches_what_it_should(code, bad):
    assert bool(unsafe_calls(code, "x.py")) is bad


def test_hub_loading_never_trusts_remote_code():
    text = (ROOT / "rlhf_core/data.py").read_text()
    assert "load_dataset(" in text and "trust_remote_code=True" not in text
