"""``ubm train``: validate an entry, get the labels, train the fixed model per task, report.

The official loop feeds each task's model the entry's rows in the entry's own order
(churn: only the rows of active clients, order kept) and labels them from the train
window, then validates the same rows labelled from the validation window. We do the
same, looking each client's labels up by id in the label arrays of ``ubm targets``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ubm.data.io import DataError, Settings
from ubm.prepare.targets import TASKS, build_targets, load_task
from ubm.evaluation.loop import TaskResult, train_task
from ubm.evaluation.significance import Predictions, write_predictions
from ubm.util import atomic_dir, atomic_path, keep_freed_memory
from ubm.profiles.validate import load_entry, validate_entry


class EntryError(DataError):
    """The entry failed validation; the message lists every failed check."""


@dataclass
class RunResult:
    out_dir: Path
    scores: dict[str, float]
    results: dict[str, TaskResult]


def resolve_tasks(tasks: tuple[str, ...] | list[str]) -> list[str]:
    if not tasks or "all" in tasks:
        return list(TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise DataError(f"unknown task(s): {', '.join(unknown)}; known: {', '.join(TASKS)}, all")
    return list(dict.fromkeys(tasks))


def _ids_digest(ids: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]


def labels_for(data_dir: Path, client_ids_file: Path | None, cache_root: Path,
               settings: Settings, log: Callable[[str], None]) -> Path:
    """Labels of the relevant clients (or of the given ids), computed once and reused.

    The cache key covers the evaluated client set and the target files' sizes and
    mtimes, so a re-split or new label list recomputes instead of reusing stale labels.
    """
    target_dir = Path(data_dir) / "target"
    stamp = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
             for p in sorted(target_dir.glob("*")) if p.is_file()]
    clients = "relevant" if client_ids_file is None else _ids_digest(np.load(client_ids_file))
    key_src = "|".join(stamp) + "|" + clients
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    out = cache_root / f"labels-{key}"
    if (out / "summary.json").is_file():
        log(f"reusing labels in {out}")
        return out
    log(f"computing labels into {out}")
    build_targets(data_dir, out, client_ids=client_ids_file, settings=settings, progress=log)
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


def evaluate(
    data_dir: Path,
    embeddings_dir: Path,
    out_dir: Path,
    *,
    tasks: list[str],
    device: str = "auto",
    relevant_check: bool = True,
    fast: bool = False,
    labels: Path | None = None,
    settings: Settings = Settings(),
    progress: bool = True,
    predictions: bool = True,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> RunResult:
    report = validate_entry(data_dir, embeddings_dir, relevant_check=relevant_check)
    if not report.ok:
        lines = "\n".join(f"  {name}: {message}" for name, message in report.failures)
        raise EntryError(f"entry {embeddings_dir} failed validation:\n{lines}")
    client_ids, embeddings = load_entry(embeddings_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # With the relevant check off the official tool evaluates exactly the entry's clients.
    wanted = None if relevant_check else Path(embeddings_dir) / "client_ids.npy"
    labels_dir = labels or labels_for(data_dir, wanted, Path(data_dir) / ".cache", settings, log)

    keep_freed_memory()
    results: dict[str, TaskResult] = {}
    # The predictions of this run replace the directory's old ones as a whole, and only when
    # every task is done; without predictions, old ones are removed: none is left stale.
    with atomic_dir(out_dir / "predictions") if predictions else nullcontext(None) as staging:
        for task in tasks:
            labels = load_task(labels_dir, task)
            entry_rows, label_rows = align(client_ids, labels.client_ids)
            if len(entry_rows) == 0:
                raise DataError(f"task {task}: no client of the entry is evaluated (labels in {labels_dir})")
            log(f"{task}: {len(entry_rows):,} clients x {labels.train.shape[1]} labels")
            results[task] = train_task(
                embeddings[entry_rows], labels.train[label_rows], labels.validation[label_rows],
                kind=labels.kind, popularity=labels.popularity, device=device,
                progress=progress, fast=fast, label=task,
            )
            if staging is not None:
                write_predictions(staging / f"{task}.npz", Predictions(
                    task=task, kind=labels.kind, client_ids=client_ids[entry_rows],
                    logits=results[task].best_logits, labels=labels.validation[label_rows],
                    popularity=labels.popularity))
                results[task].best_logits = None  # on disk now (381 MiB for 1 M clients x 100 labels)
    if not predictions:
        shutil.rmtree(out_dir / "predictions", ignore_errors=True)
    scores = {task: r.best_score for task, r in results.items()}
    write_outputs(out_dir, scores, results, data_dir, embeddings_dir, fast)
    return RunResult(out_dir, scores, results)


def _versions() -> dict[str, str]:
    import duckdb
    import torch
    import torchmetrics

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchmetrics": torchmetrics.__version__, "duckdb": duckdb.__version__,
            "numpy": np.__version__}


def write_outputs(out_dir: Path, scores: dict[str, float], results: dict[str, TaskResult],
                  data_dir: Path, embeddings_dir: Path, fast: bool) -> None:
    from ubm.evaluation.report import write_report_png

    metrics = {
        "data_dir": str(data_dir), "embeddings_dir": str(embeddings_dir),
        "official": not fast and all(r.official for r in results.values()),
        "versions": _versions(),
        "tasks": {task: r.to_dict() for task, r in results.items()},
    }
    with atomic_path(out_dir / "scores.json") as tmp:
        tmp.write_text(json.dumps(scores, indent=2) + "\n")
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    write_report_png(metrics["tasks"], out_dir / "report.png")


def format_scores(results: dict[str, TaskResult]) -> str:
    head = f"{'task':<22}{'score':>8}{'best':>6}{'auroc':>8}{'novelty':>9}{'diversity':>10}{'no-pos':>8}{'s/epoch':>9}"
    lines = [head, "-" * len(head)]
    for task, r in results.items():
        best = r.epochs[r.best_epoch]
        nov = "" if best.novelty is None else f"{best.novelty:.4f}"
        div = "" if best.diversity is None else f"{best.diversity:.4f}"
        sec = sum(e.seconds for e in r.epochs) / max(len(r.epochs), 1)
        lines.append(f"{task:<22}{r.best_score:>8.4f}{r.best_epoch + 1:>6}{best.auroc:>8.4f}"
                     f"{nov:>9}{div:>10}{r.labels_without_positives:>8}{sec:>9.1f}")
    return "\n".join(lines)
