"""The SQL engines: where a rendered template runs.

An :class:`Engine` registers small tables (arrays from Python), runs SQL with bound
parameters to Arrow or numpy, writes a query's rows to parquet and creates/drops temporary
views. :class:`DuckDBEngine` is the embedded default (one process, DuckDB's own SQL);
:class:`ubm.data.spark.SparkEngine` runs the same templates, transpiled, on Apache Spark.
Templates are written in DuckDB's SQL; an engine's ``dialect`` says what they are
transpiled to before they run (see :mod:`ubm.data.dialect`).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from ubm.data.damage import note_opened
from ubm.errors import DataError

ENGINES = ("duckdb", "spark")


class Engine(Protocol):
    name: str
    dialect: str

    def relation(self, sql: str, params: dict[str, Any]) -> Any: ...
    def fetch_arrow(self, sql: str, params: dict[str, Any]) -> pa.Table: ...
    def fetch_numpy(self, sql: str, params: dict[str, Any]) -> dict[str, np.ndarray]: ...
    def execute(self, sql: str, params: dict[str, Any]) -> None: ...
    def batches(self, sql: str, params: dict[str, Any], rows: int) -> pa.RecordBatchReader: ...
    def write_parquet(self, sql: str, params: dict[str, Any], path: str) -> None: ...
    def register_arrow(self, name: str, table: pa.Table) -> None: ...
    def register_parquet(self, name: str, path: str) -> dict[str, str]: ...  # raw column types
    def raw_types(self, view: str) -> dict[str, str]: ...
    def drop(self, name: str) -> None: ...
    def is_error(self, exc: BaseException) -> bool: ...
    def is_text(self, view: str, column: str) -> bool: ...
    def memory_share(self, share: float) -> Any: ...  # context manager
    def close(self) -> None: ...


class DuckDBEngine:
    """Today's engine: the DuckDB connection of an open data directory."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def relation(self, sql: str, params: dict[str, Any]) -> duckdb.DuckDBPyRelation | None:
        return self.con.sql(sql, params=params or None)

    def fetch_arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def fetch_numpy(self, sql: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return self.con.sql(sql, params=params or None).fetchnumpy()

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        self.con.execute(sql, params or None)

    def batches(self, sql: str, params: dict[str, Any], rows: int) -> pa.RecordBatchReader:
        return self.con.sql(sql, params=params or None).to_arrow_reader(rows)

    def write_parquet(self, sql: str, params: dict[str, Any], path: str) -> None:
        # The path is bound like any value; PARQUET_VERSION v2 as every ubm output.
        self.con.execute(f"COPY ({sql}) TO $ubm_path (FORMAT parquet, PARQUET_VERSION v2)",
                         {**params, "ubm_path": str(path)})

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.con.register(f"arr_{name}", table)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM arr_{name}")

    def drop(self, name: str) -> None:
        # A name is a view over a registered array, or a temp table made by a template.
        kinds = dict(self.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_name = $n",
            {"n": name}).fetchall())
        if kinds.get(name) == "VIEW":
            self.con.execute(f"DROP VIEW IF EXISTS {name}")
        elif name in kinds:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")
        try:
            self.con.unregister(f"arr_{name}")
        except duckdb.Error:
            pass

    def is_error(self, exc: BaseException) -> bool:
        return isinstance(exc, duckdb.Error)

    def register_parquet(self, name: str, path: str) -> dict[str, str]:
        """View ``name`` over a parquet file through the relation API (no path in SQL text);
        returns its column types."""
        note_opened(Path(path))  # a page that fails to read later is traced back to its file
        try:
            rel = self.con.read_parquet(str(path))
        except duckdb.Error as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
        rel.create_view(name, replace=True)
        return dict(zip(rel.columns, (str(t) for t in rel.types)))

    def raw_types(self, view: str) -> dict[str, str]:
        return dict(self.con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {view})").fetchall())

    def is_text(self, view: str, column: str) -> bool:
        return self.raw_types(view)[column] == "VARCHAR"

    @contextmanager
    def memory_share(self, share: float) -> Iterator[None]:
        """For the block: DuckDB gets ``share`` of its memory limit, and purges freed memory in the
        background (else its allocator keeps the pages of a finished query resident: 1.3 GB after
        universal's url interactions at full size); both settings are put back afterwards."""
        limit, threads = self.con.execute("SELECT current_setting('memory_limit'), "
                                          "current_setting('allocator_background_threads')").fetchone()
        size = setting_bytes(str(limit))
        if size:
            self.con.execute("SET memory_limit = $m", {"m": f"{int(size * share) >> 20}MiB"})
        self.con.execute("SET allocator_background_threads = true")
        try:
            yield
        finally:
            if size:
                self.con.execute("SET memory_limit = $m", {"m": f"{size >> 20}MiB"})
            self.con.execute("SET allocator_background_threads = $t", {"t": str(threads).lower() == "true"})

    def close(self) -> None:
        self.con.close()


_UNITS = {"bytes": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def setting_bytes(text: str) -> int | None:
    """Bytes of a DuckDB size setting as ``current_setting`` prints it (``3.7 GiB``); None if unreadable."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", text)
    return int(float(match[1]) * _UNITS[match[2]]) if match and match[2] in _UNITS else None


def array_table(columns: dict[str, np.ndarray | list]) -> pa.Table:
    """An Arrow table of int64 columns (ids, positions, slots) from arrays of one length."""
    return pa.table({k: np.asarray(v, dtype=np.int64) for k, v in columns.items()})


@contextmanager
def temp_arrays(engine: Engine, name: str, columns: dict[str, np.ndarray | list]) -> Iterator[str]:
    """Register int64 arrays as temp view ``name`` for the block, then drop it."""
    engine.register_arrow(name, array_table(columns))
    try:
        yield name
    finally:
        engine.drop(name)


def arrow_to_numpy(table: pa.Table) -> dict[str, np.ndarray]:
    """Columns as numpy arrays the way DuckDB's fetchnumpy gives them: a column with NULLs
    becomes a masked array; timestamps come back as naive datetime64[us]."""
    out: dict[str, np.ndarray] = {}
    for name, col in zip(table.column_names, table.columns):
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp(col.type.unit))
        if pa.types.is_timestamp(col.type) and col.type.unit != "us":
            col = col.cast(pa.timestamp("us"))
        if col.null_count:
            mask = col.is_null().to_numpy(zero_copy_only=False)
            filler = _filler(col.type)
            values = col.fill_null(filler).to_numpy(zero_copy_only=False)
            out[name] = np.ma.masked_array(values, mask=mask)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def _filler(dtype: pa.DataType) -> Any:
    if pa.types.is_timestamp(dtype):
        return pa.scalar(0, dtype)
    if pa.types.is_floating(dtype):
        return 0.0
    if pa.types.is_integer(dtype):
        return 0
    if pa.types.is_boolean(dtype):
        return False
    return pa.scalar(None, dtype)


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"unknown engine '{name}' (choose from {', '.join(ENGINES)})")
    return name


def local_path(path: str | Path) -> bool:
    """True for a plain filesystem path (no scheme such as s3a:// or hdfs://)."""
    text = str(path)
    return "://" not in text or text.startswith("file://")
