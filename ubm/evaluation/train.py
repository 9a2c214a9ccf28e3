"""``ubm train``: validate an entry, get the labels, train the fixed model per task, report.

The official loop feeds each task's model the entry's rows in the entry's own order
(churn: only the rows of active clients, order kept) and labels them from the train
window, then validates the same rows labelled from the validation window. We do the
same, looking each client's labels up by id in the label arrays of ``ubm targets``.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ubm import provenance
from ubm.data.io import DataError, Settings
from ubm.prepare.targets import TASKS, build_targets, load_task
from ubm.evaluation.loop import TaskResult, train_task
from ubm.util import OutputError, atomic_dir, is_temp_name, keep_freed_memory
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


def labels_for(data_dir: Path, client_ids_file: Path | None, cache_root: Path,
               settings: Settings, log: Callable[[str], None]) -> Path:
    """Labels of the relevant clients (or of the given ids), computed once and reused.

    The cache key is the content identity of everything labels are computed from: the split
    files, the label lists and the client ids (sha256 of their bytes), and the label code
    (:func:`ubm.provenance.labels_key`); any change recomputes instead of reusing.
    """
    key = provenance.labels_key(provenance.labels_inputs(Path(data_dir), client_ids_file))
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
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> RunResult:
    report = validate_entry(data_dir, embeddings_dir, relevant_check=relevant_check)
    if not report.ok:
        lines = "\n".join(f"  {name}: {message}" for name, message in report.failures)
        raise EntryError(f"entry {embeddings_dir} failed validation:\n{lines}")
    provenance.verify_entry(embeddings_dir, data_dir)
    out_dir = Path(out_dir)
    _check_out(out_dir)
    client_ids, embeddings = load_entry(embeddings_dir)
    # With the relevant check off the official tool evaluates exactly the entry's clients.
    wanted = None if relevant_check else Path(embeddings_dir) / "client_ids.npy"
    if labels is not None:
        provenance.verify_labels(labels, data_dir, wanted)
    labels_dir = labels or labels_for(data_dir, wanted, Path(data_dir) / ".cache", settings, log)

    keep_freed_memory()
    results: dict[str, TaskResult] = {}
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


RUN_FILES = frozenset({"scores.json", "metrics.json", "report.png"})


def _check_out(out_dir: Path) -> None:
    """Refuse, before training, an --out that holds anything but a previous run's files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} exists and is not a directory")
    if out_dir.is_dir():
        others = sorted(p.name for p in out_dir.iterdir() if p.name not in RUN_FILES and not is_temp_name(p.name))
        if others:
            raise OutputError(f"--out {out_dir} holds files that are not a run's ({others[0]}); "
                              "give an empty or new directory")


def write_outputs(out_dir: Path, scores: dict[str, float], results: dict[str, TaskResult],
                  data_dir: Path, embeddings_dir: Path, fast: bool) -> None:
    from ubm.evaluation.report import write_report_png

    metrics = {
        "data_dir": str(data_dir), "embeddings_dir": str(embeddings_dir),
        "official": not fast and all(r.official for r in results.values()),
        "versions": _versions(),
        "tasks": {task: asdict(r) for task, r in results.items()},
    }
    # The three files change together: a run killed while writing leaves the previous run.
    with atomic_dir(out_dir) as tmp:
        (tmp / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        write_report_png(metrics["tasks"], tmp / "report.png")


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
