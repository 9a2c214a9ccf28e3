"""Whether a run of `ubm train` is official, and what the leaderboard needs to compare runs.

A run is official when it follows docs/evaluation.md §2 exactly on exactly the clients the
evaluation needs; every departure is a reason written beside its scores (docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ubm.evaluation.loop import TaskResult


def coverage_problems(data_dir: Path, client_ids: np.ndarray, labels_dir: Path,
                      tasks: list[str]) -> dict[str, str]:
    """Per task, how the labels' clients differ from the clients the evaluation needs (the
    entry's; for churn those of them in ``target/active_clients.npy``); tasks that match are
    left out. Labels of a subset or of another data set would otherwise score only the overlap."""
    from ubm.data.io import load_id_array
    from ubm.layout import ACTIVE_CLIENTS

    needed_all = np.unique(client_ids)
    active = None
    out = {}
    for task in tasks:
        labelled = np.load(Path(labels_dir) / task / "client_ids.npy", mmap_mode="r")
        needed = needed_all
        if task == "churn":
            if active is None:
                active = load_id_array(Path(data_dir) / ACTIVE_CLIENTS)
            needed = needed_all[np.isin(needed_all, active)]
        have = np.unique(labelled)
        if len(have) != len(labelled):
            out[task] = f"labels in {labels_dir} list a client of {task} more than once"
            continue
        common = int(np.isin(have, needed).sum())
        if common != len(needed) or common != len(have):
            out[task] = (f"labels in {labels_dir} cover {common:,} of the {len(needed):,} clients {task} "
                         f"evaluates ({len(have) - common:,} labelled clients not evaluated)")
    return out


def unofficial_reasons(results: dict[str, "TaskResult"], fast: bool, coverage: dict[str, str]) -> list[str]:
    """Every reason a run's numbers are not the official protocol's (empty: official)."""
    reasons = ["--fast (TF32/bf16 numerics)"] if fast else []
    reasons += [f"{t}: trained off the protocol (fast numerics or test sizes)"
                for t, r in results.items() if not r.official and not fast]
    return reasons + list(coverage.values())


def clients_digest(client_ids: np.ndarray) -> dict:
    """The evaluated clients of a task as a set (count and sha256 of the sorted ids): what the
    leaderboard compares so that runs over different clients are never ranked together."""
    ids = np.sort(np.asarray(client_ids, dtype=np.int64))
    return {"n": int(len(ids)), "sha256": hashlib.sha256(ids.tobytes()).hexdigest()}
