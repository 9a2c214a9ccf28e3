"""The label lists of docs/tasks.md §3, built from a split data directory.

Writes under ``D/target/`` (each only when absent, unless ``force``):

* ``active_clients.npy``: relevant clients with >= 1 ``product_buy`` in the input window,
  in ``relevant_clients.npy`` order.
* ``propensity_<task>.npy`` with ``popularity_propensity_<task>.npy`` for category, sku,
  new_sku and price: the values most often bought in the train target window (purchase
  rows counted, duplicates included), most popular first, ties by smaller id; the
  popularity array holds those int64 counts. new_sku only ranks skus never bought in the
  input window; price keeps every bought bucket (at most 100). A list that would be empty
  (e.g. no new sku is bought in the train target window of a short log) is not written, and
  the result says so: the task cannot be evaluated on this data, and recipes use their
  documented stand-in list instead (docs/recipes.md).

A list that is given is used as is. If its popularity file is missing, that file is
built from the same counts, in the given list's order (0 for a value never bought).
Lists that ubm built from another split or client set (``D/.ubm/lists.json`` says which)
are rebuilt, never kept as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ubm import provenance
from ubm.data import sql
from ubm.contract import PROPENSITY_TASKS
from ubm.data.io import Settings, read_npy
from ubm.data.opener import open_data
from ubm.layout import ACTIVE_CLIENTS, TARGET_DIR, label_list_file, popularity_file
from ubm.util import save_npy

LIST_SIZE = 100
_EMPTY = {"propensity_new_sku": "no sku bought in the train target window is new (never bought in the "
                                "input window); the task cannot be evaluated on this data"}


@dataclass
class ListsResult:
    target_dir: Path
    built: list[str] = field(default_factory=list)  # file names written
    kept: list[str] = field(default_factory=list)  # file names given and left alone
    sizes: dict[str, int] = field(default_factory=dict)  # list name -> entries
    empty: dict[str, str] = field(default_factory=dict)  # list name -> why it was not written
    warnings: list[str] = field(default_factory=list)  # empty lists built: their tasks cannot be trained

    def describe(self) -> str:
        lines = [f"{name:<24}{size:>10,} entries  ("
                 + (f"not written: {self.empty[name]}" if name in self.empty
                    else 'built' if f'{name}.npy' in self.built else 'given') + ")"
                 for name, size in self.sizes.items()]
        lines.append(f"built: {', '.join(self.built) or 'nothing'}")
        lines.append(f"kept as given: {', '.join(self.kept) or 'nothing'}")
        lines.append(f"in {self.target_dir}")
        return "\n".join(lines)


def build_lists(data_dir: Path | str, settings: Settings = Settings(), force: bool = False,
                progress: Callable[[str], None] | None = None) -> ListsResult:
    """Build the absent (or, with ``force``, all) label lists of docs/tasks.md §3 under ``D/target``."""
    root = Path(data_dir)
    target = root / TARGET_DIR
    result = ListsResult(target)
    # With --force no list is read, so a broken one does not stand in the way of its rebuild.
    data = open_data(root, window="input", settings=settings, lists=not force,
                     require=("relevant_clients", "product_buy", "train_target"))
    writes: list[tuple[Path, np.ndarray]] = []  # saved only once every input is known unchanged
    removes: list[Path] = []  # lists ubm built from another split that would now be empty
    try:
        stale = {root / name for name in provenance.stale_lists(root)}
        active = root / ACTIVE_CLIENTS
        if force or not active.is_file() or active in stale:
            ids = sql.fetch_numpy(data, "lists/active_clients")["client_id"].astype(np.int64)
            if ids.size == 0:
                result.warnings.append(f"{active} is empty: no relevant client bought anything in the input "
                                       "window, so churn has no client to evaluate; `ubm train` refuses churn "
                                       "(leave it out with --tasks; docs/tasks.md §4)")
            writes.append((active, ids))
            result.built.append(active.name)
        else:
            ids = read_npy(active)
            result.kept.append(active.name)
        result.sizes["active_clients"] = len(ids)
        for task, column in PROPENSITY_TASKS.items():
            list_path = root / label_list_file(task)
            pop_path = root / popularity_file(task)
            if force or not list_path.is_file() or list_path in stale:
                rows = sql.fetch_numpy(data, "lists/most_bought", {"limit": LIST_SIZE},
                                       {"column": column, "new_only": task == "propensity_new_sku"})
                values = rows["value"].astype(np.int64)
                if values.size == 0:  # an empty list would make every later stage refuse the task
                    result.empty[task] = _EMPTY.get(task, "nothing bought in the train target window")
                    removes += [p for p in (list_path, pop_path) if p in stale]
                else:
                    writes += [(pop_path, rows["popularity"].astype(np.int64)), (list_path, values)]
                    result.built += [list_path.name, pop_path.name]
            else:
                values = read_npy(list_path)
                result.kept.append(list_path.name)
                if pop_path.is_file() and pop_path not in stale:
                    result.kept.append(pop_path.name)
                else:
                    rows = sql.fetch_numpy(data, "lists/popularity_of", {},
                                           {"task": task, "column": column})
                    writes.append((pop_path, rows["popularity"].astype(np.int64)))
                    result.built.append(pop_path.name)
            result.sizes[task] = len(values)
            if progress:
                progress(f"{task}: {len(values)} labels")
        data.verify_inputs("lists")
        for path, array in writes:
            save_npy(path, array)
        for path in removes:
            path.unlink(missing_ok=True)
        provenance.write_lists_stamp(root, [target / name for name in result.built])
    finally:
        data.close()
    return result
