"""Options of the ``universal`` recipe: defaults, checking, and the per-block column names."""

from __future__ import annotations

from typing import Any

from ubm.contract import EVENT_VALUE, LIST_SIZE, MAX_COLUMNS, PROPENSITY_TASKS
from ubm.profiles.recipes import MAX_WINDOW_DAYS, SEED_MAX, WHOLE_MAX, OptionError, flag, real, whole, window_days
from ubm.profiles.recipes.als import DEFAULT_BLOCKS

DEFAULTS: dict[str, Any] = {
    "windows": [7, 30, 90],     # activity windows in days, ending at the input's last timestamp
    "recent": 30,               # the "recent" window of funnel and list counts, days
    "list_size": LIST_SIZE,           # slots per label list
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
LIST_COLUMN = PROPENSITY_TASKS  # the column each propensity list lists
# Stand-ins when target/<task>.npy is absent: (event ranked, column, never bought).
FALLBACK = {"propensity_category": ("product_buy", "category", False),
            "propensity_sku": ("product_buy", "sku", False),
            "propensity_price": ("product_buy", "price", False),
            "propensity_new_sku": ("add_to_cart", "sku", True)}
VECTOR_SOURCES = (("buy", "product_buy", "name"), ("cart", "add_to_cart", "name"),
                  ("query", "search_query", "query"))
VALUE_BLOCKS = ("list.", "new_sku", "top_urls")  # one column per listed value: wide and sparse


_HIGH = {**{k: MAX_COLUMNS for k in ("list_size", "top_urls", "category_dim", "sku_dim", "url_dim")},
         "seed": SEED_MAX}  # widths: at most the entry's columns


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    opts["windows"] = sorted(window_days(opts["windows"], "universal"))
    for key in ("recent", "list_size", "top_urls", "learned_iterations", "category_dim",
                "sku_dim", "url_dim", "seed"):
        opts[key] = whole(opts[key], key, "universal", high=_HIGH.get(key, WHOLE_MAX))
    for key in ("std_floor", "clip", "value_weight"):
        opts[key] = real(opts[key], key, "universal")
    if opts["recent"] > MAX_WINDOW_DAYS:
        raise OptionError(f"universal: recent must be at most {MAX_WINDOW_DAYS} days, got {opts['recent']}", "recent")
    opts["learned"] = flag(opts["learned"])
    if opts["centre"] not in ("mean", "empty"):
        raise OptionError(f"universal: centre must be 'mean' or 'empty', got {opts['centre']!r}")
    if opts["recent"] < 1 or opts["list_size"] < 1 or opts["top_urls"] < 0:
        raise OptionError("universal: recent and list_size must be >= 1, top_urls >= 0")
    if min(opts["category_dim"], opts["sku_dim"], opts["url_dim"]) < 0 or opts["std_floor"] <= 0:
        raise OptionError("universal: learned dims must be >= 0 and std_floor > 0")
    return opts


def activity_columns(event: str, windows: list[int]) -> list[str]:
    cols = ["n_all", *(f"n_{d}" for d in windows), "days_all", *(f"days_{d}" for d in windows),
            "distinct_all", *(f"distinct_{d}" for d in windows)]
    if EVENT_VALUE[event] == "sku":
        cols += ["categories_all", *(f"categories_{d}" for d in windows)]
    cols += ["recency", "tenure"]
    cols += [f"trend_{a}_{b}" for a, b in zip(windows, windows[1:])] + [f"trend_{windows[-1]}_all"]
    return cols


def learned_blocks(opts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = {}
    for kind, spec in DEFAULT_BLOCKS.items():
        dim = opts[f"{kind}_dim"]
        if dim > 0:
            blocks[kind] = {**spec, "dim": dim}
    return blocks
