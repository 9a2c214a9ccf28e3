"""PNG reports (matplotlib, Agg backend): validation score per epoch for each task of a run,
a forest plot of the paired differences between runs, and the heatmap of ``ubm ablate``."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from ubm.evaluation.ablation import Effect
    from ubm.evaluation.significance import Comparison


def _epochs_of(result: Any) -> list[dict]:
    """Accept a TaskResult, its ``to_dict()``, ``{"epochs": [...]}`` or a bare list of scores."""
    if is_dataclass(result) and not isinstance(result, type):
        result = result.to_dict() if hasattr(result, "to_dict") else asdict(result)  # to_dict skips the logits
    if isinstance(result, dict):
        epochs = result.get("epochs", [])
    else:
        epochs = result
    out = []
    for i, e in enumerate(epochs):
        if isinstance(e, dict):
            out.append({**e, "epoch": e.get("epoch", i)})
        else:
            out.append({"epoch": i, "score": float(e)})
    return out


def _best_of(result: Any, epochs: list[dict]) -> int | None:
    if is_dataclass(result) and not isinstance(result, type):
        return result.best_epoch  # type: ignore[union-attr]
    if isinstance(result, dict) and "best_epoch" in result:
        return result["best_epoch"]
    scores = [e.get("score") for e in epochs]
    valid = [(i, s) for i, s in enumerate(scores) if s is not None]
    return max(valid, key=lambda t: t[1])[0] if valid else None


def write_report_png(metrics: dict, path: str | os.PathLike, title: str | None = None) -> Path:
    """One panel per task: score per epoch (plus AUROC, novelty, diversity when present), best epoch marked.

    ``metrics``: {task name: TaskResult | TaskResult.to_dict() | {"epochs": [...]} | [scores]};
    a top-level ``{"tasks": {...}}`` wrapper is accepted too. Written to a temporary sibling
    then renamed, so readers never see a half-written file.
    """
    tasks = metrics.get("tasks", metrics) if isinstance(metrics, dict) else metrics
    if not isinstance(tasks, dict) or not tasks:
        raise ValueError("write_report_png needs a non-empty {task: result} mapping")
    names = list(tasks)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    try:
        for ax, name in zip(axes.flat, names):
            epochs = _epochs_of(tasks[name])
            xs = [e["epoch"] + 1 for e in epochs]
            for key, style in (("score", "o-"), ("auroc", "s--"), ("novelty", "^:"), ("diversity", "v:")):
                ys = [e.get(key) for e in epochs]
                if key != "score" and (all(y is None for y in ys) or ys == [e.get("score") for e in epochs]):
                    continue  # binary tasks: score == auroc, no novelty/diversity
                if any(y is not None for y in ys):
                    ax.plot(xs, [math.nan if y is None else y for y in ys], style, label=key,
                            linewidth=2 if key == "score" else 1)
            best = _best_of(tasks[name], epochs)
            if best is not None and 0 <= best < len(epochs) and epochs[best].get("score") is not None:
                s = epochs[best]["score"]
                ax.plot([best + 1], [s], "*", markersize=14, color="crimson", label=f"best {round(s, 4):.4f}")
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.set_ylabel("validation")
            ax.set_xticks(xs or [1])
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="best")
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        path = _save_atomically(fig, path)
    finally:
        plt.close(fig)
    return path


def _save_atomically(fig: Any, path: str | os.PathLike) -> Path:
    """Written to a temporary sibling, then renamed: readers never see a half-written file."""
    from ubm.util import atomic_path

    path = Path(path)
    with atomic_path(path, "--plot") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def _plain(text: str) -> str:
    """A name from the data shown as itself: a ``$`` would otherwise start matplotlib's mathtext
    (and ``$\\frac{$`` fail to parse)."""
    return str(text).replace("$", r"\$")


_VERDICT_COLOURS = {"better": "tab:green", "worse": "tab:red", "not distinguishable": "tab:gray"}


def write_forest_png(comparison: "Comparison", path: str | os.PathLike) -> Path:
    """One panel per pair of runs: each task's paired difference (first minus second) with its
    interval, a line at 0; green when the first run is better, red when worse, grey when the
    interval straddles 0."""
    fig = _forest_figure(comparison)
    try:
        return _save_atomically(fig, path)
    finally:
        plt.close(fig)


def forest_png(comparison: "Comparison") -> bytes:
    """The forest plot of :func:`write_forest_png` as PNG bytes (what an HTML report embeds)."""
    return _png_bytes(_forest_figure(comparison))


def _png_bytes(fig: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _forest_figure(comparison: "Comparison") -> Any:
    pairs: dict[tuple[str, str], list] = {}
    for d in comparison.differences:
        pairs.setdefault((d.first, d.second), []).append(d)
    if not pairs:
        raise ValueError("a forest plot needs at least two runs")
    rows = max(len(v) for v in pairs.values())
    fig, axes = plt.subplots(len(pairs), 1, figsize=(7.5, 0.9 + 0.45 * rows * len(pairs) + 0.6 * len(pairs)),
                             squeeze=False)
    try:
        for ax, ((first, second), diffs) in zip(axes[:, 0], pairs.items()):
            ys = list(range(len(diffs)))[::-1]
            for y, d in zip(ys, diffs):
                colour = _VERDICT_COLOURS[d.verdict]
                ax.errorbar([d.point], [y], xerr=[[d.point - d.low], [d.high - d.point]], fmt="o",
                            color=colour, capsize=4, markersize=5)
            ax.axvline(0.0, color="black", linewidth=0.8)
            ax.set_yticks(ys)
            ax.set_yticklabels([_plain(d.task) for d in diffs])
            ax.set_ylim(-0.7, len(diffs) - 0.3)
            ax.set_title(f"{_plain(first)} - {_plain(second)}: task score difference, "
                         f"{comparison.level * 100:g} % paired bootstrap ({comparison.resamples:,} resamples)",
                         fontsize=9)
            ax.grid(True, axis="x", alpha=0.3)
        axes[-1, 0].set_xlabel("difference (green: first better, red: first worse, grey: not distinguishable)",
                               fontsize=8)
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    return fig


def write_ablation_png(result: list["Effect"], path: str | os.PathLike, mode: str = "without") -> Path:
    """``ubm ablate``'s heatmap: blocks x tasks of the change (``mode``'s differences), starred where
    the interval excludes 0."""
    fig = _ablation_figure(result, mode)
    try:
        return _save_atomically(fig, path)
    finally:
        plt.close(fig)


def ablation_png(result: list["Effect"], mode: str = "without") -> bytes:
    """The heatmap of :func:`write_ablation_png` as PNG bytes (what an HTML report embeds)."""
    return _png_bytes(_ablation_figure(result, mode))


def _ablation_figure(result: list["Effect"], mode: str) -> Any:
    chosen = [e for e in result if e.mode == mode] or result
    blocks = list(dict.fromkeys(e.block for e in chosen))
    tasks = list(dict.fromkeys(e.task for e in chosen))
    grid = np.full((len(blocks), len(tasks)), np.nan)
    for e in chosen:
        grid[blocks.index(e.block), tasks.index(e.task)] = e.point
    limit = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    fig, ax = plt.subplots(figsize=(max(6.0, 2.4 + 1.3 * len(tasks)), 1.4 + 0.45 * len(blocks)))
    image = ax.imshow(grid, cmap="RdBu", vmin=-limit or -1, vmax=limit or 1, aspect="auto")
    for e in chosen:
        i, j = blocks.index(e.block), tasks.index(e.task)
        mark = "" if e.verdict == "not distinguishable" else " *"
        ax.text(j, i, f"{e.point:+.3f}{mark}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(tasks)), [_plain(t) for t in tasks], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(blocks)), [_plain(b) for b in blocks], fontsize=8)
    what = "full minus without the block" if chosen[0].mode == "without" else "block alone minus full"
    ax.set_title(f"ubm ablate: {what} (* interval excludes 0)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig
