"""The time split of SPEC §3: input chunk and the two target windows.

``split(data_dir)`` reads ``D/<event>.parquet`` and writes

* ``D/input/<event>.parquet`` for the five event types: events with
  ``timestamp < train_target_start`` (all clients), columns as published, ``timestamp``
  as a TIMESTAMP (like the official pandas split), ``query`` kept in its published encoding;
* ``D/target/train_target.parquet`` and ``D/target/validation_target.parquet``:
  ``product_buy`` in ``[train_target_start, validation_target_start)`` and
  ``[validation_target_start, end]``, with ``category``, ``price`` and ``name`` joined
  from ``product_properties`` (``name`` in its published encoding).

Every file is written under a temporary name; they are renamed into place only after
all seven are complete, so an interrupted run leaves the previous outputs as they were.
Rows are ordered by every column, so a rerun on the same data gives the same bytes.
``D/input/relevant_clients.npy`` is never touched.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow.parquet as pq

from ubm import sql
from ubm.io import EVENT_TYPES, TABLE_COLUMNS, Data, DataError, Settings, open_data
from ubm.util import Timer

DAYS_IN_TARGET = 14
TARGET_FILES: tuple[str, ...] = ("train_target", "validation_target")


@dataclass(frozen=True)
class Boundaries:
    """The instants of SPEC §3 (naive datetimes, second resolution as published)."""

    end: dt.datetime
    train_target_start: dt.datetime
    validation_target_start: dt.datetime


def boundaries_for(end: dt.datetime, days_in_target: int = DAYS_IN_TARGET) -> Boundaries:
    """train_target_start = the calendar day of (end - (2*days - 1) days) at 00:00:00."""
    day = (end - dt.timedelta(days=2 * days_in_target - 1)).date()
    tts = dt.datetime(day.year, day.month, day.day)
    return Boundaries(end, tts, tts + dt.timedelta(days=days_in_target))


@dataclass
class SplitResult:
    data_dir: Path
    boundaries: Boundaries
    rows: dict[str, int] = field(default_factory=dict)  # output name -> rows written
    paths: dict[str, Path] = field(default_factory=dict)  # output name -> final path
    seconds: float = 0.0

    def describe(self) -> str:
        b = self.boundaries
        lines = [
            f"end                     {b.end}",
            f"train target            [{b.train_target_start}, {b.validation_target_start})",
            f"validation target       [{b.validation_target_start}, {b.end}]",
            "",
        ]
        for name, rows in self.rows.items():
            lines.append(f"{name:<24}{rows:>14,} rows  {self.paths[name]}")
        lines.append(f"split done in {self.seconds:.1f}s")
        return "\n".join(lines)


def _raw_is_text(data: Data, view: str, column: str = "timestamp") -> bool:
    types = dict(data.con.execute(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM " + f"raw_{view})"
    ).fetchall())
    return types[column] == "VARCHAR"


def _value_column(event: str) -> tuple[str, bool]:
    column = [c for c in TABLE_COLUMNS[event] if c not in ("client_id", "timestamp")][0]
    return column, TABLE_COLUMNS[event][column] == "id"


def _check_targets(data: Data, b: Boundaries) -> None:
    dup = sql.fetch_numpy(data, "split/duplicate_skus")
    if len(dup["sku"]):
        examples = ", ".join(str(s) for s in dup["sku"][:5])
        raise DataError(
            f"{data.paths['product_properties']}: {len(dup['sku'])} skus are listed more than once "
            f"(e.g. {examples}); each sku needs exactly one row of properties"
        )
    missing = sql.fetch_numpy(data, "split/missing_skus",
                              {"since": b.train_target_start, "until": b.end})
    if len(missing["sku"]):
        examples = ", ".join(f"{s} ({n} purchases)" for s, n in
                             zip(missing["sku"][:5], missing["purchases"][:5]))
        raise DataError(
            f"{data.paths['product_properties']}: {len(missing['sku'])} skus bought in the target "
            f"windows ({int(missing['purchases'].sum())} purchases) have no properties, e.g. "
            f"{examples}; nothing was written"
        )


def split(data_dir: Path | str, settings: Settings = Settings(),
          progress: Callable[[str], None] | None = None) -> SplitResult:
    """Split ``data_dir`` per SPEC §3; returns boundaries and rows written per output."""
    timer = Timer()
    root = Path(data_dir)
    data = open_data(root, window="all", settings=settings,
                     require=EVENT_TYPES + ("product_properties",))
    try:
        with sql.explained(data):
            end, _purchases = sql.run(data, "split/end").fetchall()[0]
        if end is None:
            raise DataError(f"{data.paths['product_buy']}: no product_buy events, so no split end")
        b = boundaries_for(end)
        _check_targets(data, b)

        outputs: dict[str, Path] = {e: root / "input" / f"{e}.parquet" for e in EVENT_TYPES}
        outputs.update({t: root / "target" / f"{t}.parquet" for t in TARGET_FILES})
        temps = {name: path.with_name(f".{path.name}.tmp-{os.getpid()}") for name, path in outputs.items()}
        result = SplitResult(root, b, paths=outputs)
        try:
            for event in EVENT_TYPES:
                column, is_id = _value_column(event)
                temps[event].parent.mkdir(parents=True, exist_ok=True)
                sql.run(data, "split/input_chunk",
                        {"train_target_start": b.train_target_start, "path": str(temps[event])},
                        {"event": event, "value_column": column, "value_is_id": is_id,
                         "ts_text": _raw_is_text(data, event)})
                result.rows[event] = pq.ParquetFile(temps[event]).metadata.num_rows
                if progress:
                    progress(f"input/{event}: {result.rows[event]:,} rows ({timer.seconds:.1f}s)")
            windows = {
                "train_target": (b.train_target_start, b.validation_target_start, False),
                "validation_target": (b.validation_target_start, b.end, True),
            }
            for name, (since, until, inclusive) in windows.items():
                temps[name].parent.mkdir(parents=True, exist_ok=True)
                sql.run(data, "split/target_chunk",
                        {"since": since, "until": until, "include_until": inclusive,
                         "path": str(temps[name])},
                        {"ts_text": _raw_is_text(data, "product_buy")})
                result.rows[name] = pq.ParquetFile(temps[name]).metadata.num_rows
                if progress:
                    progress(f"target/{name}: {result.rows[name]:,} rows ({timer.seconds:.1f}s)")
            for name, path in outputs.items():
                os.replace(temps[name], path)
        except duckdb.OutOfMemoryException as exc:
            raise DataError(
                f"DuckDB ran out of memory ({exc}); raise --memory-limit or set --temp-dir on a disk with room"
            ) from exc
        finally:
            for tmp in temps.values():
                if tmp.exists():
                    tmp.unlink()
    finally:
        data.close()
    result.seconds = timer.seconds
    return result

