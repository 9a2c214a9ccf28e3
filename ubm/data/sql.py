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
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
import jinja2
import numpy as np

from ubm.contract import BINARY_TASKS, EVENT_TYPES, PROPENSITY_TASKS, TABLE_COLUMNS
from ubm.data.io import Data, explain_conversion_error



def _sql_dir() -> Path:
    """The templates: the repository's sql/, shipped in the package as ``ubm.sql``."""
    root = importlib.resources.files("ubm.sql")
    return Path(str(root.joinpath("split"))).parent


SQL_DIR = _sql_dir()

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


class TemplateError(Exception):
    """Unknown template, missing/unknown parameter, wrong value type."""


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
    return sorted(str(p.relative_to(sql_dir).with_suffix("")) for p in sql_dir.rglob("*.sql"))


def load(name: str, sql_dir: Path = SQL_DIR) -> Template:
    path = sql_dir / f"{name}.sql"
    if ".." in Path(name).parts or not path.is_file():
        known = ", ".join(template_names(sql_dir)) or "(none)"
        raise TemplateError(f"unknown template '{name}'; known templates: {known}")
    return _parse_header(name, path, path.read_text())


def list_templates(sql_dir: Path = SQL_DIR) -> list[Template]:
    return [load(n, sql_dir) for n in template_names(sql_dir)]


def _check_identifiers(value: Any, key: str) -> None:
    if isinstance(value, str):
        if value not in ALLOWED_IDENTIFIERS:
            raise TemplateError(f"structure '{key}': '{value}' is not an allowed identifier")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_identifiers(item, key)
    elif isinstance(value, dict):
        for k, item in value.items():
            _check_identifiers(k, key)
            _check_identifiers(item, key)
    elif not isinstance(value, (int, float, bool)) or value is None:
        raise TemplateError(f"structure '{key}': unsupported value {value!r}")


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                          trim_blocks=True, lstrip_blocks=True)


def _kind(value: Any) -> str:
    """The JSON kind of a structure value: a name, a list, a mapping, a number or a flag."""
    if isinstance(value, bool):
        return "a flag (true/false)"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a name"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def render(template: Template | str, structure: dict[str, Any] | None = None) -> str:
    """Render the Jinja structure of a template; values are never rendered in."""
    tpl = load(template) if isinstance(template, str) else template
    context = dict(tpl.structure)
    for key, value in (structure or {}).items():
        if key not in tpl.structure:
            raise TemplateError(
                f"template {tpl.name}: unknown structure variable '{key}'"
                f" (declared: {', '.join(tpl.structure) or 'none'})"
            )
        if _kind(value) != _kind(tpl.structure[key]):
            raise TemplateError(
                f"template {tpl.name}: structure '{key}' takes {_kind(tpl.structure[key])} "
                f"like {json.dumps(tpl.structure[key])}, got {json.dumps(value)}"
            )
        context[key] = value
    for key, value in context.items():
        _check_identifiers(value, key)
    try:
        return _ENV.from_string(tpl.source).render(**context)
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {tpl.name}: {exc}") from exc


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("boolean")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
        return int(v)
    raise ValueError(v)


def _to_timestamp(v: Any) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v.strip())
    raise ValueError(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in {"true", "false", "1", "0"}:
        return v.lower() in {"true", "1"}
    raise ValueError(v)


def _to_list(conv: Callable[[Any], Any]) -> Callable[[Any], list]:
    def convert(v: Any) -> list:
        if isinstance(v, str):
            v = [x for x in v.split(",") if x.strip()]
        if isinstance(v, np.ndarray):
            v = v.tolist()
        return [conv(x) for x in v]
    return convert


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(v)
    return float(v)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "BIGINT": _to_int,
    "INTEGER": _to_int,
    "DOUBLE": _to_float,
    "VARCHAR": lambda v: v if isinstance(v, str) else str(v),
    "TIMESTAMP": _to_timestamp,
    "DATE": lambda v: _to_timestamp(v).date(),
    "BOOLEAN": _to_bool,
    "BIGINT[]": _to_list(_to_int),
}


def bind(tpl: Template, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check and convert parameter values against the header; return what the SQL uses."""
    used = set(_PARAM_USE.findall(_strip_comments(sql)))
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
        except (ValueError, TypeError) as exc:
            raise TemplateError(
                f"template {tpl.name}: parameter '{key}' expects {ptype}, got {params[key]!r}"
            ) from exc
    return bound


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def run(
    data: Data,
    name: str,
    params: dict[str, Any] | None = None,
    structure: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyRelation | None:
    """Render and run a template; SELECTs return a lazy relation, statements run now."""
    tpl = load(name)
    sql = render(tpl, structure)
    bound = bind(tpl, sql, params or {})
    with explained(data):
        return data.con.sql(sql, params=bound or None)


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
    """Run a SELECT template and return its columns as numpy arrays."""
    rel = run(data, name, params, structure)
    with explained(data):
        return rel.fetchnumpy()


def fetch_arrow(data: Data, name: str, params: dict[str, Any] | None = None,
                structure: dict[str, Any] | None = None):
    """Run a SELECT template and return an Arrow table."""
    rel = run(data, name, params, structure)
    with explained(data):
        return rel.to_arrow_table()


@contextmanager
def explained(data: Data) -> Iterator[None]:
    """Re-raise cast failures of the typed views as DataErrors naming file, column, value."""
    try:
        yield
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        raise explain_conversion_error(data, exc) from exc
