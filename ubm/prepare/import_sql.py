"""SQL helpers of ``ubm import``: render the sql/import templates, bind their values, and check
the two kinds of text a mapping puts into SQL (column names and row filters).

A column name reaches SQL only as a double-quoted identifier, and only after it was found
among the source's own columns. A row filter is parsed by DuckDB's own parser
(``json_serialize_sql``) and accepted only when it is one expression (no statement, no
semicolon, no ``FROM``), built of column references, constants, operators, comparisons,
``CASE``/``CAST``/``BETWEEN`` and scalar functions, with no subquery, window, parameter or
function that reads files or settings; each column it names must be a column of the source.
It is then bound against the source's columns (zero rows) so a type mistake is refused before
any work. Every value (paths, formats, the time zone) is a bound parameter.
"""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb

from ubm.data import sql as templates
from ubm.data.templating import render_source
from ubm.prepare.import_config import ConfigError

_ALLOWED_CLASSES = frozenset({"COLUMN_REF", "CONSTANT", "COMPARISON", "CONJUNCTION", "OPERATOR", "FUNCTION",
                              "CASE", "CAST", "BETWEEN", "COLLATE",
                              "TYPE"})  # the target type of a CAST (DuckDB 2 serialises it as a node)
# Functions that reach outside the row (files, settings, the environment) or are not repeatable.
_REFUSED_FUNCTIONS = re.compile(r"^(read_.*|getenv|current_setting|query|query_table|glob|sql_.*|pragma_.*|"
                                r"nextval|currval|setseed|random|uuid|gen_random_uuid|uuidv4|uuidv7|"
                                r"current_.*|now|get_current_.*|today|json_serialize_sql|json_execute_serialized_sql)$",
                                re.IGNORECASE)


def quote(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def resolve_column(name: str, columns: list[str], where: str, source: str) -> str:
    """The source's own spelling of ``name`` (DuckDB matches names regardless of case)."""
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise ConfigError(f"{where}: column {name!r} is not in source {source!r} (columns: {', '.join(columns)})")


def _walk(node: Any, found: dict[str, set]) -> None:
    if isinstance(node, dict):
        cls = node.get("class")
        if cls is not None:
            found["classes"].add(cls)
            if cls == "COLUMN_REF":
                found["columns"].add(node["column_names"][-1])
                if len(node["column_names"]) > 1:
                    found["classes"].add("QUALIFIED_COLUMN")
            if cls == "FUNCTION":
                found["functions"].add(node.get("function_name", ""))
                if node.get("schema") or node.get("catalog"):
                    found["classes"].add("QUALIFIED_FUNCTION")
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, found)


def check_predicate(con: duckdb.DuckDBPyConnection, text: str, columns: list[str], where: str,
                    source: str) -> str:
    """``text`` as a checked boolean expression over ``columns``, wrapped in parentheses."""
    tree = json.loads(con.execute("SELECT json_serialize_sql($q)", {"q": f"SELECT ({text})"}).fetchone()[0])
    if tree.get("error"):
        raise ConfigError(f"{where}: {text!r} is not an SQL expression ({tree.get('error_message')})")
    statements = tree["statements"]
    node = statements[0]["node"] if len(statements) == 1 else {}
    extra = [k for k in ("where_clause", "having", "qualify", "sample") if node.get(k)]
    if (len(statements) != 1 or node.get("type") != "SELECT_NODE" or node["from_table"]["type"] != "EMPTY"
            or len(node["select_list"]) != 1 or node["group_expressions"] or node["modifiers"]
            or node["cte_map"]["map"] or extra):
        raise ConfigError(f"{where}: {text!r} must be one expression (no statement, semicolon, FROM or clause)")
    found: dict[str, set] = {"classes": set(), "columns": set(), "functions": set()}
    _walk(node["select_list"][0], found)
    refused = found["classes"] - _ALLOWED_CLASSES
    if refused:
        kinds = ", ".join(sorted(k.lower().replace("_", " ") for k in refused))
        raise ConfigError(f"{where}: {text!r} uses what a row filter may not ({kinds})")
    bad = sorted(f for f in found["functions"] if _REFUSED_FUNCTIONS.match(f))
    if bad:
        raise ConfigError(f"{where}: {text!r} calls {', '.join(bad)}, which a row filter may not")
    lowered = {c.lower() for c in columns}
    for column in sorted(found["columns"]):
        if column.lower() not in lowered:
            raise ConfigError(f"{where}: column {column!r} is not in source {source!r} "
                              f"(columns: {', '.join(columns)})")
    return f"({text})"


def render(name: str, structure: dict[str, Any]) -> tuple[templates.Template, str]:
    """Template ``import/<name>`` rendered with the importer's checked fragments."""
    tpl = templates.load(f"import/{name}")
    unknown = set(structure) - set(tpl.structure)
    if unknown:
        raise templates.TemplateError(f"template {tpl.name}: unknown structure {sorted(unknown)}")
    return tpl, render_source(tpl.source, tpl.structure | structure, tpl.name)


def bind(tpl: templates.Template, text: str, params: dict[str, Any]) -> dict[str, Any]:
    """The declared parameters the rendered text uses, each given a value."""
    used = set(templates._PARAM_USE.findall(templates._strip_comments(text)))
    undeclared = used - set(tpl.params)
    missing = used - set(params)
    if undeclared or missing:
        raise templates.TemplateError(f"template {tpl.name}: parameters undeclared {sorted(undeclared)}, "
                                      f"missing {sorted(missing)}")
    return {k: params[k] for k in sorted(used)}


def query(name: str, structure: dict[str, Any], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(SQL text, bound values) of an import template."""
    tpl, text = render(name, structure)
    return text, bind(tpl, text, params)
