"""Data sources: the builtin suite, a Hugging Face dataset, or a local file; all in alpaca format.

Every source yields the same three splits of rows {id, instruction, input, output, family, meta}:
train, heldout (never trained on) and study (the 16 prompts of the study's per-prompt tables).
`family`/`meta` are set only for the builtin suite, whose gold judge needs them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlhf_core import io
from rlhf_core.errors import RlhfError
from rlhf_core.params import DataParams

LOCAL_FORMATS = (".json", ".jsonl", ".parquet", ".csv")
REQUIRED_COLUMNS = ("instruction", "output")
# A row longer than this cannot fit any allowed block (16,384 tokens is a few tens of thousands of
# characters); dropping it here keeps one pathological row from costing gigabytes in tokenization.
MAX_ROW_CHARS = 200_000
N_STUDY = 16
SPLITS = ("train", "heldout", "study")


@dataclass
class Dataset:
    train: list[dict]
    heldout: list[dict]
    study: list[dict]
    stats: dict[str, Any] = field(default_factory=dict)


def load_source(p: DataParams, seed: int) -> Dataset:
    if p.source == "builtin":
        return _builtin(p, seed)
    path = Path(p.source)
    if path.is_file():
        records, where = _read_local(path), f"file '{path}'"
    elif path.is_dir() or not _looks_like_path(p.source):
        records, where = _read_hub(p.source, p.split), f"dataset '{p.source}'"
    else:
        raise RlhfError(
            f"data.source: file '{p.source}' not found; point it at an existing "
            f"{'/'.join(LOCAL_FORMATS)} file, a Hugging Face dataset id, or 'builtin'"
        )
    return _split_records(records, where, p, seed)


def _looks_like_path(source: str) -> bool:
    """A hub id is 'name' or 'owner/name'; anything with a file extension or a path prefix is a path."""
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or Path(source).suffix.lower() in LOCAL_FORMATS


def _builtin(p: DataParams, seed: int) -> Dataset:
    from rlhf_core.builtin import build_suite

    suite = build_suite(n_train=p.n_train, n_heldout=p.n_heldout, seed=seed)
    families: dict[str, int] = {}
    for row in suite.train:
        families[row["family"]] = families.get(row["family"], 0) + 1
    stats = {
        "source": "builtin",
        "rows_read": len(suite.train) + len(suite.heldout) + len(suite.study),
        "dropped": {},
        "train_rows_per_family": dict(sorted(families.items())),
    }
    return Dataset(suite.train, suite.heldout, suite.study, stats)


def _read_local(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix not in LOCAL_FORMATS:
        raise RlhfError(
            f"data file '{path}' has an unsupported extension '{suffix}'; use one of {', '.join(LOCAL_FORMATS)}"
        )
    if path.stat().st_size == 0:
        raise RlhfError(f"data file '{path}' is empty; it needs rows with columns instruction, input, output")
    try:
        if suffix == ".json":
            text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Windows editors) is dropped
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                try:
                    data = [json.loads(line) for line in text.splitlines() if line.strip()]  # jsonl named .json
                except json.JSONDecodeError:
                    raise e from None  # the error of the file read as one document: its line is the real one
            if isinstance(data, dict):  # {"train": [...]} or a columnar {"instruction": [...], ...}
                data = data.get("train", data)
                if isinstance(data, dict):
                    data = _columns_to_rows(data, path)
            records = data
        elif suffix == ".jsonl":
            records = []
            with open(path, encoding="utf-8-sig") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError as e:
                            raise RlhfError(
                                f"data file '{path}' line {n} is not valid JSON ({e.msg}); fix or remove that line"
                            ) from None
                        if not isinstance(records[-1], dict):
                            kind = type(records[-1]).__name__
                            raise RlhfError(
                                f"data file '{path}' line {n} is a JSON {kind}, not an object; each line "
                                'must be one row {"instruction": ..., "output": ...}'
                            )
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            # pyarrow, not pandas: a null stays None (pandas 3 turns it into NaN in a string column)
            records = pq.read_table(path).to_pylist()
        else:
            import pandas as pd

            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            records = frame.to_dict(orient="records")
    except UnicodeDecodeError:
        raise RlhfError(
            f"data file '{path}' is not UTF-8 text (a binary file named {suffix}?); "
            "re-encode it as UTF-8 or give it the extension of its real format"
        ) from None
    except json.JSONDecodeError as e:
        raise RlhfError(
            f"data file '{path}' is not valid JSON (line {e.lineno}: {e.msg}); "
            "fix it or save it as .jsonl/.csv/.parquet"
        ) from None
    except RlhfError:
        raise
    except MemoryError:
        raise RlhfError(f"data file '{path}' is too large to read into memory; use a smaller file") from None
    except Exception as e:  # pandas/pyarrow parse errors: a file that is not what its extension says
        raise RlhfError(
            f"data file '{path}' could not be read as {suffix[1:]} ({_first_line(e)}); "
            "check that the file matches its extension"
        ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RlhfError(f"data file '{path}' must hold a list of rows (objects with instruction, input, output)")
    return records


def _first_line(e: BaseException, limit: int = 200) -> str:
    """An exception's first line (or its type when it has no text), cut to `limit` characters."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:limit]


def _column_list(columns: list) -> str:
    """Column names for a message: one line even when a name holds a newline, and a bounded length."""
    shown = [c if isinstance(c, str) and c.isprintable() and 0 < len(c) <= 40 else repr(c)[:40] for c in columns[:10]]
    more = f", ... ({len(columns) - 10} more)" if len(columns) > 10 else ""
    return (", ".join(shown) or "none") + more


def _columns_to_rows(data: dict, path: Path) -> list[dict]:
    if not all(isinstance(v, list) for v in data.values()):
        raise RlhfError(f"data file '{path}' must hold a list of rows (objects with instruction, input, output)")
    n = min((len(v) for v in data.values()), default=0)
    return [{k: v[i] for k, v in data.items()} for i in range(n)]


def _read_hub(name: str, split: str) -> list[dict]:
    """`datasets.load_dataset` on a hub id (needs network) or a local dataset folder (tests)."""
    import datasets

    try:
        # never run a dataset's loading script (datasets >= 4 has none to run and ignores the False)
        ds = datasets.load_dataset(name, split=split, trust_remote_code=False)
    except ValueError as e:
        raise RlhfError(
            f"data.source: dataset '{name}' has no split '{split}' ({_first_line(e, 160)}); set data.split"
        ) from None
    except Exception as e:
        raise RlhfError(
            f"data.source: could not load dataset '{name}' ({_first_line(e)}); check the id and your "
            "network, or use data.source: builtin"
        ) from None
    return ds.to_list()


def _split_records(records: list[dict], where: str, p: DataParams, seed: int) -> Dataset:
    if not records:
        raise RlhfError(f"data {where} has no rows; it needs columns instruction, input, output")
    columns = sorted({k for r in records for k in r}, key=str)
    for col in REQUIRED_COLUMNS:
        if col not in columns:
            raise RlhfError(
                f"data {where} has no '{col}' column (columns: {_column_list(columns)}); "
                "it needs instruction, input (optional) and output"
            )
    dropped = {"empty_output": 0, "empty_instruction": 0, "not_text": 0, "too_long": 0}
    rows = []
    for i, r in enumerate(records):
        # a missing or null input is an empty one; any other non-text value (a number, a list, an
        # object) in any of the three columns drops the row, counted as not_text
        values = [r.get("instruction"), "" if r.get("input") is None else r["input"], r.get("output")]
        if not all(isinstance(v, str) for v in values):
            dropped["not_text"] += 1
            continue
        if sum(len(v) for v in values) > MAX_ROW_CHARS:
            dropped["too_long"] += 1
            continue
        instruction, input, output = (v.strip() for v in values)
        if not output:
            dropped["empty_output"] += 1
            continue
        if not instruction:
            dropped["empty_instruction"] += 1
            continue
        rows.append(
            {
                "id": f"row{i}",
                "instruction": instruction,
                "input": input,
                "output": output,
                "family": None,
                "meta": None,
            }
        )
    if p.max_rows:
        rows = rows[: p.max_rows]
    # The study's 16 prompts are the first 16 rows; the held-out set is a seeded sample of the rest,
    # capped at a fifth of it so a small file still leaves most rows for training.
    min_rows = N_STUDY + 2 * 16
    if len(rows) < min_rows:
        raise RlhfError(
            f"data {where} has {len(rows)} usable rows after cleaning (dropped: {dropped}); "
            f"at least {min_rows} are needed"
        )
    study = [dict(r, name=_short_name(r["instruction"])) for r in rows[:N_STUDY]]
    rest = rows[N_STUDY:]
    order = list(range(len(rest)))
    random.Random(seed).shuffle(order)
    n_heldout = min(p.n_heldout, len(rest) // 5)
    held = sorted(order[:n_heldout])
    held_set = set(held)
    heldout = [rest[i] for i in held]
    train = [r for i, r in enumerate(rest) if i not in held_set]
    stats = {
        "source": p.source,
        "rows_read": len(records),
        "dropped": dropped,
        "heldout_capped": n_heldout < p.n_heldout,
    }
    return Dataset(train, heldout, study, stats)


def _short_name(instruction: str, max_words: int = 5) -> str:
    words = instruction.rstrip(".?!").split()
    return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")


def write_dataset(ds: Dataset, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    for split in SPLITS:
        io.write_jsonl(out_dir / f"{split}.jsonl", getattr(ds, split))


def read_split(data_dir: str | Path, split: str) -> list[dict]:
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise RlhfError(f"'{path}' not found; run `rlhf download` (or `dvc repro download`) first")
    return io.read_jsonl(path)


def dataset_stats(ds: Dataset) -> dict:
    return dict(
        ds.stats, n_train=len(ds.train), n_heldout=len(ds.heldout), n_study=len(ds.study), has_gold=has_gold(ds.study)
    )


def has_gold(rows: list[dict]) -> bool:
    return bool(rows) and all(r.get("family") for r in rows)
