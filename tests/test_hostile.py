"""Hostile inputs (issue #7, points 4 and 5): each ends in one clear line (an RlhfError naming the
problem and the fix; `error: ...` and exit code 2 at the CLI, no traceback) and loses nothing: a stage
that refuses its input leaves its earlier outputs as they were. Nothing a user can swap in (params,
data files, checkpoints, a dataset folder) is unpickled or executed. Complements test_params.py,
test_data.py, test_cli.py and test_reward.py, which cover the first cases of each kind.
"""

import ast
import copy
import json
import pickle
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from conftest import ROOT
from rlhf_core.builtin import build_suite
from rlhf_core.checkpoint import load_policy, save_checkpoint
from rlhf_core.data import MAX_ROW_CHARS, load_source
from rlhf_core.errors import RlhfError
from rlhf_core.evaluate import fitting_rows, require_fitting
from rlhf_core.model import GPT, GPTConfig
from rlhf_core.params import DataParams, Params, build, load_params, load_raw, resolve_phase
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
    # wrong types: bool for a float, a number for a string, a string or list for a section / the phases
    ("sft.lr", True, "sft.lr = True is not allowed: must be a number > 0"),
    ("ppo.temperature", False, "ppo.temperature = False is not allowed"),
    ("data.source", 5, "data.source = 5 is not allowed: must be a string"),
    ("device", ["cpu"], "device = ['cpu'] is not allowed: must be one of 'auto', 'cpu', 'cuda'"),
    ("model", "big", "params.yaml: model must be a mapping of keys to values, got 'big'"),
    ("phases", [1], "params.yaml: phases must be a mapping, got [1]"),
    ("sft.batch_size", {"n": 1}, "sft.batch_size = {'n': 1} is not allowed: must be an integer"),
    ("sft.batch_size", 2.5, "sft.batch_size = 2.5 is not allowed: must be an integer"),
    # negative and zero sizes
    ("model.n_layer", -2, "model.n_layer = -2 is not allowed: must be an integer >= 1"),
    ("model.d_model", -128, "model.d_model = -128 is not allowed: must be an integer >= 8"),
    ("model.block_size", -1, "model.block_size = -1 is not allowed: must be an integer >= 16"),
    ("sft.batch_size", 0, "sft.batch_size = 0 is not allowed: must be an integer >= 1"),
    ("data.n_heldout", -16, "data.n_heldout = -16 is not allowed"),
    ("eval.samples_per_prompt", -1, "eval.samples_per_prompt = -1 is not allowed"),
    # integers beyond any use: refused with a short message, not an overflow or a 400-digit line
    ("data.n_train", 10**30, "data.n_train = 1000000000000000000000000000000 is not allowed: must be an integer >= 16"),
    ("sft.lr", 10**400, "sft.lr = <an integer of about 400 digits> is not allowed"),
    # every generation budget must fit the block the SFT policy has (prompt + response)
    ("rm.sample_max_new_tokens", 250, "rm.sample_max_new_tokens = 250 is not allowed: must leave at least 16 prompt "
                                      "tokens in model.block_size (256)"),
    ("sft.gold_max_new_tokens", 241, "sft.gold_max_new_tokens = 241 is not allowed"),
    ("eval.max_new_tokens", 300, "eval.max_new_tokens = 300 is not allowed"),
    # inside a phase override: an unknown section, a wrong type, a too-long budget
    ("phases.phase5", {"bogus": 1}, "params.yaml (phase phase5): unknown key bogus (allowed in params.yaml"),
    ("phases.phase5", {"ppo": {"temperature": "hot"}}, "(phase phase5): ppo.temperature = 'hot' is not allowed"),
    ("phases.phase5", {"eval": {"max_new_tokens": 250}}, "(phase phase5): eval.max_new_tokens = 250 is not allowed"),
    ("phases.phase5", {"grpo": {"group_size": 1}}, "(phase phase5): grpo.group_size = 1 is not allowed"),
    ("phases.phase5", {"ppo": [1]}, "(phase phase5): ppo must be a mapping of keys to values"),
    ("phases.bad name!", {}, "phase name bad name! is not allowed: use up to 40 letters, digits"),
])
def test_malformed_params_are_one_line(path, value, fragment):
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


TEMPERATURES = {"rm.sample_temperature", "ppo.temperature", "grpo.gen_temperature", "dpo.rej_temperature",
                "eval.temperature"}


@pytest.mark.parametrize("value", [0, -1, -1e-9, 0.0])
def test_every_temperature_knob_must_be_positive(value):
    """Found by name, so a temperature knob added later is checked too (sampling divides by it)."""
    found = {f"{section}.{name}" for section, knobs in DEFAULT.items() if isinstance(knobs, dict)
             for name in knobs if "temperature" in name}
    assert found == TEMPERATURES
    for key in sorted(found):
        with pytest.raises(RlhfError) as e:
            build(Params, with_value(key, value))
        assert f"{key} = {float(value)!r} is not allowed: must be a number > 0" in one_line(e)


def test_gold_budget_is_checked_only_when_gold_prompts_are_answered():
    raw = with_value("sft.gold_max_new_tokens", 250)
    raw["sft"]["gold_prompts"] = 0
    assert build(Params, raw).sft.gold_max_new_tokens == 250


def test_huge_values_give_a_short_line():
    for value in ("x" * 1_000_000, list(range(100_000)), {str(i): i for i in range(10_000)}):
        with pytest.raises(RlhfError) as e:
            build(Params, with_value("sft.lr", value))
        assert len(one_line(e)) < 250
    with pytest.raises(RlhfError) as e:
        build(Params, with_value("sft." + "k" * 10_000, 1))
    assert "unknown key sft.kkk" in one_line(e)


def test_resolve_phase_refuses_phases_that_are_not_a_mapping():
    for phases in (["phase1"], "phase1", 5):
        with pytest.raises(RlhfError) as e:
            resolve_phase({"phases": phases}, "phase1")
        assert "phases must be a mapping of phase names to overrides" in one_line(e)
    with pytest.raises(RlhfError) as e:
        resolve_phase([1, 2], "phase1")
    assert "must be a mapping of keys to values" in one_line(e)


# "billion laughs": nine levels of ten aliases, 10^9 leaves sharing one list
ALIAS_BOMB = "sft: {lr: [&a [x, x, x, x, x, x, x, x, x, x], " + ", ".join(
    f"&{b} [{', '.join(['*' + a] * 10)}]" for a, b in zip("abcdefgh", "bcdefghi")) + "]}\n"


@pytest.mark.parametrize("text, fragment", [
    (b"sft: {lr: 0.001}  # caf\xe9\n", "is not UTF-8 text; re-encode it as UTF-8"),
    (b"seed: " + b"1" * 5000 + b"\n", "holds a value that cannot be read (Exceeds the limit"),
    (b"seed: 2024-13-45\n", "holds a value that cannot be read (month must be in 1..12); fix that value"),
    (b"[" * 1_000, "is nested too deeply to be a params file"),
    (b"sft: {lr: [1,\n", "is not valid YAML (line 2); fix the syntax"),
    (b"seed: 2001-01-01\n", "seed = datetime.date(2001, 1, 1) is not allowed: must be an integer"),
    (b"- 1\n- 2\n", "params.yaml: params.yaml must be a mapping of keys to values, got [1, 2]"),
    (ALIAS_BOMB.encode(), "sft.lr = [['x', 'x', 'x', 'x', ...], [['x', 'x', 'x', 'x', ...], "),
])
def test_hostile_params_files_are_one_line(tmp_path, text, fragment):
    """A params file that is not text, not YAML, a YAML bomb (10^9 shared leaves) or YAML that
    Python cannot turn into values: one line, quickly."""
    path = tmp_path / "params.yaml"
    path.write_bytes(text)
    t = time.perf_counter()
    with pytest.raises(RlhfError) as e:
        load_params(path)
    assert fragment in one_line(e) and time.perf_counter() - t < 5


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


@pytest.mark.parametrize("name, content", [
    ("empty.json", b""), ("empty.jsonl", b""), ("empty.csv", b""), ("empty.parquet", b""),
    ("blank.jsonl", b"\n  \n\n"), ("list.json", b"[]"), ("object.json", b"{}"),
    ("header.csv", b"instruction,input,output\n"),
])
def test_empty_files_are_one_line(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RlhfError) as e:
        load(path)
    assert str(path) in one_line(e) and ("is empty" in str(e.value) or "has no rows" in str(e.value))


def test_binary_under_text_extensions_is_one_line(tmp_path):
    """Parquet bytes named .csv or .jsonl: named as binary, not a pandas traceback or 0 rows."""
    data = write(tmp_path / "real.parquet", rows()).read_bytes()
    for ext in (".csv", ".jsonl"):
        fake = tmp_path / f"fake{ext}"
        fake.write_bytes(data)
        with pytest.raises(RlhfError) as e:
            load(fake)
        assert f"is not UTF-8 text (a binary file named {ext}?)" in one_line(e)


def test_utf8_with_a_byte_order_mark_loads(tmp_path):
    """Windows editors start UTF-8 files with a BOM; it must not become part of the first column's name."""
    for ext in (".csv", ".json", ".jsonl"):
        path = write(tmp_path / f"bom{ext}", rows())
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        assert len(load(path).study) == 16


def test_truncated_pretty_json_names_the_real_line(tmp_path):
    path = tmp_path / "pretty.json"
    text = json.dumps(rows(100), indent=2)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(RlhfError) as e:
        load(path)
    line = int(one_line(e).split("(line ")[1].split(":")[0])
    assert line > 100  # where the file stops, not line 1 of a jsonl fallback


@pytest.mark.parametrize("content, fragment", [
    ('{"instruction": "a", "output": "b"}\n[1, 2]\n', "line 2 is a JSON list, not an object"),
    ('{"instruction": "a", "output": "b"}\n"text"\n', "line 2 is a JSON str, not an object"),
    ("[" * 100_000 + "]" * 100_000 + "\n", "could not be read as jsonl (maximum recursion depth"),
])
def test_jsonl_lines_that_are_not_rows(tmp_path, content, fragment):
    path = tmp_path / "odd.jsonl"
    path.write_text(content)
    with pytest.raises(RlhfError) as e:
        load(path)
    assert fragment in one_line(e)


def test_parquet_nulls_and_typed_columns(tmp_path):
    """A null input is an empty input (pandas 3 would have made it NaN and dropped the row); numbers,
    lists and structs in a text column drop the row, counted as not_text."""
    n = 80
    table = pa.table({
        "instruction": [f"Task {i}" for i in range(n)],
        "input": pa.array([None if i % 2 else f"in {i}" for i in range(n)], pa.string()),
        "output": pa.array([None if i == 30 else f"Out {i}" for i in range(n)], pa.string()),
    })
    pq.write_table(table, tmp_path / "nulls.parquet")
    ds = load(tmp_path / "nulls.parquet")
    assert ds.stats["dropped"]["not_text"] == 1  # only the null output
    assert ds.study[1]["input"] == "" and ds.study[2]["input"] == "in 2"
    pq.write_table(table.set_column(2, "output", pa.array(list(range(n)), pa.int64())), tmp_path / "ints.parquet")
    with pytest.raises(RlhfError) as e:
        load(tmp_path / "ints.parquet")
    assert "0 usable rows after cleaning" in one_line(e) and "'not_text': 80" in str(e.value)
    nested = table.set_column(1, "input", pa.array([{"k": i} for i in range(n)]))
    pq.write_table(nested, tmp_path / "nested.parquet")
    with pytest.raises(RlhfError) as e:
        load(tmp_path / "nested.parquet")
    assert "'not_text': 80" in one_line(e)


def test_non_text_input_is_not_silently_emptied(tmp_path):
    odd = rows(80, **{"3": {"input": 0}, "4": {"input": False}, "5": {"input": []}, "6": {"input": None}})
    ds = load(write(tmp_path / "inputs.jsonl", odd))
    assert ds.stats["dropped"]["not_text"] == 3  # 0, false and [] are not text; null is a missing input
    assert ds.study[6]["input"] == ""


def test_column_names_stay_on_one_line(tmp_path):
    records = [{"prompt\nwith newline": "a", "output": "b"}] * 60
    with pytest.raises(RlhfError) as e:
        load(write(tmp_path / "newline.jsonl", records))
    assert "has no 'instruction' column (columns: output, 'prompt\\nwith newline')" in one_line(e)
    records = [{"output": "b", **{f"c{j:02}": j for j in range(40)}}] * 60
    with pytest.raises(RlhfError) as e:
        load(write(tmp_path / "wide.jsonl", records))
    assert "(columns: c00, c01, c02, c03, c04, c05, c06, c07, c08, c09, ... (31 more))" in one_line(e)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    suite = build_suite(n_train=200, n_heldout=16, seed=0)
    path = tmp_path_factory.mktemp("tok")
    save_tokenizer(train_bpe(training_texts(suite.train), vocab_size=400), path)
    return path


@pytest.fixture(scope="module")
def tok(tok_dir):
    return load_tokenizer(tok_dir)


def test_gigantic_rows_cost_nothing_downstream(tmp_path, tok):
    """A 5 MB output is dropped at download (counted as too_long); a 100k-character instruction is
    under the download cap, so it reaches the tokenizer once and is then dropped (counted) for every
    block: SFT's encode_examples and the RL/eval `fitting_rows` both leave it out."""
    huge = rows(80, **{"20": {"output": "z" * 5_000_000}, "21": {"instruction": "word " * 20_000}})
    t = time.perf_counter()
    ds = load(write(tmp_path / "huge.jsonl", huge))
    assert ds.stats["dropped"]["too_long"] == 1
    long_rows = [r for r in ds.train + ds.heldout if len(r["instruction"]) > 1000]
    assert len(long_rows) == 1
    examples, counts = encode_examples(tok, ds.train + ds.heldout, block_size=64)
    assert counts["dropped_prompt_too_long"] == 1 and len(examples) == len(ds.train + ds.heldout) - 1
    assert fitting_rows(tok, ds.train + ds.heldout, 64, 16) == [r for r in ds.train + ds.heldout if r not in long_rows]
    assert time.perf_counter() - t < 10


def test_every_prompt_too_long_for_the_block_is_one_line(tok):
    from stages.sft import raise_no_rows

    long_rows = [{"instruction": "Explain " + "this very long thing " * 50, "input": "", "output": "x"}] * 5
    examples, counts = encode_examples(tok, long_rows, block_size=32)
    assert examples == [] and counts["dropped_prompt_too_long"] == 5
    with pytest.raises(RlhfError) as e:
        raise_no_rows(counts, 32)
    assert "no training row fits model.block_size 32 (5 prompts too long); raise model.block_size" == one_line(e)


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


@pytest.mark.parametrize("content", ["[]", '"a checkpoint"', "null", "3", "[" * 100_000])
def test_config_json_that_is_not_an_object(tok, tmp_path, content):
    cfg = small(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    (tmp_path / "a" / "config.json").write_text(content)
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "checkpoint config" in one_line(e) and "rerun the stage that wrote it" in str(e.value)


@pytest.mark.parametrize("change, fragment", [
    ({"n_head": 0}, "n_head = '0', expected an integer in [1, 64]"),
    ({"d_model": 10**6}, "d_model = '1000000', expected an integer in [2, 8192]"),
    ({"block_size": 10**9}, "block_size = '1000000000', expected an integer in [1, 16384]"),
    ({"n_layer": True}, "n_layer = 'True', expected an integer"),
    ({"n_layer": "2"}, "n_layer = '2', expected an integer"),
    ({"rope_theta": -1.0}, "rope_theta = '-1.0' is out of range"),
    ({"d_model": 30}, "head dim d_model/n_head = 15 must be even"),
    ({"bogus": 1}, "unknown key 'bogus'"),
])
def test_config_json_with_impossible_sizes(tok, tmp_path, change, fragment):
    """Checked before any allocation: a config claiming a 10^9-token block or a million-wide model
    must not cost gigabytes (or a ZeroDivisionError) before the weights are even looked at."""
    cfg = small(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    conf = json.loads((tmp_path / "a" / "config.json").read_text())
    conf["model"].update(change)
    (tmp_path / "a" / "config.json").write_text(json.dumps(conf))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "has an invalid model config (" in one_line(e) and fragment in str(e.value)


def test_config_claiming_a_huge_model_is_refused_before_allocating(tok, tmp_path):
    """64 layers x 8192 wide is within the params' ranges (about 50 billion parameters, 200 GB): the
    config's width and depth are compared with the file's header first, so this fails at once."""
    cfg = small(tok)
    save_checkpoint(tmp_path / "a", GPT(cfg), cfg, tok, kind="policy")
    conf = json.loads((tmp_path / "a" / "config.json").read_text())
    conf["model"].update(n_layer=64, d_model=8192, n_head=64)
    (tmp_path / "a" / "config.json").write_text(json.dumps(conf))
    t = time.perf_counter()
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "(the file holds 1 blocks and a [400, 32] embedding, the config 64 blocks and [400, 8192])" in one_line(e)
    assert time.perf_counter() - t < 5


def test_safetensors_with_missing_or_unknown_tensors(tok, tmp_path):
    cfg = small(tok)
    model = GPT(cfg)
    save_checkpoint(tmp_path / "a", model, cfg, tok, kind="policy")
    weights = {k: v.clone() for k, v in model.state_dict().items() if k != "wte.weight"}
    without_mlp = {k: v for k, v in weights.items() if not k.startswith("blocks.0.mlp")}
    save_file(without_mlp, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "do not fit this model (missing ['blocks.0.mlp.down.weight'" in one_line(e)
    save_file({**weights, "extra.weight": torch.zeros(2)}, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "unexpected ['extra.weight']" in one_line(e)
    save_file({**weights, "norm_f.weight": torch.zeros(3, 3)}, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:
        load_policy(tmp_path / "a", tok)
    assert "('norm_f.weight' is [3, 3] in the file, [32] in the model)" in one_line(e)
    save_file({k: v for k, v in weights.items() if k != "lm_head.weight"}, str(tmp_path / "a" / "model.safetensors"))
    with pytest.raises(RlhfError) as e:  # no embedding: refused before the config's model is allocated
        load_policy(tmp_path / "a", tok)
    assert "(no 'lm_head.weight' or 'wte.weight' tensor)" in one_line(e)
    save_file({k: v.half() for k, v in weights.items()}, str(tmp_path / "a" / "model.safetensors"))
    assert load_policy(tmp_path / "a", tok).lm_head.weight.dtype == torch.float32  # fp16 weights are fine


@pytest.mark.parametrize("content, fragment", [
    (b"", "is unreadable ("),
    (b"{not json", "is unreadable ("),
    (b"\xff\xfe{\x00}\x00", "is not UTF-8 text (not a tokenizer.json); rerun `rlhf bpe`"),
    (b'{"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}',
     "lacks the special tokens"),
])
def test_hostile_tokenizer_files(tmp_path, content, fragment):
    (tmp_path / "tokenizer.json").write_bytes(content)
    with pytest.raises(RlhfError) as e:
        load_tokenizer(tmp_path)
    assert fragment in one_line(e) and "rerun `rlhf bpe`" in str(e.value)


# --- at the CLI: exit code 2, one `error:` line, earlier outputs untouched --------------------------------

runner = CliRunner()


def cli(*args):
    from stages.cli import app

    result = runner.invoke(app, [str(a) for a in args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    return lines[0]


def earlier(folder: Path, *names: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"earlier {name}\n")
    return {name: (folder / name).read_text() for name in names}


def intact(folder: Path, before: dict) -> bool:
    return {name: (folder / name).read_text() for name in before} == before and \
        sorted(p.name for p in folder.iterdir()) == sorted(before)


def hostile_data(tmp_path: Path, kind: str) -> Path:
    if kind == "latin1.csv":
        (tmp_path / kind).write_bytes(b"instruction,output\n" + "Caf\xe9,Cr\xe8me\n".encode("latin-1") * 60)
    elif kind == "cut.parquet":
        data = write(tmp_path / "full.parquet", rows(200)).read_bytes()
        (tmp_path / kind).write_bytes(data[: len(data) // 2])
    elif kind == "csv-named.parquet":
        pd.DataFrame(rows()).to_csv(tmp_path / kind, index=False)
    elif kind == "empty.jsonl":
        (tmp_path / kind).write_bytes(b"")
    elif kind == "huge.jsonl":
        write(tmp_path / kind, rows(60, **{str(i): {"output": "y" * (MAX_ROW_CHARS + 1)} for i in range(60)}))
    elif kind == "numbers.jsonl":
        write(tmp_path / kind, [{"instruction": i, "output": i} for i in range(60)])
    return tmp_path / kind


@pytest.mark.parametrize("kind, fragment", [
    ("latin1.csv", "is not UTF-8 text"),
    ("cut.parquet", "could not be read as parquet"),
    ("csv-named.parquet", "could not be read as parquet"),
    ("empty.jsonl", "is empty"),
    ("huge.jsonl", "0 usable rows after cleaning"),
    ("numbers.jsonl", "'not_text': 60"),
])
def test_cli_download_refuses_hostile_data_and_keeps_earlier_outputs(tmp_path, kind, fragment):
    source = hostile_data(tmp_path, kind)
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  source: {source}\n")
    out, reports = tmp_path / "raw", tmp_path / "reports"
    before, stats_before = earlier(out, "train.jsonl", "heldout.jsonl", "study.jsonl"), earlier(reports, "data.json")
    line = cli("download", "--params", params, "--out", out, "--stats", reports / "data.json")
    assert str(source) in line and fragment in line
    assert intact(out, before) and intact(reports, stats_before)


@pytest.mark.parametrize("text, phase, fragment", [
    ("grpo: {group_size: 1}\n", None, "grpo.group_size = 1 is not allowed: must be an integer >= 2"),
    ("dpo: {beta: 0}\n", None, "dpo.beta = 0.0 is not allowed: must be a number > 0"),
    ("ppo: {temperature: -1}\n", None, "ppo.temperature = -1.0 is not allowed"),
    ("model: {block_size: 32}\n", None, "ppo.resp_len = 64 is not allowed: must leave at least 16 prompt tokens"),
    ("sft: {batch_size: true}\n", None, "sft.batch_size = True is not allowed: must be an integer"),
    ("phases: {p5: {dpo: {bogus: 1}}}\n", "p5", "params.yaml (phase p5): unknown key dpo.bogus"),
    ("phases: {p1: {}, p5: {eval: {temperature: 0}}}\n", "p1", "(phase p5): eval.temperature = 0.0 is not allowed"),
])
def test_cli_resolve_refuses_malformed_params_and_keeps_earlier_configs(tmp_path, text, phase, fragment):
    """`rlhf resolve` runs first in the DAG: a bad value anywhere (any phase too) stops the run there,
    before any stage's outputs are removed, and the configs written last time stay as they were."""
    params = tmp_path / "params.yaml"
    params.write_text(text)
    out = tmp_path / "configs"
    before = earlier(out, "sft.json", "rm.json", "ppo.json")
    line = cli("resolve", "--params", params, "--out", out, *(["--phase", phase] if phase else []))
    assert fragment in line and intact(out, before)


@pytest.mark.parametrize("damage, fragment", [
    ("truncate", "are corrupted or unreadable"),
    ("deeper", "do not fit this model"),
    ("int64", "hold a I64 tensor"),
    ("config", "is not valid JSON"),
])
def test_cli_rm_refuses_a_damaged_sft_checkpoint_and_keeps_earlier_outputs(tok, tok_dir, tmp_path, damage, fragment):
    cfg = small(tok)
    model = GPT(cfg)
    save_checkpoint(tmp_path / "sft", model, cfg, tok, kind="policy")
    weights = tmp_path / "sft" / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "deeper":
        deep = small(tok, layers=2)
        save_checkpoint(tmp_path / "deep", GPT(deep), deep, tok, kind="policy")
        weights.write_bytes((tmp_path / "deep" / "model.safetensors").read_bytes())
    elif damage == "int64":
        save_file({k: torch.zeros(v.shape, dtype=torch.int64) for k, v in model.state_dict().items()
                   if k != "wte.weight"}, str(weights))
    else:
        (tmp_path / "sft" / "config.json").write_text('{"kind": "policy", ')
    params = tmp_path / "params.yaml"
    params.write_text("device: cpu\n")
    out = tmp_path / "rm"
    before = earlier(out, "model.safetensors", "config.json")
    line = cli("rm", "--params", params, "--tokenizer", tok_dir, "--sft", tmp_path / "sft", "--data", tmp_path,
               "--out", out, "--live", tmp_path / "live")
    assert fragment in line and intact(out, before)
    assert not (tmp_path / "live").exists()


def test_cli_sft_refuses_a_binary_tokenizer(tmp_path):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    params = tmp_path / "params.yaml"
    params.write_text("device: cpu\n")
    out = tmp_path / "sft"
    before = earlier(out, "model.safetensors")
    line = cli("sft", "--params", params, "--tokenizer", tmp_path / "tok", "--data", tmp_path, "--out", out,
               "--live", tmp_path / "live")
    assert "is not UTF-8 text" in line and intact(out, before)


# --- nothing unsafe is executed -------------------------------------------------------------------------

# Calls that run code from a file a user could swap in. Names are canonical: `import pickle as pk`,
# `from torch import load` and `import pandas as pd` are resolved before matching.
UNPICKLING = {"pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "_pickle.Unpickler",
              "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "joblib.load", "marshal.load",
              "marshal.loads", "shelve.open", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
              "yaml.full_load_all", "eval", "exec", "builtins.eval", "builtins.exec"}
TORCH_LOAD = {"torch.load", "torch.serialization.load"}
YAML_LOAD = {"yaml.load", "yaml.load_all"}
SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"}


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it refers to, from every import in the file."""
    names = {"pd": "pandas", "np": "numpy"}  # the usual aliases, even in a snippet without its imports
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _canonical(node: ast.AST, names: dict[str, str]) -> str:
    head, dot, rest = ast.unparse(node).partition(".")
    return names.get(head, head) + dot + rest


def _constant(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str, filename: str) -> list[str]:
    """file:line of every call that can execute what a file holds: unpickling (pickle & co, pandas
    read_pickle, numpy.load(allow_pickle=True), torch.load without weights_only=True), yaml.load
    without a safe loader, eval/exec, and trust_remote_code other than a literal False."""
    tree = ast.parse(source, filename)
    names = _imports(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _canonical(node.func, names)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"{filename}:{node.lineno} {name}"
        if name in UNPICKLING or name.rpartition(".")[2] == "read_pickle":
            found.append(where)
        elif name in TORCH_LOAD and not _constant(kwargs.get("weights_only"), True):
            found.append(where + " without weights_only=True")
        elif name == "numpy.load" and "allow_pickle" in kwargs and not _constant(kwargs["allow_pickle"], False):
            found.append(where + " with allow_pickle")
        elif name in YAML_LOAD:
            loader = kwargs.get("Loader", node.args[1] if len(node.args) > 1 else None)
            if loader is None or _canonical(loader, names) not in SAFE_YAML_LOADERS:
                found.append(where + " without a safe Loader")
        if "trust_remote_code" in kwargs and not _constant(kwargs["trust_remote_code"], False):
            found.append(where + " with trust_remote_code")
    return found


def test_no_unsafe_loads():
    found = []
    for folder in ("rlhf_core", "stages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "unsafe loads (issue #7, point 5): " + "; ".join(found)


@pytest.mark.parametrize("code, bad", [
    ("import torch\ntorch.load('w.pt')", True),
    ("import torch\ntorch.load('w.pt', weights_only=False)", True),
    ("import torch\ntorch.load('w.pt', weights_only=flag)", True),
    ("import torch\ntorch.load('w.pt', weights_only=True)", False),
    ("from torch import load\nload('w.pt')", True),
    ("import torch as T\nT.load('w.pt')", True),
    ("from torch.serialization import load as tl\ntl('w.pt')", True),
    ("import pickle\npickle.loads(b'')", True),
    ("import pickle as pk\npk.load(f)", True),
    ("from pickle import loads\nloads(b'')", True),
    ("import pickle\npickle.Unpickler(f).load()", True),
    ("import pickle\npickle.dumps(x)", False),
    ("import joblib\njoblib.load('m.joblib')", True),
    ("import marshal\nmarshal.loads(b'')", True),
    ("import shelve\nshelve.open('db')", True),
    ("import pandas as pd\npd.read_pickle('x')", True),
    ("from pandas import read_pickle\nread_pickle('x')", True),
    ("import pandas as pd\npd.read_parquet('x'); pd.read_csv('y')", False),
    ("import numpy as np\nnp.load('x.npy', allow_pickle=True)", True),
    ("import numpy as np\nnp.load('x.npy')", False),
    ("import yaml\nyaml.load(text)", True),
    ("import yaml\nyaml.load(text, Loader=yaml.Loader)", True),
    ("import yaml\nyaml.load(text, Loader=yaml.SafeLoader)", False),
    ("import yaml\nyaml.unsafe_load(text)", True),
    ("import yaml\nyaml.safe_load(text)", False),
    ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=True)", True),
    ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=flag)", True),
    ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=False)", False),
    ("from transformers import AutoModel\nAutoModel.from_pretrained('x', trust_remote_code=True)", True),
    ("from datasets import load_dataset\nload_dataset('x')", False),
    ("eval('1+1')", True),
    ("exec('x = 1')", True),
    ("import builtins\nbuiltins.exec('x = 1')", True),
    ("model.eval()", False),
    ("from safetensors.torch import load_file\nload_file('w.safetensors')", False),
])
def test_the_scanner_catches_what_it_should(code, bad):
    assert bool(unsafe_calls(code, "x.py")) is bad


def test_hub_loading_passes_trust_remote_code_false(monkeypatch):
    import datasets

    seen = {}

    def fake_load_dataset(path, **kwargs):
        seen.update(kwargs)
        return datasets.Dataset.from_list(rows())

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_source(DataParams(source="someone/some-dataset", n_heldout=16), seed=0)
    assert seen["trust_remote_code"] is False and len(ds.study) == 16


class Payload:
    """Unpickling this creates `marker`: proof that a file was unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("where", ["data.parquet", "data.json", "data.jsonl", "data.csv", "model.safetensors",
                                   "config.json", "tokenizer.json"])
def test_pickles_are_never_unpickled(tok, tmp_path, where):
    """A pickle swapped in for any file the pipeline reads is refused in one line, never executed."""
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(Payload(marker))
    if where.startswith("data."):
        (tmp_path / where).write_bytes(payload)
        call = lambda: load(tmp_path / where)  # noqa: E731
    elif where == "tokenizer.json":
        (tmp_path / where).write_bytes(payload)
        call = lambda: load_tokenizer(tmp_path)  # noqa: E731
    else:
        cfg = small(tok)
        save_checkpoint(tmp_path / "ckpt", GPT(cfg), cfg, tok, kind="policy")
        (tmp_path / "ckpt" / where).write_bytes(payload)
        call = lambda: load_policy(tmp_path / "ckpt", tok)  # noqa: E731
    with pytest.raises(RlhfError) as e:
        call()
    one_line(e)
    assert not marker.exists()


def test_yaml_python_tags_are_not_executed(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "params.yaml"
    path.write_text(f"seed: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    with pytest.raises(RlhfError) as e:
        load_params(path)
    assert "is not valid YAML" in one_line(e) and not marker.exists()


def test_dataset_folder_with_a_loading_script_is_not_run(tmp_path):
    """`data.source` may name a local dataset folder; a loading script in it is never executed."""
    marker = tmp_path / "MARKER"
    folder = tmp_path / "my-dataset"
    folder.mkdir()
    (folder / "my-dataset.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    write(folder / "train.jsonl", rows())
    try:
        load_source(DataParams(source=str(folder), n_heldout=16), seed=0)
    except RlhfError as e:
        assert "\n" not in str(e)
    assert not marker.exists()
