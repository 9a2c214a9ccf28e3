"""Load, render and run the SQL templates under ``sql/<stage>/<name>.sql``.

Each template starts with a comment header::

    -- One line saying what the query returns.
    -- $train_target_start TIMESTAMP  first instant of the train target window
    -- @windows [1, 7, 30]            (structure: a Jinja variable with its default)
    -- requires: features/baseline/relevant_events   (run first when run alone, by ubm-sql)
    -- returns: one row per client ...

``$name TYPE meaning`` lines declare bound parameters: values only ever reach DuckDB
as prepared-statement parameters. ``@name <json default>`` lines declare structure
variables for Jinja (loops over windows, event types, vector positions); a string
there must be an identifier from :data:`ALLOWED_IDENTIFIERS`, never user text.

A ``$name BIGINT[]`` list reaches SQL as the table ``list_<name>(slot, value)`` (slot 0-based),
registered for the query and dropped after it. Templates are written in DuckDB's SQL and
transpiled for other engines (:mod:`ubm.data.dialect`); shared shapes are Jinja macros in
``sql/macros/``.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb
import numpy as np

from ubm.contract import BINARY_TASKS, EVENT_TYPES, PROPENSITY_TASKS, TABLE_COLUMNS
from ubm.data.engine import Engine, array_table, temp_arrays
from ubm.data.io import Data, DataError, explain_conversion_error
from ubm.data.templating import MACRO_DIR, SQL_DIR, render_source
# The converters of bound values; _to_int and _CONVERTERS keep their old names for callers.
from ubm.data.values import CONVERTERS as _CONVERTERS, OutOfRange as _OutOfRange, _to_int  # noqa: F401
from ubm.errors import TemplateError

ALLOWED_IDENTIFIERS: frozenset[str] = frozenset(
    set(EVENT_TYPES)
    | set(PROPENSITY_TASKS)
    | {f"label_list_{t}" for t in PROPENSITY_TASKS}
    | {c for cols in TABLE_COLUMNS.values() for c in cols}
    | {"product_properties", "train_target", "validation_target", "relevant_clients",
       "active_clients", "input", "all"}
    | set(BINARY_TASKS)
)

_PARAM_LINE = re.compile(r"^--\s+\$(\w+)\s+([A-Z]+(?:\[\])?)\s*(.*)$")
_STRUCT_LINE = re.compile(r"^--\s+@(\w+)\s+(.+?)(?:\s{2,}(.*))?$")
_REQUIRES_LINE = re.compile(r"^--\s+requires:\s*(.+)$")
_PARAM_USE = re.compile(r"\$([A-Za-z_]\w*)")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]+(?:/[a-z0-9_]+)*")


def _LIST_USE(name: str) -> re.Pattern:
    """A list parameter reaches SQL as the small table list_<name>(slot, value), slot 0-based:
    portable (no unnest or list functions) and still bound, never pasted into the text."""
    return re.compile(rf"\blist_{name}\b")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    purpose: str
    params: dict[str, Param]
    structure: dict[str, Any]
    source: str = field(repr=False)
    requires: tuple[str, ...] = ()


def _parse_header(name: str, path: Path, text: str) -> Template:
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line.rstrip())
    if not header:
        raise TemplateError(f"template {name} ({path}) has no comment header")
    purpose = header[0].lstrip("- ").strip()
    params: dict[str, Param] = {}
    structure: dict[str, Any] = {}
    requires: list[str] = []
    for line in header[1:]:
        if m := _REQUIRES_LINE.match(line):
            requires += [r.strip() for r in m[1].split(",") if r.strip()]
        elif m := _PARAM_LINE.match(line):
            params[m[1]] = Param(m[1], m[2], m[3].strip())
        elif m := _STRUCT_LINE.match(line):
            structure[m[1]] = json.loads(m[2])
    return Template(name, path, purpose, params, structure, text, tuple(requires))


def template_names(sql_dir: Path = SQL_DIR) -> list[str]:
    """Every runnable template; ``sql/macros/`` holds shared macros, not queries."""
    names = (p.relative_to(sql_dir) for p in sql_dir.rglob("*.sql"))
    return sorted(str(n.with_suffix("")) for n in names if n.parts[0] != MACRO_DIR)


def load(name: str, sql_dir: Path = SQL_DIR) -> Template:
    """The shipped template ``sql/<name>.sql``. A name is ``stage/name`` in lower case, never a
    path: absolute paths, ``..``, links that resolve outside ``sql/`` and the macros are refused."""
    if not isinstance(name, str) or not _TEMPLATE_NAME.fullmatch(name) or name.split("/")[0] == MACRO_DIR:
        raise TemplateError(f"unknown template {name!r}: a template is named stage/name, like "
                            f"summary/events (ubm-sql list shows them); files outside ubm's sql/ are never run")
    root = Path(sql_dir).resolve()
    path = (root / f"{name}.sql").resolve()
    if not path.is_relative_to(root) or not path.is_file():
        known = ", ".join(template_names(sql_dir)) or "(none)"
        raise TemplateError(f"unknown template '{name}'; known templates: {known}")
    return _parse_header(name, path, path.read_text())


def list_templates(sql_dir: Path = SQL_DIR) -> list[Template]:
    return [load(n, sql_dir) for n in template_names(sql_dir)]


# Whole numbers are pasted into the SQL text as INTEGER literals (window days, vector lengths),
# so they must fit one; no structure value is negative. Structure values are flat: a name, a
# number, a flag, or a list or mapping of those (one level of nesting to spare).
MAX_STRUCTURE_INT = 2**31 - 1
MAX_STRUCTURE_DEPTH = 3


def _check_identifiers(value: Any, key: str, depth: int = 0) -> None:
    """Every leaf of a structure value is an allowed identifier, a finite number in range or a flag."""
    if depth > MAX_STRUCTURE_DEPTH:
        raise TemplateError(f"structure '{key}': nested more than {MAX_STRUCTURE_DEPTH} levels deep")
    if isinstance(value, str):
        if value not in ALLOWED_IDENTIFIERS:
            raise TemplateError(f"structure '{key}': '{value}' is not an allowed identifier")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_identifiers(item, key, depth + 1)
    elif isinstance(value, dict):
        for k, item in value.items():
            _check_identifiers(k, key, depth + 1)
            _check_identifiers(item, key, depth + 1)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not 0 <= value <= MAX_STRUCTURE_INT:
            raise TemplateError(f"structure '{key}': {value} is outside 0..{MAX_STRUCTURE_INT}")
    elif isinstance(value, float):
        if not math.isfinite(value) or not 0 <= value <= MAX_STRUCTURE_INT:
            raise TemplateError(f"structure '{key}': {value} is not a finite number in 0..{MAX_STRUCTURE_INT}")
    else:
        raise TemplateError(f"structure '{key}': unsupported value {value!r}")


def _kind(value: Any) -> str:
    """The JSON kind of a structure value: a name, a list, a mapping, a whole number, a number
    or a flag (a whole number where the default is one: range(2.5) has no meaning)."""
    if isinstance(value, bool):
        return "a flag (true/false)"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a name"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def _conforms(value: Any, default: Any) -> bool:
    """Whether ``value`` has the shape of the template's ``default``: the same kind (a whole
    number also where a number is declared) and, for a list with a declared element, elements
    of that element's kind."""
    want, got = _kind(default), _kind(value)
    if want != got and not (want == "a number" and got == "a whole number"):
        return False
    if isinstance(default, (list, tuple)) and default:
        return all(_conforms(item, default[0]) for item in value)
    return True


def _described(default: Any) -> str:
    kind = _kind(default)
    if isinstance(default, (list, tuple)) and default:
        kind = f"a list of {_kind(default[0]).removeprefix('a ')}s"
    return f"{kind} like {json.dumps(default)}"


def render(template: Template | str, structure: dict[str, Any] | None = None,
           dialect: str = "duckdb") -> str:
    """Render the Jinja structure of a template; values are never rendered in. For another
    dialect than DuckDB's the rendered text is transpiled (:mod:`ubm.data.dialect`)."""
    tpl = load(template) if isinstance(template, str) else template
    context = dict(tpl.structure)
    for key, value in (structure or {}).items():
        if key not in tpl.structure:
            raise TemplateError(
                f"template {tpl.name}: unknown structure variable '{key}'"
                f" (declared: {', '.join(tpl.structure) or 'none'})"
            )
        if not _conforms(value, tpl.structure[key]):
            raise TemplateError(
                f"template {tpl.name}: structure '{key}' takes {_described(tpl.structure[key])}, "
                f"got {_shown(value)}"
            )
        context[key] = value
    try:
        for key, value in context.items():
            _check_identifiers(value, key)
    except TemplateError as exc:
        raise TemplateError(f"template {tpl.name}: {exc}") from None
    text = render_source(tpl.source, context, tpl.name)
    if dialect == "duckdb":
        return text
    return _transpile(text, dialect, tpl.name)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text[:120] + ("..." if len(text) > 120 else "")


def _transpile(text: str, dialect: str, name: str) -> str:
    try:
        from ubm.data.dialect import transpile  # sqlglot: only needed beyond DuckDB
    except ImportError as exc:
        raise DataError(f"the {dialect} engine needs sqlglot: pip install 'ubm[spark]' ({exc})") from exc
    return transpile(text, dialect, name)




def bind(tpl: Template, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check and convert parameter values against the header; return what the SQL uses."""
    text = _strip_comments(sql)
    used = set(_PARAM_USE.findall(text)) | {
        k for k, p in tpl.params.items() if p.type.endswith("[]") and _LIST_USE(k).search(text)}
    for key in params:
        if key not in tpl.params:
            raise TemplateError(
                f"template {tpl.name}: unknown parameter '{key}'"
                f" (takes: {', '.join(tpl.params) or 'none'})"
            )
    bound: dict[str, Any] = {}
    for key in sorted(used):
        if key not in tpl.params:
            raise TemplateError(f"template {tpl.name}: uses undeclared parameter ${key}")
        if key not in params:
            p = tpl.params[key]
            raise TemplateError(f"template {tpl.name}: missing parameter '{key}' ({p.type}: {p.doc})")
        ptype = tpl.params[key].type
        try:
            bound[key] = _CONVERTERS[ptype](params[key])
        except (ValueError, TypeError, OverflowError) as exc:
            why = f": {exc}" if isinstance(exc, _OutOfRange) else ""
            raise TemplateError(
                f"template {tpl.name}: parameter '{key}' expects {ptype}, got {_shown_param(params[key])}{why}"
            ) from exc
    return bound


def _shown_param(value: Any) -> str:
    text = repr(value)
    return text[:120] + ("..." if len(text) > 120 else "")


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def _prepare(data: Data, name: str, params: dict[str, Any] | None,
             structure: dict[str, Any] | None) -> tuple[str, dict[str, Any], dict[str, list]]:
    """Rendered SQL (in the engine's dialect), scalar parameters, list parameters."""
    tpl = load(name)
    sql = render(tpl, structure)
    bound = bind(tpl, sql, params or {})  # on DuckDB's text: its -- comments are stripped there
    if data.engine.dialect != "duckdb":
        sql = _transpile(sql, data.engine.dialect, tpl.name)
    lists = {k: v for k, v in bound.items() if isinstance(v, list)}
    scalars = {k: v for k, v in bound.items() if k not in lists}
    return sql, scalars, lists


@contextmanager
def _list_tables(engine: Engine, lists: dict[str, list]) -> Iterator[None]:
    with ExitStack() as stack:
        for key, values in lists.items():
            stack.enter_context(temp_arrays(engine, f"list_{key}",
                                            {"slot": np.arange(len(values)), "value": values}))
        yield


def run(
    data: Data,
    name: str,
    params: dict[str, Any] | None = None,
    structure: dict[str, Any] | None = None,
) -> Any:
    """Render and run a template: a SELECT gives the engine's lazy relation (DuckDB relation,
    Spark DataFrame), a statement runs now and gives None. List parameters stay registered
    as list_<name> until the next run that binds the same name; fetch_* drop them."""
    sql, scalars, lists = _prepare(data, name, params, structure)
    for key, values in lists.items():
        data.engine.register_arrow(f"list_{key}", _slots(values))
    with explained(data):
        return data.engine.relation(sql, scalars)


def _slots(values: list):
    return array_table({"slot": np.arange(len(values)), "value": values})


def execute(data: Data, name: str, params: dict[str, Any] | None = None,
            structure: dict[str, Any] | None = None) -> None:
    """Run a statement template (CREATE TEMP TABLE / VIEW ...)."""
    sql, scalars, lists = _prepare(data, name, params, structure)
    with _list_tables(data.engine, lists), explained(data):
        data.engine.execute(sql, scalars)


@contextmanager
def fetch_batches(data: Data, name: str, params: dict[str, Any] | None = None,
                  structure: dict[str, Any] | None = None, rows: int = 1 << 20) -> Iterator[Any]:
    """Run a SELECT template and stream its rows as an Arrow RecordBatchReader of at most
    ``rows`` rows a batch (list parameters stay registered while it is read)."""
    sql, scalars, lists = _prepare(data, name, params, structure)
    with _list_tables(data.engine, lists), explained(data):
        yield data.engine.batches(sql, scalars, rows)


def write_parquet(data: Data, name: str, path: str | Path, params: dict[str, Any] | None = None,
                  structure: dict[str, Any] | None = None) -> None:
    """Write a SELECT template's rows to one parquet file; the engine does the writing."""
    sql, scalars, lists = _prepare(data, name, params, structure)
    with _list_tables(data.engine, lists), explained(data):
        data.engine.write_parquet(sql, scalars, str(path))


@contextmanager
def temp_view(data: Data, view: str, name: str, params: dict[str, Any] | None = None,
              structure: dict[str, Any] | None = None) -> Iterator[str]:
    """Run a template that creates temp view/table ``view`` and drop it when the block ends,
    so the state a later template reads is visible where it is made."""
    execute(data, name, params, structure)
    try:
        yield view
    finally:
        data.engine.drop(view)


@contextmanager
def temp_parquet_view(data: Data, view: str, path: str | Path) -> Iterator[str]:
    """A parquet file ubm wrote (kept state, not a data directory's table) as temp view ``view``."""
    data.engine.register_parquet(view, str(path))
    try:
        yield view
    finally:
        data.engine.drop(view)


@contextmanager
def temp_arrays_view(data: Data, view: str, columns: dict[str, Any]) -> Iterator[str]:
    """Int64 arrays from Python as temp view ``view`` (e.g. task_clients(pos, client_id))."""
    with temp_arrays(data.engine, view, columns):
        yield view


def run_standalone(
    data: Data,
    name: str,
    params: dict[str, Any] | None = None,
    structure: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyRelation | None:
    """Run a template on its own: first the templates its header ``requires`` (the temp
    tables or views that the Python pipeline otherwise creates), each given the parameters
    and structure variables it declares."""
    params, structure = params or {}, structure or {}
    tpl = load(name)
    taken_params: set[str] = set()
    taken_structure: set[str] = set()
    for required in tpl.requires:
        pre = load(required)
        taken_params |= set(pre.params)
        taken_structure |= set(pre.structure)
        run_standalone(data, required,
                       {k: v for k, v in params.items() if k in pre.params},
                       {k: v for k, v in structure.items() if k in pre.structure})
    # What only a required template takes is not this template's; anything else (unknown
    # names included) goes to run(), which reports it.
    own_params = {k: v for k, v in params.items() if k in tpl.params or k not in taken_params}
    own_structure = {k: v for k, v in structure.items() if k in tpl.structure or k not in taken_structure}
    return run(data, name, own_params, own_structure)


def fetch_numpy(data: Data, name: str, params: dict[str, Any] | None = None,
                structure: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Run a SELECT template and return its columns as numpy arrays (NULLs masked)."""
    sql, scalars, lists = _prepare(data, name, params, structure)
    with _list_tables(data.engine, lists), explained(data):
        return data.engine.fetch_numpy(sql, scalars)


def fetch_arrow(data: Data, name: str, params: dict[str, Any] | None = None,
                structure: dict[str, Any] | None = None):
    """Run a SELECT template and return an Arrow table."""
    sql, scalars, lists = _prepare(data, name, params, structure)
    with _list_tables(data.engine, lists), explained(data):
        return data.engine.fetch_arrow(sql, scalars)


@contextmanager
def explained(data: Data) -> Iterator[None]:
    """Re-raise cast failures of the typed views as DataErrors naming file, column, value."""
    try:
        yield
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        found = explain_conversion_error(data, exc)
        if str(found) == str(exc):  # no unparseable value found: DuckDB's own error goes on to the
            raise                   # command line, which traces a damaged file (ubm.data.damage)
        raise found from exc
    except Exception as exc:
        if data.engine.name == "duckdb" or isinstance(exc, (DataError, TemplateError)):
            raise
        from ubm.data.spark import explain_spark_error  # only a Spark error gets here
        raise explain_spark_error(data, exc) from exc
