"""Small shared helpers: atomic writes (of what ubm owns, see :mod:`ubm.ownership`), timing."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator

import numpy as np

# Re-exported: the ownership marks are what every atomic write below relies on.
from ubm.ownership import (OLD_SLOT, PNG_SIGNATURE, OutputError, Scratch, check_file_out, check_replaceable,  # noqa: F401
                           check_writable_parent, clean_litter, file_target, is_temp_name, pid_alive, through_link,
                           write_manifest, writing)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange)
    return rc == 0


@contextmanager
def atomic_path(path: Path, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary path (in a marked scratch beside ``path``); it is renamed over
    ``path`` only on success.

    An existing file is replaced (the option names it); a directory is refused before anything
    is written; a symlink is written through to its target, the link kept.
    """
    path = Path(path)
    real = file_target(path, option)
    real.parent.mkdir(parents=True, exist_ok=True)
    clean_litter(real.parent)
    with writing(path):  # a failure that names no file (a full disk) names this output
        scratch = Scratch.beside(real)
        try:
            yield scratch.slot
            os.replace(scratch.slot, real)
        finally:
            scratch.remove()


@contextmanager
def atomic_dir(path: Path, kind: str, option: str = "--out", derived: Collection[str] = ()) -> Iterator[Path]:
    """Yield a temporary directory; it replaces ``path`` as a whole only on success, with a
    manifest of ``kind`` listing what it holds (:mod:`ubm.ownership`).

    An existing ``path`` that is not an empty directory or ubm's output of ``kind`` is refused
    untouched, before the work and again just before the swap. A symlink is written through:
    its target directory is replaced, the link kept. The swap is one atomic exchange where the
    system offers it; elsewhere the old directory is first moved into the marked scratch, and
    :func:`clean_litter` puts it back if the process dies between the two renames.
    ``derived``: what later stages made inside ``path`` that goes with it (check_replaceable).
    """
    path = Path(path)
    check_replaceable(path, kind, option, derived)
    real = through_link(path, option)
    check_writable_parent(real, option)
    real.parent.mkdir(parents=True, exist_ok=True)
    clean_litter(real.parent)
    with writing(path):  # a failure that names no file (a full disk) names this output
        scratch = Scratch.beside(real)
    tmp = scratch.slot
    try:
        with writing(path):
            tmp.mkdir()
            yield tmp
            write_manifest(tmp, kind)
        check_replaceable(path, kind, option, derived)  # nothing of the user's appeared meanwhile
        with writing(path):
            if real.exists() and _exchange(tmp, real):
                pass  # the scratch now holds the previous contents; removed below
            else:
                if real.exists():
                    os.replace(real, scratch.path / OLD_SLOT)
                os.replace(tmp, real)
    finally:
        scratch.remove()


def save_npy(path: Path, array: np.ndarray) -> None:
    """np.save under a temporary name, renamed when complete."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


@dataclass
class Timer:
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Ask glibc to keep freed blocks up to ``limit_bytes`` instead of returning them to the OS.

    Each CPU training step frees and re-allocates tens of MB of activations and gradients;
    by default glibc serves those with mmap/munmap, so every step page-faults them in again
    (about a third of the CPU time went to the kernel). Keeping them in the heap makes a
    step about 20 % faster and changes no number. Returns False where this is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, limit_bytes)) and bool(libc.mallopt(m_trim_threshold, limit_bytes))
    except (OSError, AttributeError):
        return False


def long_to_dense(pos: np.ndarray, slot: np.ndarray, values: np.ndarray | float, n_rows: int, width: int,
                  dtype: type = np.float64) -> np.ndarray:
    """A (n_rows, width) array from a long table: ``values`` at (pos, slot), zero elsewhere;
    slots outside [0, width) are dropped. Pairs must be unique (the last one wins)."""
    out = np.zeros((n_rows, width), dtype=dtype)
    pos = np.asarray(pos, dtype=np.int64)
    if len(pos):
        slot = np.asarray(slot, dtype=np.int64)
        keep = (slot >= 0) & (slot < width)
        vals = np.broadcast_to(np.asarray(values, dtype=dtype), pos.shape)
        out[pos[keep], slot[keep]] = vals[keep]
    return out
