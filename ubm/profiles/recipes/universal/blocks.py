"""Block builders of the ``universal`` recipe: one SQL query (sql/features/universal/) per block,
scaled, yielded as [clients, <= 16 columns] float32 groups in relevant_clients order.

A block is never held whole in float64: one-row-per-client results are standardised a group
of columns at a time, and long results (one row per client and listed value) are fetched as
compact integer arrays, streamed from DuckDB in batches, and expanded to dense columns one
group at a time. See :func:`ubm.profiles.recipes.universal.scale.column_groups` for why the
values are those of standardising the whole block at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ubm.contract import EVENT_VALUE, VECTOR_LEN
from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles import state
from ubm.profiles.recipes.als import learned_blocks_iter
from ubm.profiles.recipes.universal.options import FALLBACK, LIST_COLUMN, activity_columns, learned_blocks
from ubm.profiles.recipes.universal.scale import column_groups, standardise
from ubm.util import long_to_dense

STAGE = "features/universal/"
BATCH_ROWS = 1 << 20  # rows per record batch when a long result is streamed from DuckDB

Groups = Iterator[np.ndarray]


@dataclass
class Context:
    data: Data
    opts: dict[str, Any]
    n: int
    ref: Any
    start: Any
    lists: dict[str, np.ndarray]
    list_sources: dict[str, str]
    cache: dict[str, Any]
    note: Callable[[str], None] = field(default=lambda _msg: None)

    def scale(self, x: np.ndarray, log: bool | np.ndarray, empty: np.ndarray | float = 0.0) -> np.ndarray:
        """Standardise columns; ``empty`` is the raw value of a client without events (the centre when
        ``opts["centre"] == "empty"``)."""
        centre = empty if self.opts["centre"] == "empty" else None
        return standardise(x, log=log, std_floor=self.opts["std_floor"], clip=self.opts["clip"], empty=centre,
                           fitted=fitted_moments(state.current().next_key("scale")))


def fitted_moments(key: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The columns' mean and std, computed and (by ``ubm fit``) kept under ``key``, or a model's."""
    learnt = state.current()

    def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = learnt.array(key, lambda: np.stack([x.mean(axis=0), x.std(axis=0)]), scoped=False)
        if both.shape != (2, x.shape[1]):
            raise state.ModelError(f"the profile model's {key} scales {both.shape[1]} columns, not {x.shape[1]}")
        return both[0], both[1]
    return moments


def _column(got: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.ma.filled(got[name], 0).astype(np.float64)


def _wide(got: dict[str, np.ndarray], columns: list[str]) -> np.ndarray:
    """Stack the named columns of a one-row-per-client result (already in pos order)."""
    return np.stack([_column(got, c) for c in columns], axis=1)


def _scaled_groups(ctx: Context, got: dict[str, np.ndarray], columns: list[str], log: bool | np.ndarray,
                   empty: np.ndarray | float = 0.0) -> Groups:
    """Standardise a one-row-per-client result a group of columns at a time."""
    log = np.broadcast_to(np.asarray(log, dtype=bool), (len(columns),))
    empty = np.broadcast_to(np.asarray(empty, dtype=np.float64), (len(columns),))
    for a, b in column_groups(len(columns)):
        yield ctx.scale(_wide(got, columns[a:b]), log=log[a:b], empty=empty[a:b])


def fetch_long(data: Data, name: str, params: dict[str, Any] | None = None,
               structure: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """A long (integer-valued) result streamed in batches into compact arrays: int32 where the
    values fit, int64 otherwise; floating columns stay float64."""
    with sql.fetch_batches(data, name, params, structure, BATCH_ROWS) as reader:
        parts: dict[str, list[np.ndarray]] = {c: [] for c in reader.schema.names}
        for batch in reader:
            for column, values in zip(batch.schema.names, batch.columns):
                parts[column].append(_compact(values.to_numpy(zero_copy_only=False)))
    return {c: _concat(p) for c, p in parts.items()}


def _compact(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "iu" and len(values) and values.min() >= -2**31 and values.max() < 2**31:
        return values.astype(np.int32)
    return values


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    if len({p.dtype for p in parts}) > 1:
        parts = [p.astype(np.int64) if p.dtype.kind in "iu" else p for p in parts]
    return np.concatenate(parts)


class LongTable:
    """Cells (pos, slot) -> value of a long result, expanded to dense column groups on demand."""

    def __init__(self, got: dict[str, np.ndarray], n: int) -> None:
        self.got = got
        self.n = n
        slot = got["slot"]
        self.order = np.argsort(slot, kind="stable")
        self.sorted_slots = slot[self.order]

    def dense(self, column: str, lo: int, hi: int) -> np.ndarray:
        """[n, hi - lo] float64 of ``column`` for slots lo..hi-1 (zero where no cell)."""
        a, b = np.searchsorted(self.sorted_slots, [lo, hi])
        idx = self.order[a:b]
        return long_to_dense(self.got["pos"][idx], self.got["slot"][idx] - lo, self.got[column][idx], self.n, hi - lo)

    def scaled_groups(self, ctx: Context, columns: list[str], width: int) -> Groups:
        for column in columns:
            for lo, hi in column_groups(width):
                yield ctx.scale(self.dense(column, lo, hi), log=True)


def activity(ctx: Context, event: str) -> Groups:
    cols = activity_columns(event, ctx.opts["windows"])
    got = sql.fetch_numpy(ctx.data, STAGE + "activity", {"ref": ctx.ref, "start": ctx.start},
                          {"event": event, "value": EVENT_VALUE[event],
                           "categories": EVENT_VALUE[event] == "sku", "windows": ctx.opts["windows"]})
    empty = np.zeros(len(cols))
    empty[cols.index("recency")] = (np.datetime64(ctx.ref) - np.datetime64(ctx.start)) / np.timedelta64(1, "D") + 1
    yield from _scaled_groups(ctx, got, cols, log=np.array([not c.startswith("trend") for c in cols]), empty=empty)


def funnel(ctx: Context) -> Groups:
    recent = ctx.opts["recent"]
    cols = ["conversion_all", "abandonment_all", f"conversion_{recent}", f"abandonment_{recent}"]
    got = sql.fetch_numpy(ctx.data, STAGE + "funnel", {"ref": ctx.ref}, {"windows": [recent]})
    yield from _scaled_groups(ctx, got, cols, log=True)


def gaps(ctx: Context) -> Groups:
    got = sql.fetch_numpy(ctx.data, STAGE + "purchase_gaps")
    yield from _scaled_groups(ctx, got, ["purchase_days", "gap_mean", "gap_min", "gap_last"], log=True)


def rhythm(ctx: Context) -> Groups:
    got = sql.fetch_numpy(ctx.data, STAGE + "rhythm")
    cols = [f"hour_{h}" for h in range(24)] + [f"dow_{d}" for d in range(1, 8)]
    yield from _scaled_groups(ctx, got, cols, log=False)


def _vector_stats(ctx: Context, event: str, vector: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The name_vectors result of ``event`` and (cached for :func:`new_sku`) its count and mean matrix."""
    got = sql.fetch_numpy(ctx.data, STAGE + "name_vectors", structure={"event": event, "vector": vector})
    ctx.cache[f"vectors.{event}"] = {"n": np.asarray(got["n"], dtype=np.float64),
                                     "mean": _wide(got, [f"mean_{i}" for i in range(VECTOR_LEN)])}
    return got, ctx.cache[f"vectors.{event}"]


def _cached_vectors(ctx: Context, event: str, vector: str) -> dict[str, np.ndarray]:
    key = f"vectors.{event}"
    return ctx.cache[key] if key in ctx.cache else _vector_stats(ctx, event, vector)[1]


def vectors(ctx: Context, event: str, vector: str) -> Groups:
    got, _ = _vector_stats(ctx, event, vector)
    cols = [f"mean_{i}" for i in range(VECTOR_LEN)] + [f"std_{i}" for i in range(VECTOR_LEN)]
    yield from _scaled_groups(ctx, got, cols, log=False)


def list_counts(ctx: Context, task: str, event: str, windowed: bool) -> Groups:
    size, recent = ctx.opts["list_size"], ctx.opts["recent"]
    values = ctx.lists[task]
    counts = ["n_all"] + ([f"n_{recent}"] if windowed else [])
    if len(values) == 0:
        yield np.zeros((ctx.n, size * len(counts)), dtype=np.float32)
        return
    got = fetch_long(ctx.data, STAGE + "label_counts", {"values": values.tolist(), "ref": ctx.ref},
                     {"event": event, "column": LIST_COLUMN[task], "windows": [recent] if windowed else []})
    ctx.note(f"{len(got['pos']):,} (client, value) cells")
    yield from LongTable(got, ctx.n).scaled_groups(ctx, counts, size)


def _unit_rows(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    a = vectors - centre
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-9)


def cosine_to_items(client_vectors: np.ndarray, has: np.ndarray, item_vectors: np.ndarray,
                    centre: np.ndarray) -> np.ndarray:
    """Cosine of each client's centred vector with each item's centred vector; 0 where ``has`` is False."""
    out = _unit_rows(client_vectors, centre) @ _unit_rows(item_vectors, centre).T
    out[~has] = 0.0
    return out


def _cosine_groups(ctx: Context, vectors: np.ndarray, has: np.ndarray, items: np.ndarray,
                   centre: np.ndarray) -> Groups:
    """The cosine block a group of items at a time. The groups are 16 items wide, a multiple of
    the BLAS kernels' 8-column tiles, so each cosine is computed as in the one [n, items] product."""
    a = _unit_rows(vectors, centre)
    b = _unit_rows(items, centre)
    for lo, hi in column_groups(len(items)):
        out = a @ b[lo:hi].T
        out[~has] = 0.0
        yield ctx.scale(out, log=False)


def new_sku(ctx: Context) -> Groups:
    size = ctx.opts["list_size"]
    values = ctx.lists["propensity_new_sku"]
    if len(values) == 0:
        yield np.zeros((ctx.n, 4 * size), dtype=np.float32)
        return
    for event in ("product_buy", "add_to_cart"):
        got = fetch_long(ctx.data, STAGE + "list_category_affinity", {"values": values.tolist()},
                         {"events": [event]})
        yield from LongTable(got, ctx.n).scaled_groups(ctx, ["n"], size)
    # the listed skus' name vectors and the catalogue's mean name: a profile model keeps both, so
    # a product's cosine means the same whatever catalogue the applied data brings
    learnt = state.current()
    names = None if learnt.applying else sql.fetch_numpy(ctx.data, STAGE + "sku_names", {"values": values.tolist()})
    slots = None if names is None else np.asarray(names["slot"], dtype=np.int64)
    matrix = None if names is None else _wide(names, [f"name_{i}" for i in range(VECTOR_LEN)])
    centre = learnt.array("name_centre", lambda: matrix[slots == -1][0])

    def listed_names() -> np.ndarray:
        items = np.tile(centre, (size, 1))  # a listed sku without properties: cosine 0 (centre)
        listed = (slots >= 0) & (slots < size)
        items[slots[listed]] = matrix[listed]
        return items
    items = learnt.array("names", listed_names)
    buy, cart = (_cached_vectors(ctx, e, "name") for e in ("product_buy", "add_to_cart"))
    n_bc = buy["n"] + cart["n"]
    mean_bc = (buy["mean"] * buy["n"][:, None] + cart["mean"] * cart["n"][:, None]) / np.maximum(n_bc, 1)[:, None]
    yield from _cosine_groups(ctx, mean_bc, n_bc > 0, items, centre)
    del mean_bc
    query = _cached_vectors(ctx, "search_query", "query")
    yield from _cosine_groups(ctx, query["mean"], query["n"] > 0, items, centre)
    for event in ("product_buy", "add_to_cart", "search_query"):
        ctx.cache.pop(f"vectors.{event}", None)


def top_urls(ctx: Context) -> Groups:
    k, recent = ctx.opts["top_urls"], ctx.opts["recent"]
    def most_visited() -> np.ndarray:
        top = sql.fetch_numpy(ctx.data, STAGE + "most_frequent", {"n": k}, {"event": "page_visit", "column": "url"})
        return np.asarray(top["value"], dtype=np.int64)
    ctx.cache["top_urls"] = state.current().array("urls", most_visited).tolist()
    if not ctx.cache["top_urls"]:
        yield np.zeros((ctx.n, 2 * k), dtype=np.float32)
        return
    got = fetch_long(ctx.data, STAGE + "label_counts", {"values": ctx.cache["top_urls"], "ref": ctx.ref},
                     {"event": "page_visit", "column": "url", "windows": [recent]})
    ctx.note(f"{len(got['pos']):,} (client, url) cells")
    yield from LongTable(got, ctx.n).scaled_groups(ctx, ["n_all", f"n_{recent}"], k)


def learned(ctx: Context) -> Groups:
    for _name, factors in learned_blocks_iter(ctx.data, seed=ctx.opts["seed"], note=ctx.note,
                                              options={"blocks": learned_blocks(ctx.opts),
                                                       "iterations": ctx.opts["learned_iterations"]}):
        yield factors


def _list_values(data: Data, task: str, size: int) -> tuple[np.ndarray, str]:
    """One propensity list of the data (given label list, else the documented stand-in), cut to ``size``."""
    view = f"label_list_{task}"
    if data.has(view):
        values = data.engine.fetch_numpy(f"SELECT value FROM {view} ORDER BY pos", {})["value"]
        source = f"target/{task}.npy"
    else:
        event, column, never_bought = FALLBACK[task]
        got = sql.fetch_numpy(data, STAGE + "most_frequent", {"n": size},
                              {"event": event, "column": column, "never_bought": never_bought})
        values = got["value"]
        source = f"fallback: top {size} {column} by input {event}" + (" never bought" if never_bought else "")
    return np.asarray(values, dtype=np.int64)[:size], source


def label_lists(data: Data, size: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each propensity list (given label list, else the documented input-window stand-in), cut to ``size``.

    A profile model keeps the lists it was fitted with and scores those; data that gives other
    lists (``target/<task>.npy``) is another contract, refused by name. Data without list files
    is profiled against the model's lists."""
    learnt = state.current()
    lists, sources = {}, {}
    for task in LIST_COLUMN:
        if not learnt.applying:
            values, source = _list_values(data, task, size)
            lists[task] = learnt.array(f"lists.{task}", lambda: values)
            sources[task] = learnt.value(f"lists.{task}.source", lambda: source)
            continue
        lists[task] = learnt.array(f"lists.{task}", lambda: None)
        sources[task] = learnt.value(f"lists.{task}.source", lambda: None)
        if data.has(f"label_list_{task}"):
            given, _ = _list_values(data, task, size)
            if not np.array_equal(given, lists[task]):
                raise state.ModelError(
                    f"{data.paths.get(f'label_list_{task}', f'target/{task}.npy')}: not the {task} list the "
                    f"profile model was fitted with ({sources[task]}, {len(lists[task])} values); apply it to "
                    "data with the same label lists, or refit with `ubm fit`")
    return lists, sources
