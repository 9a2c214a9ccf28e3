"""Open a data directory on the engine its settings name: the one door every stage uses.

It sits above both engines' openers (:func:`ubm.data.io.open_duckdb_data`,
:func:`ubm.data.spark.open_spark_data`), so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ubm.data.io import Data, Settings, open_duckdb_data


def open_data(
    data_dir: Path | str,
    *,
    window: Literal["all", "input"] = "all",
    settings: Settings = Settings(),
    require: tuple[str, ...] = (),
    lists: bool = True,
) -> Data:
    """The typed views of ``data_dir`` (docs/data.md), on DuckDB or, with
    ``settings.engine == "spark"``, in a SparkSession; see :func:`ubm.data.io.open_duckdb_data`
    for ``window``, ``require`` and ``lists``."""
    if settings.engine == "spark":
        from ubm.data.spark import open_spark_data  # pyspark only when asked for
        return open_spark_data(data_dir, window=window, settings=settings, require=require, lists=lists)
    return open_duckdb_data(data_dir, window=window, settings=settings, require=require, lists=lists)
