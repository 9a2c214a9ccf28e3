"""Block builders of the ``universal`` recipe: one SQL query (sql/features/universal/) per block,
scaled, returned as a [clients, columns] float32 array in relevant_clients order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ubm.contract import EVENT_VALUE, VECTOR_LEN
from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles.recipes.als import learned_features
from ubm.profiles.recipes.universal.options import FALLBACK, LIST_COLUMN, activity_columns, learned_blocks
from ubm.profiles.recipes.universal.scale import standardise
from ubm.util import long_to_dense

STAGE = "features/universal/"


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

    def scale(self, x: np.ndarray, log: bool | np.ndarray, empty: np.ndarray | float = 0.0) -> np.ndarray:
        """Standardise a block; ``empty`` is the raw value of a client without events (the centre when
        ``opts["centre"] == "empty"``)."""
        centre = empty if self.opts["centre"] == "empty" else None
        return standardise(x, log=log, std_floor=self.opts["std_floor"], clip=self.opts["clip"], empty=centre)


def _wide(got: dict[str, np.ndarray], columns: list[str]) -> np.ndarray:
    """Stack the named columns of a one-row-per-client result (already in pos order)."""
    return np.stack([np.ma.filled(got[c], 0).astype(np.float64) for c in columns], axis=1)


def activity(ctx: Context, event: str) -> np.ndarray:
    cols = activity_columns(event, ctx.opts["windows"])
    got = sql.fetch_numpy(ctx.data, STAGE + "activity", {"ref": ctx.ref, "start": ctx.start},
                          {"event": event, "value": EVENT_VALUE[event],
                           "categories": EVENT_VALUE[event] == "sku", "windows": ctx.opts["windows"]})
    x = _wide(got, cols)
    empty = np.zeros(len(cols))
    empty[cols.index("recency")] = (np.datetime64(ctx.ref) - np.datetime64(ctx.start)) / np.timedelta64(1, "D") + 1
    return ctx.scale(x, log=np.array([not c.startswith("trend") for c in cols]), empty=empty)


def funnel(ctx: Context) -> np.ndarray:
    recent = ctx.opts["recent"]
    cols = ["conversion_all", "abandonment_all", f"conversion_{recent}", f"abandonment_{recent}"]
    got = sql.fetch_numpy(ctx.data, STAGE + "funnel", {"ref": ctx.ref}, {"windows": [recent]})
    return ctx.scale(_wide(got, cols), log=True)


def gaps(ctx: Context) -> np.ndarray:
    got = sql.fetch_numpy(ctx.data, STAGE + "purchase_gaps")
    return ctx.scale(_wide(got, ["purchase_days", "gap_mean", "gap_min", "gap_last"]), log=True)


def rhythm(ctx: Context) -> np.ndarray:
    got = sql.fetch_numpy(ctx.data, STAGE + "rhythm")
    cols = [f"hour_{h}" for h in range(24)] + [f"dow_{d}" for d in range(1, 8)]
    return ctx.scale(_wide(got, cols), log=False)


def _vector_stats(ctx: Context, event: str, vector: str) -> dict[str, np.ndarray]:
    key = f"vectors.{event}"
    if key not in ctx.cache:
        got = sql.fetch_numpy(ctx.data, STAGE + "name_vectors", structure={"event": event, "vector": vector})
        ctx.cache[key] = {
            "n": np.asarray(got["n"], dtype=np.float64),
            "mean": _wide(got, [f"mean_{i}" for i in range(VECTOR_LEN)]),
            "std": _wide(got, [f"std_{i}" for i in range(VECTOR_LEN)]),
        }
    return ctx.cache[key]


def vectors(ctx: Context, event: str, vector: str) -> np.ndarray:
    stats = _vector_stats(ctx, event, vector)
    return ctx.scale(np.concatenate([stats["mean"], stats["std"]], axis=1), log=False)


def list_counts(ctx: Context, task: str, event: str, windowed: bool) -> np.ndarray:
    size, recent = ctx.opts["list_size"], ctx.opts["recent"]
    values = ctx.lists[task]
    counts = ["n_all"] + ([f"n_{recent}"] if windowed else [])
    if len(values) == 0:
        return np.zeros((ctx.n, size * len(counts)), dtype=np.float32)
    got = sql.fetch_numpy(ctx.data, STAGE + "label_counts", {"values": values.tolist(), "ref": ctx.ref},
                          {"event": event, "column": LIST_COLUMN[task], "windows": [recent] if windowed else []})
    x = np.concatenate([long_to_dense(got["pos"], got["slot"], got[c], ctx.n, size) for c in counts], axis=1)
    return ctx.scale(x, log=True)


def cosine_to_items(client_vectors: np.ndarray, has: np.ndarray, item_vectors: np.ndarray,
                    centre: np.ndarray) -> np.ndarray:
    """Cosine of each client's centred vector with each item's centred vector; 0 where ``has`` is False."""
    a = client_vectors - centre
    b = item_vectors - centre
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-9)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-9)
    out = a @ b.T
    out[~has] = 0.0
    return out


def new_sku(ctx: Context) -> np.ndarray:
    size = ctx.opts["list_size"]
    values = ctx.lists["propensity_new_sku"]
    if len(values) == 0:
        return np.zeros((ctx.n, 4 * size), dtype=np.float32)
    parts = []
    for event in ("product_buy", "add_to_cart"):
        got = sql.fetch_numpy(ctx.data, STAGE + "list_category_affinity", {"values": values.tolist()},
                              {"events": [event]})
        parts.append(ctx.scale(long_to_dense(got["pos"], got["slot"], got["n"], ctx.n, size), log=True))
    names = sql.fetch_numpy(ctx.data, STAGE + "sku_names", {"values": values.tolist()})
    slots = np.asarray(names["slot"], dtype=np.int64)
    matrix = _wide(names, [f"name_{i}" for i in range(VECTOR_LEN)])
    centre = matrix[slots == -1][0]
    items = np.tile(centre, (size, 1))  # a listed sku without properties: cosine 0 (centre)
    listed = (slots >= 0) & (slots < size)
    items[slots[listed]] = matrix[listed]
    buy, cart = (_vector_stats(ctx, e, "name") for e in ("product_buy", "add_to_cart"))
    n_bc = buy["n"] + cart["n"]
    mean_bc = (buy["mean"] * buy["n"][:, None] + cart["mean"] * cart["n"][:, None]) / np.maximum(n_bc, 1)[:, None]
    query = _vector_stats(ctx, "search_query", "query")
    for vectors, has in ((mean_bc, n_bc > 0), (query["mean"], query["n"] > 0)):
        parts.append(ctx.scale(cosine_to_items(vectors, has, items, centre), log=False))
    return np.concatenate(parts, axis=1)


def top_urls(ctx: Context) -> np.ndarray:
    k, recent = ctx.opts["top_urls"], ctx.opts["recent"]
    top = sql.fetch_numpy(ctx.data, STAGE + "most_frequent", {"n": k}, {"event": "page_visit", "column": "url"})
    ctx.cache["top_urls"] = np.asarray(top["value"], dtype=np.int64).tolist()
    if not ctx.cache["top_urls"]:
        return np.zeros((ctx.n, 2 * k), dtype=np.float32)
    got = sql.fetch_numpy(ctx.data, STAGE + "label_counts", {"values": ctx.cache["top_urls"], "ref": ctx.ref},
                          {"event": "page_visit", "column": "url", "windows": [recent]})
    x = np.concatenate([long_to_dense(got["pos"], got["slot"], got[c], ctx.n, k) for c in ("n_all", f"n_{recent}")], axis=1)
    return ctx.scale(x, log=True)


def learned(ctx: Context) -> np.ndarray:
    _, x = learned_features(ctx.data, seed=ctx.opts["seed"],
                            options={"blocks": learned_blocks(ctx.opts),
                                     "iterations": ctx.opts["learned_iterations"]})
    return x


def label_lists(data: Data, size: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each propensity list (given label list, else the documented input-window stand-in), cut to ``size``."""
    lists, sources = {}, {}
    for task in LIST_COLUMN:
        view = f"label_list_{task}"
        if data.has(view):
            values = data.engine.fetch_numpy(f"SELECT value FROM {view} ORDER BY pos", {})["value"]
            sources[task] = f"target/{task}.npy"
        else:
            event, column, never_bought = FALLBACK[task]
            got = sql.fetch_numpy(data, STAGE + "most_frequent", {"n": size},
                                  {"event": event, "column": column, "never_bought": never_bought})
            values = got["value"]
            sources[task] = f"fallback: top {size} {column} by input {event}" + (
                " never bought" if never_bought else "")
        lists[task] = np.asarray(values, dtype=np.int64)[:size]
    return lists, sources
