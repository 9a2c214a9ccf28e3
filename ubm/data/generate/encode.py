"""Text columns exactly as published: timestamps and numpy-printed 16-d vectors, built as
fixed-width byte rows through lookup tables (no per-row Python)."""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pyarrow as pa

from ubm.contract import VECTOR_LEN
from ubm.data.generate.params import SECONDS_PER_DAY, START_DATE


def string_array(fixed: np.ndarray) -> pa.Array:
    """(n, w) uint8 array of ASCII -> arrow string array of n strings of width w."""
    n, w = fixed.shape
    if n * w >= 2**31:
        raise ValueError("chunk too large for 32-bit string offsets")
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(fixed).tobytes()))


# " %3d" for every byte value: numpy's text of a uint8 vector with a 3-digit value in it.
_VALUE_TEXT = np.frombuffer(
    "".join(f" {v:3d}" for v in range(256)).encode("ascii"), dtype=np.uint8).reshape(256, 4)


def format_vectors(vec: np.ndarray) -> pa.Array:
    """(n, 16) uint8 -> strings exactly as numpy prints them, e.g. '[ 12 201   3 ...]'."""
    n = vec.shape[0]
    out = np.empty((n, 4 * VECTOR_LEN + 1), dtype=np.uint8)
    out[:, :-1] = _VALUE_TEXT[vec.astype(np.intp)].reshape(n, 4 * VECTOR_LEN)
    out[:, 0] = ord("[")
    out[:, -1] = ord("]")
    return string_array(out)


class TimeFormatter:
    """Seconds since START_DATE -> 'YYYY-MM-DD HH:MM:SS' via a day table and a time-of-day table."""

    def __init__(self, days: int):
        self.day_text = np.frombuffer("".join(
            (START_DATE + _dt.timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(days + 1)
        ).encode("ascii"), dtype=np.uint8).reshape(days + 1, 11)
        s = np.arange(SECONDS_PER_DAY)
        h, m, sec = s // 3600, (s // 60) % 60, s % 60
        tod = np.empty((SECONDS_PER_DAY, 8), dtype=np.uint8)
        for col, val in ((0, h), (3, m), (6, sec)):
            tod[:, col] = 48 + val // 10
            tod[:, col + 1] = 48 + val % 10
        tod[:, 2] = tod[:, 5] = ord(":")
        self.time_text = tod

    def __call__(self, secs: np.ndarray) -> pa.Array:
        out = np.empty((secs.shape[0], 19), dtype=np.uint8)
        out[:, :11] = self.day_text[secs // SECONDS_PER_DAY]
        out[:, 11:] = self.time_text[secs % SECONDS_PER_DAY]
        return string_array(out)
