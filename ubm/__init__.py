"""ubm: Universal Behavioral Profiles, SQL-first (docs/README.md; the Python API: docs/python.md).

``import ubm`` is cheap: the names below are loaded from :mod:`ubm.api` (and the classes from
their modules) on first use. They are the public, stable surface; every module of the package
is private and may change.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it
_PUBLIC = {
    # stages over a data directory (ubm.api)
    **{name: "ubm.api" for name in (
        "generate", "import_data", "check", "summary", "open_data", "split", "parse_end", "lists",
        "targets", "read_labels", "features", "read_entry", "original_ids", "validate", "train",
        "scores", "leaderboard", "fit", "apply", "refresh",
    )},
    # results
    "Labels": "ubm.api", "Entry": "ubm.api", "Board": "ubm.api",
    # settings and errors
    "Settings": "ubm.data.io",
    "DataError": "ubm.errors", "EntryError": "ubm.errors", "OutputError": "ubm.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ubm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
