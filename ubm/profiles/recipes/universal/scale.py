"""Scaling of the ``universal`` SQL blocks: log1p where asked, centre, divide by spread, clip."""

from __future__ import annotations

import numpy as np


def standardise(x: np.ndarray, *, log: bool | np.ndarray, std_floor: float, clip: float,
                empty: np.ndarray | float | None = None) -> np.ndarray:
    """log1p (all columns, or those where ``log`` is True), then per-column (x - centre) / max(std, floor), clipped.

    ``centre`` is the column mean when ``empty`` is None, else ``empty`` (raw value of a client without
    events; log1p is applied to it like to the column), so such a client becomes the zero vector."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    log_cols = np.broadcast_to(np.asarray(log, dtype=bool), (x.shape[1],))
    if log_cols.any():
        x[:, log_cols] = np.log1p(np.maximum(x[:, log_cols], 0.0))
    if len(x) == 0:
        return x.astype(np.float32)
    if empty is None:
        centre = x.mean(axis=0)
    else:
        centre = np.array(np.broadcast_to(np.asarray(empty, dtype=np.float64), (x.shape[1],)))
        centre[log_cols] = np.log1p(np.maximum(centre[log_cols], 0.0))
    std = x.std(axis=0)
    x -= centre
    x /= np.maximum(std, std_floor)
    np.clip(x, -clip, clip, out=x)
    return x.astype(np.float32)
