"""Feature recipes: named ways of turning a data directory into profile columns.

A recipe is a :class:`Recipe` registered in :data:`RECIPES` under its name. It has

* ``defaults``: its options and their default values (what ``columns.json`` records),
* ``columns(options) -> list[str]``: the column names, known before any data is read
  (so the output array can be allocated up front and its width checked),
* ``build(data, clients, options, out) -> dict``: fill the columns through ``out``
  (a :class:`ColumnWriter`) and return JSON-able facts worth recording (top values,
  latest timestamps...).

Adding a recipe::

    def _my_columns(options): return [f"my.{i}" for i in range(options["dim"])]
    def _my_build(data, clients, options, out): ...; return {}
    register(Recipe("mine", "what it is", {"dim": 64}, _my_columns, _my_build))

``clients`` is the relevant-clients array; row ``i`` of the output belongs to
``clients[i]``, which is the ``pos`` column of the ``relevant_clients`` view. Recipes
write values in any numeric dtype; the writer turns them into float16, clipping
values beyond float16's range (see :class:`ColumnWriter`).

Each recipe lives in its own module of this package, beside its SQL in
``sql/features/<recipe>/``: :mod:`.baseline`, :mod:`.universal` (whose ALS factor block is
:mod:`.als`) and :mod:`.learned` (a multi-task encoder trained on the input window's last 14 days). :func:`get_recipe` imports them; each registers itself on import.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ubm.data.io import Data
from ubm.profiles.writer import ColumnWriter

BUILTIN = ("baseline", "universal", "learned")
TRUE_WORDS = frozenset({"1", "true", "yes"})  # an option flag given as text (-o key=value)
FALSE_WORDS = frozenset({"", "0", "false", "no"})


def flag(value: Any) -> bool:
    """A yes/no option: a bool as is, text true when it is one of :data:`TRUE_WORDS`."""
    return value if isinstance(value, bool) else str(value).strip().lower() in TRUE_WORDS


def comma_list(value: Any) -> list[str]:
    """An option listing names: ``"a, b"`` -> ``["a", "b"]`` (empty text: none); a list as is."""
    if isinstance(value, (int, float)):  # a library caller's single window
        return [value]
    if not isinstance(value, str):
        return list(value)
    return [part.strip() for part in value.split(",") if part.strip()]

Options = dict[str, Any]
MAX_WINDOW_DAYS = 36_600  # about a century: longer windows count every event, and DuckDB's intervals stay in range


class OptionError(ValueError):
    """A recipe option value that the recipe refuses (a usage error: ``ubm features`` exits 2
    naming the option). ``key`` is the option's name where one option is to blame."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


WHOLE_MAX = 2**31 - 1  # any whole-number option: what SQL's INTEGER and torch's sizes hold
SEED_MAX = 2**63 - 1


def whole(value: Any, key: str, recipe: str, low: int | None = None, high: int = WHOLE_MAX) -> int:
    """An option that takes a whole number (text such as "3" too); 2.5, "x" or True are refused by
    name, and so is a number above ``high``: a width option's ``high`` is the entry's most
    columns, so a huge one is refused before anything is built (not an out-of-memory kill)."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise OptionError(f"{recipe}: option {key} takes a whole number, got {value!r}", key)
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"{recipe}: option {key} takes a whole number, got {value!r}", key) from None
    if low is not None and number < low:
        raise OptionError(f"{recipe}: option {key} must be >= {low}, got {number}", key)
    if number > high:
        raise OptionError(f"{recipe}: option {key} must be <= {high:,}, got {number:,}", key)
    return number


def real(value: Any, key: str, recipe: str) -> float:
    """An option that takes a finite number."""
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    if isinstance(value, bool) or not math.isfinite(number):
        raise OptionError(f"{recipe}: option {key} takes a finite number, got {value!r}", key)
    return number


def window_days(value: Any, recipe: str, key: str = "windows") -> list[int]:
    """Window lengths: distinct whole days in 1..MAX_WINDOW_DAYS, in the order given."""
    days = [whole(w, key, recipe, high=SEED_MAX) for w in comma_list(value)]  # the range is checked below
    if not days or len(set(days)) != len(days) or not all(1 <= d <= MAX_WINDOW_DAYS for d in days):
        raise OptionError(f"{recipe}: {key} must be distinct whole days in 1..{MAX_WINDOW_DAYS}, "
                          f"got {','.join(map(str, days)) or repr(value)}", key)
    return days


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    defaults: Options
    columns: Callable[[Options], list[str]]
    build: Callable[[Data, np.ndarray, Options, ColumnWriter], dict]
    check: Callable[[Options], Options] | None = None
    # True when build only writes full-height blocks (no scatter): the driver may then spool the
    # blocks and write the entry row-wise at the end (bounded memory at any width).
    spooled: bool = False
    # Whether build reads the label_list_<task> views (target/*.npy): they are then opened,
    # checked against the split they were built from and fingerprinted in columns.json.
    reads_lists: bool = True
    # Whether build keeps per-client state on a trail (ubm.profiles.trail), so that a refresh
    # reads the new events and that state only.
    refreshes: bool = False

    def resolve(self, options: Options | None = None) -> Options:
        """Defaults overlaid with the given options (None values ignored), then checked."""
        given = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = set(given) - set(self.defaults)
        if unknown:
            raise OptionError(
                f"recipe '{self.name}' has no option {', '.join(sorted(unknown))}"
                f" (options: {', '.join(self.defaults) or 'none'})", sorted(unknown)[0]
            )
        merged = {**self.defaults, **given}
        return self.check(merged) if self.check else merged


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    for module in BUILTIN:
        importlib.import_module(f"{__name__}.{module}")
    if name not in RECIPES:
        raise OptionError(f"unknown recipe '{name}' (known: {', '.join(sorted(RECIPES))})", "recipe")
    return RECIPES[name]
