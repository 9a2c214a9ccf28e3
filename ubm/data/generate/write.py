"""The driver: draw the world and the relevant clients, then each chunk's events, and write
the published files (docs/data.md).

Each event file gets one row group per chunk with the chunk's rows in time order, so rows are
neither grouped by client nor sorted by ``client_id``. Files are written under temporary names (with the writer's PID)
and renamed when all are complete; a failure removes them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ubm.contract import EVENT_TYPES, EVENT_VALUE
from ubm.data.generate.clients import chunk_bounds, select_relevant
from ubm.data.generate.encode import TimeFormatter, format_vectors
from ubm.data.generate.params import SIZES, Behaviour, SizePreset
from ubm.data.generate.sampling import CLIENT_ID_STREAM, Scramble, stream
from ubm.data.generate.sessions import EventColumns, chunk_events
from ubm.data.generate.world import World, build_world
from ubm.layout import INPUT_DIR, PRODUCT_PROPERTIES, RELEVANT_CLIENTS, event_file
from ubm.provenance import remove_derived
from ubm.ownership import (KINDS, MANIFEST, OutputError, contents, note_writing, read_manifest, through_link,
                           write_manifest)
from ubm.util import Scratch, clean_litter, save_npy

MIN_DAYS = 29  # two 14-day target windows and some input
MAX_DAYS = 36_600  # a century of timestamps from 2022
MAX_CLIENTS = 100_000_000  # five times the full preset: beyond it a run would not end in a working day
MAX_SEED = 2**63 - 1


@dataclass
class GenerateSummary:
    out_dir: Path
    n_clients: int  # size of the client population (ids), ghosts included
    n_relevant: int
    rows: dict[str, int]  # rows per event type, plus "product_properties"
    seconds: float
    size: str = ""
    days: int = 0
    n_skus: int = 0
    n_categories: int = 0
    n_clients_with_events: int = 0
    extra: dict = field(default_factory=dict)


_SCHEMAS = {
    event: pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()),
                      (EVENT_VALUE[event], pa.string() if event == "search_query" else pa.int64())])
    for event in EVENT_TYPES
}
_WRITER_OPTIONS = dict(compression="zstd", compression_level=1, use_dictionary=False,
                       write_statistics=True)


def _time_order(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted timestamps and the permutation, ties by position: the keys are unique, so
    the result does not depend on the sort algorithm (numpy may pick a SIMD one per CPU)."""
    n = ts.shape[0]
    tbits = max(1, int(ts.max(initial=0)).bit_length())
    if n >= 2 ** (63 - tbits):  # pragma: no cover - far beyond any chunk size
        order = np.argsort(ts, kind="stable")
        return ts[order], order
    key = np.sort((ts.astype(np.int64) << (63 - tbits)) | np.arange(n, dtype=np.int64))
    return key >> (63 - tbits), key & ((1 << (63 - tbits)) - 1)


class _BackgroundWriter:
    """Writes tables in FIFO order on one thread (arrow releases the GIL while encoding)."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue(maxsize=6)
        self.err: BaseException | None = None
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.err is not None:
                continue
            writer, table = item
            try:
                writer.write_table(table, row_group_size=max(1, table.num_rows))
            except BaseException as e:  # pragma: no cover - surfaced in close()
                self.err = e

    def put(self, writer, table):
        if self.err is not None:
            raise self.err
        self.q.put((writer, table))

    def close(self):
        self.q.put(None)
        self.th.join()
        if self.err is not None:
            raise self.err


def _properties_table(world: World) -> pa.Table:
    return pa.table({
        "sku": pa.array(world.sku_id, pa.int64()),
        "category": pa.array(world.category_id[world.sku_category], pa.int64()),
        "price": pa.array(world.sku_price, pa.int64()),
        "name": format_vectors(world.name_vector),
    })


def _event_table(event: str, cols: EventColumns, first: int, world: World,
                 client_id: Scramble, fmt: TimeFormatter) -> pa.Table:
    ts, order = _time_order(cols.seconds)
    value = cols.value[order]
    if event == "search_query":
        value_col = format_vectors(value)
    elif event == "page_visit":
        value_col = pa.array(value, pa.int64())
    else:
        value_col = pa.array(world.sku_id[value], pa.int64())
    ids = client_id(cols.client[order] + first)
    return pa.Table.from_arrays([pa.array(ids, pa.int64()), fmt(ts), value_col],
                                schema=_SCHEMAS[event])


def _resolve_preset(size: str, clients: int | None, days: int | None,
                    behaviour: Behaviour | None) -> SizePreset:
    if size not in SIZES:
        raise ValueError(f"size {size!r} is unknown; choose one of {', '.join(SIZES)}")
    p = SIZES[size]
    if clients is not None:
        if not 1 <= clients <= MAX_CLIENTS:
            raise ValueError(f"clients must be in 1..{MAX_CLIENTS:,}, got {clients}")
        rel = max(1, round(p.relevant * clients / p.clients))
        p = replace(p, clients=int(clients), relevant=min(int(clients), rel))
    if days is not None:
        if not MIN_DAYS <= days <= MAX_DAYS:
            raise ValueError(f"days must be in {MIN_DAYS}..{MAX_DAYS} (two 14-day target windows and "
                             f"some input; at most a century), got {days}")
        p = replace(p, days=int(days))
    if behaviour is not None:
        p = replace(p, behaviour=behaviour)
    return p


# What `ubm generate` writes into its --out (the rest of a data directory is other stages').
PUBLISHED = (*(event_file(e) for e in EVENT_TYPES), PRODUCT_PROPERTIES, f"{INPUT_DIR}/", RELEVANT_CLIENTS)


def check_out(out: Path) -> None:
    """Refuse a --out that ubm generate did not make, unless it is new or empty: its published
    files are replaced and what ubm derived from them deleted (files beside them are kept)."""
    real = through_link(out)
    if real.exists() and not real.is_dir():
        raise OutputError(f"--out {out} exists and is not a directory; not writing into it")
    if not real.is_dir():
        return
    manifest = read_manifest(real)
    if manifest is not None and manifest["kind"] != "data":
        raise OutputError(f"--out {out} is {KINDS[manifest['kind']]}, not {KINDS['data']}; not writing into it")
    found = contents(real)
    if manifest is None and found:
        raise OutputError(f"--out {out} is not a directory ubm generate wrote (no {MANIFEST}) and holds "
                          f"{found[0]}; not writing into it: give a new or empty directory")


def resolve_options(size: str, clients: int | None, days: int | None, seed: int,
                    behaviour: Behaviour | None = None) -> SizePreset:
    """The preset with its overrides, every value checked; a ValueError starts with the
    option's name (size, clients, days, seed)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in 0..{MAX_SEED}, got {seed!r}")
    return _resolve_preset(size, clients, days, behaviour)


def generate(out_dir: Path, size: str = "small", *, clients: int | None = None,
             days: int | None = None, seed: int = 0, behaviour: Behaviour | None = None,
             progress: Callable[[str], None] | None = None) -> GenerateSummary:
    """Write a synthetic dataset (docs/data.md) into ``out_dir``; see :mod:`ubm.data.generate`.

    ``clients`` overrides the population (relevant clients scale with it), ``days`` the time
    span (at least 29, so that the two 14-day target windows fit), ``behaviour`` the preset's
    :class:`Behaviour`."""
    t0 = time.perf_counter()
    p = resolve_options(size, clients, days, seed, behaviour)  # before anything is written
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    check_out(out)
    (out / INPUT_DIR).mkdir(parents=True, exist_ok=True)

    world = build_world(p, seed)
    n_chunks = max(1, -(-p.clients // p.chunk_clients))
    say(f"{p.name}: {p.clients:,} clients, {p.relevant:,} relevant, {p.days} days, "
        f"{p.skus:,} skus, {n_chunks} chunk(s)")
    relevant = select_relevant(p, seed, n_chunks)
    client_id = Scramble(p.clients, stream(seed, CLIENT_ID_STREAM))
    fmt = TimeFormatter(p.days)

    rows = {e: 0 for e in EVENT_TYPES}
    clean_litter(out)
    scratch = [Scratch.beside(out / name) for name in (*(event_file(e) for e in EVENT_TYPES), PRODUCT_PROPERTIES)]
    tmp = {e: sc.slot for e, sc in zip(EVENT_TYPES, scratch)}
    props_tmp = scratch[-1].slot
    writers = {e: pq.ParquetWriter(tmp[e], _SCHEMAS[e], **_WRITER_OPTIONS) for e in EVENT_TYPES}
    bg = _BackgroundWriter()
    active = 0
    try:
        pq.write_table(_properties_table(world), props_tmp, **_WRITER_OPTIONS)
        for chunk in range(n_chunks):
            first, stop = chunk_bounds(p, chunk)
            ev = chunk_events(world, p, seed, chunk, first, stop, relevant.ghost, relevant.late)
            active += ev.active_clients
            for e in EVENT_TYPES:
                table = _event_table(e, ev.events[e], first, world, client_id, fmt)
                rows[e] += table.num_rows
                bg.put(writers[e], table)
            say(f"chunk {chunk + 1}/{n_chunks}: {sum(rows.values()):,} events so far")
        bg.close()
        for w in writers.values():
            w.close()
        # The old split, lists and label cache belong to the files being replaced.
        remove_derived(out)
        for e in EVENT_TYPES:
            os.replace(tmp[e], out / event_file(e))
        os.replace(props_tmp, out / PRODUCT_PROPERTIES)
        save_npy(out / RELEVANT_CLIENTS,
                  client_id(relevant.order).astype(np.int64))
        write_manifest(out, "data", PUBLISHED, scan=False)  # files beside stay the user's
    except BaseException as exc:
        _abandon(bg, writers)
        note_writing(exc, out)  # a full disk names no file: the message names the output
        raise
    finally:
        for sc in scratch:
            sc.remove()
    rows["product_properties"] = p.skus
    secs = time.perf_counter() - t0
    say(f"done: {sum(rows[e] for e in EVENT_TYPES):,} events in {secs:.1f} s")
    return GenerateSummary(out_dir=out, n_clients=p.clients, n_relevant=int(relevant.order.size),
                           rows=rows, seconds=secs, size=p.name, days=p.days, n_skus=p.skus,
                           n_categories=p.categories, n_clients_with_events=active,
                           extra={"ghost_relevant": int(relevant.ghost.sum()),
                                  "late_relevant": int(relevant.late.sum())})


def _abandon(bg: _BackgroundWriter, writers: dict) -> None:
    """After a failure: stop writing (the partial files go with their scratch)."""
    try:
        bg.close()
    except BaseException:
        pass
    for w in writers.values():
        try:
            w.close()
        except Exception:
            pass
