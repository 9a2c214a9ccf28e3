"""The ``baseline`` recipe: the organisers' aggregated-features profile (SQL in sql/features/baseline/).

Per counted event type, the total count and, per window, the counts of each column's top-N
values in fixed slots; then the mean search-query vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ubm.data import sql
from ubm.contract import MAX_COLUMNS, VECTOR_LEN
from ubm.data.io import Data
from ubm.profiles import state
from ubm.profiles.recipes import Options, Recipe, register, whole, window_days
from ubm.profiles.writer import ColumnWriter

# docs/baseline.md §1: block order and the columns of each counted event type.
BASELINE_COUNTED: dict[str, tuple[str, ...]] = {
    "product_buy": ("sku", "category", "price"),
    "add_to_cart": ("sku", "category", "price"),
    "remove_from_cart": ("sku", "category", "price"),
    "page_visit": ("url",),
}


def _baseline_check(options: Options) -> Options:
    windows = window_days(options["windows"], "baseline")
    return {"windows": windows, "top_n": whole(options["top_n"], "top_n", "baseline", low=1, high=MAX_COLUMNS)}


def _baseline_columns(options: Options) -> list[str]:
    names: list[str] = []
    for event, cols in BASELINE_COUNTED.items():
        names.append(f"{event}.count")
        for days in options["windows"]:
            for col in cols:
                names.extend(f"{event}.{days}d.{col}.top{k}" for k in range(1, options["top_n"] + 1))
    names.extend(f"search_query.query_mean.{i}" for i in range(1, VECTOR_LEN + 1))
    return names


def _counted_block(data: Data, event: str, cols: tuple[str, ...], windows: list[int],
                   top_n: int, out: ColumnWriter, col0: int) -> dict:
    """Write the 1 + windows*cols*top_n count columns of one event type from column col0."""
    shape = {"event": event, "columns": list(cols)}
    with sql.temp_view(data, f"relevant_{event}", "features/baseline/relevant_events", structure=shape):
        return _count_slots(data, event, cols, windows, top_n, out, col0)


def _count_slots(data: Data, event: str, cols: tuple[str, ...], windows: list[int],
                 top_n: int, out: ColumnWriter, col0: int) -> dict:
    n_rows = out.n_rows
    top = sql.fetch_numpy(data, "features/baseline/top_per_column", {"top_n": top_n},
                          {"event": event, "columns": list(cols)})
    head = np.asarray(top["col"]) == -1
    events = int(np.asarray(top["events"])[head][0])
    # The top values are what the baseline learns (a profile model keeps them); the window's
    # end (max_ts) belongs to the data profiled, fitted or not.
    learnt = state.current()
    tops = {col: learnt.array(f"baseline.{event}.top_{col}",
                              lambda i=i: np.asarray(top["value"][np.asarray(top["col"]) == i]).astype(np.int64))
            for i, col in enumerate(cols)}
    info: dict[str, Any] = {"events": events, "max_ts": None,
                            "top": {c: [] for c in cols}}
    width = 1 + len(windows) * len(cols) * top_n
    if events == 0:
        out.write(col0, np.zeros((n_rows, width), dtype=np.float32))
        return info
    max_ts = top["max_ts"][head][0]
    info["max_ts"] = str(np.datetime_as_string(max_ts, unit="s"))
    params: dict[str, Any] = {"max_ts": max_ts.item()}
    for col in cols:
        info["top"][col] = tops[col].tolist()
        # a model fitted where this event type had no values: -1 is no id, so no slot counts
        params[f"top_{col}"] = tops[col].tolist() or [-1]
    ascending = sorted(windows)
    long = sql.fetch_numpy(data, "features/baseline/slot_counts", params,
                           {"event": event, "columns": list(cols), "windows": ascending})
    pos = np.asarray(long["pos"]).astype(np.int64)
    counts = np.asarray(long["events"]).astype(np.float64)
    out.write(col0, np.bincount(pos, weights=counts, minlength=n_rows))
    # Bucket i holds the events whose smallest window is ascending[i]; a window of d days
    # holds every bucket of length <= d. A NULL bucket (older than every window) never counts.
    bucket = long["bucket"]
    bucket_days = np.where(np.ma.getmaskarray(bucket), np.iinfo(np.int64).max,
                           np.asarray(ascending, dtype=np.int64)[np.ma.filled(bucket, 0).astype(np.int64)])
    offset = col0 + 1
    for days in windows:
        in_window = bucket_days <= days
        for col in cols:
            slot = long[f"slot_{col}"]
            keep = in_window & ~np.ma.getmaskarray(slot)
            flat = pos[keep] * top_n + np.ma.filled(slot, 0)[keep].astype(np.int64)
            sub = np.bincount(flat, weights=counts[keep], minlength=n_rows * top_n)
            out.write(offset, sub.reshape(n_rows, top_n))
            offset += top_n
    return info


def _baseline_build(data: Data, clients: np.ndarray, options: Options, out: ColumnWriter) -> dict:
    windows, top_n = options["windows"], options["top_n"]
    info: dict[str, Any] = {}
    col = 0
    for event, cols in BASELINE_COUNTED.items():
        info[event] = _counted_block(data, event, cols, windows, top_n, out, col)
        col += 1 + len(windows) * len(cols) * top_n
    means = sql.fetch_numpy(data, "features/baseline/query_mean", structure={"dims": VECTOR_LEN})
    rows = np.asarray(means["pos"]).astype(np.int64)
    out.write(col, np.zeros((out.n_rows, VECTOR_LEN), dtype=np.float32))
    if len(rows):
        values = np.stack([np.ma.filled(means[f"q{i}"], 0.0).astype(np.float64)
                           for i in range(1, VECTOR_LEN + 1)], axis=1)
        out.scatter(rows, col, values)
    info["search_query"] = {"clients_with_searches": int(len(rows))}
    return info


register(Recipe(
    name="baseline",
    description="The organisers' aggregated-features baseline (docs/baseline.md): event counts per "
                "type, per-window counts of each column's top-N values, mean search query.",
    defaults={"windows": [1, 7, 30], "top_n": 10},
    columns=_baseline_columns,
    build=_baseline_build,
    check=_baseline_check,
    reads_lists=False,
))
