"""Error texts of ``ubm import`` for source files DuckDB cannot read (docs/import.md §8).

DuckDB's own CSV errors are many lines (the line number, the original line, what is wrong, a
list of reader settings and possible fixes). The user needs one line: the file, the line, what
is wrong there and the mapping key that would fix it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from ubm.errors import DataError
from ubm.prepare.import_config import Source
from ubm.prepare.import_sql import query

_LINE = re.compile(r"CSV Error on Line: (\d+)")
_ORIGINAL = re.compile(r"^Original Line: (.*)$", re.MULTILINE)
_FILE = re.compile(r"^\s*file = (.*)$", re.MULTILINE)
_SNIFF = re.compile(r'Error when sniffing file "([^"]*)"')
_MISSING = re.compile(r"Columns with names: (.*) do not exist")
_QUOTED = re.compile(r'"([^"]+)"')
_CONVERTING = re.compile(r'Error when converting column "([^"]+)"')


def check_not_empty(source: Source) -> None:
    """A source file of zero bytes has no header and no row: name it instead of 'no column u'."""
    if source.format == "parquet":
        return
    for path in source.paths:
        if Path(path).stat().st_size == 0:
            raise DataError(f"{path}: the file is empty (source {source.name!r}); remove it from "
                            f"sources.{source.name}.path or give it its header")


def _what(text: str, original: re.Match | None) -> str:
    """The line of DuckDB's message that says what is wrong: the last line of the block after
    'Original Line' (the original line itself sometimes starts that block on a line of its own)."""
    lines = text.splitlines()
    if original is not None:
        start = [i for i, line in enumerate(lines) if line.startswith("Original Line:")][0] + 1
        block = []
        for line in lines[start:]:
            if not line.strip() or line.startswith("Possible"):
                break
            block.append(line.strip())
        if block:
            return block[-1]
    return lines[0].removeprefix("Invalid Input Error: ").strip()


def _hint(text: str, source: Source) -> str:
    key = f"sources.{source.name}"
    if "unicode" in text.lower():
        return (f"; set {key}.encoding to the file's encoding: 'latin-1', 'cp1252' (Excel on Windows), "
                "'utf-16' or another Python codec name")
    if "not latin-1 encoded" in text:
        return (f"; bytes 0x80-0x9f are Windows quotes and dashes there: set {key}.encoding = 'cp1252'")
    converting = _CONVERTING.search(text)
    if converting and source.format == "csv":
        return (f"; DuckDB typed column {converting[1]!r} from the first lines: set {key}.read_as_text = "
                f"[{converting[1]!r}] to read it as text (docs/import.md §2)")
    if "Expected Number of Columns" in text:
        return f"; a field holding {source.delimiter!r} must be quoted with {key}.quote"
    return ""


def diagnose(con: duckdb.DuckDBPyConnection, source: Source, exc: Exception, params: dict[str, Any],
             filters: list[str] = ()) -> DataError:
    """The error for a source that failed to read. When DuckDB could not even detect a CSV's
    layout (a ragged line within its sample), read it again trusting the first line: that read
    names the line that breaks it."""
    missing = _MISSING.search(str(exc))
    if missing and len(source.paths) > 1:
        return _lacking(con, source, _QUOTED.findall(missing[1]), params) or read_error(source, exc)
    if source.format == "csv" and _SNIFF.search(str(exc)):
        sql, values = query("diagnose", {}, params)
        try:
            con.execute(sql, values).fetchall()
        except duckdb.Error as again:
            if _LINE.search(str(again)):
                return read_error(source, again)
    return read_error(source, exc, filters)


def _lacking(con: duckdb.DuckDBPyConnection, source: Source, names: list[str],
             params: dict[str, Any]) -> DataError | None:
    """The first file of a multi-file source whose own header lacks a mapped column (one daily
    file with another header or delimiter), found by reading each header (zero rows)."""
    structure = {"csv": source.format == "csv", "json": source.format == "json", "typed": False, "filters": []}
    for path in source.paths:
        sql, values = query("columns", structure, params | {"paths": [path], "text_columns": {}})
        try:
            columns = [d[0] for d in con.execute(sql, values).description]
        except duckdb.Error as exc:
            return read_error(source, exc)
        lacked = [n for n in names if n not in columns]
        if lacked:
            return DataError(f"{path}: has no column {', '.join(map(repr, lacked))} (source {source.name!r}; its "
                             f"columns: {', '.join(columns)}); every file of a source needs the mapped columns, "
                             f"with delimiter {source.delimiter!r}")
    return None


def read_error(source: Source, exc: Exception, filters: list[str] = ()) -> DataError:
    """One line for a source DuckDB could not read: file, line, what is wrong, a fix; an error
    that names no line may come from the row filters evaluated while reading (a bad regex)."""
    text = str(exc)
    sniff = _SNIFF.search(text)
    if sniff:
        return DataError(f"{sniff[1]}: source {source.name!r} cannot be read as CSV with delimiter "
                         f"{source.delimiter!r}, quote {source.quote!r} and encoding {source.encoding!r} (its lines "
                         f"do not have one number of fields){_hint(text, source)}")
    line, original, file = _LINE.search(text), _ORIGINAL.search(text), _FILE.search(text)
    where = file[1].strip() if file else ", ".join(source.paths[:3])
    if line is None:
        filters = f" and evaluating its row filters {' AND '.join(filters)}" if filters else ""
        return DataError(f"{where}: reading source {source.name!r} as {source.format}{filters} failed: "
                         f"{text.splitlines()[0]}{_hint(text, source)}")
    # a wrong encoding makes DuckDB show the header as the original line: leave it out then
    shown = f" ({original[1][:120]!r})" if original and "unicode" not in text.lower() else ""
    return DataError(f"{where}: line {line[1]}: {_what(text, original)}{shown} (source {source.name!r})"
                     f"{_hint(text, source)}")


def _format_hint(source: Source) -> str:
    """For a text time under auto: the format key to set."""
    if source.timestamp_format != "auto":
        return ""
    return (f"; auto reads ISO text (2019-10-01 17:30:00) and time columns: set sources.{source.name}."
            "timestamp_format to a strptime format for others, e.g. '%m/%d/%Y %I:%M %p' (docs/import.md §4)")


def _epoch_hint(value: str) -> str:
    """A hint naming the epoch unit a whole number's digit count suggests (10: s, 13: ms, 16: us)."""
    digits = value.lstrip("-").split(".")[0]
    units = {9: "epoch_s", 10: "epoch_s", 12: "epoch_ms", 13: "epoch_ms", 15: "epoch_us", 16: "epoch_us"}
    unit = units.get(len(digits))
    return f"; {len(digits)} digits look like {unit}" if digits.isdigit() and unit else ""


def time_hint(value: str, source: Source) -> str:
    """What a time that does not parse suggests: an epoch unit by its digits, or a format."""
    return _epoch_hint(value) or _format_hint(source)
