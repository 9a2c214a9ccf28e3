"""Write a competition entry (docs/entry.md) from a feature recipe.

``export_features(D, E, recipe="baseline")`` writes, atomically (an existing entry is
replaced only by a complete new one):

* ``E/client_ids.npy``: int64, the relevant clients in ``input/relevant_clients.npy`` order;
* ``E/embeddings.npy``: float16 (clients x columns), filled column block by column block
  through a memory map, or (recipes that write full-height blocks only, such as ``universal``)
  spooled block by block and written row-wise at the end, so memory stays bounded whatever
  the width;
* ``E/columns.json``: every column name, the recipe, its options, the event source,
  facts the recipe recorded (top values, latest timestamps), the float16 overflow count,
  and a fingerprint of the input files (sizes, mtimes, sha256 of the ``.npy`` arrays, row
  counts), taken before they were read, to tell stale entries. The label lists (with their
  popularity files) are among them for recipes that read lists (``Recipe.reads_lists``).
  An input that changes while the entry is built makes the export fail with nothing written.

Values beyond float16's range (65504) are clipped, counted, recorded in ``columns.json``
and reported with a :class:`ubm.profiles.writer.Float16OverflowWarning`; never a silent inf.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pyarrow.parquet as pq

from ubm.contract import EVENT_TYPES, MAX_COLUMNS
from ubm.profiles import state
from ubm.profiles.recipes import OptionError, Recipe, get_recipe
from ubm.profiles.state import ModelState
from ubm.profiles.trail import STATE_DIR
from ubm.profiles.writer import ColumnWriter, Float16OverflowWarning, SpooledColumnWriter, warn_overflow
from ubm import provenance
from ubm.provenance import content_hash
from ubm.data.io import Data, DataError, Settings, input_files, load_id_array, require_dir
from ubm.layout import DataDir
from ubm.data.opener import open_data
from ubm.prepare.check import require_clean
from ubm.ownership import check_out
from ubm.util import Timer, atomic_dir

ENTRY_FILES = ("client_ids.npy", "embeddings.npy", "columns.json")
KEPT_INPUTS = ("product_properties", "relevant_clients")  # a refresh's, by content, as at the build
FEATURE_INPUTS = (*EVENT_TYPES, "product_properties", "relevant_clients")


@dataclass
class ExportSummary:
    out: Path
    n_rows: int
    n_columns: int
    overflow: int
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


def fingerprint(paths: dict[str, Path], root: Path, ids: dict[str, dict] | None = None) -> dict[str, Any]:
    """Sizes, mtimes (and sha256 of ``.npy`` files) and row counts of the files read, and a
    sha256 over all of them. ``ids``: the identities taken before the files were read
    (:attr:`ubm.data.io.Data.inputs`), which are recorded instead of the files' state now."""
    files = {}
    for view in sorted(paths):
        path = Path(paths[view])
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        stat = path.stat()
        taken = (ids or {}).get(rel) or {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        entry: dict[str, Any] = {"path": rel, "bytes": taken["bytes"], "mtime_ns": taken["mtime_ns"]}
        if "sha256" in taken:
            entry["sha256"] = taken["sha256"]
        if path.suffix == ".parquet":
            entry["rows"] = pq.ParquetFile(path).metadata.num_rows
        elif path.suffix == ".npy":
            entry["rows"] = int(np.load(path, mmap_mode="r").shape[0])
        files[view] = entry
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"sha256": digest, "files": files}


def _read_files(data: Data, rec: Recipe) -> dict[str, Path]:
    """The files the entry is built from: the feature inputs, and the label lists with their
    popularity files when the recipe reads lists."""
    files = {v: data.paths[v] for v in FEATURE_INPUTS}
    if rec.reads_lists:
        for view, path in input_files(data.root, data.window).items():
            if view.startswith(("label_list_", "popularity_")) and path.is_file():
                files[view] = path
    return files


def _check_source(root: Path, source: str) -> str:
    if source not in ("input", "all"):
        raise OptionError(f"source must be 'input' or 'all', got {source!r}", "source")
    if source == "input":
        missing = [DataDir(root).event_file(e, "input") for e in EVENT_TYPES
                   if not DataDir(root).event_file(e, "input").is_file()]
        if missing:
            raise DataError(
                f"missing input window file {missing[0]}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + ": run `ubm split` first, or pass --source all to profile from all events"
                " (an official entry)"
            )
    return source


def _writer(rec: Recipe, tmp: Path, n_rows: int, names: list[str]) -> ColumnWriter:
    """A spooling writer for recipes that write full-height blocks only, else a memory map."""
    if rec.spooled:
        return SpooledColumnWriter(tmp / "embeddings.npy", n_rows, names, tmp / ".spool")
    emb = np.lib.format.open_memmap(tmp / "embeddings.npy", mode="w+", dtype=np.float16,
                                    shape=(n_rows, len(names)))
    return ColumnWriter(emb, names)


def export_features(
    data_dir: Path | str,
    out: Path | str,
    *,
    recipe: str = "baseline",
    options: dict[str, Any] | None = None,
    source: Literal["input", "all"] = "input",
    settings: Settings = Settings(),
    progress: Callable[[str], None] | None = None,
    learnt: ModelState | None = None,
    finish: Callable[[Path, dict[str, Any]], None] | None = None,
) -> ExportSummary:
    """Build ``recipe``'s columns for every relevant client and write the entry to ``out``.

    ``learnt``: what the recipe learns is fitted (the default: computed, kept only if the state
    keeps) or applied from a profile model (:mod:`ubm.profiles.model`). ``finish(tmp, meta)``
    runs when the embeddings are complete, before ``columns.json`` (``meta``) is written."""
    timer = Timer()
    say = progress or (lambda _msg: None)
    root = require_dir(Path(data_dir))
    out = Path(out)
    rec = get_recipe(recipe)
    opts = rec.resolve(options)
    names = rec.columns(opts)
    if not 1 <= len(names) <= MAX_COLUMNS:
        raise OptionError(f"recipe '{recipe}' with {opts} gives {len(names)} columns; an entry holds 1..{MAX_COLUMNS}")
    _check_source(root, source)
    check_out(out, "entry", root)  # before any work: a typo must not wipe a data dir or a user's folder

    if rec.reads_lists:  # lists ubm built from another split are refused here as `ubm train` would
        provenance.verify_lists(root)
    data = open_data(root, window=source, settings=settings, require=FEATURE_INPUTS, lists=rec.reads_lists)
    try:
        trail = learnt.trail if learnt is not None else None
        if trail is not None:  # a refresh needs the product table and clients of the build it extends
            for view in KEPT_INPUTS:
                trail.expect(f"inputs.{view}", content_hash(Path(data.paths[view])), Path(data.paths[view]).name)
        # Every row is checked, not only the relevant clients' rows the recipes happen to parse;
        # a refresh's product table is the bytes its build checked.
        products = () if trail is not None and trail.refreshing else ("product_properties",)
        require_clean(data, {**{e: None for e in EVENT_TYPES}, **{p: ("sku",) for p in products}})
        require_clean(data, {"search_query": ("query",), **{p: ("name",) for p in products}}, nulls_only=False)
        clients = load_id_array(data.paths["relevant_clients"], unique=True)
        say(f"features: recipe {recipe} {opts}, {len(clients):,} clients x {len(names)} columns, "
            f"{source} events")
        with atomic_dir(out, "entry") as tmp:
            writer = _writer(rec, tmp, len(clients), names)
            writer.progress = progress
            if learnt is not None and learnt.trail is not None:
                learnt.trail.out = tmp / STATE_DIR  # kept with the entry it belongs to
            with state.active(learnt or ModelState("fit")):
                info = rec.build(data, clients, opts, writer)
            if isinstance(writer, SpooledColumnWriter):
                say(f"features: writing {len(clients):,} rows x {len(names)} columns from "
                    f"{writer.spooled_bytes / 2**20:,.0f} MiB of spooled blocks")
            writer.close()
            if isinstance(writer, SpooledColumnWriter):
                writer.spool_dir.rmdir()
            with open(tmp / "client_ids.npy", "wb") as fh:
                np.save(fh, clients.astype(np.int64), allow_pickle=False)
            meta = {
                "recipe": recipe,
                "options": opts,
                "source": source,
                "n_rows": int(len(clients)),
                "n_columns": len(names),
                "dtype": "float16",
                "columns": names,
                "float16_overflow": {"clipped_values": writer.overflow,
                                     "by_column": writer.overflow_by_column},
                "recipe_info": info,
                "data_dir": str(root.resolve()),
                "fingerprint": fingerprint(_read_files(data, rec), root, data.inputs),
                "created": dt.datetime.now().isoformat(timespec="seconds"),
            }
            if finish is not None:
                finish(tmp, meta)
            (tmp / "columns.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
            data.verify_inputs("features")  # inside atomic_dir: a changed input leaves no entry
    finally:
        data.close()
    warn_overflow(writer)
    return ExportSummary(out, len(clients), len(names), writer.overflow, timer.seconds, info)


__all__ = ["export_features", "ExportSummary", "fingerprint", "Float16OverflowWarning", "MAX_COLUMNS"]
