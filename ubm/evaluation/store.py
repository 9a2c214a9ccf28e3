"""The task store of a run directory: each finished task's result, tagged with the key of its
inputs, so a rerun trains only what is missing (``ubm train --resume``)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from ubm.evaluation.loop import TaskResult
from ubm.evaluation.model import BATCH_SIZE, MAX_EPOCH
from ubm.profiles.validate import CLIENT_IDS, EMBEDDINGS
from ubm.util import atomic_path, save_npy

TASKS_DIR = "tasks"  # finished tasks, for --resume (TaskStore)
PREDICTIONS_DIR = "predictions"  # best-epoch validation outputs per task, for --ci


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
             hidden_sizes: tuple[int, int] | None) -> str:
    """What a task's result depends on: the entry's and the task's label files (name, size,
    mtime) and the options that change numbers. Trainer and device are not in it: the trainers
    give identical numbers, and CPU and GPU agree within docs/evaluation.md §2's tolerance."""
    src = {
        "task": task,
        "entry": [_stat(Path(embeddings_dir) / name) for name in (CLIENT_IDS, EMBEDDINGS)],
        "labels": [_stat(p) for p in sorted((Path(labels_dir) / task).glob("*.npy"))],
        "fast": fast, "hidden_sizes": hidden_sizes,
        "epochs": MAX_EPOCH, "batch_size": BATCH_SIZE,
    }
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()[:16]
