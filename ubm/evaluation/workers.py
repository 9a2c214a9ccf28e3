"""Devices and workers of ``ubm train``: which trainer a device uses, what each device trains
(a picklable job), and one spawned process per device for ``--devices``.

A device trains its tasks one after another (``loop.train_task``, the "single" trainer) or
together (``multi.train_tasks``, the "multi" trainer; the same numbers). Each finished task
is saved to the run's task store at once, so an interrupted run keeps it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ubm.errors import DataError
from ubm.evaluation.labels import align
from ubm.evaluation.loop import TaskResult, train_task
from ubm.evaluation.multi import TaskData, train_tasks
from ubm.evaluation.store import TaskStore, unit_of
from ubm.prepare.targets import load_task
from ubm.profiles.validate import load_entry
from ubm.util import keep_freed_memory

TRAINERS = ("auto", "multi", "single")


@dataclass(frozen=True)
class TrainOptions:
    """How tasks are trained. trainer: "multi" trains a device's tasks together
    (``ubm.evaluation.multi``), "single" one after another (``train_task``), "auto" picks
    multi on CUDA and single on CPU, where it measured no faster (BENCHMARKS.md)."""

    fast: bool = False
    trainer: str = "auto"
    graphs: bool = True  # CUDA graphs in the multi trainer
    hidden_sizes: tuple[int, int] | None = None  # tests only
    progress: bool = True

    def trainer_for(self, device: str, n_tasks: int) -> str:
        if self.trainer not in TRAINERS:
            raise DataError(f"unknown trainer {self.trainer!r}: auto, multi or single")
        if self.trainer != "auto":
            return self.trainer
        return "multi" if device.startswith("cuda") and n_tasks > 1 else "single"


@dataclass(frozen=True)
class DeviceJob:
    """What one device trains; picklable, so a worker process can run it."""

    device: str
    tasks: tuple[str, ...]  # units: a task from one seed (ubm.evaluation.store.unit_name)
    embeddings_dir: Path
    labels_dir: Path
    results_dir: Path
    keys: dict[str, str]
    options: TrainOptions
    threads: int | None = None  # CPU workers share the cores


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
    """One TaskData per unit (a task from one seed); a task's seeds share its label arrays."""
    data = []
    loaded: dict[str, TaskData] = {}
    for unit in job.tasks:
        task, seed = unit_of(unit)
        if task not in loaded:
            labels = load_task(job.labels_dir, task)
            entry_rows, label_rows = align(client_ids, labels.client_ids)
            if len(entry_rows) == 0:
                raise DataError(f"task {task}: no client of the entry is evaluated (labels in {job.labels_dir})")
            log(f"{task}: {len(entry_rows):,} clients x {labels.train.shape[1]} labels on {job.device}")
            loaded[task] = TaskData(task, labels.kind, labels.train[label_rows], labels.validation[label_rows],
                                    labels.popularity, entry_rows)
        data.append(replace(loaded[task], name=unit, seed=seed))
    return data


def run_job(job: DeviceJob, log: Callable[[str], None]) -> dict[str, TaskResult]:
    """Train one device's tasks, saving each result as soon as it is finished."""
    client_ids, embeddings = load_entry(job.embeddings_dir, mmap=True)
    data = _task_data(job, client_ids, log)
    store = TaskStore(job.results_dir)
    opts = job.options
    results: dict[str, TaskResult] = {}
    if opts.trainer_for(job.device, len(data)) == "multi":
        log(f"training {', '.join(job.tasks)} together on {job.device}")
        results = train_tasks(embeddings, data, device=job.device, progress=opts.progress, fast=opts.fast,
                              hidden_sizes=opts.hidden_sizes, graphs=opts.graphs)
        for task, result in results.items():
            store.save(task, job.keys[task], result)
        return results
    for d in data:
        results[d.name] = train_task(
            embeddings[d.rows], d.y_train, d.y_val, kind=d.kind, popularity=d.popularity, device=job.device,
            progress=opts.progress, fast=opts.fast, label=d.name, hidden_sizes=opts.hidden_sizes, seed=d.seed)
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


def run_workers(jobs: list[DeviceJob], log: Callable[[str], None]) -> None:
    """One spawned process per job; a worker that dies is one clear error naming its device."""
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
