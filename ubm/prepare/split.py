"""The time split of docs/split.md: input chunk and the two target windows.

``split(data_dir)`` reads ``D/<event>.parquet`` and writes

* ``D/input/<event>.parquet`` for the five event types: events with
  ``timestamp < train_target_start`` (all clients), columns as published, ``timestamp``
  as a TIMESTAMP (like the official pandas split), ``query`` kept in its published encoding;
* ``D/target/train_target.parquet`` and ``D/target/validation_target.parquet``:
  ``product_buy`` in ``[train_target_start, validation_target_start)`` and
  ``[validation_target_start, end]``, with ``category``, ``price`` and ``name`` joined
  from ``product_properties`` (``name`` in its published encoding).

Every file is written under a temporary name; they are renamed into place only after
all seven are complete, through a journal (:func:`ubm.provenance.commit_split`), so an
interrupted run leaves the previous outputs or, once the next command has finished the
renames, the new ones; never a mix. ``D/.ubm/split.json`` records the published files the
split was made from; later stages refuse the split when they have changed.

A rerun on the same data gives the same bytes. The input chunks keep the published file's
row order (like the official pandas split, which filters the frame as it is); each file is
written by one DuckDB thread with ``preserve_insertion_order``, so its row groups do not
depend on thread timing, and several files are written at once, one per thread
(biggest first). The two target files are small and are ordered by
``client_id, timestamp, sku``. ``D/input/relevant_clients.npy`` is never touched.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow.parquet as pq

from ubm import provenance
from ubm.data import sql
from ubm.contract import EVENT_TYPES, EVENT_VALUE, TABLE_COLUMNS
from ubm.data.io import Data, DataError, Settings, open_data, register_table, require_dir
from ubm.prepare.check import require_clean
from ubm.util import Timer, clean_litter, temp_name

DAYS_IN_TARGET = 14
TARGET_FILES: tuple[str, ...] = ("train_target", "validation_target")


@dataclass(frozen=True)
class Boundaries:
    """The instants of docs/split.md §1 (naive datetimes, second resolution as published)."""

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
    return data.engine.is_text(f"raw_{view}", column)


def _value_column(event: str) -> tuple[str, bool]:
    column = EVENT_VALUE[event]
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
        examples = ", ".join(f"{s} ({n} purchase{'s' if n != 1 else ''})" for s, n in
                             zip(missing["sku"][:5], missing["purchases"][:5]))
        raise DataError(
            f"{data.paths['product_properties']}: {len(missing['sku'])} skus bought in the target "
            f"windows ({int(missing['purchases'].sum())} purchases) have no properties, e.g. "
            f"{examples}; nothing was written"
        )


def _size(path: Path) -> int:
    return path.stat().st_size if isinstance(path, Path) and path.is_file() else 0


@dataclass
class _Job:
    name: str  # output name
    template: str
    params: dict
    structure: dict
    size: int  # bytes of the file it reads (biggest first)


def _lane_data(data: Data) -> Data:
    """A second connection to the same database (same memory limit), with the same views."""
    con = data.con.cursor()
    for view, path in data.paths.items():
        if view in TABLE_COLUMNS:
            register_table(con, view, path, TABLE_COLUMNS[view])
    return replace(data, con=con, engine=None)


def _write_in_parallel(data: Data, jobs: list[_Job], settings: Settings, temps: dict[str, Path],
                       result: SplitResult, progress: Callable[[str], None] | None, timer: Timer) -> None:
    """Run the jobs, biggest first, one DuckDB thread per file and one file per lane.

    Each COPY runs on a single thread with insertion order preserved, so a file's bytes
    never depend on timing; the lanes (as many as ``settings.threads`` or the cores) write
    different files at once. The first failure interrupts the other lanes and is raised
    once every lane has stopped.
    """
    lanes = max(1, min(len(jobs), settings.threads or os.cpu_count() or 1))
    data.con.execute("SET threads = 1")
    data.con.execute("SET preserve_insertion_order = true")
    queue = sorted(jobs, key=lambda j: -j.size)  # stable: equal sizes keep their order
    lock = threading.Lock()
    errors: list[BaseException] = []
    lane_data = [data] + [_lane_data(data) for _ in range(lanes - 1)]

    def work(lane: Data) -> None:
        while True:
            with lock:
                if errors or not queue:
                    return
                job = queue.pop(0)
            try:
                sql.write_parquet(lane, job.template, temps[job.name], job.params, job.structure)
                rows = pq.ParquetFile(temps[job.name]).metadata.num_rows
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller
                with lock:
                    first = not errors
                    errors.append(exc)
                if first:
                    for other in lane_data:
                        if other is not lane:
                            other.con.interrupt()
                return
            with lock:
                result.rows[job.name] = rows
            if progress:
                where = "input" if job.name in EVENT_TYPES else "target"
                progress(f"{where}/{job.name}: {rows:,} rows ({timer.seconds:.1f}s)")

    threads = [threading.Thread(target=work, args=(lane,), name=f"split-{i}", daemon=True)
               for i, lane in enumerate(lane_data[1:], start=1)]
    try:
        for t in threads:
            t.start()
        work(lane_data[0])
        for t in threads:
            t.join()
    except BaseException:
        # Ctrl-C in the main thread: stop the other lanes before the caller removes their files.
        with lock:
            errors.append(KeyboardInterrupt())
        for lane in lane_data:
            lane.con.interrupt()
        for t in threads:
            t.join()
        raise
    finally:
        for lane in lane_data[1:]:
            lane.con.close()
    if errors:
        raise errors[0]
    result.rows = {job.name: result.rows[job.name] for job in jobs}  # outputs in their usual order


def _write_in_turn(data: Data, jobs: list[_Job], temps: dict[str, Path], result: SplitResult,
                   progress: Callable[[str], None] | None, timer: Timer) -> None:
    for job in jobs:
        sql.write_parquet(data, job.template, temps[job.name], job.params, job.structure)
        result.rows[job.name] = pq.ParquetFile(temps[job.name]).metadata.num_rows
        if progress:
            where = "input" if job.name in EVENT_TYPES else "target"
            progress(f"{where}/{job.name}: {result.rows[job.name]:,} rows ({timer.seconds:.1f}s)")


def split(data_dir: Path | str, settings: Settings = Settings(),
          progress: Callable[[str], None] | None = None) -> SplitResult:
    """Split ``data_dir`` per docs/split.md; returns boundaries and rows written per output."""
    timer = Timer()
    root = require_dir(Path(data_dir))
    provenance.finish_split(root)  # a previous split that died mid-rename is completed first
    for directory in (root / "input", root / "target", root / provenance.STAMP_DIR):
        clean_litter(directory)
    data = open_data(root, window="all", settings=settings,
                     require=EVENT_TYPES + ("product_properties",))
    sources = provenance.ids_of(root, [data.paths[v] for v in EVENT_TYPES + ("product_properties",)])
    try:
        # NULLs would be dropped (timestamp) or copied (ids) silently; unparseable values fail the casts.
        require_clean(data, {**{e: None for e in EVENT_TYPES}, "product_properties": ("sku", "category", "price")})
    except BaseException:
        data.close()
        raise
    try:
        got = sql.fetch_numpy(data, "split/end")
        end = None if np.ma.getmaskarray(got["end_ts"])[0] else got["end_ts"][0].item()
        if end is None:
            raise DataError(f"{data.paths['product_buy']}: no product_buy events, so no split end")
        b = boundaries_for(end)
        _check_targets(data, b)

        outputs: dict[str, Path] = {e: root / "input" / f"{e}.parquet" for e in EVENT_TYPES}
        outputs.update({t: root / "target" / f"{t}.parquet" for t in TARGET_FILES})
        temps = {name: temp_name(path) for name, path in outputs.items()}
        result = SplitResult(root, b, paths=outputs)
        windows = {
            "train_target": (b.train_target_start, b.validation_target_start, False),
            "validation_target": (b.validation_target_start, b.end, True),
        }
        jobs: list[_Job] = []
        for event in EVENT_TYPES:
            column, is_id = _value_column(event)
            jobs.append(_Job(event, "split/input_chunk",
                             {"train_target_start": b.train_target_start},
                             {"event": event, "value_column": column, "value_is_id": is_id,
                              "ts_text": _raw_is_text(data, event)},
                             _size(data.paths[event])))
        for name, (since, until, inclusive) in windows.items():
            jobs.append(_Job(name, "split/target_chunk",
                             {"since": since, "until": until, "include_until": inclusive},
                             {}, 0))
        made = [d for d in dict.fromkeys(t.parent for t in temps.values()) if not d.exists()]
        for directory in made:
            directory.mkdir(parents=True)
        try:
            if data.engine.name == "duckdb":
                _write_in_parallel(data, jobs, settings, temps, result, progress, timer)
            else:  # Spark spreads each file over its executors; one file at a time
                _write_in_turn(data, jobs, temps, result, progress, timer)
            provenance.commit_split(root, [(temps[n], p) for n, p in outputs.items()], sources)
        except duckdb.OutOfMemoryException as exc:
            raise DataError(
                f"DuckDB ran out of memory ({exc}); raise --memory-limit or set --temp-dir on a disk with room"
            ) from exc
        finally:
            # Once the journal exists the temporaries belong to it: the next run finishes the renames.
            for tmp in ([] if provenance.journal_path(root).exists() else temps.values()):
                if tmp.exists():
                    tmp.unlink()
            for directory in made:  # a failed first split leaves no empty folders behind
                if directory.exists() and not any(directory.iterdir()):
                    directory.rmdir()
    finally:
        data.close()
    result.seconds = timer.seconds
    return result

