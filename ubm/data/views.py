"""The typed views of a data directory, for every engine (docs/data.md §2).

One plan for all engines: each raw column's type is sorted into a category, the column's
contract kind (:data:`ubm.contract.TABLE_COLUMNS`) and that category give its form
(``id``, ``ts_native``, ``ts_text``, ``vec_list``, ``vec_text``), a wrong type is refused by
name, and the SQL of each form is a macro with one body per engine (``sql/macros/views.sql``).
An engine supplies only what is its own: how it reads a parquet file as ``raw_<view>``
(:meth:`register_parquet`, returning the raw column types) and its SQL dialect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ubm.contract import TABLE_COLUMNS, VECTOR_LEN
from ubm.data.templating import macro
from ubm.errors import DataError

_DUCKDB_INTEGERS = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
                    "UTINYINT", "HUGEINT"}
_SPARK_CATEGORY = {"LongType": "int", "IntegerType": "int", "ShortType": "int", "ByteType": "int",
                   "DecimalType": "int", "StringType": "text", "TimestampType": "time",
                   "TimestampNTZType": "time", "DateType": "time", "ArrayType": "list"}


def _duckdb_category(raw_type: str) -> str:
    if raw_type in _DUCKDB_INTEGERS:
        return "int"
    if raw_type == "VARCHAR":
        return "text"
    if raw_type.endswith("]"):
        return "list"
    if raw_type.startswith("TIMESTAMP") or raw_type == "DATE":
        return "time"
    return "other"


# dialect -> the category of one of its raw type names ("int", "text", "time", "list", "other").
CATEGORY: dict[str, Callable[[str], str]] = {
    "duckdb": _duckdb_category,
    "spark": lambda raw_type: _SPARK_CATEGORY.get(raw_type, "other"),
}
FORMS: dict[tuple[str, str], str] = {  # (contract kind, raw category) -> form
    ("id", "int"): "id",
    ("ts", "time"): "ts_native", ("ts", "text"): "ts_text",
    ("vec", "list"): "vec_list", ("vec", "text"): "vec_text",
}
WANT = {"id": "an integer", "ts": "text YYYY-MM-DD HH:MM:SS or a timestamp",
        "vec": "text like '[ 12 201 ...]' or a list of 16 integers"}


def form_of(kind: str, raw_type: str, dialect: str) -> str | None:
    """The form of a column of contract ``kind`` stored as ``raw_type``; None: not castable."""
    return FORMS.get((kind, CATEGORY[dialect](raw_type)))


def plan_columns(path: Path | str, columns: dict[str, str], raw_types: dict[str, str],
                 dialect: str) -> list[tuple[str, str]]:
    """(column, form) of each contract column; a missing column or a wrong type is a DataError
    naming the file, the column and what was found."""
    plan = []
    for column, kind in columns.items():
        if column not in raw_types:
            raise DataError(f"{path}: missing column '{column}' (found: {', '.join(raw_types)})")
        form = form_of(kind, raw_types[column], dialect)
        if form is None:
            raise DataError(f"{path}: column '{column}' has type {raw_types[column]}, expected {WANT[kind]}")
        plan.append((column, form))
    return plan


def register_table(engine: Any, view: str, path: Path | str, columns: dict[str, str]) -> None:
    """``raw_<view>`` over the parquet file and the typed view ``<view>``, on any engine."""
    raw_types = engine.register_parquet(f"raw_{view}", str(path))
    plan = plan_columns(path, columns, raw_types, engine.dialect)
    engine.execute(macro("views", "typed_view")(view, plan, engine.dialect, VECTOR_LEN), {})


def explain_cast_error(data: Any) -> DataError | None:
    """A DataError naming file, column and value when a typed view of ``data`` holds a value its
    cast fails on (the first found), else None."""
    engine = data.engine
    for view, path in data.paths.items():
        columns = TABLE_COLUMNS.get(view)
        if not columns:
            continue
        raw_types = engine.raw_types(f"raw_{view}")
        for column, kind in columns.items():
            if kind == "id" or column not in raw_types:
                continue
            form = form_of(kind, raw_types[column], engine.dialect)
            query = macro("views", "first_unparseable")(view, column, form, engine.dialect, VECTOR_LEN) \
                if form in ("ts_text", "vec_text", "vec_list") else ""
            if not query.strip():
                continue
            rows = engine.fetch_arrow(query, {}).column("value").to_pylist()
            if rows:
                what = "timestamp (expected YYYY-MM-DD HH:MM:SS)" if kind == "ts" else \
                    f"vector of {VECTOR_LEN} integers 0..255"
                return DataError(f"{path}: column '{column}' has a value that is not a {what}: {rows[0]!r}")
    return None
