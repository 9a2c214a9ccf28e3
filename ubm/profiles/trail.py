"""The per-client state a refreshable entry keeps, so that a refresh reads the events that arrived
since it was built and that state, not the whole history (docs/recipes.md §7).

A :class:`Trail` rides on the active :class:`ubm.profiles.state.ModelState` (``learnt.trail``).
A recipe that supports refresh (today: ``baseline``) asks it for what the last build kept
(:meth:`Trail.previous_array`, :attr:`Trail.before`) and hands it what the next refresh needs
(:meth:`Trail.save_array`, :meth:`Trail.path`, :attr:`Trail.record`). The state lives in the
entry's folder ``refresh/`` (``state.json`` and numeric arrays; never pickle), written with the
entry, so entry and state are always of the same build.

A recipe that finds the kept state does not fit the data (an input other than at the build, an
old event changed or removed) raises :class:`StaleTrail`; the refresh then builds in full, which
is always exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


STATE_DIR = "refresh"
STATE_FILE = "state.json"
STATE_FORMAT = 1
ADDED_KEPT = 1000  # digests of the new-event directories added, newest last


class StaleTrail(Exception):
    """The kept state cannot be extended to this data (the reason says why): a refresh of all
    events builds in full, one of new events only is refused."""


@dataclass
class Trail:
    """``out``: the folder this build writes its state to; ``before``: the state.json of the
    build being refreshed (None: a full build that starts a trail); ``previous``: its folder."""
    out: Path
    before: dict[str, Any] | None = None
    previous: Path | None = None
    delta: bool = False  # the data holds only the new events (``ubm refresh --new-events``)
    added: str | None = None  # with delta: the digest of those events, kept so they are not added twice
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def refreshing(self) -> bool:
        return self.before is not None

    def path(self, name: str) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out / name

    def previous_path(self, name: str) -> Path:
        assert self.previous is not None
        path = self.previous / name
        if not path.is_file():
            raise StaleTrail(f"the kept state lacks {name}")
        return path

    def save_array(self, name: str, array: np.ndarray) -> None:
        with open(self.path(f"{name}.npy"), "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)

    def previous_array(self, name: str) -> np.ndarray:
        try:
            return np.load(self.previous_path(f"{name}.npy"), allow_pickle=False)
        except ValueError as exc:
            raise StaleTrail(f"the kept {name}.npy is unreadable ({exc})") from None

    def old(self, key: str) -> Any:
        """What the build being refreshed recorded under ``key``."""
        assert self.before is not None
        facts = self.before.get("facts", {})
        if key not in facts:
            raise StaleTrail(f"the kept state lacks {key}")
        return facts[key]

    def expect(self, key: str, now: Any, what: str) -> None:
        """Record ``now`` under ``key``; refreshing, refuse the state if the build had another value."""
        self.record[key] = now
        if self.refreshing and self.before.get("facts", {}).get(key) != now:
            raise StaleTrail(f"{what} changed since the entry was built")

    def write(self) -> None:
        seen = list((self.before or {}).get("added", [])) if self.refreshing else []
        state = {"format": STATE_FORMAT, "facts": self.record,
                 "added": (seen + [self.added])[-ADDED_KEPT:] if self.added else seen}
        self.path(STATE_FILE).write_text(json.dumps(state, indent=1, default=str) + "\n")


def read_state(entry: Path) -> dict[str, Any] | None:
    """The entry's kept state.json; None when it keeps none; :class:`StaleTrail` when it is
    unreadable or of another format."""
    path = entry / STATE_DIR / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StaleTrail(f"{path}: unreadable refresh state ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StaleTrail(f"{path}: a refresh state of another format")
    return state
