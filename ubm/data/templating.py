"""The Jinja environment of the SQL templates, and their shared macros (``sql/macros/``).

Kept apart from :mod:`ubm.data.sql` so that :mod:`ubm.data.io` can render the same
macros (the timestamp parse) without importing the template runner.

Templates come only from the package's own ``sql/`` (in a checkout, the repository's), and
Jinja runs sandboxed: a template can read the structure variables it is given, never Python
attributes behind them (``cycler.__init__.__globals__`` and the like raise ``SecurityError``),
so even a template that was edited on disk cannot run code.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Callable

import jinja2
import jinja2.sandbox

from ubm.errors import TemplateError


PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _sql_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """The templates beside the code that runs: ``ubm/sql`` of an installed package; in a plain
    checkout (nothing installed, no ``ubm/sql``) the repository's top-level sql/; otherwise
    wherever the package ``ubm.sql`` is mapped (an editable install elsewhere)."""
    if (package_dir / "sql" / "split").is_dir():
        return package_dir / "sql"
    checkout = package_dir.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "sql" / "split").is_dir():
        return checkout / "sql"
    try:
        root = importlib.resources.files("ubm.sql")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"ubm's SQL templates are neither in {package_dir / 'sql'} nor in "
                                  f"{checkout / 'sql'}; install the package or run from a full "
                                  "checkout") from None
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


# What a template's Jinja can raise while it renders from given values: its own errors
# (undefined names, the sandbox's refusals, syntax) and Python's, from a value the template did
# not expect (range(2.5) is a TypeError, range(10**20) an OverflowError, the sandbox's range
# limit too). Each one is the template's and its values' fault, never an internal error.
RENDER_ERRORS = (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError)


def render_source(source: str, context: dict[str, Any], name: str) -> str:
    """The template text ``source`` rendered in the sandbox; any failure is a TemplateError
    naming the template ``name``."""
    try:
        return ENV.from_string(source).render(**context)
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"template {name}: refused by the template sandbox ({exc})") from exc
    except RENDER_ERRORS as exc:
        raise TemplateError(f"template {name}: cannot render with {_given(context)} "
                            f"({type(exc).__name__}: {exc})") from exc


def _given(context: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in context.items())
    return text[:200] + ("..." if len(text) > 200 else "") if text else "no structure values"


def macro(file: str, name: str) -> Callable[..., Any]:
    """A macro of ``sql/macros/<file>.sql`` as a Python function returning SQL text."""
    module = ENV.get_template(f"{MACRO_DIR}/{file}.sql").module
    fn = getattr(module, name)

    def call(*args: Any, **kwargs: Any) -> str:
        try:
            return str(fn(*args, **kwargs))
        except RENDER_ERRORS as exc:
            raise TemplateError(f"macro {file}.{name}: cannot render ({type(exc).__name__}: {exc})") from exc
    return call
