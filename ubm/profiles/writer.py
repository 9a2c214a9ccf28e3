"""The float16 column writers behind every recipe: values go into the (memory-mapped) entry
array, or are spooled block by block and written row-wise at the end (recipes that write
full-height blocks only); NaN is refused and values beyond float16's range are clipped and counted.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np

FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504


class Float16OverflowWarning(UserWarning):
    """Some feature values were beyond float16's range and were clipped to +-65504."""


class ColumnWriter:
    """Writes feature values into the (rows x columns) float16 output array.

    Values whose magnitude exceeds 65504 (float16's largest finite value) would become
    inf, which no valid entry may hold: they are clipped to +-65504 and counted
    (``overflow``, per column in ``overflow_by_column``); the export warns with the
    count. Integers above 2048 are rounded to the nearest float16 (a relative error of
    at most 2**-11), as the organisers' float16 output does. NaN is a recipe bug and
    raises ValueError.
    """

    def __init__(self, array: np.ndarray, names: list[str]):
        if array.dtype != np.float16 or array.ndim != 2 or array.shape[1] != len(names):
            raise ValueError(f"writer needs a float16 (rows, {len(names)}) array, got {array.dtype} {array.shape}")
        self.array = array
        self.names = names
        self.progress: Callable[[str], None] | None = None  # per-block lines of a recipe (set by the driver)
        self.overflow = 0
        self.overflow_by_column: dict[str, int] = {}

    @property
    def n_rows(self) -> int:
        return self.array.shape[0]

    def close(self) -> None:
        """Drop the reference to the output. A memory-mapped one is not msync'ed: its pages are
        the file's (readers see them at once), and no other output of ubm waits for the disk
        either; the msync cost 1.7 s at 1 M x 320 for no guarantee the rename does not give."""
        self.array = np.empty((0, len(self.names)), dtype=np.float16)

    def convert(self, values: np.ndarray, col: int) -> np.ndarray:
        """``values`` for columns col.. as this writer stores them (float16; NaN refused, overflow clipped)."""
        values = np.asarray(values)
        if values.dtype.kind == "f" and np.isnan(values).any():
            bad = int(np.isnan(values).any(axis=0).argmax()) if values.ndim == 2 else 0
            raise ValueError(f"recipe produced NaN in column {self.names[col + bad]}")
        big = np.abs(values) > FLOAT16_MAX
        if big.any():
            per_col = big.sum(axis=0) if values.ndim == 2 else np.array([big.sum()])
            for j in np.flatnonzero(per_col):
                name = self.names[col + int(j)]
                self.overflow_by_column[name] = self.overflow_by_column.get(name, 0) + int(per_col[j])
            self.overflow += int(per_col.sum())
            values = np.clip(values, -FLOAT16_MAX, FLOAT16_MAX)
        return values.astype(np.float16)

    def write(self, col: int, values: np.ndarray) -> None:
        """Write a full-height block: ``values`` (rows, k) becomes columns col .. col+k-1."""
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != self.n_rows or col < 0 or col + values.shape[1] > self.array.shape[1]:
            raise ValueError(f"block {values.shape} does not fit at column {col} of {self.array.shape}")
        self.array[:, col:col + values.shape[1]] = self.convert(values, col)

    def scatter(self, rows: np.ndarray, col: int, values: np.ndarray) -> None:
        """Write ``values`` (len(rows), k) into the given rows, columns col .. col+k-1."""
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if col < 0 or col + values.shape[1] > self.array.shape[1]:
            raise ValueError(f"block {values.shape} does not fit at column {col} of {self.array.shape}")
        self.array[np.asarray(rows, dtype=np.int64), col:col + values.shape[1]] = self.convert(values, col)


def warn_overflow(writer: ColumnWriter) -> None:
    if writer.overflow:
        worst = sorted(writer.overflow_by_column.items(), key=lambda kv: -kv[1])[:5]
        warnings.warn(
            f"{writer.overflow} feature value(s) exceeded float16's maximum 65504 and were clipped "
            f"to 65504 (most in: {', '.join(f'{n} ({c})' for n, c in worst)})",
            Float16OverflowWarning, stacklevel=2,
        )


class SpooledColumnWriter(ColumnWriter):
    """A :class:`ColumnWriter` for recipes that write full-height column blocks only (no ``scatter``).

    Writing a column block straight into a row-major memory map touches every page of the
    entry (each row is one page wide), and mapped pages count as the process's memory: at
    1 M clients x 2,000 columns that is 4 GB resident after the first block. So each block is
    converted to float16 (NaN refused, overflow clipped and counted, as in the memory-mapped
    writer) and appended to a spool file of its own under ``spool_dir``; :meth:`close` then
    writes the entry's rows in order, ``chunk_rows`` at a time, from the spooled blocks. The
    bytes written are those the memory-mapped writer would write (later blocks win where
    columns overlap; columns no block wrote stay zero); memory stays at one row chunk.
    """

    def __init__(self, path: Path, n_rows: int, names: list[str], spool_dir: Path, chunk_rows: int = 16384):
        self.names = names
        self.path = Path(path)
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.chunk_rows = max(int(chunk_rows), 1)
        self._n_rows = int(n_rows)
        self.progress = None
        self._parts: list[tuple[int, int, Path]] = []  # (first column, width, spool file)
        self.spooled_bytes = 0
        self.overflow = 0
        self.overflow_by_column = {}

    @property
    def n_rows(self) -> int:
        return self._n_rows

    def write(self, col: int, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != self.n_rows or col < 0 or col + values.shape[1] > len(self.names):
            raise ValueError(f"block {values.shape} does not fit at column {col} of ({self.n_rows}, {len(self.names)})")
        if values.shape[1] == 0:
            return
        part = self.spool_dir / f"{len(self._parts):05d}.f16"
        block = np.ascontiguousarray(self.convert(values, col))
        block.tofile(part)
        self._parts.append((col, values.shape[1], part))
        self.spooled_bytes += block.nbytes

    def scatter(self, rows: np.ndarray, col: int, values: np.ndarray) -> None:
        raise TypeError("SpooledColumnWriter takes full-height blocks only (write), not scatter")

    def close(self) -> None:
        """Write the entry (``.npy`` float16, rows x columns) from the spooled blocks, then drop them."""
        width = len(self.names)
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                  "shape": (self.n_rows, width)}
        handles = {part: open(part, "rb") for _, _, part in self._parts}
        try:
            with open(self.path, "wb") as fh:
                np.lib.format.write_array_header_1_0(fh, header)
                for start in range(0, self.n_rows, self.chunk_rows):
                    rows = min(self.chunk_rows, self.n_rows - start)
                    chunk = np.zeros((rows, width), dtype=np.float16)
                    for col, k, part in self._parts:
                        src = handles[part]
                        src.seek(start * k * 2)
                        chunk[:, col:col + k] = np.fromfile(src, dtype=np.float16, count=rows * k).reshape(rows, k)
                    chunk.tofile(fh)
        finally:
            for src in handles.values():
                src.close()
        for _, _, part in self._parts:
            part.unlink(missing_ok=True)
        self._parts = []
