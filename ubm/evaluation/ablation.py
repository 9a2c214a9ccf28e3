"""Which block of a profile earns its columns: the arithmetic of ``ubm ablate``.

An entry's recipe records its blocks in column order (``columns.json`` ``recipe_info.blocks``:
name, columns, seconds). A study's unit is a *block* here: one recorded block, or every block
whose name starts with a prefix (``activity`` covers ``activity.page_visit``, ...); by default
one unit per prefix before the first dot. Each variant keeps the entry's width and zeroes
columns: "without B" zeroes B's columns, "only B" every other column. Zeros, not dropped
columns, so every variant trains the same network from the same initial weights (the first
layer's width is the entry's) and a zero column is what "no information" means in every
recipe here (a client without events is the zero vector).

A block's contribution to a task is the full entry's score minus the score without it, with
the interval of that paired difference from the same resampling as ``--ci``
(:func:`ubm.evaluation.seeds.compare_seeded`: with several seeds, paired seeds and clients
resampled within each; with one, the plain client bootstrap). "only B" reports B's score alone
minus the full entry's. Pure numpy on stored predictions; no training here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ubm.errors import DataError
from ubm.evaluation.seeds import compare_seeded
from ubm.evaluation.significance import DEFAULT_BLOCKS, DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Predictions

FULL = "full"
MODES = ("without", "only")


@dataclass(frozen=True)
class Block:
    """A unit of the study: the recorded blocks it covers and their column ranges."""

    name: str
    parts: tuple[str, ...]
    ranges: tuple[tuple[int, int], ...]  # [start, stop) column ranges in the entry
    seconds: float  # build seconds of its parts (columns.json)

    @property
    def columns(self) -> int:
        return sum(b - a for a, b in self.ranges)


def recorded_blocks(info: dict) -> list[dict]:
    """The blocks a recipe recorded in ``columns.json`` (name, columns, seconds), in column order."""
    table = (info or {}).get("blocks")
    if not isinstance(table, list) or not table or not all(
            isinstance(b, dict) and isinstance(b.get("name"), str) and isinstance(b.get("columns"), int)
            for b in table):
        raise DataError("the entry's columns.json records no blocks (recipe_info.blocks); ablation needs a "
                        "recipe with per-block accounting, such as universal")
    return table


def study_blocks(table: list[dict], wanted: list[str] | None = None) -> list[Block]:
    """Units of the study: ``wanted`` names (a recorded block, or a prefix of several), else one
    unit per prefix before the first dot, in column order."""
    ranges, start = {}, 0
    for b in table:
        ranges[b["name"]] = (start, start + int(b["columns"]), float(b.get("seconds", 0.0)))
        start += int(b["columns"])
    names = wanted or list(dict.fromkeys(name.split(".")[0] for name in ranges))
    out = []
    for item in names:
        parts = [n for n in ranges if n == item or n.startswith(item + ".")]
        if not parts:
            raise DataError(f"--blocks: no block {item!r} in the entry; its blocks: {', '.join(ranges)}")
        out.append(Block(item, tuple(parts), tuple(ranges[p][:2] for p in parts),
                         round(sum(ranges[p][2] for p in parts), 3)))
    if len({b.name for b in out}) != len(out):
        raise DataError("--blocks: a block is named twice")
    return out


def variant_name(mode: str, block: Block) -> str:
    return f"{mode}.{block.name}"


def keep_mask(width: int, block: Block, mode: str) -> np.ndarray:
    """Columns a variant keeps (True) of an entry ``width`` wide; the others are zeroed."""
    inside = np.zeros(width, dtype=bool)
    for a, b in block.ranges:
        inside[a:b] = True
    if mode == "without":
        return ~inside
    if mode == "only":
        return inside
    raise ValueError(f"unknown mode {mode!r}")


def zeroed(embeddings: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """A copy of ``embeddings`` with the columns not kept set to 0 (the same dtype and width)."""
    out = np.array(embeddings, copy=True)
    out[:, ~keep] = 0
    return out


@dataclass(frozen=True)
class Effect:
    """One block on one task: ``without``: full minus without the block (its contribution);
    ``only``: the block alone minus full. Interval and verdict of that paired difference."""

    block: str
    mode: str
    task: str
    full: float  # the full entry's score (official seed, on the stored outputs)
    variant: float  # the variant's score (official seed)
    point: float  # the difference (official seeds)
    mean: float  # over seed pairs
    low: float
    high: float
    verdict: str
    dominant: str  # "seeds" or "clients"
    columns: int
    seconds: float


def effects(full: dict[str, list[Predictions]], variants: dict[tuple[str, str], dict[str, list[Predictions]]],
            blocks: list[Block], *, resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
            seed: int = DEFAULT_SEED, n_blocks: int = DEFAULT_BLOCKS) -> list[Effect]:
    """Per (block, mode) variant and task, its paired difference with the full entry.

    ``full`` and each variant: task -> [Predictions per seed, official first], over the same
    clients. ``variants`` is keyed by (block name, mode)."""
    by_name = {b.name: b for b in blocks}
    out = []
    for (name, mode), preds in variants.items():
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        first, second = (FULL, "variant") if mode == "without" else ("variant", FULL)
        runs = {FULL: {t: full[t] for t in preds if t in full}, "variant": preds}
        spreads, differences = compare_seeded(runs, resamples=resamples, level=level, seed=seed, blocks=n_blocks,
                                              order=[first, second])
        for d in differences:
            block = by_name[name]
            out.append(Effect(name, mode, d.task, spreads[FULL][d.task].scores[0],
                              spreads["variant"][d.task].scores[0], d.point, d.mean, d.low, d.high, d.verdict,
                              d.dominant, block.columns, block.seconds))
    return out


def effects_dict(result: list[Effect]) -> list[dict]:
    return [asdict(e) for e in result]


def format_effects(result: list[Effect], level: float) -> str:
    """The table: per block and task, the difference with its interval and verdict."""
    pct = f"{level * 100:g} %"
    rows = [[e.block, e.mode, str(e.columns), f"{e.seconds:.1f}", e.task, f"{e.full:.4f}", f"{e.variant:.4f}",
             f"{e.point:+.4f}", f"{e.low:+.4f}", f"{e.high:+.4f}", _said(e), e.dominant] for e in result]
    header = ["block", "variant", "columns", "build s", "task", "full", "variant", "change", "low", "high",
              "verdict", "dominates"]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    right = {2, 3, 5, 6, 7, 8, 9}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"Block contributions ({pct} paired intervals; without: full minus the entry without the block, "
           "so > 0 means the block helps; only: the block alone minus full):",
           line(header), line(["-" * w for w in widths])]
    return "\n".join(out + [line(r) for r in rows])


def _said(e: Effect) -> str:
    if e.verdict == "not distinguishable":
        return "no measurable effect" if e.mode == "without" else "not distinguishable"
    if e.mode == "without":
        return "helps" if e.verdict == "better" else "hurts"
    return "alone better" if e.verdict == "better" else "alone worse"
