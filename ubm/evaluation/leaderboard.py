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
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

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


def format_table(board: Leaderboard) -> str:
    """Plain-text table: position, run, total points, then per task ``score (points)``."""
    header = ["#", "run", "points"] + board.tasks
    rows = []
    for name in board.order:
        row = [str(board.positions[name]), name, _fmt_points(board.totals[name])]
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
    return "\n".join(out)


def _signed(x: float) -> str:
    return f"{x:+.4f}"


def _columns(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_comparison(board: Leaderboard, comparison: "Comparison") -> str:
    """Interval of every run's score per task, then every pair's difference and verdict."""
    pct = f"{comparison.level * 100:g} %"
    out = [f"{pct} bootstrap intervals ({comparison.resamples:,} resamples of the evaluated clients, "
           f"seed {comparison.seed}):"]
    rows = []
    for task in board.tasks:
        for name in board.order:
            iv = comparison.intervals.get(name, {}).get(task)
            if iv is not None:
                rows.append([task, name, f"{iv.point:.4f}", f"{iv.low:.4f}", f"{iv.high:.4f}",
                             f"{iv.high - iv.low:.4f}"])
    out += _columns(["task", "run", "score", "low", "high", "width"], rows, {2, 3, 4, 5})
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


def comparison_dict(comparison: "Comparison") -> dict:
    return {
        "resamples": comparison.resamples, "level": comparison.level, "seed": comparison.seed,
        "blocks": comparison.blocks, "clients": comparison.clients,
        "intervals": {name: {task: asdict(iv) for task, iv in tasks.items()}
                      for name, tasks in comparison.intervals.items()},
        "differences": [asdict(d) for d in comparison.differences],
    }


def to_json(board: Leaderboard, indent: int | None = 2, comparison: "Comparison | None" = None) -> str:
    data = asdict(board)
    if comparison is not None:
        data["ci"] = comparison_dict(comparison)
    return json.dumps(data, indent=indent, sort_keys=False)
