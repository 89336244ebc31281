"""Property-based tests (hypothesis) of the two doors user input comes through: the params validator
and the data loader. Whatever they are given, they either succeed with a well-formed result or raise
one RlhfError of one line; no other exception, no traceback for the user.
"""

import copy
import dataclasses
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from rlhf_core.data import load_source
from rlhf_core.errors import RlhfError
from rlhf_core.params import DataParams, Params, build, load_params, load_raw, resolve_phase, to_dict

DEFAULT = load_raw(ROOT / "params.yaml")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["1e-5", "5.0e4", "auto", "cpu", "every", "last", "eos", "mean", "", "1e400", "nan", "-0", " 7 ", "1_000"]
    ),
    st.sampled_from([0, -1, 1, 2, 16, 2**53, 0.0, -0.0, 1e-300]),
    st.sampled_from([2**53 + 1, 10**30, -(10**30), 10**400]),
)  # beyond float range / JSON-safe ints
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def leaf_paths(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, prefix + (key,))
        else:
            yield prefix + (key,)


PATHS = sorted(leaf_paths(DEFAULT))


@st.composite
def mutated_params(draw):
    """The default params with a few leaves replaced or deleted, unknown keys added, phases rewritten."""
    raw = copy.deepcopy(DEFAULT)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        node = raw
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                break
            node = node[key]
        else:
            action = draw(st.sampled_from(["replace", "delete", "unknown"]))
            if action == "replace":
                node[path[-1]] = draw(values)
            elif action == "delete":
                node.pop(path[-1], None)
            else:
                node[draw(st.text(min_size=1, max_size=8))] = draw(values)
    if draw(st.booleans()):
        section = draw(st.sampled_from(["ppo", "grpo", "dpo", "eval", "model", "sft", "bogus"]))
        key = draw(st.sampled_from(sorted(DEFAULT.get(section, {"k": 0}))))
        name = draw(st.one_of(st.sampled_from(["phase1", "phase5", "x"]), st.text(max_size=45)))
        override = draw(st.one_of(st.just({section: {key: draw(values)}}), values))  # sometimes not a mapping at all
        raw["phases"] = {name: override, **({"phase1": {}} if draw(st.booleans()) else {})}
    return raw


def assert_one_line(e: RlhfError):
    text = str(e)
    assert text and "\n" not in text and "Traceback" not in text


@SETTINGS
@given(mutated_params())
def test_params_validator_fails_only_with_one_line(raw):
    try:
        params = build(Params, raw)
        phases = {name: resolve_phase(raw, name) for name in params.phases}
    except RlhfError as e:
        assert_one_line(e)
        return
    # accepted: every value is finite and typed, and the result round-trips through its dict form
    for p in [params, *phases.values()]:
        assert build(Params, to_dict(p)) == p
        for section in ("sft", "rm", "ppo", "grpo", "dpo", "eval"):
            kinds = {f.name: f.type for f in dataclasses.fields(getattr(p, section))}
            for name, value in to_dict(p)[section].items():
                # no true/false slips in as a number; only a bool knob holds a bool
                assert isinstance(value, bool) == (kinds[name] in (bool, "bool")), (section, name)
                if isinstance(value, float):
                    assert math.isfinite(value), (section, name)


@settings(SETTINGS, max_examples=100)
@given(st.sampled_from(PATHS), scalars)
def test_params_any_value_at_any_leaf(path, value):
    """One leaf set to anything: accepted values are typed, in range and round-trip; the rest fail in one line."""
    raw = copy.deepcopy(DEFAULT)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        params = build(Params, raw)
    except RlhfError as e:
        assert_one_line(e)
        return
    assert build(Params, to_dict(params)) == params
    got = to_dict(params)
    for key in path:
        got = got[key]
    assert not isinstance(got, bool) or isinstance(value, bool)


@SETTINGS
@given(st.dictionaries(st.text(max_size=10), values, max_size=6))
def test_params_random_trees_fail_only_with_one_line(raw):
    try:
        build(Params, raw)
    except RlhfError as e:
        assert_one_line(e)


yaml_text = st.text(alphabet=st.sampled_from(list("abcdefsx019 :-[]{},'\"&*!?|>#%@`\n\t.e+")), max_size=80)


@SETTINGS
@given(
    st.one_of(
        yaml_text,
        st.sampled_from(["sft:\n  lr: ", "model: {block_size: ", "phases:\n  p: "]).flatmap(
            lambda head: yaml_text.map(lambda tail: head + tail)
        ),
    )
)
def test_params_file_random_text_fails_only_with_one_line(text):
    """What `rlhf resolve` reads: any text in params.yaml loads or fails in one line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_params(path)
        except RlhfError as e:
            assert_one_line(e)


# --- the data loader ----------------------------------------------------------------------------------

cell = st.one_of(
    st.text(max_size=40),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
column = st.one_of(st.sampled_from(["instruction", "input", "output", "extra", "prompt"]), st.text(max_size=8))
row = st.dictionaries(column, cell, max_size=5)
FORMATS = [".json", ".jsonl", ".csv", ".parquet"]


def write(path: Path, records: list[dict]) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        frame = pd.DataFrame(records).astype(str) if records else pd.DataFrame()
        frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)


def check_loaded(path: Path) -> None:
    try:
        ds = load_source(DataParams(source=str(path), n_heldout=16), seed=0)
    except RlhfError as e:
        assert_one_line(e)
        return
    everything = ds.train + ds.heldout + ds.study
    assert len(ds.study) == 16 and ds.train
    for r in everything:
        assert all(isinstance(r[k], str) for k in ("instruction", "input", "output"))
        assert r["instruction"].strip() and r["output"].strip()
    assert len({r["id"] for r in everything}) == len(everything)


@SETTINGS
@given(st.lists(row, max_size=80), st.sampled_from(FORMATS))
def test_data_loader_random_rows(records, ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{ext}"
        try:
            write(path, records)
        except (ValueError, TypeError, OverflowError):  # pandas/pyarrow cannot even write it: not our input
            return
        check_loaded(path)


@SETTINGS
@given(st.lists(st.one_of(row, row, values), max_size=70), st.sampled_from([".json", ".jsonl"]), st.booleans())
def test_data_loader_arbitrary_json(items, ext, columnar):
    """Any JSON at all: lines that are lists or numbers, a document that is an object of columns."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{ext}"
        if ext == ".json" and columnar:
            text = json.dumps(
                {k: [r.get(k) if isinstance(r, dict) else r for r in items] for k in ("instruction", "input", "output")}
            )
        elif ext == ".json":
            text = json.dumps(items)
        else:
            text = "".join(json.dumps(r) + "\n" for r in items)
        path.write_text(text, encoding="utf-8")
        check_loaded(path)


def typed_column(n: int):
    """One parquet column of a single random type (text, number, bool, list, struct), with nulls."""
    kinds = {
        "string": st.text(max_size=20),
        "int64": st.integers(-(2**63), 2**63 - 1),
        "double": st.floats(),
        "bool": st.booleans(),
        "list": st.lists(st.integers(0, 9), max_size=2),
        "struct": st.fixed_dictionaries({"a": st.integers(0, 9)}),
    }
    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "list": pa.list_(pa.int64()),
        "struct": pa.struct([("a", pa.int64())]),
    }
    return st.sampled_from(sorted(kinds)).flatmap(
        lambda k: st.lists(st.one_of(st.none(), kinds[k]), min_size=n, max_size=n).map(
            lambda vals: pa.array(vals, types[k])
        )
    )


@SETTINGS
@given(st.integers(0, 80).flatmap(lambda n: st.dictionaries(column, typed_column(n), max_size=4)))
def test_data_loader_typed_parquet_columns(columns):
    """Parquet keeps types: ints, floats, bools, lists, structs and nulls in any column."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        try:
            pq.write_table(pa.table(columns) if columns else pa.table({"x": pa.array([], pa.int64())}), path)
        except (pa.ArrowException, ValueError):  # pyarrow refuses the column names (e.g. empty): not our input
            return
        check_loaded(path)


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from(FORMATS))
def test_data_loader_random_bytes(data, ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{ext}"
        path.write_bytes(data)
        check_loaded(path)


@pytest.mark.slow
@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {"instruction": st.text(min_size=1, max_size=30), "output": st.text(min_size=1, max_size=30)}
        ),
        min_size=48,
        max_size=120,
    ),
    st.sampled_from(FORMATS),
    st.integers(0, 100),
)
def test_data_loader_cut_files(records, ext, percent):
    """A valid file cut anywhere (a copy interrupted, a disk full) still loads or fails in one line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{ext}"
        write(path, records)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * percent // 100])
        check_loaded(path)


@pytest.mark.parametrize("ext", FORMATS)
def test_valid_files_of_every_format_load(tmp_path, ext):
    """The properties above must not pass by rejecting everything."""
    path = tmp_path / f"ok{ext}"
    write(path, [{"instruction": f"Task {i}", "input": "", "output": f"Answer {i}"} for i in range(60)])
    ds = load_source(DataParams(source=str(path), n_heldout=16), seed=0)
    assert len(ds.study) == 16 and len(ds.train) + len(ds.heldout) == 44
