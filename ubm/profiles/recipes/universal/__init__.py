"""The ``universal`` profile recipe: behavioural statistics, label-list affinities and learned factors.

Every block is computed from the events of the opened window only (``open_data(window="input")``
for split experiments, ``"all"`` for an official entry), never from a target window, for every
relevant client in ``relevant_clients`` order (zeros / neutral values where a client has no
events). The SQL lives in ``sql/features/universal/`` (one query per file); this module plans the
columns, runs the queries, scales each block and writes it.

Column blocks (defaults; widths are fixed by the options, known before any data is read):

========================  =====  ==============================================================
block                     width  contents
========================  =====  ==============================================================
activity.<event>          97     per event type and window (7, 30, 90 days, all): counts, active
                                 days, distinct skus/urls/queries (+ distinct categories for sku
                                 events), recency, tenure, trend (n_7/n_30, n_30/n_90, n_90/n_all)
funnel                    4      cart conversion (buys/adds), abandonment (removes/adds); all, 30 d
gaps                      4      purchase days, mean / min / last gap between purchase days
rhythm                    31     shares of events by hour of day (24) and ISO day of week (7)
vectors.<source>          96     mean and std of the 16-int name vectors of bought and carted
                                 products, and of search queries
list.<task>.<event>       1100   per listed value (100 slots per list): counts of the client's
                                 buys / carts of each listed category (all, 30 d), listed sku
                                 (all, 30 d), listed price bucket (buys all+30 d, carts all)
new_sku                   400    per listed new sku: the client's buys and carts in its category;
                                 cosine of the client's centred mean bought+carted name vector and
                                 of its mean query vector with the sku's centred name vector
top_urls                  100    visits of the 50 most visited urls (all, 30 d)
learned.<kind>            160    ALS client factors: category 32, sku 64, url 64 (ubm.profiles.recipes.als)
========================  =====  ==============================================================

Total 1992 columns with the defaults (at most 2048).

Label lists: the ``label_list_<task>`` views (``target/<task>.npy``, the organisers' lists or
``ubm lists``) are used when present: they are given inputs of the evaluation, so affinity to
each listed value is fair. When a list is absent the recipe falls back to a stand-in from the
input window: the 100 categories / skus / price buckets most bought by relevant clients, and for
new skus the 100 skus most added to cart that were never bought. A list shorter than 100 leaves
its remaining slots at zero. ``recipe_info["lists"]`` records which source each list came from.

Scaling (so float16 keeps precision and every column is on a comparable scale): counts, days
and ratios that can exceed 1 go through ``log1p``; then every SQL column is divided by its
standard deviation over the profiled clients after subtracting the value a client *without
events* gets (``(x - empty) / max(std, std_floor)``, clipped to ``±clip``): zero for counts,
shares, ratios, vectors and cosines, the longest possible recency for recency. So "nothing
happened" is the zero vector in every block (as in the learned block and the baseline), a
constant column is all zeros, and a value grows with evidence. (``centre="mean"`` centres on the column mean instead; BENCHMARKS.md tells why
"empty" is the default.) ``value_weight`` multiplies
the per-value blocks (``list.*``, ``new_sku``, ``top_urls``) after scaling (1 by default).
Learned factors are L2-normalised per row and multiplied by ``sqrt(dim)``, not standardised.

Memory and accounting: blocks are built and written a group of at most 16 columns at a time
(:mod:`.blocks`), long results are streamed from DuckDB, and the entry is spooled block by
block (the recipe is ``spooled``: see :class:`ubm.profiles.writer.SpooledColumnWriter`), so
the export's memory does not grow with the width; while the recipe runs DuckDB gets
``DUCKDB_SHARE`` of ``--memory-limit`` and the arrays the rest (3.2 GiB peak at 1 M clients
with the default 4GB; BENCHMARKS.md). Each block logs its rows, columns, seconds and peak
memory as it finishes; ``columns.json`` records them under ``recipe_info["blocks"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ubm.contract import EVENT_TYPES, MAX_COLUMNS
from ubm.data import sql
from ubm.data.io import Data, DataError
from ubm.profiles import state
from ubm.profiles.recipes import Recipe, register
from ubm.profiles.recipes.universal.blocks import STAGE, Context, label_lists
from ubm.profiles.recipes.universal.options import DEFAULTS, VALUE_BLOCKS, check_options
from ubm.profiles.recipes.universal.plan import Block, plan, universal_columns
from ubm.profiles.progress import BlockMeter
from ubm.profiles.writer import ColumnWriter

REQUIRED_VIEWS = (*EVENT_TYPES, "product_properties", "relevant_clients")


DUCKDB_SHARE = 0.5  # of the connection's memory limit; the rest is for the blocks' arrays and PyTorch
def build(data: Data, opts: dict[str, Any], out: ColumnWriter) -> dict[str, Any]:
    """Compute every block and write it to ``out``; returns facts for ``columns.json``."""
    # --memory-limit then bounds the whole export, not DuckDB alone
    with data.engine.memory_share(DUCKDB_SHARE), state.current().scope("universal"):
        return _build(data, opts, out)


def _build(data: Data, opts: dict[str, Any], out: ColumnWriter) -> dict[str, Any]:
    missing = [v for v in REQUIRED_VIEWS if not data.has(v)]
    if missing:
        raise DataError(f"universal features need {', '.join(missing)} (not found under {data.root})")
    n = data.relevant_count
    ref_row = sql.fetch_numpy(data, STAGE + "reference")
    ref, start = ref_row["ref_ts"][0], ref_row["first_ts"][0]
    if np.ma.is_masked(ref) or np.isnat(ref):
        raise DataError(f"universal features: no events in {data.root} ({data.window} window)")
    ref, start = ref.item(), start.item()
    lists, sources = label_lists(data, opts["list_size"])
    blocks = plan(opts)
    meter = BlockMeter(len(blocks), getattr(out, "progress", None))
    ctx = Context(data, opts, n, ref, start, lists, sources, {}, note=meter.note)
    col = 0
    try:
        for block in blocks:
            meter.start(block.name)
            width = _write_block(block, ctx, out, col)
            meter.finish(n, width)
            col += width
    finally:
        meter.close()
    return {"ref_ts": str(ref), "first_ts": str(start), "lists": sources,
            "list_lengths": {t: int(len(v)) for t, v in lists.items()},
            "top_urls": ctx.cache.get("top_urls", []),
            "seconds_by_block": {r["name"]: r["seconds"] for r in meter.table()},
            "blocks": meter.table()}


def _write_block(block: Block, ctx: Context, out: ColumnWriter, col: int) -> int:
    """Write a block's column groups as they come; returns its width (checked against the plan)."""
    width = 0
    weight = ctx.opts["value_weight"]
    with state.current().scope(block.name):  # what the block learns is kept under its name
        for x in block.build(ctx):
            width = _write_group(block, ctx, out, col, width, x, weight)
    if width != len(block.columns):
        raise AssertionError(f"block {block.name}: built {width} columns, planned {len(block.columns)}")
    return width


def _write_group(block: Block, ctx: Context, out: ColumnWriter, col: int, width: int, x: np.ndarray,
                 weight: float) -> int:
    if block.name.startswith(VALUE_BLOCKS) and weight != 1.0:
        x = (x * weight).astype(np.float32)
    if x.ndim != 2 or x.shape[0] != ctx.n or width + x.shape[1] > len(block.columns):
        raise AssertionError(f"block {block.name}: built {x.shape} at column {width}, "
                             f"planned ({ctx.n}, {len(block.columns)})")
    out.write(col + width, x)
    return width + x.shape[1]


def width(options: dict | None = None) -> int:
    return len(universal_columns(check_options(options or {})))




def _check(options: dict[str, Any]) -> dict[str, Any]:
    opts = check_options(options)
    names = universal_columns(opts)
    if len(names) > MAX_COLUMNS:
        raise ValueError(f"universal: {len(names)} columns with {opts}; at most {MAX_COLUMNS}")
    return opts


register(Recipe(
    name="universal",
    description="Behavioural statistics per event type and window, label-list affinities, "
                "name/query vectors, rhythm, and ALS client factors.",
    defaults=dict(DEFAULTS),
    columns=universal_columns,
    build=lambda data, clients, options, out: build(data, options, out),
    check=_check,
    spooled=True,
))
