"""The Spark engine: the same templates and typed views on Apache Spark (``pip install 'ubm[spark]'``).

``open_spark_data`` builds the views of :mod:`ubm.data.io` in a SparkSession (raw files as
``raw_<table>``, typed views casting the published encodings, arrays from ``.npy`` files);
templates are transpiled from DuckDB's SQL (:mod:`ubm.data.dialect`) and their parameters
bound as Spark named parameters (``:name``), never pasted into the text.

Settings parity needs are set here, not left to the user: the session time zone is UTC,
``TIMESTAMP`` means a timestamp without time zone (as in DuckDB and the published files),
and parquet timestamps are written as INT64 microseconds.

Outputs: a query's rows are written by Spark's executors to ``<path>.parts/``; on a local
filesystem the part files are then streamed, row group by row group, into the one parquet
file ``<path>`` that the rest of ubm reads (the rows never pass through the driver whole).
"""

from __future__ import annotations

import io as _io
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ubm.contract import PROPENSITY_TASKS, TABLE_COLUMNS
from ubm.data.engine import arrow_to_numpy, local_path
from ubm.data.io import Data, DataError, Settings, fingerprint_inputs, input_files, load_popularity
from ubm.data import views
from ubm.layout import array_files, label_list_file, popularity_file, table_files

INSTALL_HINT = "the Spark engine needs pyspark: pip install 'ubm[spark]' (and Java 17)"

# What parity with DuckDB needs; a --spark-conf of the same key is refused.
FIXED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "true",
}
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "2g",
}


def _pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DataError(INSTALL_HINT) from exc
    return SparkSession


def session(master: str | None = None, conf: dict[str, str] | None = None):
    """The SparkSession (an existing one in this process is reused, with ubm's settings)."""
    spark_session = _pyspark()
    conf = dict(conf or {})
    for key in FIXED_CONF:
        if key in conf and conf[key] != FIXED_CONF[key]:
            raise DataError(f"--spark-conf {key}={conf[key]}: ubm sets {key}={FIXED_CONF[key]} for parity")
    master = master or "local[2]"
    builder = spark_session.builder.appName("ubm")
    if master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = builder.master(master)
        if master.startswith("local"):
            cores = re.fullmatch(r"local\[(\d+)\]", master)
            conf.setdefault("spark.sql.shuffle.partitions", str(2 * int(cores[1])) if cores else "4")
    for key, value in {**DEFAULT_CONF, **conf, **FIXED_CONF}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not master.startswith("sc://"):
        spark.sparkContext.setLogLevel("ERROR")
    for key, value in {**FIXED_CONF, **{k: v for k, v in conf.items() if k.startswith("spark.sql.")}}.items():
        spark.conf.set(key, value)  # a reused session keeps its old SQL settings otherwise
    return spark


class SparkEngine:
    """Templates on a SparkSession; temp views are per session and dropped by :meth:`close`."""

    name = "spark"
    dialect = "spark"

    def __init__(self, spark) -> None:
        self.spark = spark
        self.views: set[str] = set()
        self.cached: set[str] = set()

    def relation(self, sql: str, params: dict[str, Any]):
        if sql.lstrip().upper().startswith(("CACHE TABLE", "CREATE")):
            self.execute(sql, params)
            return None
        return self.spark.sql(sql, args=_args(params))

    def fetch_arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        return self.spark.sql(sql, args=_args(params)).toArrow()

    def batches(self, sql: str, params: dict[str, Any], rows: int) -> pa.RecordBatchReader:
        # Spark hands a query's result to the driver as one Arrow table; the batches bound
        # what the caller converts at a time, not what the driver holds.
        table = self.fetch_arrow(sql, params)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=rows))

    def fetch_numpy(self, sql: str, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return arrow_to_numpy(self.fetch_arrow(sql, params))

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        if m := re.match(r"\s*CACHE TABLE (\w+)", sql):
            self.cached.add(m[1])
            self.views.add(m[1])
        elif m := re.match(r"\s*CREATE (?:OR REPLACE )?TEMPORARY VIEW (\w+)", sql):
            self.views.add(m[1])
        self.spark.sql(sql, args=_args(params))

    def write_parquet(self, sql: str, params: dict[str, Any], path: str) -> None:
        df = self.spark.sql(sql, args=_args(params))
        if not local_path(path):
            df.write.mode("overwrite").parquet(path)
            return
        parts = Path(f"{path}.parts")
        shutil.rmtree(parts, ignore_errors=True)
        try:
            df.write.mode("overwrite").parquet(str(parts))
            merge_parts(parts, Path(path), df.schema)
        finally:
            shutil.rmtree(parts, ignore_errors=True)

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)
        self.views.add(name)

    def register_parquet(self, name: str, path: str) -> dict[str, str]:
        try:
            df = self.spark.read.parquet(path)
        except Exception as exc:  # noqa: BLE001 - Spark raises several types for unreadable files
            raise DataError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})") from exc
        df.createOrReplaceTempView(name)
        self.views.add(name)
        return self.raw_types(name)

    def raw_types(self, view: str) -> dict[str, str]:
        return {f.name: type(f.dataType).__name__ for f in self.spark.table(view).schema.fields}

    def drop(self, name: str) -> None:
        if name in self.cached:
            self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
            self.cached.discard(name)
        self.spark.catalog.dropTempView(name)
        self.views.discard(name)

    def is_error(self, exc: BaseException) -> bool:
        from pyspark.errors import PySparkException
        return isinstance(exc, PySparkException)

    def is_text(self, view: str, column: str) -> bool:
        return self.raw_types(view)[column] == "StringType"

    @contextmanager
    def memory_share(self, share: float) -> Iterator[None]:
        """Spark's memory is set by its own configuration (--spark-conf): nothing to lower here."""
        yield

    def close(self) -> None:
        for name in sorted(self.views):
            self.drop(name)


def _args(params: dict[str, Any]) -> dict[str, Any] | None:
    return dict(params) or None


def merge_parts(parts: Path, path: Path, schema) -> None:
    """Stream Spark's part files, in order, into one parquet file (row group by row group)."""
    files = sorted(parts.glob("part-*.parquet"))
    writer = None
    try:
        for file in files:
            source = pq.ParquetFile(file)
            for i in range(source.num_row_groups):
                group = source.read_row_group(i)
                if writer is None:
                    writer = pq.ParquetWriter(path, group.schema, version="2.6")
                writer.write_table(group)
        if writer is None:  # no rows at all: an empty file with the query's columns
            from pyspark.sql.pandas.types import to_arrow_schema
            writer = pq.ParquetWriter(path, to_arrow_schema(schema), version="2.6")
    finally:
        if writer is not None:
            writer.close()


# --- files: local paths or anything Spark's Hadoop filesystem reads (s3a://, hdfs://) ------

def _exists(spark, path: str) -> bool:
    if local_path(path):
        return Path(path.removeprefix("file://")).is_file()
    jvm = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return bool(hpath.getFileSystem(spark._jsc.hadoopConfiguration()).exists(hpath))


def _read_npy(spark, path: str) -> np.ndarray:
    if local_path(path):
        raw = Path(path.removeprefix("file://")).read_bytes()
    else:
        raw = spark.read.format("binaryFile").load(path).select("content").head()[0]
    try:
        array = np.load(_io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: not a loadable .npy file ({exc})") from exc
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{path}: expected a 1-D integer array, found {array.dtype} {array.shape}")
    return array.astype(np.int64, copy=False)


def open_spark_data(data_dir: Path | str, *, window: str = "all", settings: Settings = Settings(),
                    require: tuple[str, ...] = (), lists: bool = True) -> Data:
    """The views of :func:`ubm.data.opener.open_data`, in a SparkSession; ``lists=False`` leaves
    out the views of ``target/*.npy`` as there. Local inputs are fingerprinted first."""
    root = str(data_dir).rstrip("/")
    if local_path(root) and not Path(root).is_dir():
        raise DataError(f"data directory not found: {root}")
    spark = session(settings.master, dict(settings.spark_conf))
    engine = SparkEngine(spark)
    try:
        return _open(engine, root, window, require, lists)
    except BaseException:
        engine.close()
        raise


def _open(engine: SparkEngine, root: str, window: str, require: tuple[str, ...],
          lists: bool) -> Data:
    spark = engine.spark
    inputs: dict[str, dict] = {}
    if local_path(root):
        from ubm import provenance
        provenance.finish_split(Path(root))  # as open_data: renames first, then fingerprints
        inputs = fingerprint_inputs(Path(root), input_files(Path(root), window, lists))
    tables = {view: f"{root}/{rel}" for view, rel in table_files(window).items()}
    created: dict[str, Path] = {}
    for view, path in tables.items():
        if _exists(spark, path):
            views.register_table(engine, view, path, TABLE_COLUMNS[view])
            created[view] = Path(path) if local_path(path) else path  # type: ignore[assignment]
    files = array_files(lists)
    arrays = {view: f"{root}/{files[view]}" for view in ("relevant_clients", "active_clients") if view in files}
    for view, path in arrays.items():
        if _exists(spark, path):
            ids = _read_npy(spark, path)
            engine.register_arrow(view, pa.table({"pos": np.arange(len(ids), dtype=np.int64), "client_id": ids}))
            created[view] = Path(path)
    for task in PROPENSITY_TASKS if lists else ():
        path = f"{root}/{label_list_file(task)}"
        if _exists(spark, path):
            values = _read_npy(spark, path)
            popularity = load_popularity(Path(f"{root}/{popularity_file(task)}"), len(values))
            engine.register_arrow(f"label_list_{task}", pa.table({
                "pos": np.arange(len(values), dtype=np.int64), "value": values, "popularity": popularity}))
            created[f"label_list_{task}"] = Path(path)
    expected = {**tables, **arrays}
    for view in require:
        if view not in created:
            where = expected.get(view, f"{root}/{label_list_file(view.removeprefix('label_list_'))}")
            raise DataError(f"missing file for '{view}': {where}")
    return Data(Path(root), None, window, created, engine=engine, inputs=inputs)


# --- errors -------------------------------------------------------------------------------

def explain_spark_error(data: Data, exc: Exception) -> Exception:
    """A Spark failure as a DataError naming file, column and value where a typed view's cast
    failed; other Spark errors keep their first line."""
    if not data.engine.is_error(exc):
        return exc
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return views.explain_cast_error(data) or DataError(f"spark: {first}")
