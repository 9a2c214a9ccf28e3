"""Verdicts that count both sources of chance: the training seed and the evaluated clients.

A run trained from K seeds (the official seed first) has K sets of validation outputs per
task, over the same clients. Two such runs are compared by pairing their seeds in order
(seed k of one with seed k of the other: the same initialisation and batch order) and, within
each pair, resampling the clients with the one design every run and seed shares
(ubm.evaluation.significance). The pooled draws ``d[k, r]`` (seed pair k, resample r) are
draws of "the difference a single-seed run on another draw of clients would show"; by the
law of total variance their spread is

    var(d) = mean over k of var_r(d[k, :])   (clients, within a seed)
           + var over k of d_k               (seeds: each pair's difference on the outputs)

and the larger of the two is reported as the source that dominates. The interval is the
percentile interval of the pooled draws; the verdict reads it as ``verdict`` does. The point
is the official seed's difference: the official score is always the first seed's.

Pure numpy on the draws of ``task_draws``; no training here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ubm.contract import BINARY_TASKS

from ubm.errors import DataError
from ubm.evaluation.significance import (
    DEFAULT_BLOCKS,
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Predictions,
    _canonical,
    client_terms,
    load_predictions,
    make_design,
    percentile_interval,
    task_draws,
    verdict,
)


@dataclass(frozen=True)
class SeedSpread:
    """One run's task score over its seeds."""

    scores: tuple[float, ...]  # per seed, official seed first
    mean: float
    sd: float  # sample standard deviation (0 with one seed)


@dataclass(frozen=True)
class SeededDifference:
    """``first`` minus ``second`` on one task, over paired seeds and resampled clients."""

    task: str
    first: str
    second: str
    point: float  # official (first) seeds' difference
    mean: float  # mean over seed pairs of their differences
    low: float
    high: float
    seed_var: float  # between seed pairs
    client_var: float  # within a seed pair, over resamples (mean over pairs)
    verdict: str

    @property
    def dominant(self) -> str:
        return "seeds" if self.seed_var > self.client_var else "clients"


def spread(scores: list[float]) -> SeedSpread:
    values = np.asarray(scores, dtype=np.float64)
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return SeedSpread(tuple(float(v) for v in values), float(values.mean()), sd)


def combine(task: str, first: str, second: str, draws_first: np.ndarray, draws_second: np.ndarray,
            points_first: np.ndarray, points_second: np.ndarray, level: float) -> SeededDifference:
    """``draws_*``: [seeds, resamples] task scores; ``points_*``: [seeds] scores on the outputs."""
    if draws_first.shape != draws_second.shape:
        raise DataError(f"{task}: runs {first} and {second} have {draws_first.shape[0]} and "
                         f"{draws_second.shape[0]} seeds; pair runs with the same seeds")
    d = np.asarray(draws_first, dtype=np.float64) - np.asarray(draws_second, dtype=np.float64)
    points = np.asarray(points_first, dtype=np.float64) - np.asarray(points_second, dtype=np.float64)
    client_var = float(d.var(axis=1).mean())
    seed_var = float(points.var(ddof=1)) if len(points) > 1 else 0.0
    low, high = percentile_interval(d.ravel(), level)
    return SeededDifference(task, first, second, float(points[0]), float(points.mean()), low, high,
                            seed_var, client_var, verdict(low, high))


def compare_seeded(runs: dict[str, dict[str, list[Predictions]]], *, resamples: int = DEFAULT_RESAMPLES,
                   level: float = DEFAULT_LEVEL, seed: int = DEFAULT_SEED, blocks: int = DEFAULT_BLOCKS,
                   order: list[str] | None = None) -> tuple[dict[str, dict[str, SeedSpread]], list[SeededDifference]]:
    """Per run and task the seed spread, and per pair and task the two-source difference.

    ``runs``: {run: {task: [Predictions of seed 0, seed 1, ...]}}, all over the same clients
    and labels (checked as ``compare`` checks them).
    """
    names = order or list(runs)
    tasks = [t for t in runs[names[0]] if all(t in runs[n] for n in names)]
    spreads: dict[str, dict[str, SeedSpread]] = {name: {} for name in names}
    differences: list[SeededDifference] = []
    for task in tasks:
        flat = {(name, k): preds for name in names for k, preds in enumerate(runs[name][task])}
        keyed = {f"{name} seed {k}": preds for (name, k), preds in flat.items()}
        orders, labels = _canonical(task, keyed)
        design = make_design(len(labels), resamples, seed, blocks)
        draws, points = {}, {}
        for name in names:
            per_seed = [task_draws(client_terms(p).in_order(orders[f"{name} seed {k}"]), labels, p.kind, design)
                        for k, p in enumerate(runs[name][task])]
            draws[name] = np.stack([t.draws["score"] for t in per_seed])
            points[name] = np.array([t.point["score"] for t in per_seed])
            spreads[name][task] = spread(list(points[name]))
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                differences.append(combine(task, first, second, draws[first], draws[second],
                                           points[first], points[second], level))
    return spreads, differences


def load_seeded_run(run_dir: Path, seeds: list[int], tasks: list[str]) -> dict[str, list[Predictions]]:
    """The stored predictions of ``tasks`` for each seed of a run (``predictions/<unit>.npz``,
    official seed first; unit names as ``ubm.evaluation.store.unit_name``)."""
    from ubm.evaluation.store import PREDICTIONS_DIR, unit_name

    return {task: [load_predictions(Path(run_dir) / PREDICTIONS_DIR / f"{unit_name(task, s)}.npz", task,
                                    "binary" if task in BINARY_TASKS else "propensity") for s in seeds]
            for task in tasks}


def shared_seeds(seeds: dict[str, list[int]]) -> tuple[list[int] | None, str | None]:
    """The seeds every run was trained from, when they all share a list of two or more (what
    seeded verdicts pair); else None and why (None too when every run has one seed)."""
    lists = {tuple(s) for s in seeds.values()}
    if all(len(s) < 2 for s in lists):
        return None, None
    if len(lists) > 1:
        said = "; ".join(f"{name}: {', '.join(map(str, s))}" for name, s in seeds.items())
        return None, (f"no seed-and-client verdicts: the runs were trained from different seeds ({said}); "
                      "train every run with the same --seeds")
    return list(next(iter(lists))), None


def seeded_dict(seeds: list[int], spreads: dict[str, dict[str, SeedSpread]],
                differences: list[SeededDifference]) -> dict:
    return {"seeds": seeds,
            "spreads": {name: {task: asdict(s) for task, s in tasks.items()} for name, tasks in spreads.items()},
            "differences": [{**asdict(d), "dominant": d.dominant} for d in differences]}
