"""The Jinja environment of the SQL templates, and their shared macros (``sql/macros/``).

Kept apart from :mod:`ubm.data.sql` so that :mod:`ubm.data.io` can render the same
macros (the timestamp parse) without importing the template runner.

Templates come only from the package's own ``sql/``, and Jinja runs sandboxed: a template
can read the structure variables it is given, never Python attributes behind them
(``cycler.__init__.__globals__`` and the like raise ``SecurityError``), so even a template
that was edited on disk cannot run code.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Callable

import jinja2
import jinja2.sandbox


def _sql_dir() -> Path:
    """The templates: the repository's sql/, shipped in the package as ``ubm.sql``."""
    root = importlib.resources.files("ubm.sql")
    return Path(str(root.joinpath("split"))).parent


SQL_DIR = _sql_dir()
MACRO_DIR = "macros"  # sql/macros/*.sql: imported by templates, never run on their own

ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(
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
