"""What a recipe learns from the data it profiles, kept or replayed (docs/recipes.md §6).

A recipe asks :func:`current` for each learnt quantity by key (``state.array(key, compute)``,
``state.value(key, compute)``):

* **fitting** (``ubm features --recipe R``, ``ubm fit``): ``compute()`` runs and its result is
  returned; when the state ``keep``\\ s (``ubm fit``) it is also recorded, to be saved in a
  profile model (:mod:`ubm.profiles.model`). ``ubm features --recipe R`` fits without keeping,
  so it holds nothing more in memory than before;
* **applying** (``ubm features --model M``): the recorded result is returned and ``compute`` is
  never called, so the columns mean what they meant on the fitted data.

Keys are scoped (``with state.scope("universal")``), and :meth:`ModelState.next_key` numbers
the calls of one scope in order (each column group a block scales), so fitting and applying
walk the same keys as long as the recipe, its options and the code are the same (the model
records all three and refuses another). Arrays are kept exactly as computed (npz keeps every
bit), so applying a model to the data it was fitted on gives the same bytes. A kept array is
the recipe's own (not a copy): recipes must not write to what they hand over or get back.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from ubm.errors import DataError
from ubm.profiles.trail import Trail


class ModelError(DataError):
    """A profile model that cannot be applied here: unreadable, another format or code
    version, or fitted under another contract (label lists, columns, options)."""


class ModelState:
    def __init__(self, mode: str = "fit", *, keep: bool = False, arrays: dict[str, np.ndarray] | None = None,
                 values: dict[str, Any] | None = None) -> None:
        if mode not in ("fit", "apply"):
            raise ValueError(f"mode must be fit or apply, got {mode!r}")
        self.mode, self.keep = mode, keep
        self.arrays: dict[str, np.ndarray] = dict(arrays or {})
        self.values: dict[str, Any] = dict(values or {})
        self.trail: Trail | None = None  # a refreshable build's kept state (ubm.profiles.trail)
        self._prefix: list[str] = []
        self._counters: dict[str, int] = {}

    @property
    def applying(self) -> bool:
        return self.mode == "apply"

    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._prefix.append(name)
        try:
            yield
        finally:
            self._prefix.pop()

    def key(self, name: str) -> str:
        return "/".join([*self._prefix, name])

    def next_key(self, name: str) -> str:
        """``<scope>/<name>.<i>``: the i-th call of this name in this scope (0-based)."""
        base = self.key(name)
        i = self._counters.get(base, 0)
        self._counters[base] = i + 1
        return f"{base}.{i}"

    def array(self, key: str, compute: Callable[[], np.ndarray], *, scoped: bool = True) -> np.ndarray:
        full = self.key(key) if scoped else key

        def record(got: np.ndarray) -> None:
            if full in self.arrays:
                raise AssertionError(f"learnt array {full!r} recorded twice")
            self.arrays[full] = np.asarray(got)  # not copied (item factors are large): recipes never write to it

        return self._learnt(self.arrays, "array", full, compute, record)

    def value(self, key: str, compute: Callable[[], Any]) -> Any:
        """A JSON-able learnt value (a list, a number, a dict)."""
        full = self.key(key)
        return self._learnt(self.values, "value", full, compute, lambda got: self.values.__setitem__(full, got))

    def _learnt(self, stored: dict[str, Any], what: str, full: str, compute: Callable[[], Any],
                record: Callable[[Any], None]) -> Any:
        """Applying: the stored ``full`` (a model without it was fitted by other code); fitting:
        ``compute()``, recorded when the model is kept."""
        if self.applying:
            if full not in stored:
                raise ModelError(f"the profile model has no learnt {what} {full!r}: it was fitted by another "
                                 "version of the recipe; refit it with `ubm fit`")
            return stored[full]
        got = compute()
        if self.keep:
            record(got)
        return got

    def has(self, key: str) -> bool:
        full = self.key(key)
        return full in self.arrays or full in self.values


_CURRENT: contextvars.ContextVar[ModelState | None] = contextvars.ContextVar("ubm_model_state", default=None)


def current() -> ModelState:
    """The active state; outside :func:`active`, a fitting state that keeps nothing (a recipe's
    ``build`` called directly behaves as it always has)."""
    state = _CURRENT.get()
    return ModelState("fit", keep=False) if state is None else state


@contextmanager
def active(state: ModelState) -> Iterator[ModelState]:
    token = _CURRENT.set(state)
    try:
        yield state
    finally:
        _CURRENT.reset(token)
