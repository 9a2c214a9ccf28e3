"""Feature recipes: named ways of turning a data directory into profile columns.

A recipe is a :class:`Recipe` registered in :data:`RECIPES` under its name. It has

* ``defaults``: its options and their default values (what ``columns.json`` records),
* ``columns(options) -> list[str]``: the column names, known before any data is read
  (so the output array can be allocated up front and its width checked),
* ``build(data, clients, options, out) -> dict``: fill the columns through ``out``
  (a :class:`ColumnWriter`) and return JSON-able facts worth recording (top values,
  latest timestamps...).

Adding a recipe::

    def _my_columns(options): return [f"my.{i}" for i in range(options["dim"])]
    def _my_build(data, clients, options, out): ...; return {}
    register(Recipe("mine", "what it is", {"dim": 64}, _my_columns, _my_build))

``clients`` is the relevant-clients array; row ``i`` of the output belongs to
``clients[i]``, which is the ``pos`` column of the ``relevant_clients`` view. Recipes
write values in any numeric dtype; the writer turns them into float16, clipping
values beyond float16's range (see :class:`ColumnWriter`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ubm import sql
from ubm.io import VECTOR_LEN, Data

FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504


class Float16OverflowWarning(UserWarning):
    """Some feature values were beyond float16's range and were clipped to +-65504."""


class ColumnWriter:
    """Writes feature values into the (rows x columns) float16 output array.

    Values whose magnitude exceeds 65504 (float16's largest finite value) would become
    inf, which no valid entry may hold: they are clipped to +-65504 and counted
    (``overflow``, per column in ``overflow_by_column``); the export warns with the
    count. Integers above 2048 are rounded to the nearest float16 (a relative error of
    at most 2**-11), as the organisers' float16 output does. NaN is a recipe bug and
    raises ValueError.
    """

    def __init__(self, array: np.ndarray, names: list[str]):
        if array.dtype != np.float16 or array.ndim != 2 or array.shape[1] != len(names):
            raise ValueError(f"writer needs a float16 (rows, {len(names)}) array, got {array.dtype} {array.shape}")
        self.array = array
        self.names = names
        self.overflow = 0
        self.overflow_by_column: dict[str, int] = {}

    @property
    def n_rows(self) -> int:
        return self.array.shape[0]

    def close(self) -> None:
        """Flush a memory-mapped output and drop the reference to it."""
        if isinstance(self.array, np.memmap):
            self.array.flush()
        self.array = np.empty((0, len(self.names)), dtype=np.float16)

    def _convert(self, values: np.ndarray, col: int) -> np.ndarray:
        values = np.asarray(values)
        if values.dtype.kind == "f" and np.isnan(values).any():
            bad = int(np.isnan(values).any(axis=0).argmax()) if values.ndim == 2 else 0
            raise ValueError(f"recipe produced NaN in column {self.names[col + bad]}")
        big = np.abs(values) > FLOAT16_MAX
        if big.any():
            per_col = big.sum(axis=0) if values.ndim == 2 else np.array([big.sum()])
            for j in np.flatnonzero(per_col):
                name = self.names[col + int(j)]
                self.overflow_by_column[name] = self.overflow_by_column.get(name, 0) + int(per_col[j])
            self.overflow += int(per_col.sum())
            values = np.clip(values, -FLOAT16_MAX, FLOAT16_MAX)
        return values.astype(np.float16)

    def write(self, col: int, values: np.ndarray) -> None:
        """Write a full-height block: ``values`` (rows, k) becomes columns col .. col+k-1."""
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != self.n_rows or col < 0 or col + values.shape[1] > self.array.shape[1]:
            raise ValueError(f"block {values.shape} does not fit at column {col} of {self.array.shape}")
        self.array[:, col:col + values.shape[1]] = self._convert(values, col)

    def scatter(self, rows: np.ndarray, col: int, values: np.ndarray) -> None:
        """Write ``values`` (len(rows), k) into the given rows, columns col .. col+k-1."""
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if col < 0 or col + values.shape[1] > self.array.shape[1]:
            raise ValueError(f"block {values.shape} does not fit at column {col} of {self.array.shape}")
        self.array[np.asarray(rows, dtype=np.int64), col:col + values.shape[1]] = self._convert(values, col)


Options = dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    defaults: Options
    columns: Callable[[Options], list[str]]
    build: Callable[[Data, np.ndarray, Options, ColumnWriter], dict]
    check: Callable[[Options], Options] | None = None

    def resolve(self, options: Options | None = None) -> Options:
        """Defaults overlaid with the given options (None values ignored), then checked."""
        given = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = set(given) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"recipe '{self.name}' has no option {', '.join(sorted(unknown))}"
                f" (options: {', '.join(self.defaults) or 'none'})"
            )
        merged = {**self.defaults, **given}
        return self.check(merged) if self.check else merged


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe '{name}' (known: {', '.join(sorted(RECIPES))})")
    return RECIPES[name]


# --------------------------------------------------------------------------- baseline

# SPEC §8: block order and the columns of each counted event type.
BASELINE_COUNTED: dict[str, tuple[str, ...]] = {
    "product_buy": ("sku", "category", "price"),
    "add_to_cart": ("sku", "category", "price"),
    "remove_from_cart": ("sku", "category", "price"),
    "page_visit": ("url",),
}


def _baseline_check(options: Options) -> Options:
    windows = options["windows"]
    if isinstance(windows, str):
        windows = [w for w in windows.split(",") if w.strip()]
    try:
        windows = [int(w) for w in windows]
        top_n = int(options["top_n"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"baseline: windows must be whole days and top_n a whole number ({exc})") from exc
    if not windows or any(w < 1 for w in windows) or len(set(windows)) != len(windows):
        raise ValueError(f"baseline: windows must be distinct whole days >= 1, got {windows}")
    if top_n < 1:
        raise ValueError(f"baseline: top_n must be >= 1, got {top_n}")
    return {"windows": windows, "top_n": top_n}


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
    n_rows = out.n_rows
    shape = {"event": event, "columns": list(cols)}
    sql.run(data, "features/baseline/relevant_events", structure=shape)
    try:
        return _count_slots(data, event, cols, windows, top_n, out, col0)
    finally:
        data.con.execute(f"DROP TABLE IF EXISTS relevant_{event}")  # event: from BASELINE_COUNTED


def _count_slots(data: Data, event: str, cols: tuple[str, ...], windows: list[int],
                 top_n: int, out: ColumnWriter, col0: int) -> dict:
    n_rows = out.n_rows
    top = sql.fetch_numpy(data, "features/baseline/top_values", {"top_n": top_n},
                          {"event": event, "columns": list(cols)})
    head = np.asarray(top["col"]) == 0
    events = int(np.asarray(top["events"])[head][0])
    info: dict[str, Any] = {"events": events, "max_ts": None,
                            "top": {c: [] for c in cols}}
    width = 1 + len(windows) * len(cols) * top_n
    if events == 0:
        out.write(col0, np.zeros((n_rows, width), dtype=np.float32))
        return info
    max_ts = top["max_ts"][head][0]
    info["max_ts"] = str(np.datetime_as_string(max_ts, unit="s"))
    params: dict[str, Any] = {"max_ts": max_ts.item()}
    for i, col in enumerate(cols, start=1):
        values = np.asarray(top["value"][np.asarray(top["col"]) == i]).astype(np.int64)
        info["top"][col] = values.tolist()
        params[f"top_{col}"] = values.tolist()
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
            flat = pos[keep] * top_n + (np.ma.filled(slot, 1)[keep].astype(np.int64) - 1)
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
    description="The organisers' aggregated-features baseline (SPEC §8): event counts per "
                "type, per-window counts of each column's top-N values, mean search query.",
    defaults={"windows": [1, 7, 30], "top_n": 10},
    columns=_baseline_columns,
    build=_baseline_build,
    check=_baseline_check,
))


def warn_overflow(writer: ColumnWriter) -> None:
    if writer.overflow:
        worst = sorted(writer.overflow_by_column.items(), key=lambda kv: -kv[1])[:5]
        warnings.warn(
            f"{writer.overflow} feature value(s) exceeded float16's maximum 65504 and were clipped "
            f"to 65504 (most in: {', '.join(f'{n} ({c})' for n, c in worst)})",
            Float16OverflowWarning, stacklevel=2,
        )


# --------------------------------------------------------------------------- universal

def _register_universal() -> None:
    """The ``universal`` recipe lives in ubm/universal.py (SQL in sql/features/universal/)."""
    from ubm import universal

    register(Recipe(
        name="universal",
        description="Behavioural statistics per event type and window, label-list affinities, "
                    "name/query vectors, rhythm, and ALS client factors (ubm/universal.py).",
        defaults=dict(universal.DEFAULTS),
        columns=universal.universal_columns,
        build=lambda data, clients, options, out: universal.build(data, options, out),
        check=universal.check_options,
    ))


_register_universal()
