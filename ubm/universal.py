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
learned.<kind>            160    ALS client factors: category 32, sku 64, url 64 (ubm.learned)
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
constant column is all zeros, and a value grows with evidence. (``centre="mean"``, the first
version, centred on the column mean instead: every inactive client then carries a large vector
of negative values, and active clients' rows were dominated by the sparse per-value blocks;
with rare labels (propensity_new_sku: ~1 train positive per label) the evaluation model then
ranked active clients *below* inactive ones, AUROC below chance.) ``value_weight`` multiplies
the per-value blocks (``list.*``, ``new_sku``, ``top_urls``) after scaling (1 by default).
Learned factors are L2-normalised per row and multiplied by ``sqrt(dim)``, not standardised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from ubm import sql
from ubm.io import EVENT_TYPES, VECTOR_LEN, Data, DataError
from ubm.learned import DEFAULT_BLOCKS, learned_features
from ubm.util import Timer

STAGE = "features/universal/"
MAX_COLUMNS = 2048

DEFAULTS: dict[str, Any] = {
    "windows": [7, 30, 90],     # activity windows in days, ending at the input's last timestamp
    "recent": 30,               # the "recent" window of funnel and list counts, days
    "list_size": 100,           # slots per label list
    "top_urls": 50,             # most visited urls counted per client
    "learned": True,            # include the ALS block
    "learned_iterations": 8,
    "category_dim": 32,
    "sku_dim": 64,
    "url_dim": 64,
    "std_floor": 0.1,
    "clip": 10.0,
    "centre": "empty",          # centre each column on the value of a client without events ("mean": on its mean)
    "value_weight": 1.0,        # multiplies the per-value blocks (list.*, new_sku, top_urls) after scaling
    "seed": 0,
}

# (task, event, counted windows) of the list-count blocks; [] counts the whole input only.
LIST_COUNTS: tuple[tuple[str, str, bool], ...] = (
    ("propensity_category", "product_buy", True),
    ("propensity_category", "add_to_cart", True),
    ("propensity_sku", "product_buy", True),
    ("propensity_sku", "add_to_cart", True),
    ("propensity_price", "product_buy", True),
    ("propensity_price", "add_to_cart", False),
)
LIST_COLUMN = {"propensity_category": "category", "propensity_sku": "sku",
               "propensity_new_sku": "sku", "propensity_price": "price"}
# Stand-ins when target/<task>.npy is absent: (event ranked, column, never bought).
FALLBACK = {"propensity_category": ("product_buy", "category", False),
            "propensity_sku": ("product_buy", "sku", False),
            "propensity_price": ("product_buy", "price", False),
            "propensity_new_sku": ("add_to_cart", "sku", True)}
ACTIVITY_VALUE = {"product_buy": "sku", "add_to_cart": "sku", "remove_from_cart": "sku",
                  "page_visit": "url", "search_query": "query"}
VECTOR_SOURCES = (("buy", "product_buy", "name"), ("cart", "add_to_cart", "name"),
                  ("query", "search_query", "query"))
VALUE_BLOCKS = ("list.", "new_sku", "top_urls")  # one column per listed value: wide and sparse
REQUIRED_VIEWS = (*EVENT_TYPES, "product_properties", "relevant_clients")


class Sink(Protocol):
    def write(self, col: int, values: np.ndarray) -> None: ...


class ArraySink:
    """Writes blocks into a float32 array."""

    def __init__(self, n_rows: int, n_cols: int):
        self.array = np.zeros((n_rows, n_cols), dtype=np.float32)

    def write(self, col: int, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        self.array[:, col:col + values.shape[1]] = values


# --------------------------------------------------------------------------- options and columns

def check_options(options: dict[str, Any]) -> dict[str, Any]:
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    windows = opts["windows"]
    if isinstance(windows, str):
        windows = [w for w in windows.split(",") if w.strip()]
    try:
        opts["windows"] = sorted(int(w) for w in windows)
        for key in ("recent", "list_size", "top_urls", "learned_iterations", "category_dim",
                    "sku_dim", "url_dim", "seed"):
            opts[key] = int(opts[key])
        opts["std_floor"], opts["clip"] = float(opts["std_floor"]), float(opts["clip"])
        opts["value_weight"] = float(opts["value_weight"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"universal: bad option value ({exc})") from exc
    if isinstance(opts["learned"], str):
        opts["learned"] = opts["learned"].lower() in {"1", "true", "yes"}
    opts["learned"] = bool(opts["learned"])
    if not opts["windows"] or opts["windows"][0] < 1 or len(set(opts["windows"])) != len(opts["windows"]):
        raise ValueError(f"universal: windows must be distinct whole days >= 1, got {opts['windows']}")
    if opts["centre"] not in ("mean", "empty"):
        raise ValueError(f"universal: centre must be 'mean' or 'empty', got {opts['centre']!r}")
    if opts["recent"] < 1 or opts["list_size"] < 1 or opts["top_urls"] < 0:
        raise ValueError("universal: recent and list_size must be >= 1, top_urls >= 0")
    if min(opts["category_dim"], opts["sku_dim"], opts["url_dim"]) < 0 or opts["std_floor"] <= 0:
        raise ValueError("universal: learned dims must be >= 0 and std_floor > 0")
    return opts


def _activity_columns(event: str, windows: list[int]) -> list[str]:
    cols = ["n_all", *(f"n_{d}" for d in windows), "days_all", *(f"days_{d}" for d in windows),
            "distinct_all", *(f"distinct_{d}" for d in windows)]
    if ACTIVITY_VALUE[event] == "sku":
        cols += ["categories_all", *(f"categories_{d}" for d in windows)]
    cols += ["recency", "tenure"]
    cols += [f"trend_{a}_{b}" for a, b in zip(windows, windows[1:])] + [f"trend_{windows[-1]}_all"]
    return cols


def _learned_blocks(opts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = {}
    for kind, spec in DEFAULT_BLOCKS.items():
        dim = opts[f"{kind}_dim"]
        if dim > 0:
            blocks[kind] = {**spec, "dim": dim}
    return blocks


@dataclass
class Block:
    name: str
    columns: list[str]
    build: Callable[["Context"], np.ndarray]  # returns the scaled [n, len(columns)] block


def plan(opts: dict[str, Any]) -> list[Block]:
    """The column blocks, in output order, for resolved options."""
    windows, recent, size = opts["windows"], opts["recent"], opts["list_size"]
    blocks: list[Block] = []
    for event in EVENT_TYPES:
        cols = _activity_columns(event, windows)
        blocks.append(Block(f"activity.{event}", cols, lambda ctx, e=event: _activity(ctx, e)))
    blocks.append(Block("funnel", ["conversion_all", "abandonment_all", f"conversion_{recent}",
                                   f"abandonment_{recent}"], _funnel))
    blocks.append(Block("gaps", ["purchase_days", "gap_mean", "gap_min", "gap_last"], _gaps))
    blocks.append(Block("rhythm", [f"hour_{h}" for h in range(24)] + [f"dow_{d}" for d in range(1, 8)],
                        _rhythm))
    for label, event, vector in VECTOR_SOURCES:
        cols = [f"mean_{i}" for i in range(VECTOR_LEN)] + [f"std_{i}" for i in range(VECTOR_LEN)]
        blocks.append(Block(f"vectors.{label}", cols, lambda ctx, e=event, v=vector: _vectors(ctx, e, v)))
    for task, event, windowed in LIST_COUNTS:
        counts = ["n_all"] + ([f"n_{recent}"] if windowed else [])
        cols = [f"{c}.{s}" for c in counts for s in range(size)]
        blocks.append(Block(f"list.{task}.{event}", cols,
                            lambda ctx, t=task, e=event, w=windowed: _list_counts(ctx, t, e, w)))
    new_cols = [f"{c}.{s}" for c in ("category_buys", "category_carts", "name_cosine", "query_cosine")
                for s in range(size)]
    blocks.append(Block("new_sku", new_cols, _new_sku))
    if opts["top_urls"]:
        cols = [f"{c}.{s}" for c in ("n_all", f"n_{recent}") for s in range(opts["top_urls"])]
        blocks.append(Block("top_urls", cols, _top_urls))
    if opts["learned"]:
        cols = [f"{kind}.{i}" for kind, spec in _learned_blocks(opts).items() for i in range(spec["dim"])]
        if cols:
            blocks.append(Block("learned", cols, _learned))
    return blocks


def universal_columns(opts: dict[str, Any]) -> list[str]:
    return [f"{b.name}.{c}" for b in plan(opts) for c in b.columns]


# --------------------------------------------------------------------------- scaling

def standardise(x: np.ndarray, *, log: bool | np.ndarray, std_floor: float, clip: float,
                empty: np.ndarray | float | None = None) -> np.ndarray:
    """log1p (all columns, or those where ``log`` is True), then per-column (x - centre) / max(std, floor), clipped.

    ``centre`` is the column mean when ``empty`` is None, else ``empty`` (raw value of a client without
    events; log1p is applied to it like to the column), so such a client becomes the zero vector."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    log_cols = np.broadcast_to(np.asarray(log, dtype=bool), (x.shape[1],))
    if log_cols.any():
        x[:, log_cols] = np.log1p(np.maximum(x[:, log_cols], 0.0))
    if len(x) == 0:
        return x.astype(np.float32)
    if empty is None:
        centre = x.mean(axis=0)
    else:
        centre = np.array(np.broadcast_to(np.asarray(empty, dtype=np.float64), (x.shape[1],)))
        centre[log_cols] = np.log1p(np.maximum(centre[log_cols], 0.0))
    std = x.std(axis=0)
    x -= centre
    x /= np.maximum(std, std_floor)
    np.clip(x, -clip, clip, out=x)
    return x.astype(np.float32)


# --------------------------------------------------------------------------- context and blocks

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


def _long_to_dense(got: dict[str, np.ndarray], value: str, n: int, width: int) -> np.ndarray:
    out = np.zeros((n, width), dtype=np.float64)
    pos = np.asarray(got["pos"], dtype=np.int64)
    if len(pos):
        slot = np.asarray(got["slot"], dtype=np.int64)
        keep = slot < width
        out[pos[keep], slot[keep]] = np.asarray(got[value], dtype=np.float64)[keep]
    return out


def _activity(ctx: Context, event: str) -> np.ndarray:
    cols = _activity_columns(event, ctx.opts["windows"])
    got = sql.fetch_numpy(ctx.data, STAGE + "activity", {"ref": ctx.ref, "start": ctx.start},
                          {"event": event, "value": ACTIVITY_VALUE[event],
                           "categories": ACTIVITY_VALUE[event] == "sku", "windows": ctx.opts["windows"]})
    x = _wide(got, cols)
    empty = np.zeros(len(cols))
    empty[cols.index("recency")] = (np.datetime64(ctx.ref) - np.datetime64(ctx.start)) / np.timedelta64(1, "D") + 1
    return ctx.scale(x, log=np.array([not c.startswith("trend") for c in cols]), empty=empty)


def _funnel(ctx: Context) -> np.ndarray:
    recent = ctx.opts["recent"]
    cols = ["conversion_all", "abandonment_all", f"conversion_{recent}", f"abandonment_{recent}"]
    got = sql.fetch_numpy(ctx.data, STAGE + "funnel", {"ref": ctx.ref}, {"windows": [recent]})
    return ctx.scale(_wide(got, cols), log=True)


def _gaps(ctx: Context) -> np.ndarray:
    got = sql.fetch_numpy(ctx.data, STAGE + "purchase_gaps")
    return ctx.scale(_wide(got, ["purchase_days", "gap_mean", "gap_min", "gap_last"]), log=True)


def _rhythm(ctx: Context) -> np.ndarray:
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


def _vectors(ctx: Context, event: str, vector: str) -> np.ndarray:
    stats = _vector_stats(ctx, event, vector)
    return ctx.scale(np.concatenate([stats["mean"], stats["std"]], axis=1), log=False)


def _list_counts(ctx: Context, task: str, event: str, windowed: bool) -> np.ndarray:
    size, recent = ctx.opts["list_size"], ctx.opts["recent"]
    values = ctx.lists[task]
    counts = ["n_all"] + ([f"n_{recent}"] if windowed else [])
    if len(values) == 0:
        return np.zeros((ctx.n, size * len(counts)), dtype=np.float32)
    got = sql.fetch_numpy(ctx.data, STAGE + "label_counts", {"values": values.tolist(), "ref": ctx.ref},
                          {"event": event, "column": LIST_COLUMN[task], "windows": [recent] if windowed else []})
    x = np.concatenate([_long_to_dense(got, c, ctx.n, size) for c in counts], axis=1)
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


def _new_sku(ctx: Context) -> np.ndarray:
    size = ctx.opts["list_size"]
    values = ctx.lists["propensity_new_sku"]
    if len(values) == 0:
        return np.zeros((ctx.n, 4 * size), dtype=np.float32)
    parts = []
    for event in ("product_buy", "add_to_cart"):
        got = sql.fetch_numpy(ctx.data, STAGE + "list_category_affinity", {"values": values.tolist()},
                              {"events": [event]})
        parts.append(ctx.scale(_long_to_dense(got, "n", ctx.n, size), log=True))
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


def _top_urls(ctx: Context) -> np.ndarray:
    k, recent = ctx.opts["top_urls"], ctx.opts["recent"]
    top = sql.fetch_numpy(ctx.data, STAGE + "top_values", {"n": k}, {"event": "page_visit", "column": "url"})
    ctx.cache["top_urls"] = np.asarray(top["value"], dtype=np.int64).tolist()
    if not ctx.cache["top_urls"]:
        return np.zeros((ctx.n, 2 * k), dtype=np.float32)
    got = sql.fetch_numpy(ctx.data, STAGE + "label_counts", {"values": ctx.cache["top_urls"], "ref": ctx.ref},
                          {"event": "page_visit", "column": "url", "windows": [recent]})
    x = np.concatenate([_long_to_dense(got, c, ctx.n, k) for c in ("n_all", f"n_{recent}")], axis=1)
    return ctx.scale(x, log=True)


def _learned(ctx: Context) -> np.ndarray:
    _, x = learned_features(ctx.data, seed=ctx.opts["seed"],
                            options={"blocks": _learned_blocks(ctx.opts),
                                     "iterations": ctx.opts["learned_iterations"]})
    return x


# --------------------------------------------------------------------------- driver

def label_lists(data: Data, size: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each propensity list (given label list, else the documented input-window stand-in), cut to ``size``."""
    lists, sources = {}, {}
    for task in LIST_COLUMN:
        view = f"label_list_{task}"
        if data.has(view):
            values = data.con.execute(f"SELECT value FROM {view} ORDER BY pos").fetchnumpy()["value"]
            sources[task] = f"target/{task}.npy"
        else:
            event, column, never_bought = FALLBACK[task]
            got = sql.fetch_numpy(data, STAGE + "top_values", {"n": size},
                                  {"event": event, "column": column, "never_bought": never_bought})
            values = got["value"]
            sources[task] = f"fallback: top {size} {column} by input {event}" + (
                " never bought" if never_bought else "")
        lists[task] = np.asarray(values, dtype=np.int64)[:size]
    return lists, sources


def build(data: Data, opts: dict[str, Any], sink: Sink) -> dict[str, Any]:
    """Compute every block and write it to ``sink``; returns facts for ``columns.json``."""
    missing = [v for v in REQUIRED_VIEWS if not data.has(v)]
    if missing:
        raise DataError(f"universal features need {', '.join(missing)} (not found under {data.root})")
    n = int(data.con.execute("SELECT count(*) FROM relevant_clients").fetchall()[0][0])
    ref_row = sql.fetch_numpy(data, STAGE + "reference")
    ref, start = ref_row["ref_ts"][0], ref_row["first_ts"][0]
    if np.ma.is_masked(ref) or np.isnat(ref):
        raise DataError(f"universal features: no events in {data.root} ({data.window} window)")
    ref, start = ref.item(), start.item()
    lists, sources = label_lists(data, opts["list_size"])
    ctx = Context(data, opts, n, ref, start, lists, sources, {})
    timings: dict[str, float] = {}
    col = 0
    for block in plan(opts):
        timer = Timer()
        x = block.build(ctx)
        if block.name.startswith(VALUE_BLOCKS) and opts["value_weight"] != 1.0:
            x = (x * opts["value_weight"]).astype(np.float32)
        if x.shape != (n, len(block.columns)):
            raise AssertionError(f"block {block.name}: built {x.shape}, planned ({n}, {len(block.columns)})")
        sink.write(col, x)
        col += x.shape[1]
        timings[block.name] = round(timer.seconds, 3)
    return {"ref_ts": str(ref), "first_ts": str(start), "lists": sources,
            "list_lengths": {t: int(len(v)) for t, v in lists.items()},
            "top_urls": ctx.cache.get("top_urls", []), "seconds_by_block": timings}


def universal_features(data: Data, *, seed: int = 0, options: dict | None = None) -> tuple[list[str], np.ndarray]:
    """Column names and the float32 profile matrix [n_relevant, width] in relevant_clients order."""
    opts = check_options({**(options or {}), "seed": seed})
    names = universal_columns(opts)
    if len(names) > MAX_COLUMNS:
        raise ValueError(f"universal: {len(names)} columns with {opts}; at most {MAX_COLUMNS}")
    n = int(data.con.execute("SELECT count(*) FROM relevant_clients").fetchall()[0][0]) \
        if data.has("relevant_clients") else 0
    sink = ArraySink(n, len(names))
    build(data, opts, sink)
    return names, sink.array


def width(options: dict | None = None) -> int:
    return len(universal_columns(check_options(options or {})))


__all__ = ["universal_features", "universal_columns", "check_options", "build", "standardise",
           "cosine_to_items", "label_lists", "DEFAULTS", "width"]
