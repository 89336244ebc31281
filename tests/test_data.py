import json
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import one_line, pickled_payload, rows, write_records
from rlhf_core.data import MAX_ROW_CHARS, load_source, read_split, write_dataset
from rlhf_core.errors import RlhfError
from rlhf_core.evaluate import fitting_rows
from rlhf_core.params import DataParams
from rlhf_core.sft import encode_examples


def alpaca_rows(n=100):
    rows = [
        {"instruction": f"Task number {i}.", "input": "" if i % 3 else f"input {i}", "output": f"Answer {i}."}
        for i in range(n)
    ]
    rows[20]["output"] = ""  # dropped: empty output
    rows[21]["output"] = "   "  # dropped: whitespace only
    rows[22]["instruction"] = ""  # dropped: empty instruction
    return rows


def write_as(path, rows):
    if path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    elif path.suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("ext", [".json", ".jsonl", ".csv", ".parquet"])
def test_local_formats_clean_and_split(tmp_path, ext):
    path = write_as(tmp_path / f"data{ext}", alpaca_rows())
    ds = load_source(DataParams(source=str(path), n_heldout=16), seed=0)
    assert ds.stats["dropped"] == {"empty_output": 2, "empty_instruction": 1, "not_text": 0, "too_long": 0}
    assert [r["instruction"] for r in ds.study] == [f"Task number {i}." for i in range(16)]  # first 16 rows
    assert ds.study[0]["name"] == "Task number 0"
    assert len(ds.heldout) == 16 and len(ds.train) == 97 - 16 - 16
    train_keys = {(r["instruction"], r["input"]) for r in ds.train}
    assert not train_keys & {(r["instruction"], r["input"]) for r in ds.heldout + ds.study}
    assert all(r["family"] is None for r in ds.train)


def test_heldout_is_capped_for_small_files(tmp_path):
    ds = load_source(DataParams(source=str(write_as(tmp_path / "d.jsonl", alpaca_rows(60))), n_heldout=512), seed=0)
    assert len(ds.heldout) == (57 - 16) // 5 and ds.stats["heldout_capped"]


def test_split_is_seeded(tmp_path):
    path = write_as(tmp_path / "d.jsonl", alpaca_rows())
    a, b, c = (load_source(DataParams(source=str(path), n_heldout=16), seed=s) for s in (0, 0, 1))
    assert a.heldout == b.heldout and a.heldout != c.heldout


def test_hub_code_path_on_a_local_dataset_folder(tmp_path):
    """`datasets.load_dataset(id)` is the hub path; a local folder exercises the same call offline."""
    folder = tmp_path / "my-dataset"
    folder.mkdir()
    write_as(folder / "train.jsonl", alpaca_rows())
    ds = load_source(DataParams(source=str(folder), n_heldout=16), seed=0)
    assert len(ds.study) == 16 and ds.stats["dropped"]["empty_output"] == 2


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "not found"),
        ("", "is empty"),
        ('[{"instruction": "a", "input": ""', "is not valid JSON"),
        ('[{"instruction": "a", "input": "b"}]', "has no 'output' column (columns: input, instruction)"),
        ("[1, 2, 3]", "must hold a list of rows"),
        (b"\xff\xfe\x00bad", "is not UTF-8"),
    ],
)
def test_bad_json_files_give_one_clear_line(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(RlhfError) as e:
        load_source(DataParams(source=str(path)), seed=0)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_bad_csv_parquet_and_extension(tmp_path):
    (tmp_path / "a.csv").write_text("instruction,input\nx,y\n")
    with pytest.raises(RlhfError, match="no 'output' column"):
        load_source(DataParams(source=str(tmp_path / "a.csv")), seed=0)
    (tmp_path / "b.parquet").write_text("this is not parquet")
    with pytest.raises(RlhfError, match="could not be read as parquet"):
        load_source(DataParams(source=str(tmp_path / "b.parquet")), seed=0)
    (tmp_path / "c.txt").write_text("hello")
    with pytest.raises(RlhfError, match="unsupported extension"):
        load_source(DataParams(source=str(tmp_path / "c.txt")), seed=0)
    (tmp_path / "d.jsonl").write_text('{"instruction": "a", "output": "b"}\n{oops\n')
    with pytest.raises(RlhfError, match="line 2 is not valid JSON"):
        load_source(DataParams(source=str(tmp_path / "d.jsonl")), seed=0)


def test_too_few_rows(tmp_path):
    with pytest.raises(RlhfError, match="usable rows"):
        load_source(DataParams(source=str(write_as(tmp_path / "d.json", alpaca_rows(30)))), seed=0)


def test_write_and_read_back(tmp_path):
    ds = load_source(DataParams(source=str(write_as(tmp_path / "d.json", alpaca_rows()))), seed=0)
    write_dataset(ds, tmp_path / "raw")
    assert read_split(tmp_path / "raw", "study") == ds.study
    with pytest.raises(RlhfError, match="run `rlhf download`"):
        read_split(tmp_path / "nowhere", "train")


# --- hostile files: one line each, nothing executed --------------------------------------------------


def load(path):
    return load_source(DataParams(source=str(path), n_heldout=16), seed=0)


@pytest.mark.parametrize("ext", [".json", ".jsonl", ".csv", ".parquet"])
def test_truncated_files_are_one_line(tmp_path, ext):
    full = write_records(tmp_path / f"full{ext}", rows(200))
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
        text = "".join(
            json.dumps({"instruction": f"Caf\xe9 {i}", "output": "x"}, ensure_ascii=False) + "\n" for i in range(60)
        )
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(RlhfError) as e:
        load(path)
    assert "is not UTF-8 text" in one_line(e) and "re-encode it as UTF-8" in str(e.value)


def test_not_the_claimed_format_is_one_line(tmp_path):
    parquet = write_records(tmp_path / "real.parquet", rows())
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
        load(write_records(tmp_path / "noinstr.jsonl", [{"prompt": "a", "output": "b"}] * 60))
    assert "has no 'instruction' column (columns: output, prompt)" in one_line(e)
    odd = rows(
        80,
        **{"3": {"output": 5}, "4": {"instruction": None}, "5": {"input": {"nested": 1}}, "6": {"output": ["a", "b"]}},
    )
    ds = load(write_records(tmp_path / "odd.jsonl", odd))
    assert ds.stats["dropped"]["not_text"] == 4
    assert all(
        isinstance(r[k], str) for r in ds.train + ds.heldout + ds.study for k in ("instruction", "input", "output")
    )


def test_gigantic_rows_are_dropped_and_counted(tmp_path):
    huge = rows(
        80, **{"20": {"output": "word " * (MAX_ROW_CHARS // 4)}, "21": {"instruction": "x" * (MAX_ROW_CHARS + 1)}}
    )
    ds = load(write_records(tmp_path / "huge.jsonl", huge))
    assert ds.stats["dropped"]["too_long"] == 2
    assert max(len(r["output"]) + len(r["instruction"]) for r in ds.train + ds.heldout) < 100


def test_only_gigantic_rows_is_one_line(tmp_path):
    huge = rows(60, **{str(i): {"output": "y" * (MAX_ROW_CHARS + 1)} for i in range(60)})
    with pytest.raises(RlhfError) as e:
        load(write_records(tmp_path / "all_huge.jsonl", huge))
    assert "0 usable rows after cleaning" in one_line(e) and "'too_long': 60" in str(e.value)


@pytest.mark.parametrize(
    "name, content",
    [
        ("empty.json", b""),
        ("empty.jsonl", b""),
        ("empty.csv", b""),
        ("empty.parquet", b""),
        ("blank.jsonl", b"\n  \n\n"),
        ("list.json", b"[]"),
        ("object.json", b"{}"),
        ("header.csv", b"instruction,input,output\n"),
    ],
)
def test_empty_files_are_one_line(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RlhfError) as e:
        load(path)
    assert str(path) in one_line(e) and ("is empty" in str(e.value) or "has no rows" in str(e.value))


def test_binary_under_text_extensions_is_one_line(tmp_path):
    """Parquet bytes named .csv or .jsonl: named as binary, not a pandas traceback or 0 rows."""
    data = write_records(tmp_path / "real.parquet", rows()).read_bytes()
    for ext in (".csv", ".jsonl"):
        fake = tmp_path / f"fake{ext}"
        fake.write_bytes(data)
        with pytest.raises(RlhfError) as e:
            load(fake)
        assert f"is not UTF-8 text (a binary file named {ext}?)" in one_line(e)


def test_utf8_with_a_byte_order_mark_loads(tmp_path):
    """Windows editors start UTF-8 files with a BOM; it must not become part of the first column's name."""
    for ext in (".csv", ".json", ".jsonl"):
        path = write_records(tmp_path / f"bom{ext}", rows())
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


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"instruction": "a", "output": "b"}\n[1, 2]\n', "line 2 is a JSON list, not an object"),
        ('{"instruction": "a", "output": "b"}\n"text"\n', "line 2 is a JSON str, not an object"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "could not be read as jsonl (maximum recursion depth"),
    ],
)
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
    table = pa.table(
        {
            "instruction": [f"Task {i}" for i in range(n)],
            "input": pa.array([None if i % 2 else f"in {i}" for i in range(n)], pa.string()),
            "output": pa.array([None if i == 30 else f"Out {i}" for i in range(n)], pa.string()),
        }
    )
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
    ds = load(write_records(tmp_path / "inputs.jsonl", odd))
    assert ds.stats["dropped"]["not_text"] == 3  # 0, false and [] are not text; null is a missing input
    assert ds.study[6]["input"] == ""


def test_column_names_stay_on_one_line(tmp_path):
    records = [{"prompt\nwith newline": "a", "output": "b"}] * 60
    with pytest.raises(RlhfError) as e:
        load(write_records(tmp_path / "newline.jsonl", records))
    assert "has no 'instruction' column (columns: output, 'prompt\\nwith newline')" in one_line(e)
    records = [{"output": "b", **{f"c{j:02}": j for j in range(40)}}] * 60
    with pytest.raises(RlhfError) as e:
        load(write_records(tmp_path / "wide.jsonl", records))
    assert "(columns: c00, c01, c02, c03, c04, c05, c06, c07, c08, c09, ... (31 more))" in one_line(e)


def test_gigantic_rows_cost_nothing_downstream(tmp_path, tok):
    """A 5 MB output is dropped at download (counted as too_long); a 100k-character instruction is
    under the download cap, so it reaches the tokenizer once and is then dropped (counted) for every
    block: SFT's encode_examples and the RL/eval `fitting_rows` both leave it out."""
    huge = rows(80, **{"20": {"output": "z" * 5_000_000}, "21": {"instruction": "word " * 20_000}})
    t = time.perf_counter()
    ds = load(write_records(tmp_path / "huge.jsonl", huge))
    assert ds.stats["dropped"]["too_long"] == 1
    long_rows = [r for r in ds.train + ds.heldout if len(r["instruction"]) > 1000]
    assert len(long_rows) == 1
    examples, counts = encode_examples(tok, ds.train + ds.heldout, block_size=64)
    assert counts["dropped_prompt_too_long"] == 1 and len(examples) == len(ds.train + ds.heldout) - 1
    assert fitting_rows(tok, ds.train + ds.heldout, 64, 16) == [r for r in ds.train + ds.heldout if r not in long_rows]
    assert time.perf_counter() - t < 10


def test_hub_loading_passes_trust_remote_code_false(monkeypatch):
    import datasets

    seen = {}

    def fake_load_dataset(path, **kwargs):
        seen.update(kwargs)
        return datasets.Dataset.from_list(rows())

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_source(DataParams(source="someone/some-dataset", n_heldout=16), seed=0)
    assert seen["trust_remote_code"] is False and len(ds.study) == 16


@pytest.mark.parametrize("where", ["data.parquet", "data.json", "data.jsonl", "data.csv"])
def test_pickled_data_files_are_never_unpickled(tmp_path, where):
    """A pickle swapped in for a data file is refused in one line, never executed."""
    marker = tmp_path / "MARKER"
    (tmp_path / where).write_bytes(pickled_payload(marker))
    with pytest.raises(RlhfError) as e:
        load(tmp_path / where)
    one_line(e)
    assert not marker.exists()


def test_dataset_folder_with_a_loading_script_is_not_run(tmp_path):
    """`data.source` may name a local dataset folder; a loading script in it is never executed."""
    marker = tmp_path / "MARKER"
    folder = tmp_path / "my-dataset"
    folder.mkdir()
    (folder / "my-dataset.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    write_records(folder / "train.jsonl", rows())
    try:
        load_source(DataParams(source=str(folder), n_heldout=16), seed=0)
    except RlhfError as e:
        assert "\n" not in str(e)
    assert not marker.exists()
