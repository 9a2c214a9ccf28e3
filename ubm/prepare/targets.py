"""Per-task label matrices of docs/tasks.md, written once and loaded by training.

``build_targets(D, T)`` writes, for every task of :data:`TASKS`::

    T/<task>/client_ids.npy   int64 [clients]      evaluated clients, in the order given
    T/<task>/train.npy        uint8 [clients, n]   labels from the train target window
    T/<task>/validation.npy   uint8 [clients, n]   labels from the validation target window
    T/<task>/labels.npy       int64 [n]            propensity: the label list; binary: [0]
    T/<task>/popularity.npy   int64 [n]            propensity only
    T/summary.json            clients, positives and labels without positives per task

Clients are ``input/relevant_clients.npy`` (or a given client-id file) in that order;
churn keeps only the ones listed in ``target/active_clients.npy``, same order. Binary tasks
have one column, 1 = NO purchase in the window. Each task and window is one SQL query
returning (row, label) pairs that are scattered into a zero matrix. ``T`` is replaced
as a whole only when everything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ubm import provenance
from ubm.data import sql
from ubm.contract import BINARY_TASKS, PROPENSITY_TASKS, TASKS, Kind, UnknownTask, task_kind
from ubm.data.io import Data, DataError, Settings, load_id_array, load_popularity, read_npy
from ubm.data.opener import open_data
from ubm.data.templating import SQL_DIR
from ubm.layout import ACTIVE_CLIENTS, TARGET_TABLES, label_list_file, popularity_file
from ubm.ownership import check_out
from ubm.util import atomic_dir, long_to_dense


def labels_code_version() -> str:
    """sha256 of the code that computes labels: this module and its SQL templates."""
    files = [Path(__file__), *sorted((SQL_DIR / "targets").glob("*.sql"))]
    return provenance.code_hash(files, provenance.LABELS_VERSION)


WINDOWS: dict[str, str] = {"train": "train_target", "validation": "validation_target"}


@dataclass
class TaskLabels:
    """The labels of one task, as training consumes them."""

    task: str
    kind: Kind
    client_ids: np.ndarray  # int64 [clients]
    train: np.ndarray  # uint8 [clients, labels]
    validation: np.ndarray  # uint8 [clients, labels]
    labels: np.ndarray  # int64 [labels]
    popularity: np.ndarray | None  # int64 [labels], propensity only

    @property
    def n_labels(self) -> int:
        return self.train.shape[1]


@dataclass
class TargetsResult:
    out: Path
    summary: dict = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"{'task':<22}{'clients':>10}{'labels':>8}{'pos train':>12}{'pos valid':>12}"
                 f"{'no pos (valid)':>16}"]
        for task, s in self.summary["tasks"].items():
            lines.append(
                f"{task:<22}{s['clients']:>10,}{s['labels']:>8}{s['positives']['train']:>12,}"
                f"{s['positives']['validation']:>12,}{s['labels_without_positive']['validation']:>16}"
            )
        lines += [f"{task:<22}skipped: {why}" for task, why in self.summary.get("skipped", {}).items()]
        lines.append(f"written to {self.out}")
        return "\n".join(lines)


def left_out_tasks(root: Path, tasks: tuple[str, ...]) -> dict[str, str]:
    """Tasks with nothing to predict on this data (docs/tasks.md §3-§4), -> why; they are
    skipped rather than refusing every other task: a propensity list `ubm lists` left out, a
    list given empty, or churn when active_clients.npy is empty. Lists have run when
    active_clients.npy is there: ubm lists always writes it."""
    active = root / ACTIVE_CLIENTS
    if not active.is_file():
        return {}
    out = {}
    for task in tasks:
        path = active if task == "churn" else root / label_list_file(task) if task in PROPENSITY_TASKS else None
        if path is None:
            continue
        if not path.is_file():
            out[task] = (f"no label list {path.relative_to(root)} (`ubm lists` leaves out a list with nothing "
                         "to predict, e.g. no new sku in the train target window); this task cannot be "
                         "evaluated on this data")
        elif _is_empty_npy(path):
            out[task] = f"{path} is empty: the task has nothing to predict on this data (docs/tasks.md §3-§4)"
    return out


def _is_empty_npy(path: Path) -> bool:
    try:
        return read_npy(path, mmap_mode="r").size == 0
    except DataError:
        return False  # unreadable: the stage that reads it names the problem


def _task_kind(task: str) -> Kind:
    try:
        return task_kind(task)
    except UnknownTask as exc:
        raise DataError(str(exc)) from None


def _labels_for(data: Data, task: str, clients: np.ndarray, n_labels: int, window: str) -> np.ndarray:
    with sql.temp_arrays_view(data, "task_clients", {"pos": np.arange(len(clients)), "client_id": clients}):
        if task in BINARY_TASKS:
            rows = sql.fetch_numpy(data, "targets/no_purchase", {}, {"window": window})["row"]
            return long_to_dense(rows, np.zeros(len(rows)), 1, len(clients), n_labels, np.uint8)
        pairs = sql.fetch_numpy(data, "targets/propensity", {},
                                {"window": window, "task": task, "column": PROPENSITY_TASKS[task]})
    return long_to_dense(pairs["row"], pairs["label"], 1, len(clients), n_labels, np.uint8)


def build_targets(data_dir: Path | str, out: Path | str, settings: Settings = Settings(),
                  client_ids: Path | str | None = None, tasks: tuple[str, ...] = TASKS,
                  progress: Callable[[str], None] | None = None) -> TargetsResult:
    """Write the label matrices of ``tasks`` for a split data directory into ``out``."""
    for task in tasks:
        _task_kind(task)
    check_out(Path(out), "labels", Path(data_dir))  # before touching anything
    skipped = left_out_tasks(Path(data_dir), tasks)
    tasks = tuple(t for t in tasks if t not in skipped)
    need = list(TARGET_TABLES)
    if client_ids is None:
        need.append("relevant_clients")
    if "churn" in tasks:
        need.append("active_clients")
    need += [f"label_list_{t}" for t in tasks if t in PROPENSITY_TASKS]
    # What the stamp records is taken before any input is read, and checked again at the end.
    inputs = provenance.labels_inputs(Path(data_dir), None if client_ids is None else Path(client_ids),
                                      labels_code_version())
    # Absolute: a relative --client-ids outside the data directory is not a name under it.
    given_ids = {} if client_ids is None else provenance.ids_of(Path(data_dir), [Path(client_ids).absolute()])
    try:
        data = open_data(Path(data_dir), window="input", settings=settings, require=tuple(need))
    except DataError as exc:
        if str(exc).startswith("missing file") and "target/" in str(exc) and "_target.parquet" not in str(exc):
            raise DataError(f"{exc} (run `ubm lists --data-dir {data_dir}` first)") from exc
        raise
    try:
        if client_ids is None:
            clients = load_id_array(data.paths["relevant_clients"])
            source = str(data.paths["relevant_clients"])
        else:
            clients = load_id_array(Path(client_ids), unique=True)
            source = str(client_ids)
        summary: dict = {"data_dir": str(data_dir), "client_ids": source, "tasks": {}}
        if skipped:
            summary["skipped"] = skipped
        with atomic_dir(Path(out), "labels") as tmp:
            for task in tasks:
                kind = _task_kind(task)
                task_clients = clients
                if task == "churn":
                    active = load_id_array(data.paths["active_clients"])
                    task_clients = clients[np.isin(clients, active)]
                if kind == "binary":
                    labels = np.zeros(1, dtype=np.int64)
                    popularity = None
                else:
                    labels = load_id_array(data.paths[f"label_list_{task}"])
                    popularity = load_popularity(
                        data.root / popularity_file(task), len(labels))
                matrices = {name: _labels_for(data, task, task_clients, len(labels), view)
                            for name, view in WINDOWS.items()}
                task_dir = tmp / task
                task_dir.mkdir()
                np.save(task_dir / "client_ids.npy", task_clients.astype(np.int64))
                for name, matrix in matrices.items():
                    np.save(task_dir / f"{name}.npy", matrix)
                np.save(task_dir / "labels.npy", labels)
                if popularity is not None:
                    np.save(task_dir / "popularity.npy", popularity)
                summary["tasks"][task] = {
                    "kind": kind,
                    "clients": int(len(task_clients)),
                    "labels": int(len(labels)),
                    "positives": {n: int(m.sum(dtype=np.int64)) for n, m in matrices.items()},
                    "labels_without_positive": {n: int((m.max(axis=0, initial=0) == 0).sum())
                                                for n, m in matrices.items()},
                }
                if progress:
                    progress(f"{task}: {len(task_clients):,} clients x {len(labels)} labels")
            (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            data.verify_inputs("targets")
            changed = provenance.changed_during(Path(data_dir), given_ids)
            if changed:
                raise DataError(f"{client_ids} changed while `ubm targets` was reading it; nothing was written")
            provenance.write_labels_stamp(tmp, inputs)
    finally:
        data.close()
    return TargetsResult(Path(out), summary)


def load_task(targets_dir: Path | str, task: str) -> TaskLabels:
    """Load one task written by :func:`build_targets`; shapes are checked."""
    kind = _task_kind(task)
    task_dir = Path(targets_dir) / task
    if not task_dir.is_dir():
        raise DataError(f"no labels for task '{task}': {task_dir} (run `ubm targets` first)")

    def load(name: str) -> np.ndarray:
        path = task_dir / f"{name}.npy"
        if not path.is_file():
            raise DataError(f"missing label file: {path}")
        return read_npy(path, "label file")

    client_ids = load("client_ids")
    train, validation, labels = load("train"), load("validation"), load("labels")
    popularity = load("popularity") if kind == "propensity" else None
    if len(labels) == 0:  # nothing to predict nor score: refused by name, never a score of 0 or NaN
        raise DataError(f"{task_dir / 'labels.npy'}: task {task} has no labels (its label list, "
                        f"target/{task}.npy, is empty); leave it out with --tasks (docs/tasks.md §3)")
    shape = (len(client_ids), len(labels))
    for name, matrix in (("train", train), ("validation", validation)):
        if matrix.shape != shape or matrix.dtype != np.uint8:
            raise DataError(f"{task_dir / name}.npy: expected uint8 {shape}, found {matrix.dtype} {matrix.shape}")
    if popularity is not None and popularity.shape != labels.shape:
        raise DataError(f"{task_dir}/popularity.npy: expected {labels.shape}, found {popularity.shape}")
    return TaskLabels(task, kind, client_ids, train, validation, labels, popularity)
