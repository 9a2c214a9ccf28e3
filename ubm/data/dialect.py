"""Templates in another engine's SQL: sqlglot transpiles DuckDB's SQL, and a few rules fix
what it gets wrong or what has no twin.

The templates are written in a portable subset of DuckDB's SQL (``INTERVAL 'n' DAY``,
``date_diff``, explicit casts before division, list parameters as small tables, no COPY);
what remains for these rules:

* ``isodow(ts)``: sqlglot writes ``(DAYOFWEEK(ts) % 7) + 1``, which puts Monday on 3; the rule
  writes ``WEEKDAY(ts) + 1`` (Spark's WEEKDAY: Monday = 0).
* a decimal literal (``86400.0``) is a DECIMAL in Spark and rounds what it divides; the rule
  makes it a DOUBLE, as DuckDB computes.
* ``CREATE OR REPLACE TEMP TABLE x AS q`` becomes a lazy view in sqlglot's Spark; the rule
  writes ``CACHE TABLE x AS q``, which materialises it like DuckDB's temp table.
* functions with no Spark twin that would silently change a result (``list_position``:
  Spark's ``array_position`` gives 0, not NULL, for a missing value; ``to_days``; two
  ``unnest`` in one SELECT; ``COPY``) are refused here, naming the template.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from ubm.errors import TemplateError

# DuckDB functions that must not reach another engine (see the module docstring).
REFUSED = {"list_position", "array_position", "to_days", "unnest", "explode", "list_filter",
           "list_transform", "range", "strlen", "epoch_ms"}


def transpile(text: str, dialect: str, template: str = "?") -> str:
    """DuckDB SQL of a rendered template as ``dialect`` SQL (today: ``spark``)."""
    if dialect != "spark":
        raise TemplateError(f"template {template}: no transpiler for dialect '{dialect}'")
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise TemplateError(f"template {template}: sqlglot cannot parse it ({exc})") from exc
    if len(statements) != 1 or statements[0] is None:
        raise TemplateError(f"template {template}: expected one statement, found {len(statements)}")
    tree = statements[0]
    _refuse(tree, template)
    if isinstance(tree, exp.Command) or tree.key == "copy":
        raise TemplateError(f"template {template}: COPY and commands have no Spark form; "
                            "let the engine write files (sql.write_parquet)")
    tree = tree.transform(_rewrite)
    cached = _temp_table(tree)
    if cached is not None:
        name, query = cached
        return f"CACHE TABLE {name} AS {query.sql(dialect='spark')}"
    return tree.sql(dialect="spark")


def _refuse(tree: exp.Expression, template: str) -> None:
    for node in tree.walk():
        name = _function_name(node)
        if name in REFUSED:
            raise TemplateError(f"template {template}: {name}() has no faithful Spark twin; "
                                "rewrite it in the portable subset (see ubm.data.dialect)")


def _function_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DayOfWeekIso):
        weekday = exp.Anonymous(this="WEEKDAY", expressions=[node.this.copy()])
        return exp.Paren(this=exp.Add(this=weekday, expression=exp.Literal.number(1)))
    if isinstance(node, exp.Literal) and not node.is_string and "." in node.this:
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    return node


def _temp_table(tree: exp.Expression) -> tuple[str, exp.Expression] | None:
    """(name, query) of ``CREATE [OR REPLACE] TEMP TABLE name AS query``, else None."""
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind", "")).upper() != "TABLE":
        return None
    props = tree.args.get("properties")
    temporary = props is not None and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions)
    if not temporary or tree.expression is None:
        return None
    return tree.this.name, tree.expression


def transpile_expression(text: str, dialect: str = "spark") -> str:
    """One DuckDB SQL expression (a shared macro's output) in ``dialect``, with the same rules."""
    tree = sqlglot.parse_one(f"SELECT {text}", read="duckdb")
    _refuse(tree, "expression")
    return tree.transform(_rewrite).expressions[0].sql(dialect=dialect)


_CALL = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]*)\(")  # sqlglot writes a call as NAME( and keywords as KW (


def functions_used(sql_text: str) -> set[str]:
    """Upper-case names of the functions a Spark SQL text (as ``transpile`` writes it) calls."""
    text = re.sub(r"/\*.*?\*/", " ", sql_text, flags=re.S)
    text = re.sub(r"'(?:[^']|'')*'", "''", text)
    return {m.upper() for m in _CALL.findall(text)}
