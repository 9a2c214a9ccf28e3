"""Bound parameter values of the SQL templates: each declared type's converter, with the range
checks that keep a value DuckDB cannot hold (a BIGINT beyond int64, an infinite DOUBLE, text
that is not UTF-8) from failing far from the option that gave it."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Callable

import numpy as np


class OutOfRange(ValueError):
    """A value of the right kind that the declared SQL type cannot hold; the message says why."""


def _to_int(v: Any, bits: int = 64) -> int:
    """A whole number that fits a signed ``bits``-bit integer (BIGINT: 64, INTEGER: 32); DuckDB
    would otherwise fail far from the option that gave it, or Python overflow while binding."""
    if isinstance(v, bool):
        raise ValueError("boolean")
    if isinstance(v, (int, np.integer)):
        n = int(v)
    elif isinstance(v, str) and re.fullmatch(r"[-+]?\d{1,100}", v.strip()):
        n = int(v.strip())
    else:
        raise ValueError(v)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not low <= n <= high:
        raise OutOfRange(f"outside the int{bits} range {low}..{high}")
    return n


def _to_timestamp(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v.strip())
    raise ValueError(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in {"true", "false", "1", "0"}:
        return v.lower() in {"true", "1"}
    raise ValueError(v)


def _to_list(conv: Callable[[Any], Any]) -> Callable[[Any], list]:
    def convert(v: Any) -> list:
        if isinstance(v, str):
            v = [x for x in v.split(",") if x.strip()]
        if isinstance(v, np.ndarray):
            v = v.tolist()
        return [conv(x) for x in v]
    return convert


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(v)
    value = float(v)
    if not math.isfinite(value):  # "1e400", "inf", "nan": no DOUBLE a query could mean
        raise OutOfRange("not a finite number")
    return value


def _to_text(v: Any) -> str:
    text = v if isinstance(v, str) else str(v)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 on the command line (surrogates)
        raise OutOfRange("not valid UTF-8 text") from None
    return text


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "BIGINT": _to_int,
    "INTEGER": lambda v: _to_int(v, bits=32),
    "DOUBLE": _to_float,
    "VARCHAR": _to_text,
    "TIMESTAMP": _to_timestamp,
    "DATE": lambda v: _to_timestamp(v).date(),
    "BOOLEAN": _to_bool,
    "BIGINT[]": _to_list(_to_int),
}
