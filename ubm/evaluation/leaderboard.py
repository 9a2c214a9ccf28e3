"""Borda-count leaderboard over several profile sets (docs/evaluation.md §4).

Per task, the sets are ranked by score (higher is better); with N sets, the set ranked k
(1-based) earns N - k points; the total over tasks orders the sets.

Decisions the challenge leaves open, fixed here:

* **Ties** (equal scores on a task; the official scores are already rounded to 4 decimals,
  so "equal" means equal to 4 decimals) share the *average* of the points of the places
  they occupy: with N = 3 and two sets tied for first, each gets (2 + 1) / 2 = 1.5 and the
  third gets 0. The points handed out per task are therefore always N(N-1)/2, whatever
  the ties. The displayed rank of tied sets is the best place they share ("1", "1", "3").
* **Missing or NaN score**: the set gets 0 points for that task (the points of the last
  place), and the others are ranked among themselves, still with N = number of all sets.
* **Overall order**: total points, descending; equal totals share a position and are
  listed by name.

With ``--ci`` the table is followed by each run's bootstrap interval per task and, for every
pair of runs (the better-placed first), the paired difference with its interval and a verdict
(ubm.evaluation.significance): Borda points say who is ahead, the verdicts say whether being
ahead means anything at that level.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ubm.data.io import DataError

if TYPE_CHECKING:
    from ubm.evaluation.significance import Comparison


@dataclass(frozen=True)
class TaskRanking:
    task: str
    scores: dict[str, float | None]  # None: missing / NaN
    ranks: dict[str, int | None]  # 1-based, ties share the best place; None when missing
    points: dict[str, float]


@dataclass(frozen=True)
class Leaderboard:
    order: list[str]  # run names, best first
    tasks: list[str]  # in order of first appearance
    totals: dict[str, float]
    positions: dict[str, int]  # 1-based overall position, equal totals share the best
    per_task: dict[str, TaskRanking]


@dataclass(frozen=True)
class Run:
    """What the leaderboard reads from one run directory of `ubm train`."""

    path: Path
    scores: dict[str, float]
    unofficial: list[str] = field(default_factory=list)  # reasons; empty for an official run
    clients: dict[str, dict] = field(default_factory=dict)  # task -> {"n", "sha256"?} evaluated clients
    seeds: list[int] = field(default_factory=lambda: [1278])  # training seeds, official first (--seeds)


def _load_json(path: Path, run: Path, what: str) -> object:
    if not path.is_file():
        raise DataError(f"missing {what} file: {path} (not a finished run of `ubm train`; "
                        f"run `ubm train --out {run}` first)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); rerun `ubm train --out {run}`") from None


def read_run(run: Path) -> Run:
    """scores.json and metrics.json of a run, refused by name unless they are a run of
    `ubm train` with every score a finite number in [0, 1] that metrics.json agrees with."""
    path = Path(run) / "scores.json"
    raw = _load_json(path, run, "scores")
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object of task -> score, found {type(raw).__name__}")
    reasons = raw.get("unofficial", [])
    scores = {k: v for k, v in raw.items() if k not in ("placeholder", "unofficial")}
    for task, value in scores.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DataError(f"{path}: score of task '{task}' is {value!r}, expected a finite number")
        if not 0 <= value <= 1:
            raise DataError(f"{path}: score of task '{task}' is {value!r}, outside 0..1 (no task score can be)")
    metrics = _load_json(Path(run) / "metrics.json", run, "metrics")
    tasks = metrics.get("tasks") if isinstance(metrics, dict) else None
    if not isinstance(tasks, dict) or "official" not in metrics:
        raise DataError(f"{Path(run) / 'metrics.json'}: not the metrics of a `ubm train` run (no tasks / "
                        "official); the leaderboard ranks runs of `ubm train` only")
    for task, value in scores.items():
        best = (tasks.get(task) or {}).get("best_score") if isinstance(tasks.get(task), dict) else None
        if best is None or round(float(best), 4) != round(float(value), 4):
            raise DataError(f"{path}: score of task '{task}' is {value!r} but metrics.json says {best!r}; "
                            f"edited or from another run: rerun `ubm train --out {run}`")
    if not isinstance(reasons, list):
        reasons = [str(reasons)]
    if metrics.get("official") is False and not reasons:
        reasons = list(metrics.get("unofficial") or ["metrics.json says official: false"])
    digests = metrics.get("clients") if isinstance(metrics.get("clients"), dict) else {}
    clients = {t: digests.get(t) or {"n": tasks[t].get("n_clients")} for t in scores}
    seeds = metrics.get("seeds") or [1278]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise DataError(f"{Path(run) / 'metrics.json'}: seeds is {seeds!r}, expected a list of integers")
    return Run(Path(run), {t: float(v) for t, v in scores.items()}, [str(r) for r in reasons], clients, seeds)


def check_same_clients(runs: dict[str, Run]) -> None:
    """Refuse runs whose tasks were evaluated on different client sets: their scores are
    numbers about different people and cannot be ranked against each other."""
    names = list(runs)
    for task in {t for r in runs.values() for t in r.scores}:
        having = [n for n in names if task in runs[n].scores]
        ref = having[0]
        for name in having[1:]:
            a, b = runs[ref].clients.get(task) or {}, runs[name].clients.get(task) or {}
            keys = [k for k in ("n", "sha256") if a.get(k) is not None and b.get(k) is not None]
            if any(a[k] != b[k] for k in keys):
                raise DataError(f"{task}: runs {runs[ref].path} and {runs[name].path} were evaluated on different "
                                f"clients ({a.get('n')} and {b.get('n')} clients); their scores cannot be ranked "
                                "together")


def _valid(score: float | None) -> bool:
    return score is not None and not (isinstance(score, float) and math.isnan(score))


def rank_task(task: str, scores: dict[str, float | None], n_sets: int | None = None) -> TaskRanking:
    """Rank one task. ``n_sets`` defaults to the number of entries in ``scores``."""
    n = len(scores) if n_sets is None else n_sets
    present = sorted(((name, float(s)) for name, s in scores.items() if _valid(s)), key=lambda t: -t[1])
    ranks: dict[str, int | None] = {name: None for name in scores}
    points: dict[str, float] = {name: 0.0 for name in scores}
    i = 0
    while i < len(present):
        j = i
        while j + 1 < len(present) and present[j + 1][1] == present[i][1]:
            j += 1
        # places i+1 .. j+1 (1-based) are shared; each would earn n - place
        shared = sum(n - (place + 1) for place in range(i, j + 1)) / (j - i + 1)
        for name, _ in present[i : j + 1]:
            ranks[name] = i + 1
            points[name] = shared
        i = j + 1
    clean = {name: (float(s) if _valid(s) else None) for name, s in scores.items()}
    return TaskRanking(task=task, scores=clean, ranks=ranks, points=points)


def leaderboard(runs: dict[str, dict[str, float]]) -> Leaderboard:
    """``runs``: {run name: {task name: score}}. Every task seen in any run is ranked."""
    names = list(runs)
    tasks: list[str] = []
    for scores in runs.values():
        for task in scores:
            if task not in tasks:
                tasks.append(task)
    per_task = {
        task: rank_task(task, {name: runs[name].get(task) for name in names}, n_sets=len(names)) for task in tasks
    }
    totals = {name: sum(per_task[t].points[name] for t in tasks) for name in names}
    order = sorted(names, key=lambda name: (-totals[name], name))
    positions: dict[str, int] = {}
    for idx, name in enumerate(order):
        if idx > 0 and totals[name] == totals[order[idx - 1]]:
            positions[name] = positions[order[idx - 1]]
        else:
            positions[name] = idx + 1
    return Leaderboard(order=order, tasks=tasks, totals=totals, positions=positions, per_task=per_task)


def _fmt_points(p: float) -> str:
    return f"{p:g}"


def format_table(board: Leaderboard, unofficial: dict[str, list[str]] | None = None) -> str:
    """Plain-text table: position, run, total points, then per task ``score (points)``;
    an unofficial run's name carries `` [unofficial]`` and its reasons follow the table."""
    unofficial = {n: r for n, r in (unofficial or {}).items() if r}
    header = ["#", "run", "points"] + board.tasks
    rows = []
    for name in board.order:
        shown = f"{name} [unofficial]" if name in unofficial else name
        row = [str(board.positions[name]), shown, _fmt_points(board.totals[name])]
        for task in board.tasks:
            tr = board.per_task[task]
            score = tr.scores[name]
            cell = "-" if score is None else f"{score:.4f}"
            row.append(f"{cell} ({_fmt_points(tr.points[name])})")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    align = ["r", "l", "r"] + ["r"] * len(board.tasks)

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append("")
    out.append("Borda count per task: rank k of N earns N-k points; ties share the average of their places' points.")
    for name, reasons in unofficial.items():
        out.append(f"UNOFFICIAL {name}: {'; '.join(reasons)}")
    return "\n".join(out)


def _signed(x: float) -> str:
    return f"{x:+.4f}"


def _columns(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_comparison(board: Leaderboard, comparison: "Comparison", spreads: dict | None = None) -> str:
    """Interval of every run's score per task, then every pair's difference and verdict.

    ``spreads`` (run -> task -> :class:`ubm.evaluation.seeds.SeedSpread`, from a run trained
    from several seeds) adds each task's spread over the seeds beside its client interval: the
    other source of chance, which the interval (official seed, clients resampled) leaves out."""
    pct = f"{comparison.level * 100:g} %"
    out = [f"{pct} bootstrap intervals ({comparison.resamples:,} resamples of the evaluated clients, "
           f"seed {comparison.seed}):"]
    rows = []
    for task in board.tasks:
        for name in board.order:
            iv = comparison.intervals.get(name, {}).get(task)
            if iv is not None:
                rows.append([task, name, f"{iv.point:.4f}", f"{iv.low:.4f}", f"{iv.high:.4f}",
                             f"{iv.high - iv.low:.4f}"]
                            + (_seed_cells(spreads.get(name, {}).get(task), iv.high - iv.low) if spreads else []))
    extra = ["seeds sd", "seeds min", "seeds max", "seed range / width"] if spreads else []
    out += _columns(["task", "run", "score", "low", "high", "width"] + extra, rows, set(range(2, 6 + len(extra))))
    if spreads:
        k = max(len(s.scores) for per in spreads.values() for s in per.values())
        out += ["", f"seeds: the task's official score from each of the {k} training seeds (the interval is the "
                    "official seed's, clients resampled); a seed range / width near or above 1 means the seed "
                    "moves the score as much as the choice of clients does."]
    if comparison.differences:
        out += ["", f"Paired differences, first minus second, on the same resampled clients ({pct} interval):"]
        rows = []
        for d in comparison.differences:
            said = d.verdict if d.verdict == "not distinguishable" else f"{d.first} {d.verdict}"
            rows.append([d.task, f"{d.first} - {d.second}", _signed(d.point), _signed(d.low), _signed(d.high), said])
        out += _columns(["task", "pair", "difference", "low", "high", "verdict"], rows, {2, 3, 4})
    out += ["", "score: recomputed from the stored validation outputs (unrounded); a paired interval that "
                "excludes 0 is a difference the resampling of clients does not explain."]
    return "\n".join(out)


def _seed_cells(s, width: float) -> list[str]:
    """sd, min, max of a task's scores over the seeds, and their range over the interval's width."""
    if s is None:
        return ["-"] * 4
    low, high = min(s.scores), max(s.scores)
    ratio = "-" if width <= 0 else f"{(high - low) / width:.2f}"
    return [f"{s.sd:.4f}", f"{low:.4f}", f"{high:.4f}", ratio]


def format_seeded(spreads: dict, differences: list, seeds: list[int], level: float) -> str:
    """Each run's score per seed, then every pair's two-source difference (ubm.evaluation.seeds)."""
    pct = f"{level * 100:g} %"
    out = [f"Training seeds {', '.join(map(str, seeds))} (the first is official): each task's score per seed"]
    tasks = list(dict.fromkeys(t for per_run in spreads.values() for t in per_run))
    rows = [[task, name, f"{s.mean:.4f}", f"{s.sd:.4f}", " ".join(f"{v:.4f}" for v in s.scores)]
            for task in tasks for name, per_run in spreads.items() if (s := per_run.get(task)) is not None]
    out += _columns(["task", "run", "mean", "sd", "per seed"], rows, {2, 3})
    if differences:
        out += ["", f"Paired over seeds and clients, first minus second: seed k of one run against seed k of the "
                    f"other, clients resampled within each pair ({pct} interval of the pooled draws):"]
        rows = []
        for d in differences:
            said = d.verdict if d.verdict == "not distinguishable" else f"{d.first} {d.verdict}"
            rows.append([d.task, f"{d.first} - {d.second}", _signed(d.point), _signed(d.mean), _signed(d.low),
                         _signed(d.high), f"{d.seed_var ** 0.5:.4f}", f"{d.client_var ** 0.5:.4f}", d.dominant, said])
        out += _columns(["task", "pair", "official", "mean", "low", "high", "seed sd", "client sd", "dominates",
                         "verdict"], rows, {2, 3, 4, 5, 6, 7})
        out += ["", "seed sd: spread of the seed pairs' differences; client sd: of the resampled clients within a "
                    "pair; the larger dominates. This verdict counts both; the one above, clients only."]
    return "\n".join(out)


def comparison_dict(comparison: "Comparison") -> dict:
    return {
        "resamples": comparison.resamples, "level": comparison.level, "seed": comparison.seed,
        "blocks": comparison.blocks, "clients": comparison.clients,
        "intervals": {name: {task: asdict(iv) for task, iv in tasks.items()}
                      for name, tasks in comparison.intervals.items()},
        "differences": [asdict(d) for d in comparison.differences],
    }


def to_json(board: Leaderboard, indent: int | None = 2, comparison: "Comparison | None" = None,
            unofficial: dict[str, list[str]] | None = None, seeded: dict | None = None) -> str:
    data = asdict(board)
    data["unofficial"] = {n: r for n, r in (unofficial or {}).items() if r}
    if comparison is not None:
        data["ci"] = comparison_dict(comparison)
    if seeded is not None:
        data["ci_seeds"] = seeded
    return json.dumps(data, indent=indent, sort_keys=False)
