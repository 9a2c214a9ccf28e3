"""Warnings of ``ubm import`` about data that imports but is probably not what the user meant
(docs/import.md §8): prices that are not numbers, an event type whose event values match no
row, ids a spreadsheet wrote in scientific notation, ids that are missing-value markers ('NA').
Each is one ``warning:`` line of the report;
none stops the import (the data is the user's, and each has a legitimate reading).
"""

from __future__ import annotations

from typing import Any

import duckdb

from ubm.prepare.import_config import Mapping
from ubm.prepare.import_sql import query

# '5.47798E+14': what a spreadsheet writes for a long numeric id, keeping six digits of it.
_SCIENTIFIC = r"^-?[0-9](\.[0-9]+)?[eE][+-]?[0-9]+$"


def price_warnings(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> list[str]:
    p = mapping.products
    if p is None or p.price is None:
        return []
    n, example = con.execute("SELECT count(bad_price), min(bad_price) FROM stage_products "
                             "WHERE dropped IS NULL").fetchone()
    if not n:
        return []
    hint = ""
    if "," in example and p.price_decimal == ".":
        hint = " (set products.price_decimal = ',' if commas are decimal points)"
    return [f"warning: products.price: {n:,} row(s) of column {p.price!r} hold a price that is not a number, "
            f"taken as no price, e.g. {example!r}{hint}"]


def event_value_warnings(con: duckdb.DuckDBPyConnection, mapping: Mapping, staged: dict[str, dict],
                         readers: dict[str, Any]) -> list[str]:
    """An event type selected by event values that no row of its source has (a typo, a case
    mismatch: 'Purchase' is not 'purchase') is an empty table; say so, with the values there."""
    out = []
    for event, em in mapping.events.items():
        if not em.event_column or sum(r[0] for r in staged[event].values()):
            continue
        reader = readers[event]
        sql, values = query("event_values", reader.structure | {
            "event_column": reader.column(em.event_column, f"events.{event}.event_column")}, reader.params)
        seen = ", ".join(f"{v!r} ({n:,})" for v, n in con.execute(sql, values).fetchall()) or "none"
        wanted = ", ".join(repr(v) for v in em.event_values)
        out.append(f"warning: events.{event}.event_values: no row of source {em.source!r} has {wanted} in column "
                   f"{em.event_column!r} (values compare as exact trimmed text; most frequent there: {seen})")
    return out


# Texts that exports write for "no value"; as an id each would gather every event that has none.
NULL_MARKERS = ["NA", "N/A", "n/a", "NULL", "null", "Null", "None", "none", "nan", "NaN", "-", "\\N", "undefined",
                "(not set)"]


def id_warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
    out = []
    for kind in ("client_id", "sku", "url", "category"):  # a category '(not set)' is no category either
        markers = [r[0] for r in con.execute(f"SELECT original FROM map_{kind} WHERE list_contains($m, original) "
                                             "ORDER BY original", {"m": NULL_MARKERS}).fetchall()]
        if markers:
            listed = ", ".join(repr(m) for m in markers)
            what = "every product without one" if kind == "category" else "every event without one"
            out.append(f"warning: the {kind} map holds {listed}, which look like \"no value\": as an id each gathers "
                       f"{what}; if so, list them in the source's nulls (nulls = [{listed}])")
        if kind == "category":
            continue
        n, example = con.execute(f"SELECT count(*), min(original) FROM map_{kind} "
                                 "WHERE regexp_matches(original, $re)", {"re": _SCIENTIFIC}).fetchone()
        if n:
            out.append(f"warning: {n:,} {kind} id(s) look like numbers in scientific notation, e.g. {example!r}: "
                       "a spreadsheet wrote them and kept only some digits, so different ids may have become "
                       "one; export the ids as text")
    return out
