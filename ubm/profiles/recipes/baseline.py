"""The ``baseline`` recipe: the organisers' aggregated-features profile (SQL in sql/features/baseline/).

Per counted event type, the total count and, per window, the counts of each column's top-N
values in fixed slots; then the mean search-query vector.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ubm.data import sql
from ubm.contract import MAX_COLUMNS, VECTOR_LEN
from ubm.data.io import Data
from ubm.profiles import state
from ubm.profiles.recipes import Options, Recipe, register, whole, window_days
from ubm.profiles.trail import StaleTrail, Trail
from ubm.profiles.writer import ColumnWriter

# docs/baseline.md §1: block order and the columns of each counted event type.
BASELINE_COUNTED: dict[str, tuple[str, ...]] = {
    "product_buy": ("sku", "category", "price"),
    "add_to_cart": ("sku", "category", "price"),
    "remove_from_cart": ("sku", "category", "price"),
    "page_visit": ("url",),
}

# A refreshable build's watermark before any event, and a time after every event.
_EARLIEST = dt.datetime(1, 1, 1)
_LATEST = dt.datetime(9999, 12, 31)


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
    trail = state.current().trail
    if trail is None:
        with sql.temp_view(data, f"relevant_{event}", "features/baseline/relevant_events", structure=shape):
            return _count_slots(data, event, cols, windows, top_n, out, col0)
    after = _watermark(data, event, trail)
    if not trail.refreshing:
        with sql.temp_view(data, f"relevant_{event}", "features/baseline/relevant_events", structure=shape):
            return _count_slots(data, event, cols, windows, top_n, out, col0, trail)
    # A refresh: the events after the watermark, and the kept tail of the older ones.
    with sql.temp_parquet_view(data, f"tail_{event}", trail.previous_path(f"{event}.tail.parquet")), \
            sql.temp_view(data, f"relevant_{event}", "features/baseline/relevant_events", {"after": after},
                          {**shape, "fresh": True}):
        return _count_slots(data, event, cols, windows, top_n, out, col0, trail)


def _watermark(data: Data, event: str, trail: Trail) -> dt.datetime:
    """Record how far this build reads ``event`` and return the time after which its events are
    new: refreshing grown data, the last build's watermark, once the events at or before it are
    checked to be all still there (else :class:`StaleTrail`); a build, or a refresh from new
    events only (every event is new), the earliest time."""
    key = f"baseline.{event}.watermark"
    old = trail.old(key) if trail.refreshing else None
    grown = old is not None and not trail.delta
    after = np.datetime64(old["latest"]).item() if grown and old["latest"] is not None else _EARLIEST
    got = sql.fetch_numpy(data, "features/baseline/watermark", {"upto": after if grown else _LATEST},
                          {"event": event})
    if grown and int(got["upto"][0]) != old["upto"]:
        raise StaleTrail(f"{event}: {old['upto']:,} events at or before {old['latest']} when the entry was built, "
                         f"{int(got['upto'][0]):,} now (old events changed)")
    latest = None if np.ma.is_masked(got["latest"][0]) else _stamp(got["latest"][0])
    events = int(got["events"][0])
    if old is not None and trail.delta:  # the history and the new events together
        latest = max((t for t in (old["latest"], latest) if t is not None), default=None)
        events += old["upto"]
    trail.record[key] = {"latest": latest, "upto": events}
    return after


def _stamp(value: Any) -> str:
    return str(np.datetime_as_string(np.datetime64(value, "us"), unit="us"))


def _count_slots(data: Data, event: str, cols: tuple[str, ...], windows: list[int],
                 top_n: int, out: ColumnWriter, col0: int, trail: Trail | None = None) -> dict:
    n_rows = out.n_rows
    top = sql.fetch_numpy(data, "features/baseline/top_per_column", {"top_n": top_n},
                          {"event": event, "columns": list(cols)})
    head = np.asarray(top["col"]) == -1
    events = int(np.asarray(top["events"])[head][0])
    max_ts = top["max_ts"][head][0]
    # The top values are what the baseline learns (a profile model keeps them); the window's
    # end (max_ts) belongs to the data profiled, fitted or not.
    learnt = state.current()
    tops = {col: learnt.array(f"baseline.{event}.top_{col}",
                              lambda i=i: np.asarray(top["value"][np.asarray(top["col"]) == i]).astype(np.int64))
            for i, col in enumerate(cols)}
    refreshing = trail is not None and trail.refreshing
    if refreshing:
        # relevant_<event> holds the new events and the kept tail: the totals and the end
        # come from the kept state and the new events
        kept = trail.old(f"baseline.{event}.head")
        if "tail_rows" not in kept:
            raise StaleTrail(f"the kept state of {event} has no tail count")
        events = kept["events"] + events - kept["tail_rows"]
        if kept["max_ts"] is not None and (np.ma.is_masked(max_ts) or np.datetime64(kept["max_ts"]) > max_ts):
            max_ts = np.datetime64(kept["max_ts"])
    info: dict[str, Any] = {"events": events, "max_ts": None,
                            "top": {c: [] for c in cols}}
    width = 1 + len(windows) * len(cols) * top_n
    params: dict[str, Any] = {}
    for col in cols:
        # a model fitted where this event type had no values: -1 is no id, so no slot counts
        params[f"top_{col}"] = tops[col].tolist() or [-1]
    if events == 0:
        out.write(col0, np.zeros((n_rows, width), dtype=np.float32))
        if trail is not None:
            _keep(data, event, cols, windows, trail, params, None, np.zeros(n_rows, dtype=np.int64), events)
        return info
    info["max_ts"] = str(np.datetime_as_string(max_ts, unit="s"))
    params["max_ts"] = np.datetime64(max_ts, "us").item()
    for col in cols:
        info["top"][col] = tops[col].tolist()
    ascending = sorted(windows)
    long = sql.fetch_numpy(data, "features/baseline/slot_counts", params,
                           {"event": event, "columns": list(cols), "windows": ascending})
    pos = np.asarray(long["pos"]).astype(np.int64)
    counts = np.asarray(long["events"]).astype(np.float64)
    if trail is None:
        out.write(col0, np.bincount(pos, weights=counts, minlength=n_rows))
    else:
        # counted here: the new events and (refreshing) the kept tail, whose rows are in the totals
        totals = np.bincount(pos, weights=counts, minlength=n_rows).astype(np.int64)
        if refreshing:
            totals += _kept_rows(trail, f"{event}.totals", n_rows) - _kept_rows(trail, f"{event}.tail_counts", n_rows)
        out.write(col0, totals.astype(np.float64))
        _keep(data, event, cols, windows, trail, params, max_ts, totals, events)
    # Bucket i holds the events whose smallest window is ascending[i]; a window of d days
    # holds every bucket of length <= d. A NULL bucket (older than every window) never counts.
    bucket = long["bucket"]
    bucket_days = np.where(np.ma.getmaskarray(bucket), np.iinfo(np.int64).max,
                           np.asarray(ascending, dtype=np.int64)[np.ma.filled(bucket, 0).astype(np.int64)])
    offset = col0 + 1
    for days in windows:
        # one window's columns of every column kind, written as one block: each write into
        # the row-major entry touches every row, so fewer and wider writes are faster
        in_window = bucket_days <= days
        block = np.empty((n_rows, len(cols) * top_n))
        for i, col in enumerate(cols):
            slot = long[f"slot_{col}"]
            keep = in_window & ~np.ma.getmaskarray(slot)
            flat = pos[keep] * top_n + np.ma.filled(slot, 0)[keep].astype(np.int64)
            sub = np.bincount(flat, weights=counts[keep], minlength=n_rows * top_n)
            block[:, i * top_n:(i + 1) * top_n] = sub.reshape(n_rows, top_n)
        out.write(offset, block)
        offset += block.shape[1]
    return info


def _kept_rows(trail: Trail, name: str, n_rows: int) -> np.ndarray:
    kept = trail.previous_array(name)
    if kept.shape != (n_rows,):
        raise StaleTrail(f"the kept {name} has shape {kept.shape}, the entry {n_rows:,} rows")
    return kept.astype(np.int64)


def _keep(data: Data, event: str, cols: tuple[str, ...], windows: list[int], trail: Trail,
          params: dict[str, Any], max_ts: Any, totals: np.ndarray, events: int) -> None:
    """Keep what the next refresh of ``event`` needs: each client's total, the tail of events a
    later window can still hold, the number of events and the windows' end."""
    trail.save_array(f"{event}.totals", totals)
    end = _EARLIEST if max_ts is None else np.datetime64(max_ts, "us").item()
    path = trail.path(f"{event}.tail.parquet")
    sql.write_parquet(data, "features/baseline/tail", path, {**params, "max_ts": end},
                      {"event": event, "columns": list(cols), "widest": max(windows)})
    pos = pq.read_table(path, columns=["pos"])["pos"].to_numpy().astype(np.int64)
    trail.save_array(f"{event}.tail_counts", np.bincount(pos, minlength=len(totals)).astype(np.int64))
    trail.record[f"baseline.{event}.head"] = {"events": events, "max_ts": None if max_ts is None else _stamp(max_ts),
                                              "tail_rows": int(len(pos))}


def _query_means(data: Data, out: ColumnWriter, col: int, trail: Trail | None) -> int:
    """Write the mean query vector of each client with searches from column ``col``; the number
    of such clients. With a trail, from per-client counts and sums (kept for the next refresh)."""
    out.write(col, np.zeros((out.n_rows, VECTOR_LEN), dtype=np.float32))
    if trail is None:
        means = sql.fetch_numpy(data, "features/baseline/query_mean", structure={"dims": VECTOR_LEN})
        rows = np.asarray(means["pos"]).astype(np.int64)
        if len(rows):
            values = np.stack([np.ma.filled(means[f"q{i}"], 0.0).astype(np.float64)
                               for i in range(1, VECTOR_LEN + 1)], axis=1)
            out.scatter(rows, col, values)
        return int(len(rows))
    after = _watermark(data, "search_query", trail)
    if trail.refreshing:
        n, sums = trail.previous_array("search_query.n"), trail.previous_array("search_query.sums")
        if n.shape != (out.n_rows,) or sums.shape != (out.n_rows, VECTOR_LEN):
            raise StaleTrail(f"the kept search sums have {len(n):,} rows, the entry {out.n_rows:,}")
    else:
        n, sums = np.zeros(out.n_rows, dtype=np.int64), np.zeros((out.n_rows, VECTOR_LEN), dtype=np.int64)
    got = sql.fetch_numpy(data, "features/baseline/query_sums", {"after": after} if after != _EARLIEST else {},
                          {"dims": VECTOR_LEN, "fresh": after != _EARLIEST})
    rows = np.asarray(got["pos"]).astype(np.int64)
    n[rows] += np.asarray(got["n"]).astype(np.int64)
    for i in range(VECTOR_LEN):
        sums[rows, i] += np.ma.filled(got[f"s{i + 1}"], 0).astype(np.int64)
    trail.save_array("search_query.n", n)
    trail.save_array("search_query.sums", sums)
    has = np.flatnonzero(n)
    # avg() of integers is the sum over the count in float64: the same bits
    out.scatter(has, col, sums[has].astype(np.float64) / n[has, None].astype(np.float64))
    return int(len(has))


def _baseline_build(data: Data, clients: np.ndarray, options: Options, out: ColumnWriter) -> dict:
    windows, top_n = options["windows"], options["top_n"]
    info: dict[str, Any] = {}
    trail = state.current().trail
    if trail is not None:  # the inputs a refresh shares with its build are checked by the driver
        trail.expect("baseline.options", options, "the recipe's options")
    col = 0
    for event, cols in BASELINE_COUNTED.items():
        info[event] = _counted_block(data, event, cols, windows, top_n, out, col)
        col += 1 + len(windows) * len(cols) * top_n
    info["search_query"] = {"clients_with_searches": _query_means(data, out, col, trail)}
    if trail is not None:
        trail.write()
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
    refreshes=True,
))
