"""``ubm train``: validate an entry, get the labels, train the fixed model per task, report.

The official loop feeds each task's model the entry's rows in the entry's own order
(churn: only the rows of active clients, order kept) and labels them from the train
window, then validates the same rows labelled from the validation window. We do the
same, looking each client's labels up by id in the label arrays of ``ubm targets``.

This module is the run; its parts live below it: the labels and id alignment
(``labels``), the task store and its keys (``store``), devices, trainers and worker
processes (``workers``), and the run directory's outputs (``outputs``). Each finished task
is written at once to ``OUT/tasks/<task>.json`` (and its best epoch's validation logits to
``.best_logits.npy``), keyed by the entry's and labels' files and the options, so a rerun
trains only what is missing; scores.json and metrics.json are written last, from all tasks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ubm import provenance
from ubm.data.io import Settings
from ubm.errors import DataError, EntryError
from ubm.evaluation.labels import align, labels_for
from ubm.evaluation.loop import TaskResult
from ubm.evaluation.official import clients_digest, coverage_problems, unofficial_reasons
from ubm.evaluation.outputs import RUN_KIND, claim_out, predictions_of, write_outputs
from ubm.evaluation.model import SEED
from ubm.evaluation.store import TASKS_DIR, TaskStore, task_key, unit_name, unit_of
from ubm.evaluation.workers import DeviceJob, TrainOptions, parse_devices, run_job, run_workers, spread
from ubm.prepare.targets import labels_code_version
from ubm.profiles.validate import load_entry, validate_entry
from ubm.util import keep_freed_memory
from ubm.ownership import check_out


@dataclass
class RunResult:
    out_dir: Path
    scores: dict[str, float]
    results: dict[str, TaskResult]
    unofficial: list[str] = field(default_factory=list)  # why the run is not official; empty if it is
    seeds: list[int] = field(default_factory=lambda: [SEED])  # the official first
    seed_scores: dict[str, list[float]] = field(default_factory=dict)  # task -> score per seed


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
    trainer: str = "auto",
    graphs: bool = True,
    hidden_sizes: tuple[int, int] | None = None,
    predictions: bool = True,
    seeds: list[int] | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> RunResult:
    """Validate the entry, train every task, write scores.json, metrics.json and report.png.

    devices: one process per device, tasks spread over them (``cpu,cpu`` works too);
    None trains in this process on ``device``. resume: reuse tasks finished earlier in
    ``out_dir/tasks`` with the same entry, labels and options (the log says which).
    seeds: train each task from each (``ubm train --seeds``), the official seed first; the
    scores, and everything written as before, are the official seed's, so with one seed
    the outputs are those of a run without seeds; metrics.json adds the spread over seeds.
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
    options = TrainOptions(fast=fast, trainer=trainer, graphs=graphs, hidden_sizes=hidden_sizes, progress=progress)
    options.trainer_for(device_list[0], len(tasks))  # an unknown trainer fails before any work
    seeds = list(seeds or [SEED])
    if seeds[0] != SEED or len(set(seeds)) != len(seeds):
        raise DataError(f"seeds {seeds}: distinct, the official {SEED} first")
    # Official seed of every task first: an interrupted run has the official scores soonest.
    units = [unit_name(t, s) for s in seeds for t in tasks]
    keys = {u: task_key(unit_of(u)[0], embeddings_dir, labels_dir, fast=fast, hidden_sizes=hidden_sizes,
                        seed=unit_of(u)[1]) for u in units}
    store = TaskStore(out_dir / TASKS_DIR)

    results = _reuse(units, store, keys, predictions, log) if resume else {}
    todo = [u for u in units if u not in results]
    claim_out(out_dir, todo)
    keep_freed_memory()
    try:
        results.update(_train(todo, device_list, embeddings_dir, labels_dir, store, keys, options, log))
    except BaseException:
        _log_unfinished(units, store, keys, out_dir, log)
        raise
    official = {t: results[t] for t in tasks}
    by_seed = {t: {s: results[unit_name(t, s)] for s in seeds} for t in tasks}
    scores = {task: r.best_score for task, r in official.items()}
    preds = predictions_of(labels_dir, client_ids, {u: results[u] for u in units}) if predictions else None
    clients = {t: clients_digest(client_ids[align(client_ids, np.load(Path(labels_dir) / t / "client_ids.npy"))[0]])
               for t in tasks}
    write_outputs(out_dir, scores, official, data_dir, embeddings_dir, fast, preds, unofficial, clients,
                  seeds=by_seed if len(seeds) > 1 else None)
    return RunResult(out_dir, scores, official, unofficial_reasons(official, fast, unofficial), seeds,
                     {t: [r.best_score for r in per.values()] for t, per in by_seed.items()})


def _reuse(units: list[str], store: TaskStore, keys: dict[str, str], predictions: bool,
           log: Callable[[str], None]) -> dict[str, TaskResult]:
    """The units finished earlier with these inputs and whole stored logits (the log says which)."""
    results: dict[str, TaskResult] = {}
    for unit in units:
        found = store.load(unit, keys[unit])
        if found and predictions and found[0].best_logits is None:
            found = None  # its predictions cannot be written
        if found is None and store.json_path(unit).is_file():
            log(f"{unit}: not reusing {store.json_path(unit)} (other inputs or options, or its stored logits "
                "are gone or damaged); training it again")
        if found:
            results[unit] = found[0]
            log(f"{unit}: reusing the result finished {found[1]} on {found[0].device} "
                f"(score {found[0].best_score:.4f}, {store.json_path(unit)}); --no-resume retrains")
    return results


def _train(todo: list[str], device_list: list[str], embeddings_dir: Path, labels_dir: Path, store: TaskStore,
           keys: dict[str, str], options: TrainOptions, log: Callable[[str], None]) -> dict[str, TaskResult]:
    if not todo:
        return {}
    common = dict(embeddings_dir=Path(embeddings_dir), labels_dir=Path(labels_dir), results_dir=store.root,
                  keys={t: keys[t] for t in todo}, options=options)
    if len(device_list) == 1:
        return run_job(DeviceJob(device=device_list[0], tasks=tuple(todo), **common), log)
    costs = {u: len(np.load(Path(labels_dir) / unit_of(u)[0] / "client_ids.npy", mmap_mode="r")) for u in todo}
    groups = [g for g in spread(todo, costs, len(device_list))]
    # CPU workers keep this process's thread count: with fewer threads torch's CPU reductions
    # differ in the last bit, and the workers are there to run the multi-device path
    # with the same numbers, not to be fast (the cores are shared anyway).
    threads = torch.get_num_threads()
    jobs = [DeviceJob(device=d, tasks=tuple(g), threads=threads if d == "cpu" else None, **common)
            for d, g in zip(device_list, groups) if g]
    for job in jobs:
        log(f"{job.device}: {', '.join(job.tasks)}")
    run_workers(jobs, log)
    out = {}
    for t in todo:
        found = store.load(t, keys[t])
        if found is None:
            raise DataError(f"{t}: its worker ended without a result in {store.root}")
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
