"""Check a competition entry (docs/entry.md §2) and report every failed check in one run.

Checks, by name:

=====================  ======================================================
``missing file``       ``client_ids.npy`` / ``embeddings.npy`` (or, for the
                       relevant check, ``input/relevant_clients.npy``) absent
``not loadable``       not a plain ``.npy`` array (corrupt, empty, pickled)
``wrong dtype``        client ids not int64, embeddings not float16
``wrong shape``        client ids not 1-D, embeddings not 2-D with >= 1 column
``too wide``           more than ``max_dim`` (2048) columns
``NaN``                any NaN in the embeddings
``inf``                any +-inf in the embeddings
``not a permutation``  client ids are not exactly the relevant clients, once each
``duplicate ids``      a client id listed twice (checked without the relevant check too)
``length mismatch``    rows of embeddings != number of client ids
``stale``              ``columns.json`` says the entry was built from files of
                       this data directory (events, clients, label lists) that
                       have changed since (:func:`ubm.provenance.verify_entry`)
=====================  ======================================================

Unlike the official validator, which stops at the first failure of each group, every
check that can run does run. The arrays are opened memory-mapped and scanned in row
chunks, so a 1 M x 2048 entry is checked in bounded memory: mapped pages count as the
process's resident memory, so each chunk's pages are released (``MADV_DONTNEED``; they stay
in the page cache) once scanned, instead of the whole 4 GB entry becoming resident.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ubm import provenance
from ubm.contract import MAX_COLUMNS
from ubm.errors import DataError
from ubm.guards import find_duplicates
from ubm.layout import RELEVANT_CLIENTS

CLIENT_IDS = "client_ids.npy"
EMBEDDINGS = "embeddings.npy"
CHECKS = ("missing file", "not loadable", "wrong dtype", "wrong shape", "too wide", "NaN", "inf",
          "not a permutation", "duplicate ids", "length mismatch", "stale")
_CHUNK_ROWS = 65536


@dataclass
class ValidationReport:
    ok: bool
    failures: list[tuple[str, str]] = field(default_factory=list)
    shape: tuple[int, ...] | None = None  # the embeddings' shape, when loadable

    def checks_failed(self) -> list[str]:
        return [name for name, _ in self.failures]

    def __str__(self) -> str:
        if self.ok:
            return f"entry ok: {self.shape[0]:,} clients x {self.shape[1]} columns, float16"
        return "\n".join(f"FAILED {name}: {message}" for name, message in self.failures)


def _load(path: Path, what: str, failures: list[tuple[str, str]], mmap: bool) -> np.ndarray | None:
    if not path.is_file():
        failures.append(("missing file", f"{what} file not found: {path}"))
        return None
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except Exception as exc:  # ValueError, EOFError, OSError, UnpicklingError...
        failures.append(("not loadable", f"{path}: not a loadable .npy array ({type(exc).__name__}: {exc})"))
        return None
    if not isinstance(array, np.ndarray):
        failures.append(("not loadable", f"{path}: holds {type(array).__name__}, not a single array"))
        return None
    return array


def load_entry(embeddings_dir: Path | str, *, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load ``(client_ids, embeddings)``; a missing or unreadable file is a DataError."""
    embeddings_dir = Path(embeddings_dir)
    failures: list[tuple[str, str]] = []
    client_ids = _load(embeddings_dir / CLIENT_IDS, "client ids", failures, mmap)
    embeddings = _load(embeddings_dir / EMBEDDINGS, "embeddings", failures, mmap)
    if failures:
        raise DataError("; ".join(f"{name}: {msg}" for name, msg in failures))
    return client_ids, embeddings


def _scan_nonfinite(embeddings: np.ndarray) -> tuple[int, int, int | None, int | None]:
    """Count NaN and inf in row chunks; return counts and the first row holding each."""
    nans = infs = 0
    first_nan = first_inf = None
    for start in range(0, embeddings.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(embeddings[start:start + _CHUNK_ROWS])
        isnan = np.isnan(chunk)
        isinf = np.isinf(chunk)
        n, i = int(isnan.sum()), int(isinf.sum())
        if n and first_nan is None:
            first_nan = start + int(np.flatnonzero(isnan.any(axis=1))[0])
        if i and first_inf is None:
            first_inf = start + int(np.flatnonzero(isinf.any(axis=1))[0])
        nans += n
        infs += i
        _release(embeddings)
    return nans, infs, first_nan, first_inf


def _release(array: np.ndarray) -> None:
    """Drop the scanned pages of a memory-mapped array from this process (a no-op otherwise)."""
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


def _permutation_failure(client_ids: np.ndarray, relevant: np.ndarray) -> str | None:
    ids = np.sort(np.asarray(client_ids).astype(np.int64, copy=False))
    want = np.sort(relevant.astype(np.int64, copy=False))
    if ids.shape == want.shape and np.array_equal(ids, want):
        return None
    duplicates = int(len(ids) - len(np.unique(ids)))
    missing = np.setdiff1d(want, ids, assume_unique=False)
    extra = np.setdiff1d(ids, want, assume_unique=False)
    parts = [f"{len(client_ids):,} client ids for {len(relevant):,} relevant clients"]
    if len(missing):
        parts.append(f"{len(missing):,} relevant client(s) missing, e.g. {int(missing[0])}")
    if len(extra):
        parts.append(f"{len(extra):,} id(s) not relevant, e.g. {int(extra[0])}")
    if duplicates:
        parts.append(f"{duplicates:,} duplicate id(s)")
    return "client ids are not a permutation of relevant clients: " + "; ".join(parts)


def validate_entry(
    data_dir: Path | str | None,
    embeddings_dir: Path | str,
    *,
    relevant_check: bool = True,
    max_dim: int = MAX_COLUMNS,
) -> ValidationReport:
    """Run every check of docs/entry.md §2 on ``embeddings_dir``; ``data_dir`` supplies relevant clients."""
    embeddings_dir = Path(embeddings_dir)
    failures: list[tuple[str, str]] = []
    client_ids = _load(embeddings_dir / CLIENT_IDS, "client ids", failures, mmap=True)
    embeddings = _load(embeddings_dir / EMBEDDINGS, "embeddings", failures, mmap=True)
    shape = None if embeddings is None else tuple(embeddings.shape)

    ids_ok = False
    if client_ids is not None:
        ids_ok = True
        if client_ids.dtype != np.int64:
            failures.append(("wrong dtype", f"client ids dtype is {client_ids.dtype}, must be int64"))
            ids_ok = np.issubdtype(client_ids.dtype, np.integer)
        if client_ids.ndim != 1:
            failures.append(("wrong shape", f"client ids have shape {client_ids.shape}, must be 1-D"))
            ids_ok = False

    emb_ok = False
    if embeddings is not None:
        emb_ok = True
        if embeddings.dtype != np.float16:
            failures.append(("wrong dtype", f"embeddings dtype is {embeddings.dtype}, must be float16"))
        if embeddings.ndim != 2:
            failures.append(("wrong shape", f"embeddings have shape {embeddings.shape}, must be 2-D"))
            emb_ok = False
        elif embeddings.shape[1] < 1:
            failures.append(("wrong shape", f"embeddings have shape {embeddings.shape}, need at least 1 column"))
        elif embeddings.shape[1] > max_dim:
            failures.append(("too wide", f"embeddings have {embeddings.shape[1]} columns, at most {max_dim} allowed"))
        if emb_ok and embeddings.dtype.kind == "f" and embeddings.size:
            nans, infs, first_nan, first_inf = _scan_nonfinite(embeddings)
            if nans:
                failures.append(("NaN", f"embeddings hold {nans:,} NaN value(s), first in row {first_nan}"))
            if infs:
                failures.append(("inf", f"embeddings hold {infs:,} inf value(s), first in row {first_inf}"))

    if relevant_check and ids_ok:
        if data_dir is None:
            raise ValueError("validate_entry: data_dir is needed for the relevant-clients check")
        relevant_path = Path(data_dir) / RELEVANT_CLIENTS
        relevant = _load(relevant_path, "relevant clients", failures, mmap=False)
        if relevant is not None:
            problem = _permutation_failure(client_ids, relevant)
            if problem:
                failures.append(("not a permutation", problem))

    if not relevant_check and ids_ok:
        dup = find_duplicates(client_ids)
        if dup:
            failures.append(("duplicate ids", f"{dup.distinct:,} client id(s) listed more than once, "
                                              f"e.g. {dup.example}"))

    if ids_ok and emb_ok and embeddings.shape[0] != client_ids.shape[0]:
        failures.append(("length mismatch",
                         f"{embeddings.shape[0]:,} embedding rows for {client_ids.shape[0]:,} client ids"))
    if data_dir is not None:
        try:
            provenance.verify_entry(embeddings_dir, Path(data_dir))
        except DataError as exc:
            failures.append(("stale", str(exc)))
    return ValidationReport(ok=not failures, failures=failures, shape=shape)
