"""``ubm train``: validate an entry, get the labels, train the fixed model per task, report.

The official loop feeds each task's model the entry's rows in the entry's own order
(churn: only the rows of active clients, order kept) and labels them from the train
window, then validates the same rows labelled from the validation window. We do the
same, looking each client's labels up by id in the label arrays of ``ubm targets``.

A device trains its tasks one after another (``loop.train_task``) or together
(``multi.train_tasks``, the same numbers); ``--devices`` runs one process per device. Each
finished task is written at once to ``OUT/tasks/<task>.json`` (and its best epoch's
validation logits to ``.best_logits.npy``), keyed by the entry's and labels' files and
the options, so a rerun trains only what is missing; scores.json and metrics.json are
written last, from all tasks.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ubm import provenance
from ubm.data.io import Settings
from ubm.errors import DataError, EntryError
from ubm.prepare.targets import TASKS, build_targets, labels_code_version, load_task
from ubm.evaluation.loop import TaskResult, train_task
from ubm.evaluation.model import BATCH_SIZE, MAX_EPOCH
from ubm.evaluation.multi import TaskData, train_tasks
from ubm.evaluation.official import clients_digest, coverage_problems, unofficial_reasons
from ubm.evaluation.significance import Predictions, write_predictions
from ubm.ownership import check_out, read_manifest, write_manifest
from ubm.util import (atomic_dir, atomic_path, is_temp_name, keep_freed_memory, save_npy,
                      through_link)
from ubm.profiles.validate import CLIENT_IDS, EMBEDDINGS, load_entry, validate_entry


@dataclass
class RunResult:
    out_dir: Path
    scores: dict[str, float]
    results: dict[str, TaskResult]
    unofficial: list[str] = field(default_factory=list)  # why the run is not official; empty if it is


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


@dataclass(frozen=True)
class TrainOptions:
    """How tasks are trained. engine: "multi" trains a device's tasks together
    (``ubm.evaluation.multi``), "single" one after another (``train_task``), "auto" picks
    multi on CUDA and single on CPU, where it measured no faster (BENCHMARKS.md)."""

    fast: bool = False
    engine: str = "auto"
    graphs: bool = True  # CUDA graphs in the multi engine
    hidden_sizes: tuple[int, int] | None = None  # tests only
    progress: bool = True

    def engine_for(self, device: str, n_tasks: int) -> str:
        if self.engine not in ("auto", "multi", "single"):
            raise DataError(f"unknown engine {self.engine!r}: auto, multi or single")
        if self.engine != "auto":
            return self.engine
        return "multi" if device.startswith("cuda") and n_tasks > 1 else "single"


@dataclass(frozen=True)
class DeviceJob:
    """What one device trains; picklable, so a worker process can run it."""

    device: str
    tasks: tuple[str, ...]
    embeddings_dir: Path
    labels_dir: Path
    results_dir: Path
    keys: dict[str, str]
    options: TrainOptions
    threads: int | None = None  # CPU workers share the cores


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
        if result.best_logits is not None:  # the logits first: the json marks the task finished
            save_npy(self.logits_path(task), np.ascontiguousarray(result.best_logits, dtype=np.float32))
        record = {"key": key, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "result": result.to_dict()}
        with atomic_path(self.json_path(task)) as tmp:
            tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")

    def load(self, task: str, key: str) -> tuple[TaskResult, str] | None:
        """(result, finish time) when the task finished with these inputs, else None."""
        path = self.json_path(task)
        try:
            record = json.loads(path.read_text())
            if record.get("key") != key:
                return None
            logits = np.load(self.logits_path(task)) if self.logits_path(task).is_file() else None
            return TaskResult.from_dict(record["result"], logits), str(record.get("finished", "?"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def finished(self, keys: dict[str, str]) -> list[str]:
        return [t for t, k in keys.items() if self.load(t, k) is not None]


def _stat(path: Path) -> list:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def task_key(task: str, embeddings_dir: Path, labels_dir: Path, options: TrainOptions) -> str:
    """What a task's result depends on: the entry's and the task's label files (name, size,
    mtime) and the options that change numbers. Engine and device are not in it: the engines
    give identical numbers, and CPU and GPU agree within docs/evaluation.md §2's tolerance."""
    src = {
        "task": task,
        "entry": [_stat(Path(embeddings_dir) / name) for name in (CLIENT_IDS, EMBEDDINGS)],
        "labels": [_stat(p) for p in sorted((Path(labels_dir) / task).glob("*.npy"))],
        "fast": options.fast, "hidden_sizes": options.hidden_sizes,
        "epochs": MAX_EPOCH, "batch_size": BATCH_SIZE,
    }
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()[:16]


def parse_devices(devices: str | list[str] | None, device: str) -> list[str]:
    """``cuda:0,cuda:1`` or ``cpu,cpu`` -> a checked list; None -> [device]."""
    items = [device] if not devices else (devices.split(",") if isinstance(devices, str) else list(devices))
    items = [d.strip() for d in items if d.strip()]
    if not items:
        raise DataError("--devices: no device given")
    out = []
    for item in items:
        if item == "auto":
            item = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            dev = torch.device(item)
        except RuntimeError:
            raise DataError(f"--devices: unknown device {item!r} (cpu, cuda, cuda:N)") from None
        if dev.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if (dev.index or 0) >= count:
                raise DataError(f"--devices: {item} requested but this machine has {count} CUDA device(s); "
                                "use cpu or auto")
        elif dev.type != "cpu":
            raise DataError(f"--devices: unsupported device {item!r} (cpu, cuda, cuda:N)")
        out.append(item)
    return out


def spread(tasks: list[str], costs: dict[str, int], n_devices: int) -> list[list[str]]:
    """Tasks per device, biggest first onto the least loaded; each list keeps the task order."""
    loads = [0] * n_devices
    owner: dict[str, int] = {}
    for task in sorted(tasks, key=lambda t: -costs[t]):
        k = loads.index(min(loads))
        owner[task] = k
        loads[k] += costs[task]
    return [[t for t in tasks if owner[t] == k] for k in range(n_devices)]


def _task_data(job: DeviceJob, client_ids: np.ndarray, log: Callable[[str], None]) -> list[TaskData]:
    data = []
    for task in job.tasks:
        labels = load_task(job.labels_dir, task)
        entry_rows, label_rows = align(client_ids, labels.client_ids)
        if len(entry_rows) == 0:
            raise DataError(f"task {task}: no client of the entry is evaluated (labels in {job.labels_dir})")
        log(f"{task}: {len(entry_rows):,} clients x {labels.train.shape[1]} labels on {job.device}")
        data.append(TaskData(task, labels.kind, labels.train[label_rows], labels.validation[label_rows],
                             labels.popularity, entry_rows))
    return data


def run_job(job: DeviceJob, log: Callable[[str], None]) -> dict[str, TaskResult]:
    """Train one device's tasks, saving each result as soon as it is finished."""
    client_ids, embeddings = load_entry(job.embeddings_dir, mmap=True)
    data = _task_data(job, client_ids, log)
    store = TaskStore(job.results_dir)
    opts = job.options
    results: dict[str, TaskResult] = {}
    if opts.engine_for(job.device, len(data)) == "multi":
        log(f"training {', '.join(job.tasks)} together on {job.device}")
        results = train_tasks(embeddings, data, device=job.device, progress=opts.progress, fast=opts.fast,
                              hidden_sizes=opts.hidden_sizes, graphs=opts.graphs)
        for task, result in results.items():
            store.save(task, job.keys[task], result)
        return results
    for d in data:
        results[d.name] = train_task(
            embeddings[d.rows], d.y_train, d.y_val, kind=d.kind, popularity=d.popularity, device=job.device,
            progress=opts.progress, fast=opts.fast, label=d.name, hidden_sizes=opts.hidden_sizes)
        store.save(d.name, job.keys[d.name], results[d.name])
    return results


def cuda_index(device: str) -> int:
    """The CUDA device number of ``cuda`` or ``cuda:N``: set_device refuses a device without one,
    and plain ``cuda`` is device 0 in a freshly spawned process."""
    dev = torch.device(device)
    return 0 if dev.index is None else dev.index


def _worker(job: DeviceJob) -> list[str]:
    """Entry point of a device's process (spawned: CUDA cannot be forked)."""
    if job.threads:
        torch.set_num_threads(job.threads)
    if job.device.startswith("cuda"):
        torch.cuda.set_device(cuda_index(job.device))  # this process's allocations and graphs live there
    keep_freed_memory()

    def log(message: str) -> None:
        print(f"[{job.device}] {message}", file=sys.stderr, flush=True)

    return list(run_job(job, log))


def _run_workers(jobs: list[DeviceJob], log: Callable[[str], None]) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=ctx) as pool:
        futures = [pool.submit(_worker, job) for job in jobs]
        for job, future in zip(jobs, futures):
            try:
                future.result()
            except BrokenProcessPool:
                raise DataError(f"the worker process for {job.device} ({', '.join(job.tasks)}) ended "
                                f"abruptly (killed, or out of memory?)") from None
            log(f"{job.device}: finished {', '.join(job.tasks)}")


def evaluate(
    data_dir: Path,
    embeddings_dir: Path,
    out_dir: Path,
    *,
    tasks: list[str],
    device: str = "auto",
    devices: str | list[str] | None = None,
    relevant_check: bool = True,
    fast: bool = False,
    labels: Path | None = None,
    settings: Settings = Settings(),
    progress: bool = True,
    resume: bool = True,
    engine: str = "auto",
    graphs: bool = True,
    hidden_sizes: tuple[int, int] | None = None,
    predictions: bool = True,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> RunResult:
    """Validate the entry, train every task, write scores.json, metrics.json and report.png.

    devices: one process per device, tasks spread over them (``cpu,cpu`` works too);
    None trains in this process on ``device``. resume: reuse tasks finished earlier in
    ``out_dir/tasks`` with the same entry, labels and options (the log says which).
    """
    out_dir = Path(out_dir)
    check_out(out_dir, RUN_KIND, Path(data_dir))  # before any work (ubm.ownership)
    report = validate_entry(data_dir, embeddings_dir, relevant_check=relevant_check)
    if not report.ok:
        lines = "\n".join(f"  {name}: {message}" for name, message in report.failures)
        raise EntryError(f"entry {embeddings_dir} failed validation:\n{lines}")
    provenance.verify_entry(embeddings_dir, data_dir)
    device_list = parse_devices(devices, device)
    # Only the ids here (the predictions' rows): each device's job maps the embeddings itself.
    client_ids, _ = load_entry(embeddings_dir, mmap=True)
    client_ids = np.array(client_ids)  # 8 bytes a client, read once
    # With the relevant check off the official tool evaluates exactly the entry's clients.
    wanted = None if relevant_check else Path(embeddings_dir) / "client_ids.npy"
    if labels is not None:
        # The stamp vouches for the data the labels came from; which clients they cover is
        # checked below against the clients this evaluation needs.
        provenance.verify_labels(labels, data_dir, None, labels_code_version())
    labels_dir = labels or labels_for(data_dir, wanted, Path(data_dir) / ".cache", settings, log)
    unofficial = coverage_problems(data_dir, client_ids, labels_dir, tasks)
    if unofficial and relevant_check:
        task, problem = next(iter(unofficial.items()))
        raise DataError(f"{problem}; labels must cover exactly the evaluated clients: rerun `ubm targets "
                        f"--data-dir {data_dir} --out {labels_dir}` without --client-ids, or pass "
                        "--no-relevant-check to score them as unofficial")
    for problem in unofficial.values():
        log(f"warning: unofficial: {problem}")
    options = TrainOptions(fast=fast, engine=engine, graphs=graphs, hidden_sizes=hidden_sizes, progress=progress)
    options.engine_for(device_list[0], len(tasks))  # an unknown engine fails before any work
    keys = {t: task_key(t, embeddings_dir, labels_dir, options) for t in tasks}
    store = TaskStore(out_dir / TASKS_DIR)

    results: dict[str, TaskResult] = {}
    for task in tasks:
        found = store.load(task, keys[task]) if resume else None
        if found:
            results[task] = found[0]
            log(f"{task}: reusing the result finished {found[1]} on {found[0].device} "
                f"(score {found[0].best_score:.4f}, {store.json_path(task)}); --no-resume retrains")
    todo = [t for t in tasks if t not in results]
    _claim_out(out_dir, todo)
    keep_freed_memory()
    try:
        results.update(_train(todo, device_list, embeddings_dir, labels_dir, store, keys, options, log))
    except BaseException:
        _log_unfinished(tasks, store, keys, out_dir, log)
        raise
    results = {t: results[t] for t in tasks}
    scores = {task: r.best_score for task, r in results.items()}
    preds = _predictions(labels_dir, client_ids, results) if predictions else None
    clients = {t: clients_digest(client_ids[align(client_ids, np.load(Path(labels_dir) / t / "client_ids.npy"))[0]])
               for t in tasks}
    write_outputs(out_dir, scores, results, data_dir, embeddings_dir, fast, preds, unofficial, clients)
    return RunResult(out_dir, scores, results, unofficial_reasons(results, fast, unofficial))


def _train(todo: list[str], device_list: list[str], embeddings_dir: Path, labels_dir: Path, store: TaskStore,
           keys: dict[str, str], options: TrainOptions, log: Callable[[str], None]) -> dict[str, TaskResult]:
    if not todo:
        return {}
    common = dict(embeddings_dir=Path(embeddings_dir), labels_dir=Path(labels_dir), results_dir=store.root,
                  keys={t: keys[t] for t in todo}, options=options)
    if len(device_list) == 1:
        return run_job(DeviceJob(device=device_list[0], tasks=tuple(todo), **common), log)
    costs = {t: len(np.load(Path(labels_dir) / t / "client_ids.npy", mmap_mode="r")) for t in todo}
    groups = [g for g in spread(todo, costs, len(device_list))]
    # CPU workers keep this process's thread count: with fewer threads torch's CPU reductions
    # differ in the last bit, and the workers are there to run the multi-device path
    # with the same numbers, not to be fast (the cores are shared anyway).
    threads = torch.get_num_threads()
    jobs = [DeviceJob(device=d, tasks=tuple(g), threads=threads if d == "cpu" else None, **common)
            for d, g in zip(device_list, groups) if g]
    for job in jobs:
        log(f"{job.device}: {', '.join(job.tasks)}")
    _run_workers(jobs, log)
    out = {}
    for t in todo:
        found = store.load(t, keys[t])
        if found is None:
            raise DataError(f"task {t}: its worker ended without a result in {store.root}")
        out[t] = found[0]
    return out


def _log_unfinished(tasks: list[str], store: TaskStore, keys: dict[str, str], out_dir: Path,
                    log: Callable[[str], None]) -> None:
    done = store.finished(keys)
    left = [t for t in tasks if t not in done]
    log(f"stopped: finished {', '.join(done) or 'no task'}; not finished: {', '.join(left)}")
    if done:
        log(f"finished results are in {store.root}; rerun the same command (same --out {out_dir}) "
            f"to train only the rest")


def _versions() -> dict[str, str]:
    import duckdb
    import torch
    import torchmetrics

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchmetrics": torchmetrics.__version__, "duckdb": duckdb.__version__,
            "numpy": np.__version__}


TASKS_DIR = "tasks"  # finished tasks, for --resume (TaskStore)
PREDICTIONS_DIR = "predictions"  # best-epoch validation outputs per task, for --ci
# A run's outputs, replaced together at its end (a killed run leaves the previous ones).
RUN_OUTPUTS = frozenset({"scores.json", "metrics.json", "report.png"})
RUN_FILES = RUN_OUTPUTS | {TASKS_DIR, PREDICTIONS_DIR}
RUN_KIND = "run"  # the manifest kind of a run directory (ubm.ownership)


def _carry(src: Path, dst: Path) -> None:
    """Hard-link a finished run's task store into the directory that replaces it (no copy of
    the stored logits), so the swap keeps what --resume needs."""
    if not src.is_dir():
        return
    dst.mkdir()
    for path in src.iterdir():
        if path.is_file() and not is_temp_name(path.name):
            os.link(path, dst / path.name)


def _claim_out(out_dir: Path, tasks: list[str]) -> None:
    """Make --out a run directory before tasks are stored in it: its manifest lists the task
    files this run may write, so a run killed halfway is still ubm's to resume and replace."""
    real = through_link(out_dir)
    real.mkdir(parents=True, exist_ok=True)
    before = read_manifest(real)
    files = [f"{TASKS_DIR}/"] + [f"{TASKS_DIR}/{t}{suffix}" for t in tasks for suffix in (".json", ".best_logits.npy")]
    write_manifest(real, RUN_KIND, files + (before["files"] if before else []))


def _predictions(labels_dir: Path, client_ids: np.ndarray,
                 results: dict[str, TaskResult]) -> list[Predictions]:
    """Each task's best-epoch validation outputs with the evaluated clients and labels: what a
    bootstrap resamples (ubm.evaluation.significance)."""
    out = []
    for task, result in results.items():
        labels = load_task(labels_dir, task)
        entry_rows, label_rows = align(client_ids, labels.client_ids)
        out.append(Predictions(task=task, kind=labels.kind, client_ids=client_ids[entry_rows],
                               logits=result.best_logits, labels=labels.validation[label_rows],
                               popularity=labels.popularity))
    return out


def _refuse_non_finite(results: dict[str, TaskResult]) -> None:
    """No NaN or infinite number is ever written as a score (nothing is written instead)."""
    for task, r in results.items():
        best = r.epochs[r.best_epoch] if 0 <= r.best_epoch < len(r.epochs) else None
        values = {"score": r.best_score}
        if best is not None:
            values.update({k: v for k, v in (("auroc", best.auroc), ("novelty", best.novelty),
                                             ("diversity", best.diversity)) if v is not None})
        for metric, value in values.items():
            if not math.isfinite(value):
                raise DataError(f"{task}: {metric} is {value}; nothing written (check the task's "
                                f"labels and popularity file)")


def write_outputs(out_dir: Path, scores: dict[str, float], results: dict[str, TaskResult],
                  data_dir: Path, embeddings_dir: Path, fast: bool,
                  predictions: list[Predictions] | None = None,
                  coverage: dict[str, str] | None = None, clients: dict[str, dict] | None = None) -> None:
    """scores.json, metrics.json, report.png and predictions/<task>.npz (unless None), as one unit.

    An unofficial run says so in both JSON files: ``"unofficial": [reasons]`` beside the
    scores and in metrics.json (``official: false``, per task too); an official run's
    scores.json holds only task -> score."""
    from ubm.evaluation.report import write_report_png

    _refuse_non_finite(results)
    coverage = coverage or {}
    reasons = unofficial_reasons(results, fast, coverage)
    tasks = {task: r.to_dict() for task, r in results.items()}
    for task, problem in coverage.items():
        tasks[task].update(official=False, unofficial=problem)
    metrics = {
        "data_dir": str(data_dir), "embeddings_dir": str(embeddings_dir),
        "official": not reasons,
        **({"unofficial": reasons} if reasons else {}),
        "versions": _versions(),
        "clients": clients or {},
        "tasks": tasks,
    }
    scores_out: dict = dict(scores)
    if reasons:
        scores_out["unofficial"] = reasons
    # The run's files change together: a run killed while writing leaves the previous run.
    # Without predictions the old ones go too, so none is left stale.
    with atomic_dir(out_dir, RUN_KIND) as tmp:
        _carry(out_dir / TASKS_DIR, tmp / TASKS_DIR)
        if predictions:
            (tmp / PREDICTIONS_DIR).mkdir()
            for preds in predictions:
                write_predictions(tmp / PREDICTIONS_DIR / f"{preds.task}.npz", preds)
        (tmp / "scores.json").write_text(json.dumps(scores_out, indent=2) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        write_report_png(metrics["tasks"], tmp / "report.png")


def format_scores(results: dict[str, TaskResult], unofficial: list[str] | None = None) -> str:
    head = f"{'task':<22}{'score':>8}{'best':>6}{'auroc':>8}{'novelty':>9}{'diversity':>10}{'no-pos':>8}{'s/epoch':>9}"
    lines = [head, "-" * len(head)]
    for task, r in results.items():
        best = r.epochs[r.best_epoch]
        nov = "" if best.novelty is None else f"{best.novelty:.4f}"
        div = "" if best.diversity is None else f"{best.diversity:.4f}"
        sec = sum(e.seconds for e in r.epochs) / max(len(r.epochs), 1)
        lines.append(f"{task:<22}{r.best_score:>8.4f}{r.best_epoch + 1:>6}{best.auroc:>8.4f}"
                     f"{nov:>9}{div:>10}{r.labels_without_positives:>8}{sec:>9.1f}")
    for reason in unofficial or []:
        lines.append(f"UNOFFICIAL: {reason}")
    return "\n".join(lines)
