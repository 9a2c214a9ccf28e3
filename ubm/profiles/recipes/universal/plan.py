"""The column plan of the ``universal`` recipe: its blocks in output order, known before any data is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ubm.contract import EVENT_TYPES, VECTOR_LEN
from ubm.profiles.recipes import als
from ubm.profiles.recipes.universal import blocks as b
from ubm.profiles.recipes.universal.options import LIST_COUNTS, VECTOR_SOURCES, activity_columns, learned_blocks


@dataclass
class Block:
    name: str
    columns: list[str]
    build: Callable[[b.Context], Iterator[np.ndarray]]  # yields the scaled block, [n, k] groups left to right


def plan(opts: dict[str, Any]) -> list[Block]:
    """The column blocks, in output order, for resolved options."""
    windows, recent, size = opts["windows"], opts["recent"], opts["list_size"]
    blocks: list[Block] = []
    for event in EVENT_TYPES:
        cols = activity_columns(event, windows)
        blocks.append(Block(f"activity.{event}", cols, lambda ctx, e=event: b.activity(ctx, e)))
    blocks.append(Block("funnel", ["conversion_all", "abandonment_all", f"conversion_{recent}",
                                   f"abandonment_{recent}"], b.funnel))
    blocks.append(Block("gaps", ["purchase_days", "gap_mean", "gap_min", "gap_last"], b.gaps))
    blocks.append(Block("rhythm", [f"hour_{h}" for h in range(24)] + [f"dow_{d}" for d in range(1, 8)],
                        b.rhythm))
    for label, event, vector in VECTOR_SOURCES:
        cols = [f"mean_{i}" for i in range(VECTOR_LEN)] + [f"std_{i}" for i in range(VECTOR_LEN)]
        blocks.append(Block(f"vectors.{label}", cols, lambda ctx, e=event, v=vector: b.vectors(ctx, e, v)))
    for task, event, windowed in LIST_COUNTS:
        counts = ["n_all"] + ([f"n_{recent}"] if windowed else [])
        cols = [f"{c}.{s}" for c in counts for s in range(size)]
        blocks.append(Block(f"list.{task}.{event}", cols,
                            lambda ctx, t=task, e=event, w=windowed: b.list_counts(ctx, t, e, w)))
    new_cols = [f"{c}.{s}" for c in ("category_buys", "category_carts", "name_cosine", "query_cosine")
                for s in range(size)]
    blocks.append(Block("new_sku", new_cols, b.new_sku))
    if opts["top_urls"]:
        cols = [f"{c}.{s}" for c in ("n_all", f"n_{recent}") for s in range(opts["top_urls"])]
        blocks.append(Block("top_urls", cols, b.top_urls))
    if opts["learned"]:
        cols = als.factor_columns(learned_blocks(opts))
        if cols:
            blocks.append(Block("learned", cols, b.learned))
    return blocks


def universal_columns(opts: dict[str, Any]) -> list[str]:
    return [f"{block.name}.{c}" for block in plan(opts) for c in block.columns]
