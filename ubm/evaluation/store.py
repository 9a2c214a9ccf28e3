"""The task store of a run directory: each finished task's result, tagged with the key of its
inputs, so a rerun trains only what is missing (``ubm train --resume``).

What is stored is a *unit*: a task trained from one seed. The official seed's unit is named
after its task (``churn``), as before seeds existed; another seed's is ``churn.seed<S>``. The
predictions of a unit are ``predictions/<unit>.npz``."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from ubm.evaluation.loop import TaskResult
from ubm.errors import DataError
from ubm.evaluation.model import BATCH_SIZE, MAX_EPOCH, SEED
from ubm.profiles.validate import CLIENT_IDS, EMBEDDINGS
from ubm.util import atomic_path, save_npy

TASKS_DIR = "tasks"  # finished tasks, for --resume (TaskStore)
PREDICTIONS_DIR = "predictions"  # best-epoch validation outputs per unit, for --ci
MAX_SEED = 2**63 - 1
_SEED_TAG = ".seed"


def unit_name(task: str, seed: int = SEED) -> str:
    """The stored name of ``task`` trained from ``seed``: the task itself for the official seed."""
    return task if seed == SEED else f"{task}{_SEED_TAG}{seed}"


def unit_of(name: str) -> tuple[str, int]:
    """(task, seed) of a unit name (task names hold no ``.seed``)."""
    task, tag, seed = name.partition(_SEED_TAG)
    return (task, int(seed)) if tag else (task, SEED)


def parse_seeds(text: str | None) -> list[int]:
    """``--seeds``: K (the official seed, then the K - 1 after it) or a comma list of distinct
    seeds that starts with the official one, so the official score is always the first seed's."""
    if text is None or not str(text).strip():
        return [SEED]
    items = [s.strip() for s in str(text).split(",")]
    try:
        values = [int(s) for s in items]
    except ValueError:
        raise DataError(f"--seeds: {text!r} is not a count or a comma list of integers") from None
    if len(values) == 1:
        k = values[0]
        if not 1 <= k <= 100:
            raise DataError(f"--seeds: {k} seeds; give 1..100 (or a comma list)")
        return [SEED + i for i in range(k)]
    if values[0] != SEED:
        raise DataError(f"--seeds: the list must start with the official seed {SEED} (got {values[0]}); "
                        "the official score is the first seed's")
    if len(set(values)) != len(values) or any(not 0 <= v <= MAX_SEED for v in values):
        raise DataError(f"--seeds: {text!r}: seeds must be distinct, each 0..{MAX_SEED}")
    return values


class TaskStore:
    """Finished tasks of a run: ``<out>/tasks/<task>.json`` (+ ``.best_logits.npy``), each
    written atomically as soon as the task is done, tagged with the key of its inputs."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def json_path(self, task: str) -> Path:
        return self.root / f"{task}.json"

    def logits_path(self, task: str) -> Path:
        return self.root / f"{task}.best_logits.npy"

    def save(self, task: str, key: str, result: TaskResult) -> None:
        digest = None
        if result.best_logits is not None:  # the logits first: the json marks the task finished
            logits = np.ascontiguousarray(result.best_logits, dtype=np.float32)
            save_npy(self.logits_path(task), logits)
            digest = _digest(logits)
        record = {"key": key, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "logits_sha256": digest,
                  "result": result.to_dict()}
        with atomic_path(self.json_path(task)) as tmp:
            tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")

    def load(self, task: str, key: str) -> tuple[TaskResult, str] | None:
        """(result, finish time) when the task finished with these inputs and its stored logits
        are the ones it wrote; None otherwise, and the task is trained again."""
        try:
            record = json.loads(self.json_path(task).read_text())
            if record.get("key") != key:
                return None
            result = TaskResult.from_dict(record["result"])
            if "logits_sha256" in record and record["logits_sha256"] is None:
                return result, str(record.get("finished", "?"))  # saved without logits: none to check
            result.best_logits = self._logits(task, record.get("logits_sha256"), result)
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None  # no record, or logits gone, cut short or not this record's
        return result, str(record.get("finished", "?"))

    def _logits(self, task: str, digest: str | None, result: TaskResult) -> np.ndarray:
        """The stored logits, checked against the record: its shape, and its digest where the
        record has one (records written before digests were stored are checked by shape)."""
        logits = np.load(self.logits_path(task))
        if logits.shape != (result.n_clients, result.n_labels) or logits.dtype != np.float32:
            raise ValueError(f"{self.logits_path(task)}: {logits.shape} {logits.dtype} logits")
        if digest is not None and _digest(logits) != digest:
            raise ValueError(f"{self.logits_path(task)}: not the logits its record wrote")
        return logits

    def finished(self, keys: dict[str, str]) -> list[str]:
        return [t for t, k in keys.items() if self.load(t, k) is not None]


def _digest(logits: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(logits).tobytes()).hexdigest()


def _stat(path: Path) -> list:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def task_key(task: str, embeddings_dir: Path, labels_dir: Path, *, fast: bool,
             hidden_sizes: tuple[int, int] | None, seed: int = SEED) -> str:
    """What a task's result depends on: the entry's and the task's label files (name, size,
    mtime), the options that change numbers and the seed (left out for the official one, so
    a run's keys are what they were before seeds). Trainer and device are not in it: the trainers
    give identical numbers, and CPU and GPU agree within docs/evaluation.md §2's tolerance."""
    src = {
        "task": task,
        "entry": [_stat(Path(embeddings_dir) / name) for name in (CLIENT_IDS, EMBEDDINGS)],
        "labels": [_stat(p) for p in sorted((Path(labels_dir) / task).glob("*.npy"))],
        "fast": fast, "hidden_sizes": hidden_sizes,
        "epochs": MAX_EPOCH, "batch_size": BATCH_SIZE,
        **({} if seed == SEED else {"seed": seed}),
    }
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()[:16]
