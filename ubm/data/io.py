"""The data contract: open a data directory in DuckDB as typed views.

Every SQL template reads these views, never the raw files. The raw parquet files
are registered through DuckDB's relation API (so no path is ever pasted into SQL
text), then one typed view per table casts the published encodings:

* ``timestamp``: text ``YYYY-MM-DD HH:MM:SS`` or a native timestamp -> TIMESTAMP
  (a TIMESTAMPTZ as its UTC wall time, independent of the machine's zone)
* ``query`` / ``name``: text like ``[ 12 201   3 ...]`` or a list column -> UTINYINT[16]

Views created (each only when its file exists):

* ``product_buy``, ``add_to_cart``, ``remove_from_cart``, ``page_visit``,
  ``search_query``: all events (``D/<type>.parquet``), or the input chunk
  (``D/input/<type>.parquet``) when opened with ``window="input"``.
* ``product_properties``: sku, category, price, name.
* ``train_target``, ``validation_target``: the split's target windows.
* ``relevant_clients`` (client_id, pos) from ``input/relevant_clients.npy``.
* ``active_clients`` (client_id, pos) from ``target/active_clients.npy``.
* ``label_list_<task>`` (pos, value, popularity) for each propensity task whose
  ``target/<task>.npy`` is present.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from ubm.data.engine import DuckDBEngine, Engine
from ubm.data import views
from ubm.errors import DataError
from ubm.guards import find_duplicates
from ubm.layout import TARGET_TABLES, DataDir, array_files, label_list_file, table_files
from ubm.contract import EVENT_TYPES, INT64_MAX, PROPENSITY_TASKS, TABLE_COLUMNS, value_range


@dataclass(frozen=True)
class Settings:
    """Engine and DuckDB connection settings. Defaults suit the 2-core, 24 GiB machines."""

    threads: int | None = None
    memory_limit: str | None = "4GB"
    temp_directory: str | None = None
    progress_bar: bool | None = None  # None: on when stderr is a terminal
    engine: str = "duckdb"  # or "spark" (ubm.data.spark)
    master: str | None = None  # Spark master: local[N], spark://..., sc://... (default local[2])
    spark_conf: tuple[tuple[str, str], ...] = ()  # extra Spark settings, key=value


@dataclass
class Data:
    """An open data directory: the DuckDB connection with its typed views."""

    root: Path
    con: duckdb.DuckDBPyConnection | None  # None when another engine holds the views
    window: str
    paths: dict[str, Path]
    engine: Engine | None = None  # where templates run; None: DuckDB on ``con``
    # Identity of every file the views read (relative name -> provenance.file_id), taken
    # before anything was read from them: what a stage records, and checks again at its end.
    inputs: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.engine is None:
            self.engine = DuckDBEngine(self.con)

    def has(self, view: str) -> bool:
        return view in self.paths

    @property
    def relevant_count(self) -> int:
        """Rows of the ``relevant_clients`` view (the entry's row count)."""
        got = self.engine.fetch_numpy("SELECT count(*) AS n FROM relevant_clients", {})
        return int(got["n"][0])

    def verify_inputs(self, stage: str) -> None:
        """Refuse (a DataError naming the file) when an input changed since it was opened.

        Called by a stage after its last read and before it writes anything, so an output is
        never made from a mix of old and new inputs, nor stamped with files it did not read.
        """
        from ubm import provenance

        changed = provenance.changed_during(self.root, self.inputs)
        if changed:
            raise DataError(f"{self.root / changed[0]} changed while `ubm {stage}` was reading it; "
                            f"nothing was written; rerun `ubm {stage}` once it is no longer being rewritten")

    def close(self) -> None:
        self.engine.close()


def require_dir(path: Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"data directory not found: {path}")
    return path


def require_file(path: Path, what: str = "file") -> Path:
    if not Path(path).is_file():
        raise DataError(f"missing {what}: {path}")
    return Path(path)


def connect(settings: Settings = Settings()) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Timestamps are UTC instants whatever the machine's zone: TIMESTAMPTZ values convert
    # to TIMESTAMP in the session zone, which would otherwise follow TZ.
    con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: cursors (the split's lanes) too
    if settings.threads:
        con.execute("SET threads = $t", {"t": settings.threads})
    if settings.memory_limit:
        con.execute("SET memory_limit = $m", {"m": settings.memory_limit})
    if settings.temp_directory:
        con.execute("SET temp_directory = $d", {"d": str(settings.temp_directory)})
    con.execute("SET preserve_insertion_order = false")
    progress = settings.progress_bar
    if progress is None:
        progress = sys.stderr.isatty()
    con.execute("SET enable_progress_bar = $p", {"p": bool(progress)})
    return con


def register_table(con: duckdb.DuckDBPyConnection, view: str, path: Path, columns: dict[str, str]) -> None:
    """``raw_<view>`` and the typed view ``<view>`` on a DuckDB connection (:mod:`ubm.data.views`)."""
    views.register_table(DuckDBEngine(con), view, path, columns)


def register_array(con: duckdb.DuckDBPyConnection, view: str, array: np.ndarray,
                   column: str = "client_id", extra: dict[str, np.ndarray] | None = None) -> None:
    """Expose a 1-D id array as ``<view>(pos, <column>, extra...)``, pos = file order."""
    data = {"pos": np.arange(len(array), dtype=np.int64), column: np.asarray(array, dtype=np.int64)}
    for name, values in (extra or {}).items():
        data[name] = np.asarray(values, dtype=np.int64)
    con.register(f"arr_{view}", pa.table(data))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM arr_{view}")


def _check_derived(data: DataDir, window: str, require: tuple[str, ...]) -> None:
    """Refuse a missing, interrupted or stale split (and stale label lists) before reading them."""
    from ubm import provenance

    uses_split = window == "input" or any(v in require for v in TARGET_TABLES)
    uses_lists = any(v == "active_clients" or v.startswith("label_list_") for v in require)
    if window == "input" and not any(data.event_file(e, "input").is_file() for e in EVENT_TYPES):
        raise DataError(f"missing {data.event_file('product_buy', 'input')}: no input window "
                        f"(run `ubm split --data-dir {data.root}` first)")
    if uses_split or uses_lists:
        provenance.verify_split(data.root)
    if uses_lists:
        provenance.verify_lists(data.root)


def read_npy(path: Path, what: str = ".npy file", **options) -> np.ndarray:
    """``np.load`` of a file that should be a plain array; a damaged one is a DataError naming it.
    numpy fails a broken file with many types (ValueError, EOFError, OSError, and SyntaxError or
    tokenize.TokenError from a header whose bytes were flipped), so every one is caught here."""
    try:
        return np.load(path, allow_pickle=False, **options)
    except Exception as exc:  # noqa: BLE001 - see above; the message names the file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a loadable {what} ({reason})") from exc


def load_id_array(path: Path, unique: bool = False, column: str = "client_id") -> np.ndarray:
    """Load an organiser ``.npy`` of integer ids (int64 1-D); anything else is a DataError.

    Every value must lie in the range of ``column`` (:func:`ubm.contract.value_range`: ids
    0..2^63-1, price buckets 0..99); with ``unique``, a value listed more than once is a
    DataError too.
    """
    require_file(path, "array file")
    array = read_npy(path)
    return check_id_array(path, array, unique, column)


def check_id_array(path: Path | str, array: np.ndarray, unique: bool = False,
                   column: str = "client_id") -> np.ndarray:
    """The checks of :func:`load_id_array` on a loaded array (shared with the Spark reader)."""
    if not isinstance(array, np.ndarray) or array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        found = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise DataError(f"{path}: expected a 1-D integer array, found {found}")
    low, high = value_range(column)
    # Compared before the cast: an unsigned 2^64-1 would otherwise wrap to -1.
    if array.dtype.kind == "u" and len(array) and int(array.max()) > min(high, INT64_MAX):
        bad = int(array.max())
        raise DataError(f"{path}: value {bad} is beyond {column}'s range {low}..{high} "
                        f"({int((array > high).sum()):,} value(s)); ids must fit a signed 64-bit integer")
    array = array.astype(np.int64, copy=False)
    outside = (array < low) | (array > high)
    if outside.any():
        raise DataError(f"{path}: value {int(array[outside][0])} is outside {column}'s range {low}..{high} "
                        f"({int(outside.sum()):,} value(s))")
    if unique:
        check_unique(path, array, "client id" if column == "client_id" else f"{column} value")
    return array


def check_unique(path: Path, ids: np.ndarray, what: str = "client id") -> None:
    dup = find_duplicates(ids)
    if dup:
        raise DataError(f"{path}: {dup.distinct:,} {what}(s) appear more than once, e.g. {dup.example} "
                        f"({dup.extra:,} extra rows)")


def input_files(root: Path, window: str, lists: bool = True) -> dict[str, Path]:
    """The files :func:`open_duckdb_data` makes views of (view name -> path, present or not), and
    each label list's popularity file as ``popularity_<task>``; without ``lists``, none of
    ``target/*.npy``."""
    root = Path(root)
    return {view: root / rel for view, rel in {**table_files(window), **array_files(lists)}.items()}


def fingerprint_inputs(root: Path, files: dict[str, Path]) -> dict[str, dict]:
    """provenance.file_id of each present file, keyed by its path relative to ``root``."""
    from ubm import provenance

    return provenance.ids_of(Path(root), [p for p in files.values() if Path(p).is_file()])


def open_duckdb_data(
    data_dir: Path | str,
    *,
    window: Literal["all", "input"] = "all",
    settings: Settings = Settings(),
    require: tuple[str, ...] = (),
    lists: bool = True,
) -> Data:
    """:func:`ubm.data.opener.open_data` on DuckDB: the typed views of the module docstring.

    ``require`` names views that must exist (e.g. ``("train_target",)``); a missing
    one is a DataError naming the file it would come from. ``lists=False`` leaves out the
    views of ``target/*.npy`` (a stage that does not read them neither checks nor records
    them). Every file a view reads is fingerprinted first (:attr:`Data.inputs`); the stage
    calls :meth:`Data.verify_inputs` before it writes.
    """
    data = DataDir(require_dir(Path(data_dir)))
    files = input_files(data.root, window, lists)
    from ubm import provenance
    provenance.finish_split(data.root)  # renames a dead split left: before the fingerprints
    inputs = fingerprint_inputs(data.root, files)  # before any byte of them is read
    if files["relevant_clients"].is_file():  # its own faults first, then staleness
        load_id_array(files["relevant_clients"], unique=True)
    _check_derived(data, window, require)
    con = connect(settings)
    try:
        created = _register_all(con, files)
    except BaseException:
        con.close()
        raise
    expected = {v: p for v, p in files.items() if not v.startswith(("label_list_", "popularity_"))}
    for view in require:
        if view not in created:
            where = expected.get(view, data.path(label_list_file(view.removeprefix("label_list_"))))
            raise DataError(f"missing file for '{view}': {where}")
    return Data(data.root, con, window, created, inputs=inputs)


def _register_all(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> dict[str, Path]:
    created: dict[str, Path] = {}
    for view, path in files.items():
        if view in TABLE_COLUMNS and path.is_file():
            register_table(con, view, path, TABLE_COLUMNS[view])
            created[view] = path
    for view in ("relevant_clients", "active_clients"):
        if view in files and files[view].is_file():
            register_array(con, view, load_id_array(files[view], unique=True))
            created[view] = files[view]
    for task, column in PROPENSITY_TASKS.items():
        path = files.get(f"label_list_{task}")
        if path is not None and path.is_file():
            values = load_label_list(path, column)
            popularity = load_popularity(files[f"popularity_{task}"], len(values))
            register_array(con, f"label_list_{task}", values, "value", {"popularity": popularity})
            created[f"label_list_{task}"] = path
    return created


def load_label_list(path: Path, column: str) -> np.ndarray:
    """A label list (docs/tasks.md §3): distinct values, each in ``column``'s range."""
    try:
        values = load_id_array(path, unique=True, column=column)
    except DataError as exc:
        raise DataError(f"{exc}; a label list holds each value once, within its column's range "
                        f"(fix or delete it; `ubm lists --force` rebuilds it)") from None
    return values


def load_popularity(path: Path, n: int) -> np.ndarray:
    """Popularity array beside a label list; absent -> zeros (only novelty needs it)."""
    if not path.is_file():
        return np.zeros(n, dtype=np.int64)
    array = read_npy(path, "numeric .npy popularity array")
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
        raise DataError(f"{path}: popularity must be numeric, found {getattr(array, 'dtype', type(array))}")
    if array.shape != (n,):  # an empty list has an empty popularity (docs/tasks.md §3)
        raise DataError(f"{path}: expected {n} popularity values, found shape {array.shape}")
    if not np.isfinite(array).all():
        raise DataError(f"{path}: popularity holds NaN or infinite values")
    if (array < 0).any():
        raise DataError(f"{path}: popularity holds negative values (min {array.min()})")
    # Counts or shares: the official novelty divides by the top-k sum, so both score the same;
    # integer counts stay int64, shares stay float64 (casting shares to int made them zeros).
    return array.astype(np.int64 if array.dtype.kind in "iu" else np.float64, copy=False)


def explain_conversion_error(data: Data, exc: Exception) -> DataError:
    """Turn a cast failure inside a typed view into an error naming file, column and value."""
    return views.explain_cast_error(data) or DataError(str(exc))
