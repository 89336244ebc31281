import json

import pandas as pd
import pytest

from rlhf_core.data import load_source, read_split, write_dataset
from rlhf_core.errors import RlhfError
from rlhf_core.params import DataParams


def alpaca_rows(n=100):
    rows = [{"instruction": f"Task number {i}.", "input": "" if i % 3 else f"input {i}", "output": f"Answer {i}."}
            for i in range(n)]
    rows[20]["output"] = ""      # dropped: empty output
    rows[21]["output"] = "   "   # dropped: whitespace only
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


@pytest.mark.parametrize("content, fragment", [
    (None, "not found"),
    ("", "is empty"),
    ('[{"instruction": "a", "input": ""', "is not valid JSON"),
    ('[{"instruction": "a", "input": "b"}]', "has no 'output' column (columns: input, instruction)"),
    ("[1, 2, 3]", "must hold a list of rows"),
    (b"\xff\xfe\x00bad", "is not UTF-8"),
])
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
