"""Small shared helpers: atomic writes, cleanup of dead processes' temporary files, timing."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ubm.errors import OutputError


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)(?:-[0-9a-z]+)?$")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary of :func:`temp_name` (any process's)."""
    return _TEMP.match(name) is not None


def temp_name(path: Path, kind: str = "tmp") -> Path:
    """A hidden sibling of ``path`` named after this process, so a later run can tell
    whether its owner is still alive (see :func:`clean_litter`)."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_litter(directory: Path) -> list[Path]:
    """Remove the temporary files and directories that dead processes left in ``directory``.

    ``.X.tmp-PID`` is deleted. ``.X.old-PID`` is a previous output moved aside during a swap:
    if ``X`` is missing (the process died between the two renames) it is put back, else deleted.
    Entries of live processes are left alone. Returns what was removed or restored.
    """
    directory = Path(directory)
    done: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return done
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m or pid_alive(int(m["pid"])):
            continue
        original = entry.with_name(m["name"])
        if m["kind"] == "old" and not original.exists() and not original.is_symlink():
            os.replace(entry, original)
        else:
            _remove(entry)
        done.append(entry)
    return done


def check_writable_parent(path: Path, option: str = "--out") -> None:
    """Refuse early when ``path`` cannot be created: its nearest existing ancestor must be a
    writable directory."""
    path = Path(path)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write in {parent} (permission denied)")


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
    """Yield a temporary sibling of ``path``; rename it over ``path`` only on success.

    An existing directory at ``path`` is refused before anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a directory; give a file name")
    check_writable_parent(path, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_litter(path.parent)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(path: Path, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary directory; it replaces ``path`` as a whole only on success.

    The swap is one atomic exchange where the system offers it; elsewhere the old directory
    is renamed aside first, and :func:`clean_litter` puts it back if the process dies
    between the two renames. An existing non-directory at ``path`` is refused untouched.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} exists and is not a directory; not replacing it")
    check_writable_parent(path, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_litter(path.parent)
    tmp = temp_name(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists() and _exchange(tmp, path):
            shutil.rmtree(tmp)  # now holds the previous contents
        else:
            old = temp_name(path, "old")
            if path.exists():
                os.replace(path, old)
            os.replace(tmp, path)
            if old.exists():
                shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


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
