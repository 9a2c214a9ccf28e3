"""Which input file is damaged, when a query failed without saying.

DuckDB reads a parquet file's pages only when a query needs them, and a damaged page fails
with a message that names no file (``TProtocolException: Invalid data``, ``don't know what
type``) or names only a temporary path. Every parquet file a view is opened over is noted
here (:func:`note_opened`); when a read fails, the command line (:func:`ubm.clikit.explain`)
asks :func:`find_damaged` which of them cannot be read through, so the message can name it.
The search costs a full read of the noted files, and only ever runs after a failure.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

_OPENED: dict[Path, None] = {}  # in the order opened; a dict as an ordered set


def note_opened(path: Path | str) -> None:
    """Remember a parquet file that a view reads (its damage is found by :func:`find_damaged`)."""
    _OPENED[Path(path)] = None


def forget() -> None:
    """Start a new command: only the files it opens are suspects of its failures."""
    _OPENED.clear()


def opened() -> list[Path]:
    return list(_OPENED)


def is_read_failure(exc: BaseException) -> bool:
    """A DuckDB error of the kind a damaged file gives: an I/O or invalid-input error, or
    DuckDB's bare Error (the parquet reader's own thrift and decoding failures)."""
    return isinstance(exc, (duckdb.IOException, duckdb.InvalidInputException)) or type(exc) is duckdb.Error


def find_damaged(candidates: list[Path] | None = None) -> tuple[Path, str] | None:
    """The first of ``candidates`` (default: every noted file) that DuckDB cannot read through,
    every page of every column, with the first line of its error; None when all read."""
    for path in opened() if candidates is None else candidates:
        if not path.is_file():
            continue
        reason = _read_through(path)
        if reason is not None:
            return path, reason
    return None


def _read_through(path: Path) -> str | None:
    con = duckdb.connect()
    try:
        reader = con.sql("SELECT * FROM read_parquet($p)", params={"p": str(path)}).to_arrow_reader(1 << 16)
        for _ in reader:  # every page of every column is decoded, then dropped
            pass
        return None
    except (duckdb.Error, OSError, pa.ArrowException) as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    finally:
        con.close()
