"""A run directory's outputs: scores.json, metrics.json, report.png and the stored predictions,
replaced together at the end of a run; the guard on ``--out``; the printed table."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from ubm.errors import DataError
from ubm.evaluation.labels import align
from ubm.evaluation.loop import TaskResult
from ubm.evaluation.official import unofficial_reasons
from ubm.evaluation.seeds import spread
from ubm.evaluation.significance import Predictions, write_predictions
from ubm.evaluation.store import PREDICTIONS_DIR, TASKS_DIR, unit_name, unit_of
from ubm.ownership import read_manifest, write_manifest
from ubm.prepare.targets import load_task
from ubm.util import atomic_dir, is_temp_name, through_link

# A run's outputs, replaced together at its end (a killed run leaves the previous ones).
RUN_OUTPUTS = frozenset({"scores.json", "metrics.json", "report.png"})
RUN_FILES = RUN_OUTPUTS | {TASKS_DIR, PREDICTIONS_DIR}
RUN_KIND = "run"  # the manifest kind of a run directory (ubm.ownership)


def _versions() -> dict[str, str]:
    import duckdb
    import torch
    import torchmetrics

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchmetrics": torchmetrics.__version__, "duckdb": duckdb.__version__,
            "numpy": np.__version__}


def _carry(src: Path, dst: Path) -> None:
    """Hard-link a finished run's task store into the directory that replaces it (no copy of
    the stored logits), so the swap keeps what --resume needs."""
    if not src.is_dir():
        return
    dst.mkdir()
    for path in src.iterdir():
        if path.is_file() and not is_temp_name(path.name):
            os.link(path, dst / path.name)


def claim_out(out_dir: Path, tasks: list[str]) -> None:
    """Make --out a run directory before tasks are stored in it: its manifest lists the task
    files this run may write, so a run killed halfway is still ubm's to resume and replace."""
    real = through_link(out_dir)
    real.mkdir(parents=True, exist_ok=True)
    before = read_manifest(real)
    files = [f"{TASKS_DIR}/"] + [f"{TASKS_DIR}/{t}{suffix}" for t in tasks for suffix in (".json", ".best_logits.npy")]
    write_manifest(real, RUN_KIND, files + (before["files"] if before else []))


def predictions_of(labels_dir: Path, client_ids: np.ndarray,
                   results: dict[str, TaskResult]) -> dict[str, Predictions]:
    """Each unit's (a task from one seed) best-epoch validation outputs with the evaluated
    clients and labels, by unit name: what a bootstrap resamples (ubm.evaluation.significance)."""
    out = {}
    for unit, result in results.items():
        task = unit_of(unit)[0]
        labels = load_task(labels_dir, task)
        entry_rows, label_rows = align(client_ids, labels.client_ids)
        out[unit] = Predictions(task=task, kind=labels.kind, client_ids=client_ids[entry_rows],
                                logits=result.best_logits, labels=labels.validation[label_rows],
                                popularity=labels.popularity)
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
                  predictions: dict[str, Predictions] | None = None,
                  coverage: dict[str, str] | None = None, clients: dict[str, dict] | None = None,
                  seeds: dict[str, dict[int, TaskResult]] | None = None) -> None:
    """scores.json, metrics.json, report.png and predictions/<unit>.npz (unless None), as one unit.

    An unofficial run says so in both JSON files: ``"unofficial": [reasons]`` beside the
    scores and in metrics.json (``official: false``, per task too); an official run's
    scores.json holds only task -> score. ``results`` are the official seed's; ``seeds``
    (task -> seed -> result, the official first; None with one seed) adds to metrics.json
    the seeds, each task's per-seed scores, mean and spread, and the other seeds' results."""
    from ubm.evaluation.report import write_report_png

    _refuse_non_finite(results)
    for task, per_seed in (seeds or {}).items():
        _refuse_non_finite({unit_name(task, s): r for s, r in per_seed.items()})
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
    if seeds:
        _add_seeds(metrics, seeds)
    scores_out: dict = dict(scores)
    if reasons:
        scores_out["unofficial"] = reasons
    # The run's files change together: a run killed while writing leaves the previous run.
    # Without predictions the old ones go too, so none is left stale.
    with atomic_dir(out_dir, RUN_KIND) as tmp:
        _carry(out_dir / TASKS_DIR, tmp / TASKS_DIR)
        if predictions:
            (tmp / PREDICTIONS_DIR).mkdir()
            for unit, preds in predictions.items():
                write_predictions(tmp / PREDICTIONS_DIR / f"{unit}.npz", preds)
        (tmp / "scores.json").write_text(json.dumps(scores_out, indent=2) + "\n")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        write_report_png(metrics["tasks"], tmp / "report.png")


def seed_summary(scores: list[float]) -> dict:
    """Per-seed scores (official first), their mean and sample standard deviation."""
    s = spread(scores)
    return {"scores": list(s.scores), "mean": s.mean, "sd": s.sd, "min": min(s.scores), "max": max(s.scores)}


def _add_seeds(metrics: dict, seeds: dict[str, dict[int, TaskResult]]) -> None:
    """metrics.json of a run with several seeds: the seeds, each task's spread over them, and
    every other seed's full result under ``seed_runs`` (``<task>.seed<S>``)."""
    first = next(iter(seeds.values()))
    metrics["seeds"] = list(first)
    for task, per_seed in seeds.items():
        metrics["tasks"][task]["seeds"] = seed_summary([r.best_score for r in per_seed.values()])
    metrics["seed_runs"] = {unit_name(task, s): r.to_dict() for task, per_seed in seeds.items()
                            for s, r in per_seed.items() if s != metrics["seeds"][0]}


def format_scores(results: dict[str, TaskResult], unofficial: list[str] | None = None,
                  seeds: list[int] | None = None, seed_scores: dict[str, list[float]] | None = None) -> str:
    """The official scores' table; with several seeds, then each task's score per seed."""
    head = f"{'task':<22}{'score':>8}{'best':>6}{'auroc':>8}{'novelty':>9}{'diversity':>10}{'no-pos':>8}{'s/epoch':>9}"
    lines = [head, "-" * len(head)]
    for task, r in results.items():
        best = r.epochs[r.best_epoch]
        nov = "" if best.novelty is None else f"{best.novelty:.4f}"
        div = "" if best.diversity is None else f"{best.diversity:.4f}"
        sec = sum(e.seconds for e in r.epochs) / max(len(r.epochs), 1)
        lines.append(f"{task:<22}{r.best_score:>8.4f}{r.best_epoch + 1:>6}{best.auroc:>8.4f}"
                     f"{nov:>9}{div:>10}{r.labels_without_positives:>8}{sec:>9.1f}")
    if seeds and len(seeds) > 1 and seed_scores:
        lines += ["", f"seeds {', '.join(map(str, seeds))} (the first is official, and its scores are above):",
                  f"{'task':<22}{'mean':>8}{'sd':>8}{'min':>8}{'max':>8}  per seed"]
        for task, scores in seed_scores.items():
            s = seed_summary(scores)
            lines.append(f"{task:<22}{s['mean']:>8.4f}{s['sd']:>8.4f}{s['min']:>8.4f}{s['max']:>8.4f}  "
                         + " ".join(f"{v:.4f}" for v in scores))
    for reason in unofficial or []:
        lines.append(f"UNOFFICIAL: {reason}")
    return "\n".join(lines)
