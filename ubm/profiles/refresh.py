"""Refresh an entry of a profile model with the events that arrived since it was built
(``ubm refresh``, docs/recipes.md §7).

An entry applied with ``--refreshable`` keeps its recipe's per-client state in ``E/refresh/``
(:mod:`ubm.profiles.trail`). :func:`refresh_entry` reads that state and the new events (those
after its watermark in the grown data directory, or all events of a directory of new events
only) and replaces ``E`` (atomically) with the entry a full apply of the model to all events
would write, state included. Where no incremental path exists (a recipe without one,
an entry without state, an input that changed under it), it says why and applies the model in
full: the answer is the same, only slower.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ubm.contract import EVENT_TYPES
from ubm.data.io import Settings, require_dir
from ubm.layout import DataDir
from ubm.errors import DataError, OutputError
from ubm.ownership import read_manifest
from ubm.profiles.model import ApplyResult, Model, ModelError, apply_model, load_model
from ubm.profiles.recipes import get_recipe
from ubm.profiles.trail import STATE_DIR, StaleTrail, Trail, read_state
from ubm.provenance import content_hash
from ubm.util import Timer


@dataclass
class RefreshResult:
    entry: Path
    incremental: bool  # False: applied in full (``reason`` says why)
    reason: str | None
    applied: ApplyResult
    seconds: float

    def describe(self) -> str:
        how = "from the new events and the kept state" if self.incremental else "in full"
        return (f"refreshed {self.entry}: {self.applied.n_rows:,} clients x {self.applied.n_columns} columns "
                f"float16, {how} ({self.seconds:.1f}s)")


def _entry_meta(entry: Path) -> dict:
    manifest = read_manifest(entry) if entry.is_dir() else None
    if manifest is None or manifest.get("kind") != "entry":
        raise OutputError(f"--entry {entry}: not an entry written by ubm (write one with "
                          "`ubm features --model M --refreshable`)")
    try:
        return json.loads((entry / "columns.json").read_text())
    except (OSError, ValueError) as exc:
        raise OutputError(f"--entry {entry}: unreadable columns.json ({exc})") from None


def _digest(root: Path, source: str) -> str:
    """sha256 over the contents of a directory's event files (missing ones are left to the
    opening of the data, which names them)."""
    h = hashlib.sha256()
    for event in EVENT_TYPES:
        path = DataDir(root).event_file(event, source)
        h.update(f"{event}:{content_hash(path) if path.is_file() else '-'};".encode())
    return h.hexdigest()


def _require_applied_from(model: Model, entry: Path, meta: dict) -> None:
    built_by = meta.get("model") or {}
    if built_by.get("sha256") != model.digest:  # model.json: its options, fit, creation time
        was = (f"applied from the model fitted {built_by.get('created')} at {built_by['path']}, this one was fitted "
               f"{model.meta.get('created')}" if built_by.get("path") else "not applied from a model")
        raise ModelError(f"--entry {entry}: not an entry of profile model {model.path} ({was}); "
                         "apply this model with `ubm features --model`")


def refresh_entry(model_dir: Path | str, data_dir: Path | str, entry: Path | str, *, new_only: bool = False,
                  settings: Settings = Settings(),
                  progress: Callable[[str], None] | None = None) -> RefreshResult:
    """Bring ``entry`` (an entry of ``model_dir``) up to date with ``data_dir``'s events: all
    events, the entry's among them, or (``new_only``) only those that arrived since it was built."""
    timer = Timer()
    say = progress or (lambda _msg: None)
    entry, root = Path(entry), require_dir(Path(data_dir))
    meta = _entry_meta(entry)
    model = load_model(model_dir)
    _require_applied_from(model, entry, meta)
    source = meta.get("source", "input")
    refreshes = get_recipe(model.meta["recipe"]).refreshes
    kept, reason = None, None
    if not refreshes:
        reason = f"recipe {model.meta['recipe']} keeps no refresh state"
    else:
        try:
            kept = read_state(entry)
        except StaleTrail as exc:
            reason = str(exc)
        else:
            reason = f"{entry} keeps no refresh state (applied without --refreshable)" if kept is None else None
    added = _digest(root, source) if new_only else None
    if added is not None and kept is not None and added in kept.get("added", []):
        raise DataError(f"--new-events {root}: these events were already added to {entry} (the same files); "
                        "adding them again would count them twice")
    if reason is None:
        try:
            applied = apply_model(model, root, entry, source=source, settings=settings, progress=progress,
                                  trail=Trail(entry, before=kept, previous=entry / STATE_DIR, delta=new_only,
                                              added=added))
        except StaleTrail as exc:  # nothing was written: the entry is as it was
            reason = str(exc)
    if reason is not None and new_only:  # without the history there is no full apply to fall back on
        raise DataError(f"--new-events {root}: cannot refresh {entry} from new events only: {reason}; "
                        "refresh with --data-dir and all events to apply the model in full")
    if reason is not None:
        say(f"refresh: {reason}; applying the model in full")
        applied = apply_model(model, root, entry, source=source, settings=settings, progress=progress,
                              refreshable=refreshes)
    return RefreshResult(entry, reason is None, reason, applied, timer.seconds)


__all__ = ["RefreshResult", "refresh_entry"]
