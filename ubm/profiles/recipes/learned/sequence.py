"""The ``learned`` recipe's optional sequence block (``-o sequence=on``): a GRU over each client's
latest events of every type, trained on a sample of clients to predict the next event, exported
as one vector per relevant client (columns ``sequence.0 .. sequence.<seq_dim - 1>``, after the
encoder's).

Everything is read from the input window: the sequences end at the window's end
(``sql/features/learned/seq_events.sql``), the sku vocabulary is the encoder's (skus before the
cut), the url vocabulary the most visited urls of the window (``seq_urls.sql``). Training
(:mod:`.seq_train`) is deterministic for a seed on CPU; the export streams over the relevant
clients in chunks of ``chunk`` and scales each column as the encoder's are (centred on the
mean over relevant clients, divided by the spread, clipped; a client without events is 0).

Off by default: on generated data it gained +0.003 on churn and nothing on sku propensity
for about 4 minutes of build, the other tasks not yet measured (BENCHMARKS.md, "The sequence block"). The hook into the recipe is four calls: :data:`DEFAULTS`,
:func:`check_options`, :func:`columns`, :func:`build`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ubm.contract import EVENT_TYPES, SKU_EVENTS
from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles import state
from ubm.profiles.recipes import FALSE_WORDS, TRUE_WORDS, OptionError, whole
from ubm.profiles.recipes.learned.prep import STAGE, Catalog, use_clients
from ubm.profiles.writer import ColumnWriter
from ubm.util import Timer

DEFAULTS: dict[str, Any] = {
    "sequence": "off",   # on: the sequence block after the encoder's columns
    "seq_len": 64,       # latest events read per client
    "seq_dim": 32,       # GRU state width = exported columns
    "seq_embed": 32,     # width of each field's embedding
    "seq_vocab": 1000,   # most frequent skus (before the cut) with a class of their own
    "seq_urls": 1000,    # most visited urls with a class of their own
    "seq_train": 20_000,  # clients sampled for training
    "seq_epochs": 4,
}
INTS = ("seq_len", "seq_dim", "seq_embed", "seq_vocab", "seq_urls", "seq_train", "seq_epochs")
QUERY_BITS = 8      # the query hash: high bits of the vector's first 8 numbers (256 values)
AGE_BUCKETS = 12    # 1 + floor(log2(1 + days before the end)), capped; 0 padding
GAP_BUCKETS = 26    # 2 + floor(log2(1 + seconds since the previous event)), capped; 1 first event, 0 padding


def check_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The sequence options of a learned options dict, checked by name (``sequence`` as on / off)."""
    text = str(opts["sequence"]).strip().lower() if not isinstance(opts["sequence"], bool) else \
        ("on" if opts["sequence"] else "off")
    if text in TRUE_WORDS | {"on"}:
        opts["sequence"] = "on"
    elif text in FALSE_WORDS | {"off"}:
        opts["sequence"] = "off"
    else:
        raise OptionError(f"learned: sequence must be on or off, got {opts['sequence']!r}", "sequence")
    for key in INTS:
        opts[key] = whole(opts[key], key, "learned", low=1)
    return opts


def enabled(opts: dict[str, Any]) -> bool:
    return opts.get("sequence") == "on"


def columns(opts: dict[str, Any]) -> list[str]:
    return [f"sequence.{i}" for i in range(opts["seq_dim"])] if enabled(opts) else []


@dataclass
class Vocabulary:
    """What the block's fields index: the encoder's catalogue and the window's urls."""

    catalog: Catalog
    urls: np.ndarray        # sorted url ids of the vocabulary
    url_rank: np.ndarray    # 1-based frequency rank of each entry of ``urls``
    n_skus: int             # sku classes 1..n_skus; n_skus + 1 another sku

    def sizes(self) -> dict[str, int]:
        return {"event": len(EVENT_TYPES) + 1, "sku": self.n_skus + 2,
                "category": len(self.catalog.categories) + 1, "price": len(self.catalog.prices) + 1,
                "url": len(self.urls) + 2, "query": 2 ** QUERY_BITS + 1, "age": AGE_BUCKETS, "gap": GAP_BUCKETS}


def load_vocabulary(data: Data, catalog: Catalog, end: dt.datetime, opts: dict[str, Any]) -> Vocabulary:
    """The url vocabulary of the window; a profile model keeps the fitted one (state "urls")."""
    def urls_by_rank() -> np.ndarray:
        got = sql.fetch_numpy(data, STAGE + "seq_urls", {"end": end, "n": opts["seq_urls"]})
        return np.asarray(got["url"], dtype=np.int64)

    urls = state.current().array("urls", urls_by_rank)  # most visited first
    order = np.argsort(urls, kind="stable")
    return Vocabulary(catalog, urls[order], order + 1, min(opts["seq_vocab"], catalog.n_vocabulary))


@dataclass
class Sequences:
    """A chunk of clients' events, oldest first, right-padded (row i = learned_clients position lo + i)."""

    tokens: dict[str, np.ndarray]  # field -> int64 [n, L]; 0 padding (or: no such field)
    lengths: np.ndarray            # int64 [n]

    def __len__(self) -> int:
        return len(self.lengths)


def _buckets(values: np.ndarray, first: int, top: int) -> np.ndarray:
    return np.clip(np.floor(np.log2(1.0 + np.maximum(values, 0.0))).astype(np.int64) + first, first, top - 1)


def fetch_sequences(data: Data, vocab: Vocabulary, end: dt.datetime, lo: int, hi: int, length: int) -> Sequences:
    n = hi - lo
    got = sql.fetch_numpy(data, STAGE + "seq_events", {"end": end, "lo": lo, "hi": hi, "length": length},
                          {"events": list(EVENT_TYPES), "sku_events": list(SKU_EVENTS), "bits": QUERY_BITS})
    r = np.asarray(got["pos"], dtype=np.int64) - lo
    lengths = np.bincount(r, minlength=n).astype(np.int64)
    at = lengths[r] - 1 - np.asarray(got["rank"], dtype=np.int64)  # rank 0 (latest) goes last
    cat = vocab.catalog
    sku = np.asarray(got["sku"], dtype=np.int64)
    is_sku = sku >= 0
    sku_idx = cat.sku_idx[cat.rows(sku)]
    sku_cls = np.where(is_sku, np.where((sku_idx >= 1) & (sku_idx <= vocab.n_skus), sku_idx, vocab.n_skus + 1), 0)
    url = np.asarray(got["url"], dtype=np.int64)
    url_pos = cat.index(url, vocab.urls)
    # rank by position, 0 in front for "not in the vocabulary": also a log without page visits
    # (no url at all) indexes something
    rank_at = np.concatenate([np.zeros(1, dtype=np.int64), np.asarray(vocab.url_rank, dtype=np.int64)])
    url_cls = np.where(url >= 0, np.where(url_pos > 0, rank_at[url_pos], len(vocab.urls) + 1), 0)
    gap = np.ma.filled(np.ma.asarray(got["gap"]).astype(np.float64), -1.0)
    values = {
        "event": np.asarray(got["event"], dtype=np.int64),
        "sku": sku_cls,
        "category": cat.index(np.ma.filled(got["category"], -1).astype(np.int64), cat.categories),
        "price": cat.index(np.ma.filled(got["price"], -1).astype(np.int64), cat.prices),
        "url": url_cls,
        "query": np.asarray(got["query"], dtype=np.int64),
        "age": _buckets(np.asarray(got["age"], dtype=np.float64), 1, AGE_BUCKETS),
        "gap": np.where(gap < 0, 1, _buckets(gap, 2, GAP_BUCKETS)),
    }
    tokens = {}
    for field, v in values.items():
        grid = np.zeros((n, length), dtype=np.int64)
        grid[r, at] = v
        tokens[field] = grid
    return Sequences(tokens, lengths)


__all__ = ["DEFAULTS", "INTS", "Sequences", "Vocabulary", "check_options", "columns", "enabled",
           "fetch_sequences", "load_vocabulary", "use_clients"]
