"""Hand-written fixture data directories, in the published format (docs/data.md).

Tests describe events as plain tuples and get a data directory back::

    root = write_dataset(tmp_path, product_buy=[(1, "2022-06-01 10:00:00", 100)], ...)

Timestamps are written as text and vectors as numpy-style text unless the test asks
for native types (``native=True``), so both accepted encodings are exercised.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ubm.contract import EVENT_TYPES

Vec = Sequence[int]


def vec_text(values: Vec) -> str:
    """Format 16 ints the way numpy prints a uint8 array: '[ 12 201   3 ...]'."""
    return np.array2string(np.asarray(values, dtype=np.uint8), separator=" ", max_line_width=1000)


def default_vec(seed: int) -> list[int]:
    return [(seed * 7 + i * 13) % 256 for i in range(16)]


def _ts_column(values: list[str], native: bool) -> pa.Array:
    if native:
        return pa.array([dt.datetime.fromisoformat(v) for v in values], pa.timestamp("us"))
    return pa.array(values, pa.string())


def _vec_column(values: list[Vec], native: bool) -> pa.Array:
    if native:
        return pa.array([list(map(int, v)) for v in values], pa.list_(pa.int64()))
    return pa.array([vec_text(v) for v in values], pa.string())


def write_events(path: Path, rows: list[tuple], value_column: str, native: bool = False) -> None:
    client_ids = [r[0] for r in rows]
    timestamps = [r[1] for r in rows]
    values = [r[2] for r in rows]
    if value_column == "query":
        value_array = _vec_column(values, native)
    else:
        value_array = pa.array(values, pa.int64())
    table = pa.table({
        "client_id": pa.array(client_ids, pa.int64()),
        "timestamp": _ts_column(timestamps, native),
        value_column: value_array,
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def write_properties(path: Path, rows: list[tuple], native: bool = False) -> None:
    """rows: (sku, category, price) or (sku, category, price, name_vector)."""
    names = [r[3] if len(r) > 3 else default_vec(r[0]) for r in rows]
    table = pa.table({
        "sku": pa.array([r[0] for r in rows], pa.int64()),
        "category": pa.array([r[1] for r in rows], pa.int64()),
        "price": pa.array([r[2] for r in rows], pa.int64()),
        "name": _vec_column(names, native),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


VALUE_COLUMN = {
    "product_buy": "sku",
    "add_to_cart": "sku",
    "remove_from_cart": "sku",
    "page_visit": "url",
    "search_query": "query",
}


def write_dataset(
    root: Path,
    *,
    relevant: Sequence[int],
    properties: list[tuple],
    native: bool = False,
    **events: list[tuple],
) -> Path:
    """Write a full data directory; event types not given are written empty."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for event, column in VALUE_COLUMN.items():
        write_events(root / f"{event}.parquet", events.get(event, []), column, native)
    write_properties(root / "product_properties.parquet", properties, native)
    (root / "input").mkdir(exist_ok=True)
    np.save(root / "input" / "relevant_clients.npy", np.asarray(relevant, dtype=np.int64))
    return root


def prepare_tiny(root: Path, labels: bool = False) -> Path:
    """Generated tiny data (seed 5), split, listed, with a baseline entry in root/entry (and
    labels in root/labels): the chain that `ubm train` tests start from."""
    from click.testing import CliRunner

    from ubm.cli import main

    steps = [
        ["generate", "--out", str(root), "--size", "tiny", "--seed", "5"],
        ["split", "--data-dir", str(root)],
        ["lists", "--data-dir", str(root)],
        ["features", "--data-dir", str(root), "--recipe", "baseline", "--out", str(root / "entry")],
    ]
    if labels:
        steps.append(["targets", "--data-dir", str(root), "--out", str(root / "labels")])
    runner = CliRunner()
    for args in steps:
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


def upto(raw: Path, dst: Path, end: dt.datetime) -> Path:
    """A copy of data directory ``raw`` holding only the events at or before ``end``."""
    shutil.copytree(raw, dst)
    for event in EVENT_TYPES:
        table = pq.read_table(raw / f"{event}.parquet")
        column = table["timestamp"]
        bound = (pa.scalar(end.strftime("%Y-%m-%d %H:%M:%S")) if pa.types.is_string(column.type)
                 else pa.scalar(end, column.type))
        pq.write_table(table.filter(pc.less_equal(column, bound)), dst / f"{event}.parquet")
    return dst


def latest(root: Path) -> dt.datetime:
    stamps = [pq.read_table(root / f"{e}.parquet")["timestamp"].to_pylist() for e in EVENT_TYPES]
    return max(dt.datetime.fromisoformat(str(s)) for col in stamps for s in col)
