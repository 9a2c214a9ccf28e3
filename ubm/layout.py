"""The layout of a data directory (docs/data.md §3): every path ubm reads or writes under it.

One owner for the names, so the opener of each engine, the split, the lists, the checks, the
stamps and the generator cannot disagree. Paths are relative to the data directory and use
``/`` (a Spark path may be a URL); :class:`DataDir` joins them to a local root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ubm.contract import EVENT_TYPES, PROPENSITY_TASKS

INPUT_DIR = "input"
TARGET_DIR = "target"
PRODUCT_PROPERTIES = "product_properties.parquet"
RELEVANT_CLIENTS = f"{INPUT_DIR}/relevant_clients.npy"
ACTIVE_CLIENTS = f"{TARGET_DIR}/active_clients.npy"
# The split's two target tables (docs/split.md), in this order everywhere.
TARGET_TABLES: tuple[str, ...] = ("train_target", "validation_target")


def event_file(event: str, window: str = "all") -> str:
    """An event table: the whole file (``window="all"``) or the split's input chunk."""
    return f"{INPUT_DIR}/{event}.parquet" if window == "input" else f"{event}.parquet"


def target_file(table: str) -> str:
    return f"{TARGET_DIR}/{table}.parquet"


def label_list_file(task: str) -> str:
    return f"{TARGET_DIR}/{task}.npy"


def popularity_file(task: str) -> str:
    return f"{TARGET_DIR}/popularity_{task}.npy"


def table_files(window: str = "all") -> dict[str, str]:
    """The parquet file of each table view (view name -> relative path)."""
    files = {e: event_file(e, window) for e in EVENT_TYPES}
    files["product_properties"] = PRODUCT_PROPERTIES
    files.update({t: target_file(t) for t in TARGET_TABLES})
    return files


def split_files() -> list[str]:
    """What ``ubm split`` writes: each event's input chunk and the two target tables."""
    return [event_file(e, "input") for e in EVENT_TYPES] + [target_file(t) for t in TARGET_TABLES]


def array_files(lists: bool = True) -> dict[str, str]:
    """The ``.npy`` views: relevant clients, and with ``lists`` the active clients and each label
    list (``label_list_<task>``) with its popularity (``popularity_<task>``)."""
    files = {"relevant_clients": RELEVANT_CLIENTS}
    if lists:
        files["active_clients"] = ACTIVE_CLIENTS
        for task in PROPENSITY_TASKS:
            files[f"label_list_{task}"] = label_list_file(task)
            files[f"popularity_{task}"] = popularity_file(task)
    return files


# The table of docs/data.md §3 (tests/system/test_docs.py holds the page to it): path pattern, what
# it holds, who writes it. ``<event>`` is one of EVENT_TYPES; ``propensity_<task>`` a propensity task.
LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("<event>.parquet", "every event of one type", "given"),
    (PRODUCT_PROPERTIES, "sku, category, price, name", "given"),
    (RELEVANT_CLIENTS, "int64 [clients]: the clients that need a profile", "given"),
    (event_file("<event>", "input"), "the input window of each event type", "ubm split"),
    *((target_file(t), f"purchases of the {t.removesuffix('_target')} target window", "ubm split")
      for t in TARGET_TABLES),
    (ACTIVE_CLIENTS, "int64: relevant clients who bought in the input window", "given, or ubm lists"),
    (label_list_file("propensity_<task>"), "int64: the label list of a task", "given, or ubm lists"),
    (popularity_file("propensity_<task>"), "int64: one count per listed label", "given, or ubm lists"),
)


@dataclass
class DataDir:
    """The layout's paths under one local data directory."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / INPUT_DIR

    @property
    def target_dir(self) -> Path:
        return self.root / TARGET_DIR

    def event_file(self, event: str, window: str = "all") -> Path:
        return self.root / event_file(event, window)

    def path(self, relative: str) -> Path:
        return self.root / relative
