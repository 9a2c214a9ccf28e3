"""Data preparation of the ``learned`` recipe: the SQL of ``sql/features/learned/`` turned into arrays.

Per client the encoder reads a compact statistics row (``stats``) and the latest sku events
(``sequence``), both from events before an end instant: the cut for training, the end of the
window for the exported block. Training targets come from the pseudo-future (``future``) and
the pseudo-future's own lists (``future_top``). Everything is fetched per chunk of client
positions, so memory follows the chunk, not the population.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ubm.contract import EVENT_TYPES, SKU_EVENTS, VECTOR_LEN
from ubm.data import sql
from ubm.data.engine import array_table
from ubm.data.io import Data
from ubm.profiles import state

STAGE = "features/learned/"
WINDOWS = [7, 30]
AGE_BUCKETS = 9  # log2 buckets of an event's age in days; 0 is padding
KINDS = ("category", "sku", "new_sku", "price")  # the propensity heads


@dataclass
class Catalog:
    """Products as the item tower reads them; row ``len(skus)`` is the unknown product (all zeros)."""

    skus: np.ndarray        # sorted sku ids
    sku_idx: np.ndarray     # 1..V for vocabulary skus, 0 otherwise (one extra trailing row)
    cat_idx: np.ndarray     # 1..C, 0 unknown
    price_idx: np.ndarray   # 1..P, 0 unknown
    names: np.ndarray       # float32 [rows, 16], centred on the catalogue mean, / 64
    categories: np.ndarray  # sorted category values (index i -> cat_idx i + 1)
    prices: np.ndarray      # sorted price values
    n_vocabulary: int

    def rows(self, skus: np.ndarray) -> np.ndarray:
        """Catalogue row of each sku; the unknown row for skus without properties."""
        skus = np.asarray(skus, dtype=np.int64)
        at = np.clip(np.searchsorted(self.skus, skus), 0, max(len(self.skus) - 1, 0))
        found = (len(self.skus) > 0) & (self.skus[at] == skus) if len(self.skus) else np.zeros(len(skus), bool)
        return np.where(found, at, len(self.skus))

    def index(self, values: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
        """1-based index of each value in a sorted vocabulary; 0 where absent."""
        values = np.asarray(values, dtype=np.int64)
        if len(vocabulary) == 0:
            return np.zeros(len(values), dtype=np.int64)
        at = np.clip(np.searchsorted(vocabulary, values), 0, len(vocabulary) - 1)
        return np.where(vocabulary[at] == values, at + 1, 0)


def load_catalog(data: Data, cut: dt.datetime, vocabulary: int) -> Catalog:
    got = sql.fetch_numpy(data, STAGE + "catalog")
    skus = np.asarray(got["sku"], dtype=np.int64)
    category = np.ma.filled(got["category"], -1).astype(np.int64)
    price = np.ma.filled(got["price"], -1).astype(np.int64)
    names = np.stack([np.ma.filled(got[f"name_{i}"], 0).astype(np.float32) for i in range(VECTOR_LEN)], axis=1)
    # What the item tower learnt its embeddings over (the vocabularies) and the name centre are
    # kept by a profile model; the catalogue's rows are the profiled data's own. A sku unseen at
    # fit has no embedding of its own (index 0), but its category, price and name vector count.
    learnt = state.current()
    centre = learnt.array("catalog.name_centre", lambda: names.mean(axis=0) if len(names)
                          else np.zeros(VECTOR_LEN, np.float32))
    if len(names):
        names = (names - centre) / 64.0
    categories = learnt.array("catalog.categories", lambda: np.unique(category[category >= 0]))
    prices = learnt.array("catalog.prices", lambda: np.unique(price[price >= 0]))
    vocab_skus = learnt.array("catalog.vocabulary", lambda: np.asarray(
        sql.fetch_numpy(data, STAGE + "sku_vocabulary", {"cut": cut, "n": vocabulary})["sku"], dtype=np.int64))
    cat = Catalog(skus, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                  np.zeros((0, VECTOR_LEN), np.float32), categories, prices, len(vocab_skus))
    order = np.argsort(vocab_skus, kind="stable")
    sku_idx = np.zeros(len(skus) + 1, dtype=np.int64)
    pos = cat.index(skus, vocab_skus[order])
    if len(order):  # an empty vocabulary (no sku events before the cut) leaves every sku unknown
        sku_idx[:-1] = np.where(pos > 0, order[np.maximum(pos - 1, 0)] + 1, 0)
    cat.sku_idx = sku_idx
    cat.cat_idx = np.append(cat.index(category, categories), 0)
    cat.price_idx = np.append(cat.index(price, prices), 0)
    cat.names = np.concatenate([names, np.zeros((1, VECTOR_LEN), np.float32)]).astype(np.float32)
    return cat


@dataclass
class Clients:
    """Encoder inputs of a chunk of clients (row i = learned_clients position lo + i)."""

    stats: np.ndarray   # float32 [n, S] (log counts, 1/(1+recency), log tenure, mean query / 255)
    rows: np.ndarray    # int64 [n, L] catalogue rows of the latest sku events (unknown row = padding)
    event: np.ndarray   # int64 [n, L] 1 buy, 2 cart, 3 remove, 0 padding
    age: np.ndarray     # int64 [n, L] age bucket 1..AGE_BUCKETS-1, 0 padding
    bought: np.ndarray  # bool [n]: a product_buy before the end (the churn population)
    active: np.ndarray  # bool [n]: any event before the end

    def __len__(self) -> int:
        return len(self.stats)


def stat_names() -> list[str]:
    names = []
    for event in EVENT_TYPES:
        names += [f"{event}_n_all", *(f"{event}_n_{d}" for d in WINDOWS), f"{event}_recency", f"{event}_tenure"]
    return names + [f"q_{i}" for i in range(VECTOR_LEN)]


def use_clients(data: Data, client_ids: np.ndarray | None) -> None:
    """Point the view learned_clients at the given ids (pos = array order), or at the relevant clients."""
    if client_ids is None:
        sql.run(data, STAGE + "profile_clients")
    else:
        data.engine.register_arrow("learned_clients", array_table(
            {"pos": np.arange(len(client_ids), dtype=np.int64), "client_id": client_ids}))


def fetch_clients(data: Data, end: dt.datetime, lo: int, hi: int, length: int, catalog: Catalog) -> Clients:
    n = hi - lo
    got = sql.fetch_numpy(data, STAGE + "stats", {"end": end, "lo": lo, "hi": hi}, {"windows": WINDOWS})
    cols = []
    for name in stat_names():
        raw = np.ma.filled(np.ma.asarray(got[name]).astype(np.float64), np.nan)
        if "_n_" in name:
            cols.append(np.log1p(np.nan_to_num(raw)))
        elif name.endswith("recency"):
            cols.append(np.where(np.isnan(raw), 0.0, 1.0 / (1.0 + raw)))
        elif name.endswith("tenure"):
            cols.append(np.log1p(np.nan_to_num(raw)))
        else:
            cols.append(np.nan_to_num(raw) / 255.0)
    stats = np.stack(cols, axis=1).astype(np.float32) if n else np.zeros((0, len(cols)), np.float32)
    seq = sql.fetch_numpy(data, STAGE + "sequence", {"end": end, "lo": lo, "hi": hi, "length": length},
                          {"events": list(SKU_EVENTS)})
    rows = np.full((n, length), len(catalog.skus), dtype=np.int64)
    event = np.zeros((n, length), dtype=np.int64)
    age = np.zeros((n, length), dtype=np.int64)
    r = np.asarray(seq["pos"], dtype=np.int64) - lo
    k = np.asarray(seq["rank"], dtype=np.int64)
    rows[r, k] = catalog.rows(seq["sku"])
    event[r, k] = np.asarray(seq["event"], dtype=np.int64)
    days = np.asarray(seq["age"], dtype=np.float64)
    age[r, k] = np.clip(np.floor(np.log2(1.0 + np.maximum(days, 0.0))).astype(np.int64) + 1, 1, AGE_BUCKETS - 1)
    bought = np.asarray(got["product_buy_n_all"]) > 0
    active = np.sum([np.asarray(got[f"{e}_n_all"]) for e in EVENT_TYPES], axis=0) > 0
    return Clients(stats, rows, event, age, bought, active)


@dataclass
class Targets:
    """Pseudo-future targets of a chunk: no purchase (churn / conversion) and the listed values bought."""

    no_buy: np.ndarray               # float32 [n]
    lists: dict[str, np.ndarray]     # kind -> float32 [n, K] multi-hot over that kind's pseudo list


def pseudo_lists(data: Data, cut: dt.datetime, size: int) -> dict[str, np.ndarray]:
    """The pseudo-future's lists: most-bought categories, skus, new skus and prices at or after the cut."""
    spec = {"category": ("category", False), "sku": ("sku", False), "new_sku": ("sku", True), "price": ("price", False)}
    out = {}
    for kind, (column, new) in spec.items():
        got = sql.fetch_numpy(data, STAGE + "future_top", {"cut": cut, "n": size}, {"column": column, "new": new})
        out[kind] = np.asarray(got["value"], dtype=np.int64)
    return out


def fetch_targets(data: Data, cut: dt.datetime, lo: int, hi: int, lists: dict[str, np.ndarray]) -> Targets:
    n = hi - lo
    got = sql.fetch_numpy(data, STAGE + "future", {"cut": cut, "lo": lo, "hi": hi})
    r = np.asarray(got["pos"], dtype=np.int64) - lo
    no_buy = np.ones(n, dtype=np.float32)
    no_buy[r] = 0.0
    values = {"sku": np.asarray(got["sku"], dtype=np.int64),
              "category": np.ma.filled(got["category"], -1).astype(np.int64),
              "price": np.ma.filled(got["price"], -1).astype(np.int64)}
    values["new_sku"] = values["sku"]
    out = {}
    for kind, listed in lists.items():
        y = np.zeros((n, len(listed)), dtype=np.float32)
        if len(listed):
            order = np.argsort(listed, kind="stable")
            at = np.clip(np.searchsorted(listed[order], values[kind]), 0, len(listed) - 1)
            hit = listed[order][at] == values[kind]
            y[r[hit], order[at[hit]]] = 1.0
        out[kind] = y
    return Targets(no_buy, out)
