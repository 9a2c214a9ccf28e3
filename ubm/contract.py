"""The contract's constants, in one place (docs/data.md, docs/tasks.md, docs/entry.md).

Everything else imports these names; nothing restates them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from ubm.errors import UnknownTask

# Event tables, in the order of every per-event block (docs/data.md §1).
EVENT_TYPES: tuple[str, ...] = (
    "product_buy",
    "add_to_cart",
    "remove_from_cart",
    "page_visit",
    "search_query",
)
SKU_EVENTS: tuple[str, ...] = ("product_buy", "add_to_cart", "remove_from_cart")
# The column that says what an event was about.
EVENT_VALUE: dict[str, str] = {
    "product_buy": "sku",
    "add_to_cart": "sku",
    "remove_from_cart": "sku",
    "page_visit": "url",
    "search_query": "query",
}
VECTOR_LEN = 16  # integers in a quantised name / query vector
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

# The time split (docs/split.md §1).
DAYS_IN_TARGET = 14
# Data with no purchase at all: the split's end, the targets, the label lists and every task
# are purchases, so ubm cannot serve it (docs/split.md §1); `ubm check` and `ubm split` say so.
NO_PURCHASES = ("no product_buy events (no purchases at all), so no split end: the split, the label lists, "
                "the targets and every task are built from purchases; import a source with purchases")


@dataclass(frozen=True)
class Boundaries:
    """The instants of docs/split.md §1 (naive datetimes, second resolution as published)."""

    end: dt.datetime
    train_target_start: dt.datetime
    validation_target_start: dt.datetime


def boundaries_for(end: dt.datetime, days_in_target: int = DAYS_IN_TARGET) -> Boundaries:
    """train_target_start = the calendar day of (end - (2*days - 1) days) at 00:00:00."""
    day = (end - dt.timedelta(days=2 * days_in_target - 1)).date()
    tts = dt.datetime(day.year, day.month, day.day)
    return Boundaries(end, tts, tts + dt.timedelta(days=days_in_target))

# Expected columns per table: name -> kind. Kinds: id (integer), ts (timestamp), vec (16 ints).
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    **{event: {"client_id": "id", "timestamp": "ts", EVENT_VALUE[event]: "vec" if event == "search_query" else "id"}
       for event in EVENT_TYPES},
    "product_properties": {"sku": "id", "category": "id", "price": "id", "name": "vec"},
    "train_target": {
        "client_id": "id", "timestamp": "ts", "sku": "id",
        "category": "id", "price": "id", "name": "vec",
    },
}
TABLE_COLUMNS["validation_target"] = TABLE_COLUMNS["train_target"]

# The values an id column may hold (docs/data.md §4): ids are non-negative BIGINTs, a price is
# a bucket. A value outside its range is refused by name wherever a stage reads the column.
INT64_MAX = 2**63 - 1
ID_RANGE: tuple[int, int] = (0, INT64_MAX)
VALUE_RANGE: dict[str, tuple[int, int]] = {"price": (0, 99)}


def value_range(column: str) -> tuple[int, int]:
    """(lowest, highest) value allowed in an id column or a label list of that column."""
    return VALUE_RANGE.get(column, ID_RANGE)

# Tasks (docs/tasks.md): two binary tasks, four propensity tasks over a label list of a column.
Kind = Literal["binary", "propensity"]
BINARY_TASKS: tuple[str, ...] = ("churn", "conversion")
PROPENSITY_TASKS: dict[str, str] = {
    "propensity_category": "category",
    "propensity_sku": "sku",
    "propensity_new_sku": "sku",
    "propensity_price": "price",
}
TASKS: tuple[str, ...] = BINARY_TASKS + tuple(PROPENSITY_TASKS)
LIST_SIZE = 100  # labels per propensity list at most

# The entry (docs/entry.md).
MAX_COLUMNS = 2048


def task_kind(task: str) -> Kind:
    if task in BINARY_TASKS:
        return "binary"
    if task in PROPENSITY_TASKS:
        return "propensity"
    raise UnknownTask(f"unknown task '{task}'; tasks: {', '.join(TASKS)}")
