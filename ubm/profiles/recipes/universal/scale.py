"""Scaling of the ``universal`` SQL blocks: log1p where asked, centre, divide by spread, clip."""

from __future__ import annotations

from typing import Callable

import numpy as np


Moments = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation (what a profile model keeps of a column)."""
    return x.mean(axis=0), x.std(axis=0)


def standardise(x: np.ndarray, *, log: bool | np.ndarray, std_floor: float, clip: float,
                empty: np.ndarray | float | None = None, fitted: Moments = moments) -> np.ndarray:
    """log1p (all columns, or those where ``log`` is True), then per-column (x - centre) / max(std, floor), clipped.

    ``centre`` is the column mean when ``empty`` is None, else ``empty`` (raw value of a client without
    events; log1p is applied to it like to the column), so such a client becomes the zero vector.
    ``fitted`` gives the columns' mean and std from the logged values: computed here, or those
    a profile model recorded when it was fitted (:mod:`ubm.profiles.state`)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    log_cols = np.broadcast_to(np.asarray(log, dtype=bool), (x.shape[1],))
    if log_cols.any():
        x[:, log_cols] = np.log1p(np.maximum(x[:, log_cols], 0.0))
    if len(x) == 0:
        return x.astype(np.float32)
    mean, std = fitted(x)
    if empty is None:
        centre = mean
    else:
        centre = np.array(np.broadcast_to(np.asarray(empty, dtype=np.float64), (x.shape[1],)))
        centre[log_cols] = np.log1p(np.maximum(centre[log_cols], 0.0))
    x -= centre
    x /= np.maximum(std, std_floor)
    np.clip(x, -clip, clip, out=x)
    return x.astype(np.float32)


GROUP = 16  # columns standardised together; a block is never held whole in float64


def column_groups(width: int, group: int = GROUP) -> list[tuple[int, int]]:
    """``[start, stop)`` column ranges of at most ``group`` columns covering ``width``.

    Each column's mean and std come out bit for bit as when the whole block is standardised at
    once: NumPy reduces a 2-D array along axis 0 row after row, the same for every column
    whatever the width. A one-column array is the exception (NumPy sums it pairwise, which
    rounds differently), so a last group of one column joins the group before it.
    """
    bounds = [(s, min(s + group, width)) for s in range(0, width, group)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], width)]
    return bounds
