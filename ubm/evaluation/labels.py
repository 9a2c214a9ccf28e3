"""The labels a run scores against: which tasks, their cached label arrays, and the rows of
the entry each task evaluates (looked up by client id, in the entry's order)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ubm import provenance
from ubm.data.io import Settings
from ubm.errors import DataError
from ubm.prepare.targets import TASKS, build_targets, labels_code_version


def resolve_tasks(tasks: tuple[str, ...] | list[str]) -> list[str]:
    if not tasks or "all" in tasks:
        return list(TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise DataError(f"unknown task(s): {', '.join(unknown)}; known: {', '.join(TASKS)}, all")
    return list(dict.fromkeys(tasks))


def labels_for(data_dir: Path, client_ids_file: Path | None, cache_root: Path,
               settings: Settings, log: Callable[[str], None]) -> Path:
    """Labels of the relevant clients (or of the given ids), computed once and reused.

    The cache key is the content identity of everything labels are computed from: the split
    files, the label lists and the client ids (sha256 of their bytes), and the label code
    (:func:`ubm.provenance.labels_key`); any change recomputes instead of reusing.
    """
    key = provenance.labels_key(provenance.labels_inputs(Path(data_dir), client_ids_file, labels_code_version()))
    out = cache_root / f"labels-{key}"
    if (out / "summary.json").is_file():
        log(f"reusing labels in {out}")
        return out
    log(f"computing labels into {out}")
    build_targets(data_dir, out, client_ids=client_ids_file, settings=settings)
    return out


def align(entry_ids: np.ndarray, task_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the entry the task evaluates (entry order) and their rows in the label arrays."""
    if len(task_ids) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.argsort(task_ids, kind="stable")
    sorted_ids = task_ids[order]
    pos = np.minimum(np.searchsorted(sorted_ids, entry_ids), len(sorted_ids) - 1)
    entry_rows = np.flatnonzero(sorted_ids[pos] == entry_ids)
    return entry_rows, order[pos[entry_rows]]
