"""One hand-made data directory for the split, lists and targets tests, with its answers.

end = latest product_buy = 2022-11-09 15:02:11 (the second example of docs/split.md §1), so
train target = [2022-10-13 00:00:00, 2022-10-27 00:00:00) and
validation target = [2022-10-27 00:00:00, 2022-11-09 15:02:11].

Relevant clients, in file order: 10, 20, 30, 40, 50, 60 (60 has no events at all;
99 buys but is not relevant).

Catalogue: sku -> (category, price): 1 -> (100, 5), 2 -> (200, 7), 3 -> (100, 9), 4 -> (300, 5).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.fixtures import default_vec, write_dataset

END = dt.datetime(2022, 11, 9, 15, 2, 11)
TTS = dt.datetime(2022, 10, 13)
VTS = dt.datetime(2022, 10, 27)

RELEVANT = [10, 20, 30, 40, 50, 60]
PROPERTIES = [(1, 100, 5), (2, 200, 7), (3, 100, 9), (4, 300, 5)]

PRODUCT_BUY = [
    (10, "2022-10-12 23:59:59", 1),  # input: one second before train_target_start
    (10, "2022-10-13 00:00:00", 1),  # train: exactly train_target_start
    (10, "2022-10-13 05:00:00", 1),  # train: same sku again (label stays 1, counts twice)
    (20, "2022-10-26 23:59:59", 3),  # train: last second of the window
    (20, "2022-10-27 00:00:00", 2),  # validation: exactly validation_target_start
    (30, "2022-11-09 15:02:11", 2),  # validation: exactly end (kept)
    (30, "2022-11-01 08:00:00", 1),  # validation
    (40, "2022-09-01 10:00:00", 3),  # input only: active, no purchase in either window
    (99, "2022-10-14 10:00:00", 4),  # train, not a relevant client (counts in the lists)
]
ADD_TO_CART = [
    (20, "2022-10-01 12:00:00", 1),  # input
    (20, "2022-10-20 12:00:00", 2),  # after train_target_start: unused
]
REMOVE_FROM_CART = [
    (20, "2022-10-02 12:00:00", 1),  # input
]
PAGE_VISIT = [
    (50, "2022-10-12 23:59:59", 8),  # input
    (50, "2022-10-13 00:00:00", 9),  # exactly train_target_start: not input
    (10, "2022-11-10 00:00:00", 7),  # after end: not input
    (50, "2022-06-01 00:00:00", 8),  # input
]
SEARCH_QUERY = [
    (50, "2022-10-01 00:00:00", default_vec(1)),  # input
    (50, "2022-11-20 00:00:00", default_vec(2)),  # after end: not input
]

# Answers worked out by hand from the rows above.
INPUT_ROWS = {"product_buy": 2, "add_to_cart": 1, "remove_from_cart": 1, "page_visit": 2, "search_query": 1}
TARGET_ROWS = {"train_target": 4, "validation_target": 3}
ACTIVE = [10, 40]  # relevant clients with an input purchase, relevant order
# lists: counts of train-target purchase rows, most first, ties by smaller id
LIST_SKU = ([1, 3, 4], [2, 1, 1])
LIST_NEW_SKU = ([4], [1])  # 1 and 3 were bought in the input window
LIST_CATEGORY = ([100, 300], [3, 1])  # sku1 x2 + sku3 -> 100; sku4 -> 300
LIST_PRICE = ([5, 9], [3, 1])  # sku1 x2 + sku4 -> 5; sku3 -> 9


def make(root: Path, native: bool = False, **overrides) -> Path:
    events = dict(product_buy=PRODUCT_BUY, add_to_cart=ADD_TO_CART, remove_from_cart=REMOVE_FROM_CART,
                  page_visit=PAGE_VISIT, search_query=SEARCH_QUERY)
    events.update({k: v for k, v in overrides.items() if k in events})
    return write_dataset(root, relevant=overrides.get("relevant", RELEVANT),
                         properties=overrides.get("properties", PROPERTIES), native=native, **events)
