"""Guards that several stages apply to the same thing, written once (ground floor: numpy only).

* :func:`find_duplicates`: ids listed more than once (relevant clients, label lists, an
  entry's client ids), however each caller words its refusal or report line;
* :func:`out_of_memory`: what to tell the user when DuckDB runs out of memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Duplicates:
    """Values of an id array listed more than once."""

    distinct: int  # how many values appear more than once
    extra: int  # rows beyond the first of each such value
    example: int  # the smallest of them


def find_duplicates(ids: np.ndarray) -> Duplicates | None:
    """The duplicated values of ``ids``, or None when every value appears once."""
    uniq, counts = np.unique(np.asarray(ids), return_counts=True)
    if len(uniq) == len(ids):
        return None
    dup = uniq[counts > 1]
    return Duplicates(len(dup), int(len(ids) - len(uniq)), int(dup[0]))


def out_of_memory(exc: BaseException) -> str:
    """The one-line message of a DuckDB out-of-memory error, with what to change."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"DuckDB ran out of memory ({first}); raise --memory-limit or set --temp-dir on a disk with room"
