"""The Jinja environment of the SQL templates, and their shared macros (``sql/macros/``).

Kept apart from :mod:`ubm.data.sql` so that :mod:`ubm.data.io` can render the same
macros (the timestamp parse) without importing the template runner.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Callable

import jinja2


def _sql_dir() -> Path:
    """The templates: the repository's sql/, shipped in the package as ``ubm.sql``."""
    root = importlib.resources.files("ubm.sql")
    return Path(str(root.joinpath("split"))).parent


SQL_DIR = _sql_dir()
MACRO_DIR = "macros"  # sql/macros/*.sql: imported by templates, never run on their own

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(SQL_DIR)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def macro(file: str, name: str) -> Callable[..., Any]:
    """A macro of ``sql/macros/<file>.sql`` as a Python function returning SQL text."""
    module = ENV.get_template(f"{MACRO_DIR}/{file}.sql").module
    fn = getattr(module, name)
    return lambda *args, **kwargs: str(fn(*args, **kwargs))
