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
import math
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import duckdb
import numpy as np
import pyarrow.parquet as pq

from ubm import provenance
from ubm.data import sql
from ubm.contract import DAYS_IN_TARGET, EVENT_TYPES, EVENT_VALUE, NO_PURCHASES, TABLE_COLUMNS, Boundaries, boundaries_for
from ubm.data.io import Data, DataError, Settings, register_table, require_dir
from ubm.data.opener import open_data
from ubm.guards import out_of_memory
from ubm.layout import INPUT_DIR, TARGET_DIR, TARGET_TABLES, event_file, target_file
from ubm.prepare.check import missing_target_skus, require_clean
from ubm.ownership import note_writing
from ubm.util import Scratch, Timer, clean_litter

OUTLIER_CHOICES: tuple[str, ...] = ("refuse", "drop")

# When the latest purchases are far outliers (docs/split.md §5): at most a handful of them,
# after a gap of at least OUTLIER_GAP_DAYS that, at the other purchases' daily rate, would
# hold at least OUTLIER_EXPECTED purchases (so a gap is only "far" where the data is dense
# enough to tell: tiny data with a purchase every few days has none).
HANDFUL = 10  # purchases, or HANDFUL_SHARE of them when that is more
HANDFUL_SHARE = 0.001
OUTLIER_GAP_DAYS = 2.0 * DAYS_IN_TARGET  # the train window would then hold none of the rest
OUTLIER_EXPECTED = 20
# A target window is "nearly empty" below this share of the purchases the whole data's daily
# rate would put in it (generated and real data hold about 1.0; see docs/split.md §5).
MIN_WINDOW_SHARE = 0.1
MIN_WINDOW_EXPECTED = 100


@dataclass
class SplitResult:
    data_dir: Path
    boundaries: Boundaries
    rows: dict[str, int] = field(default_factory=dict)  # output name -> rows written
    paths: dict[str, Path] = field(default_factory=dict)  # output name -> final path
    seconds: float = 0.0
    lists: Any = None  # the label lists built right after the split (ubm.prepare.lists.ListsResult), if any

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
        if self.lists is not None:
            lines += ["", "label lists (ubm lists):", self.lists.describe()]
        return "\n".join(lines)


def _raw_is_text(data: Data, view: str, column: str = "timestamp") -> bool:
    return data.engine.is_text(f"raw_{view}", column)


def _value_column(event: str) -> tuple[str, bool]:
    column = EVENT_VALUE[event]
    return column, TABLE_COLUMNS[event][column] == "id"


@dataclass(frozen=True)
class Outliers:
    """The latest purchases when they lie far after all the others (latest first)."""

    times: tuple[dt.datetime, ...]
    bulk_end: dt.datetime  # the latest purchase before them
    others: int  # purchases before them

    @property
    def gap_days(self) -> float:
        return (self.times[-1] - self.bulk_end).total_seconds() / 86400

    def describe(self) -> str:
        k = len(self.times)
        shown = ", ".join(str(t) for t in self.times[:3]) + (f" and {k - 3} more" if k > 3 else "")
        return (f"{k} purchase{'s' if k != 1 else ''} at {shown} lie{'s' if k == 1 else ''} "
                f"{self.gap_days:,.1f} days after the latest of the other {self.others:,} ({self.bulk_end})")


def _days(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 86400


def find_outliers(latest: list[dt.datetime], purchases: int, first: dt.datetime) -> Outliers | None:
    """Far outliers among ``latest`` (the latest purchase instants, latest first), or None.

    The tail is what follows the widest gap among the latest ``handful + 1`` purchases; it is
    an outlier when that gap is at least OUTLIER_GAP_DAYS and would hold OUTLIER_EXPECTED
    purchases at the others' rate (purchases per day from the first to the tail's start).
    """
    handful = max(HANDFUL, math.ceil(purchases * HANDFUL_SHARE))
    latest = latest[:handful + 1]
    if len(latest) < 2:
        return None
    i = max(range(len(latest) - 1), key=lambda j: (latest[j] - latest[j + 1], -j))
    tail, bulk_end = latest[:i + 1], latest[i + 1]
    others = purchases - len(tail)
    gap = _days(bulk_end, tail[-1])
    rate = others / max(1.0, _days(first, bulk_end))
    if others < OUTLIER_EXPECTED or gap < OUTLIER_GAP_DAYS or gap * rate < OUTLIER_EXPECTED:
        return None
    return Outliers(tuple(tail), bulk_end, others)


def _check_windows(data: Data, b: Boundaries) -> None:
    """Refuse a target window that is empty, or holds under MIN_WINDOW_SHARE of its share."""
    got = sql.fetch_arrow(data, "split/window_purchases", {
        "since": b.train_target_start, "middle": b.validation_target_start, "until": b.end}).to_pylist()[0]
    first = got["first_ts"]
    rate = got["upto"] / max(1.0, _days(first, b.end))
    windows = {"train target": (b.train_target_start, b.validation_target_start, ")", got["train"]),
               "validation target": (b.validation_target_start, b.end, "]", got["validation"])}
    for name, (since, until, close, count) in windows.items():
        expected = rate * _days(since, until)
        # Below MIN_WINDOW_EXPECTED expected purchases a low count is not evidence; none still is.
        if count == 0 or (expected >= MIN_WINDOW_EXPECTED and count < MIN_WINDOW_SHARE * expected):
            raise DataError(
                f"{data.paths['product_buy']}: the {name} window [{since}, {until}{close} holds {count:,} "
                f"purchase(s), under a tenth of the {expected:,.1f} that the data's rate ({rate:,.1f} a day "
                f"from {first} to {b.end}) would put there; nothing was written. Check the timestamps, "
                f"or set the end with --end TIMESTAMP (docs/split.md §5)")


def split_end(data: Data, end: dt.datetime | None = None, outliers: str = "refuse") -> tuple[Boundaries, Outliers | None]:
    """The boundaries of the split (docs/split.md §1 and §5) and the outliers left out, if any.

    ``end`` given: the split ends there (no outlier search). Otherwise the end is the latest
    purchase, unless the latest purchases are far outliers: then ``outliers="refuse"`` is a
    DataError naming them and ``"drop"`` ends the split at the latest purchase before them.
    Either way a target window that is empty or nearly so is a DataError.
    """
    if outliers not in OUTLIER_CHOICES:
        raise ValueError(f"outliers must be one of {', '.join(OUTLIER_CHOICES)}, got {outliers!r}")
    path = data.paths["product_buy"]
    got = sql.fetch_numpy(data, "split/end")
    if np.ma.getmaskarray(got["end_ts"])[0]:
        raise DataError(f"{path}: {NO_PURCHASES}")
    found = None
    if end is None:
        purchases = int(got["purchases"][0])
        handful = max(HANDFUL, math.ceil(purchases * HANDFUL_SHARE))
        latest = [t.item() for t in sql.fetch_numpy(data, "split/latest_purchases",
                                                    {"last": handful + 1})["timestamp"]]
        found = find_outliers(latest, purchases, got["first_ts"][0].item())
        end = got["end_ts"][0].item()
        if found is not None and outliers == "refuse":
            raise DataError(
                f"{path}: {found.describe()}; the split end would be set by "
                f"{'it' if len(found.times) == 1 else 'them'}. Nothing was written: pass --outliers drop to "
                f"leave them out (end {found.bulk_end}) or --end TIMESTAMP to set the end (docs/split.md §5)")
        if found is not None:
            end = found.bulk_end
    b = boundaries_for(end)
    _check_windows(data, b)
    return b, found


def _check_targets(data: Data, b: Boundaries) -> None:
    # Duplicate skus were refused by require_clean before the end was looked for.
    missing = missing_target_skus(data, b)
    if missing:
        raise DataError(f"{missing}; nothing was written")


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
                where = INPUT_DIR if job.name in EVENT_TYPES else TARGET_DIR
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
            where = INPUT_DIR if job.name in EVENT_TYPES else TARGET_DIR
            progress(f"{where}/{job.name}: {result.rows[job.name]:,} rows ({timer.seconds:.1f}s)")


def split(data_dir: Path | str, settings: Settings = Settings(),
          progress: Callable[[str], None] | None = None, *, end: dt.datetime | None = None,
          outliers: str = "refuse") -> SplitResult:
    """Split ``data_dir`` per docs/split.md; returns boundaries and rows written per output.

    ``end`` and ``outliers``: see :func:`split_end` (docs/split.md §5)."""
    timer = Timer()
    root = require_dir(Path(data_dir))
    provenance.finish_split(root)  # a previous split that died mid-rename is completed first
    for directory in (root / INPUT_DIR, root / TARGET_DIR, root / provenance.STAMP_DIR):
        clean_litter(directory)
    data = open_data(root, window="all", settings=settings, lists=False,
                     require=EVENT_TYPES + ("product_properties",))
    # The published files as they were before the split read them (Data.inputs is taken first).
    published = {str(data.paths[v].relative_to(root)) for v in EVENT_TYPES + ("product_properties",)}
    sources = {name: ident for name, ident in data.inputs.items() if name in published}
    try:
        # NULLs would be dropped (timestamp) or copied (ids) silently; unparseable values fail the casts.
        require_clean(data, {**{e: None for e in EVENT_TYPES}, "product_properties": ("sku", "category", "price")})
    except BaseException:
        data.close()
        raise
    try:
        b, dropped = split_end(data, end, outliers)
        if dropped is not None and progress:
            progress(f"left out of the targets: {dropped.describe()}")
        _check_targets(data, b)

        outputs: dict[str, Path] = {e: root / event_file(e, "input") for e in EVENT_TYPES}
        outputs.update({t: root / target_file(t) for t in TARGET_TABLES})
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
        made = [d for d in dict.fromkeys(p.parent for p in outputs.values()) if not d.exists()]
        for directory in made:
            directory.mkdir(parents=True)
        scratch: dict[str, Scratch] = {}
        try:
            for name, path in outputs.items():  # marked scratch: the next run knows them for ubm's
                scratch[name] = Scratch.beside(path)
            temps = {name: s.slot for name, s in scratch.items()}
            if data.engine.name == "duckdb":
                _write_in_parallel(data, jobs, settings, temps, result, progress, timer)
            else:  # Spark spreads each file over its executors; one file at a time
                _write_in_turn(data, jobs, temps, result, progress, timer)
            data.verify_inputs("split")  # a published file rewritten meanwhile: no mixed split
            provenance.commit_split(root, [(temps[n], p) for n, p in outputs.items()], sources)
        except duckdb.OutOfMemoryException as exc:
            raise DataError(out_of_memory(exc)) from exc
        except Exception as exc:
            note_writing(exc, root)  # a full disk names no file: the message names the data directory
            raise
        finally:
            # Once the journal exists the temporaries belong to it: the next run finishes the renames.
            for sc in ([] if provenance.journal_path(root).exists() else scratch.values()):
                sc.remove()
            for directory in made:  # a failed first split leaves no empty folders behind
                if directory.exists() and not any(directory.iterdir()):
                    directory.rmdir()
    finally:
        data.close()
    result.seconds = timer.seconds
    return result

