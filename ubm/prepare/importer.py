"""``ubm import``: a user's own event files to a ubm data directory (docs/import.md).

DuckDB does the work (sql/import/*.sql): each event type's rows are staged once from their
source (keys, UTC time, the reason a row is dropped), the id maps are built from the staged
keys, and the tables are written from the stage joined to the maps. Python checks the
mapping, orders the steps and writes the report; no source is ever loaded into Python.

Output goes to a temporary directory beside ``--out`` that replaces it only when complete;
an existing non-empty ``--out`` is refused unless it is a previous import of the same mapping.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import click
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ubm.contract import EVENT_TYPES, EVENT_VALUE, SKU_EVENTS
from ubm.data.io import DataError, Settings, connect
from ubm.layout import INPUT_DIR, RELEVANT_CLIENTS, TARGET_DIR, split_files
from ubm.prepare.import_checks import event_value_warnings, id_warnings, price_warnings
from ubm.prepare.import_config import ConfigError, Mapping, Source, load_mapping
from ubm.prepare.import_errors import check_not_empty, diagnose, time_hint
from ubm.prepare.import_sql import check_predicate, query, quote, resolve_column
from ubm.prepare.import_transcode import renamed, transcoded
from ubm.ownership import check_out, contents
from ubm.provenance import IMPORT_RECORD as RECORD, STAMP_DIR, read_json, stamp_path
from ubm.util import OutputError, Timer, atomic_dir, save_npy

MAPS = ".ubm/maps"
EPOCH_UNITS = {"epoch_s": 1, "epoch_ms": 1000, "epoch_us": 1_000_000, "auto": -1}
FIRST_YEAR, LAST_YEAR = 1980, 2099  # times outside are unit or format mistakes (macros/import.sql plausible)
REASONS = {"client_id": "missing client id", "timestamp": "missing timestamp", "value": "missing value",
           "bad_time": "time that does not parse", "sku": "missing sku"}


@dataclass
class ImportResult:
    out: Path
    rows: dict[str, int]  # kept rows per event type (0: not mapped)
    dropped: dict[str, dict[str, int]]  # per event type (and "products"): reason -> rows
    clients: int
    relevant: int
    skus: int
    categories: int
    urls: int
    skus_without_properties: int
    first_ts: str | None
    last_ts: str | None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"imported into {self.out} ({self.seconds:.1f}s)", f"{'event type':<18}{'rows':>12}  dropped"]
        for event in EVENT_TYPES:
            why = ", ".join(f"{n:,} {r}" for r, n in self.dropped.get(event, {}).items()) or "-"
            lines.append(f"{event:<18}{self.rows[event]:>12,}  {why}")
        if self.dropped.get("products"):
            lines.append("products dropped: " + ", ".join(f"{n:,} {r}" for r, n in self.dropped["products"].items()))
        lines.append(f"clients {self.clients:,} ({self.relevant:,} relevant), skus {self.skus:,} "
                     f"({self.skus_without_properties:,} without properties), categories {self.categories:,}, "
                     f"urls {self.urls:,}; events {self.first_ts} .. {self.last_ts} UTC")
        return "\n".join(lines + self.notes)


@dataclass(frozen=True)
class Reader:
    """A source made ready for a template: its structure flags and bound values."""

    source: Source
    columns: list[str]
    structure: dict[str, Any]
    params: dict[str, Any]
    types: dict[str, str] = field(default_factory=dict)  # column -> DuckDB type as the reader sees it

    def column(self, name: str, where: str) -> str:
        return quote(resolve_column(name, self.columns, where, self.source.name))

    def is_text(self, name: str) -> bool:
        return self.types.get(resolve_column(name, self.columns, "", self.source.name)) == "VARCHAR"


def _reader_values(source: Source, text_columns: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    structure = {"csv": source.format == "csv", "json": source.format == "json", "typed": bool(text_columns),
                 "joins": [{"table": f"join_{other}", "key": quote(key), "left": left}
                           for (other, key), left in zip(source.joins, source.join_left)]}
    params: dict[str, Any] = {"paths": list(source.paths), "delimiter": "\t" if source.delimiter == "\\t"
                              else source.delimiter, "header": source.header, "encoding": source.encoding,
                              "quote": source.quote, "text_columns": {c: "VARCHAR" for c in text_columns},
                              "nullstr": ["", *source.nulls]}
    return structure, params


def _columns(con: duckdb.DuckDBPyConnection, source: Source, where: str,
             text_columns: list[str] = (), filters: list[str] = ()) -> dict[str, str]:
    """The source's columns and their types as its reader sees them (zero rows read)."""
    structure, params = _reader_values(source, list(text_columns))
    sql, values = query("columns", structure | {"filters": list(filters)}, params)
    try:
        return {d[0]: str(d[1]) for d in con.execute(sql, values).description}
    except duckdb.Error as exc:
        if filters:
            first = str(exc).splitlines()[0]
            hint = ("; the columns mapped as ids, text times or names are read as text (docs/import.md §2): "
                    "cast one in the filter, e.g. TRY_CAST(col AS DOUBLE) > 0") if "VARCHAR" in first else ""
            raise ConfigError(f"{where}: {first}{hint}") from exc
        raise diagnose(con, source, exc, params) from exc


def _open(con: duckdb.DuckDBPyConnection, source: Source, wanted: dict[str, str], filters: dict[str, str],
          text: set[str]) -> Reader:
    """Check a source against what the mapping wants of it: every column there, every filter
    a valid boolean expression over its columns; the wanted ``text`` columns are read as text."""
    check_not_empty(source)
    types = _columns(con, source, f"sources.{source.name}")
    columns = list(types)
    for where, name in wanted.items():
        try:
            resolve_column(name, columns, where, source.name)
        except ConfigError as exc:  # of several files, DuckDB's columns are the first file's
            first = f" (the columns of its first file, {source.paths[0]})" if len(source.paths) > 1 else ""
            raise ConfigError(f"{exc}{first}") from exc
        kind = types[resolve_column(name, columns, where, source.name)]
        if kind.startswith(("STRUCT", "MAP", "UNION")) or kind.endswith("]"):
            raise ConfigError(f"{where}: column {name!r} of source {source.name!r} is a {kind}, not a value; "
                              "nested fields are not read: flatten them into columns of their own first")
    for i, name in enumerate(source.read_as_text):
        resolve_column(name, columns, f"sources.{source.name}.read_as_text[{i + 1}]", source.name)
    text |= set(source.read_as_text)
    # the types of a joined source's reader apply to its own file: the joined columns are read by join_<name>
    own = list(_columns(con, dataclasses.replace(source, joins=()), f"sources.{source.name}")) if source.joins \
        else columns
    text_columns = sorted(c for c in {resolve_column(n, columns, "", source.name) for n in text} if c in own) \
        if source.format == "csv" else []
    checked = [check_predicate(con, f, columns, where, source.name) for where, f in filters.items()]
    for (where, expression), predicate in zip(filters.items(), checked):
        kind = list(_columns(con, source, where, text_columns, [predicate]).values())[-1]
        if kind not in ("BOOLEAN", '"NULL"'):
            raise ConfigError(f"{where}: {expression!r} is not a true/false predicate (it gives {kind})")
    structure, params = _reader_values(source, text_columns)
    return Reader(source, columns, structure, params, types | {c: "VARCHAR" for c in text_columns})


def _stage_joins(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    """Read each source that another joins into join_<name>: one row per key, CSV columns as text
    (so ids and times keep their spelling, as the mapping's own columns do)."""
    done: dict[str, str] = {}
    for name, source in list(mapping.sources.items()):
        if not source.joins:
            continue
        seen = [list(_columns(con, dataclasses.replace(source, joins=()), f"sources.{name}"))]  # base_, j1, ...
        lefts = []
        for i, (other, key) in enumerate(source.joins):
            where = f"sources.{name}.join[{i + 1}].on"
            right = mapping.sources[other]
            check_not_empty(right)
            columns = list(_columns(con, right, f"sources.{other}"))
            right_key = resolve_column(key, columns, where, other)
            holder = next((k for k, cols in enumerate(seen) if right_key in cols), None)
            if holder is None:
                raise ConfigError(f"{where}: column {key!r} is neither in source {name!r} nor in a source it "
                                  f"joins before {other!r}")
            lefts.append("base_" if holder == 0 else f"j{holder}")
            seen.append(columns)
            if done.setdefault(other, right_key) != right_key:
                raise ConfigError(f"{where}: source {other!r} is joined on {done[other]!r} elsewhere; "
                                  "join it on one key")
            if f"join_{other}" not in _tables(con):
                structure, params = _reader_values(right, columns if right.format == "csv" else [])
                _create(con, f"join_{other}", "join_table", structure | {"key": quote(right_key)}, params, right)
        mapping.sources[name] = dataclasses.replace(source, join_left=tuple(lefts))


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}


def _time(con: duckdb.DuckDBPyConnection, source: Source) -> tuple[int, bool, dict[str, Any]]:
    """(ts_unit, aware, values) of a source's time settings, each checked by DuckDB itself;
    aware: the strptime format reads an offset or zone (%z, %Z), so each text names its instant."""
    where = f"sources.{source.name}"
    try:
        con.execute("SELECT timezone($tz, TIMESTAMP '2000-01-01 00:00:00')", {"tz": source.timezone})
    except duckdb.Error as exc:
        raise ConfigError(f"{where}.timezone: unknown time zone {source.timezone!r} (an IANA name such as "
                          "Europe/London or UTC)") from exc
    fmt = source.timestamp_format
    if fmt in EPOCH_UNITS:
        return EPOCH_UNITS[fmt], False, {"timezone": source.timezone, "ts_format": ""}
    if "%" not in fmt:
        raise ConfigError(f"{where}.timestamp_format: {fmt!r} is neither a strptime format (like "
                          f"'%m/%d/%Y %H:%M') nor one of {', '.join(EPOCH_UNITS)}")
    try:
        con.execute("SELECT try_strptime('', $f)", {"f": fmt})
    except duckdb.Error as exc:
        raise ConfigError(f"{where}.timestamp_format: {str(exc).splitlines()[0]}") from exc
    return 0, "%z" in fmt or "%Z" in fmt, {"timezone": source.timezone, "ts_format": fmt}


def _filters(mapping: Mapping, source: Source, extra: tuple[str, ...], where: str) -> dict[str, str]:
    out = {f"sources.{source.name}.filter[{i + 1}]": f for i, f in enumerate(source.filters)}
    return out | {f"{where}.filter[{i + 1}]": f for i, f in enumerate(extra)}


def _stage_events(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> dict[str, Reader]:
    """Check every event mapping, then stage each event type as table stage_<event>."""
    plans = []
    for event, em in mapping.events.items():
        where, source = f"events.{event}", mapping.sources[em.source]
        value = EVENT_VALUE[event]
        wanted = {f"{where}.client_id": em.client_id, f"{where}.timestamp": em.timestamp, f"{where}.{value}": em.value}
        if em.event_column:
            wanted[f"{where}.event_column"] = em.event_column
        ts_unit, aware, time_values = _time(con, source)
        text = {em.client_id, em.value} | ({em.event_column} if em.event_column else set())
        text |= {em.timestamp} if ts_unit <= 0 else set()
        filters = _filters(mapping, source, em.filters, where)
        reader = _open(con, source, wanted, filters, text)
        plans.append((event, em, reader, ts_unit, aware, time_values, filters))
    readers = {}
    for event, em, reader, ts_unit, aware, time_values, filters in plans:  # all checked: now the work
        where = f"events.{event}"
        structure = reader.structure | {
            "client": reader.column(em.client_id, where), "ts": reader.column(em.timestamp, where),
            "value": reader.column(em.value, where), "vector": event == "search_query", "ts_unit": ts_unit,
            "ts_aware": aware, "ts_local": reader.source.timezone != "UTC",
            "event_column": reader.column(em.event_column, where) if em.event_column else False,
            "filters": [f"({f})" for f in filters.values()]}
        params = reader.params | time_values | {"event_values": list(em.event_values)}
        _create(con, f"stage_{event}", "stage_events", structure, params, reader.source)
        readers[event] = reader
    return readers


def _create(con: duckdb.DuckDBPyConnection, table: str, name: str, structure: dict[str, Any],
            params: dict[str, Any], source: Source | str) -> None:
    """Create a temp table from a template; a source that fails to read is named by file and line."""
    sql, values = query(name, structure, params)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", values)
    except (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.IOException,
            duckdb.BinderException) as exc:  # binder: one file of several lacks a mapped column
        if isinstance(source, Source):
            raise diagnose(con, source, exc, params, structure.get("filters", [])) from exc
        raise DataError(f"{source}: {str(exc).splitlines()[0]}") from exc


def _stage_products(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    p = mapping.products
    if p is None:  # no product information: every sku gets the "nothing known" properties
        con.execute("CREATE OR REPLACE TEMP TABLE stage_products (sku_key VARCHAR, category_key VARCHAR, "
                    "price DOUBLE, name_text VARCHAR, ts TIMESTAMP, bad_price VARCHAR, dropped VARCHAR)")
        return
    source = mapping.sources[p.source]
    named = {k: getattr(p, k) for k in ("sku", "category", "price", "name", "timestamp") if getattr(p, k)}
    ts_unit, aware, time_values = _time(con, source) if p.timestamp else (0, False, {"timezone": "UTC",
                                                                                     "ts_format": ""})
    text = {named[k] for k in ("sku", "category", "name") if k in named}
    text |= {p.timestamp} if p.timestamp and ts_unit <= 0 else set()
    filters = _filters(mapping, source, p.filters, "products")
    when = {f"products.{k}_when": f for k, f in p.when.items()}  # checked as filters are, not applied as them
    reader = _open(con, source, {f"products.{k}": v for k, v in named.items()}, filters | when, text)
    col = {k: reader.column(v, f"products.{k}") for k, v in named.items()}
    structure = reader.structure | {"sku": col["sku"], "category": col.get("category", False),
                                    "price": col.get("price", False), "name": col.get("name", False),
                                    "ts": col.get("timestamp", False), "ts_unit": ts_unit, "ts_aware": aware,
                                    "ts_local": source.timezone != "UTC",
                                    "price_text": bool(p.price) and reader.is_text(p.price),
                                    "price_comma": p.price_decimal == ",",
                                    "filters": [f"({f})" for f in filters.values()],
                                    **{f"{k}_when": f"({f})" if f else False for k, f in
                                       ((k, p.when.get(k)) for k in ("category", "price", "name"))}}
    _create(con, "stage_products", "stage_products", structure, reader.params | time_values, reader.source)


def _stage_clients(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    c = mapping.clients
    if c.rule != "file":
        return
    reader = _open(con, c.file, {"clients.column": c.column}, {}, {c.column})
    structure = reader.structure | {"client": reader.column(c.column, "clients.column")}
    _create(con, "stage_clients", "stage_clients", structure, reader.params, reader.source)


def _staged(con: duckdb.DuckDBPyConnection, event: str, mapping: Mapping) -> dict[Any, tuple]:
    sql, values = query("staged", {"stage": f"stage_{event}"}, {})
    rows = {r[0]: r[1:] for r in con.execute(sql, values).fetchall()}
    if "bad_time" in rows:
        em = mapping.events[event]
        source = mapping.sources[em.source]
        n, _, _, value, file = rows["bad_time"]
        raise DataError(f"{file}: column {em.timestamp!r} (events.{event}.timestamp) has {n:,} value(s) that do "
                        f"not parse as sources.{em.source}.timestamp_format = {source.timestamp_format!r} "
                        f"to a time in {FIRST_YEAR}..{LAST_YEAR}, e.g. {value!r}{time_hint(value, source)}")
    return rows


def _check_kept(mapping: Mapping, staged: dict[str, dict], notes: list[str]) -> None:
    """Refuse a directory without a single event: every row of every mapped type was dropped."""
    if any(r.get(None) for r in staged.values()):
        return
    why = "; ".join(f"{e}: " + (", ".join(f"{n:,} {r}" for r, n in _reasons(
        staged[e], list(mapping.sources[em.source].filters) + list(em.filters),
        mapping.sources[em.source].joins).items()) or "no row")
        for e, em in mapping.events.items())
    also = "".join(f"; {n.removeprefix('warning: ')}" for n in notes)  # why a type selected no row
    raise DataError(f"nothing to import: no event of any mapped type was kept ({why}){also}")


def _reasons(rows: dict[Any, tuple], filters: list[str], joins: tuple[tuple[str, str], ...] = ()) -> dict[str, int]:
    out = {}
    for reason, (n, *_rest) in rows.items():
        if reason is None:
            continue
        if reason.isdigit():
            label = f"filter {filters[int(reason) - 1]!r}"
        elif reason.startswith("join "):
            label = f"no row in joined source {joins[int(reason.removeprefix('join ')) - 1][0]!r}"
        else:
            label = REASONS[reason]
        out[label] = n
    return out


def _maps(con: duckdb.DuckDBPyConnection, mapping: Mapping, tmp: Path) -> dict[str, int]:
    """Build map_<kind> tables and write each to D/.ubm/maps/<kind>.parquet; sizes per kind."""
    events = list(mapping.events)
    kinds = {
        "client_id": ([f"stage_{e}" for e in events] + (["stage_clients"] if mapping.clients.rule == "file" else []),
                      "client_key", False),
        "sku": ([f"stage_{e}" for e in events if e in SKU_EVENTS] + ["stage_products"], "value_key", False),
        "url": ([f"stage_{e}" for e in events if e == "page_visit"], "value_key", False),
        "category": (["stage_products"], "category_key", True),
    }
    (tmp / MAPS).mkdir(parents=True, exist_ok=True)
    sizes = {}
    for kind, (tables, column, with_null) in kinds.items():
        if kind == "sku":  # the products stage names its key sku_key
            sql = " UNION ".join(f"SELECT {'sku_key' if t == 'stage_products' else column} AS k, dropped FROM {t}"
                                 for t in tables)
            con.execute(f"CREATE OR REPLACE TEMP VIEW sku_keys AS SELECT k AS key, dropped FROM ({sql})")
            tables, column = ["sku_keys"], "key"
        if not tables:
            con.execute(f"CREATE OR REPLACE TEMP TABLE map_{kind} (id BIGINT, original VARCHAR)")
        else:
            _create(con, f"map_{kind}", "id_map", {"tables": tables, "column": column, "with_null": with_null}, {},
                    f"the {kind} map")
        con.execute(f"COPY (SELECT * FROM map_{kind} ORDER BY id) TO $p (FORMAT parquet)",
                    {"p": str(tmp / MAPS / f"{kind}.parquet")})
        sizes[kind] = con.execute(f"SELECT count(*) FROM map_{kind}").fetchone()[0]
    return sizes


_SCHEMAS = {e: pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()),
                          (EVENT_VALUE[e], pa.string() if e == "search_query" else pa.int64())]) for e in EVENT_TYPES}


def _write_events(con: duckdb.DuckDBPyConnection, mapping: Mapping, tmp: Path) -> None:
    for event in EVENT_TYPES:
        path = tmp / f"{event}.parquet"
        if event not in mapping.events:  # a type the sources lack: an empty table of the right schema
            pq.write_table(_SCHEMAS[event].empty_table(), path)
            continue
        value = EVENT_VALUE[event]
        sql, values = query("events_out", {"stage": f"stage_{event}", "value_map": f"map_{value}", "value": value,
                                           "vector": event == "search_query"}, {})
        con.execute(f"COPY ({sql}) TO $p (FORMAT parquet, PARQUET_VERSION v2)", values | {"p": str(path)})


def _write_products(con: duckdb.DuckDBPyConnection, mapping: Mapping, tmp: Path) -> int:
    latest = mapping.products is not None and mapping.products.pick == "latest"
    sql, values = query("products_out", {"pick_latest": latest}, {})
    con.execute(f"COPY ({sql}) TO $p (FORMAT parquet, PARQUET_VERSION v2)",
                values | {"p": str(tmp / "product_properties.parquet")})
    return con.execute("SELECT count(*) FROM map_sku WHERE original NOT IN "
                       "(SELECT sku_key FROM stage_products WHERE dropped IS NULL)").fetchone()[0]


def _write_clients(con: duckdb.DuckDBPyConnection, mapping: Mapping, tmp: Path) -> int:
    c = mapping.clients
    structure = {"rule_most_active": c.rule == "most_active", "rule_sample": c.rule == "sample",
                 "rule_file": c.rule == "file", "tables": [f"stage_{e}" for e in mapping.events]}
    sql, values = query("relevant_clients", structure, {"n": c.n or 0, "seed": str(c.seed)})
    ids = con.execute(sql, values).fetchnumpy()["client_id"].astype(np.int64)
    if not ids.size:  # only a list can be empty: the other rules take clients of kept events
        raise DataError(f"clients.file: {', '.join(c.file.paths)} lists no client in column {c.column!r}; "
                        "every stage needs at least one relevant client")
    (tmp / INPUT_DIR).mkdir(exist_ok=True)
    save_npy(tmp / RELEVANT_CLIENTS, ids)
    return int(ids.size)


def _derived(out: Path) -> set[str]:
    """What the later stages made inside a data directory from its files (the split's outputs,
    the lists ``ubm lists`` built, the label cache, their stamps), as ownership.contents names
    them: a new import of the same mapping replaces them with the files (docs/import.md §1)."""
    lists = read_json(stamp_path(out, "lists")) or {}
    names = set(split_files()) | set(lists.get("built", [])) | {f"{STAMP_DIR}/{s}.json" for s in ("split", "lists")}
    found = contents(out)
    names |= {f for f in found if f.startswith(".cache/")}
    inside = [f for f in found if f.startswith(f"{TARGET_DIR}/") and f != f"{TARGET_DIR}/"]
    if all(f in names for f in inside):
        names.add(f"{TARGET_DIR}/")
    return names


def _check_out(out: Path, mapping: Mapping) -> set[str]:
    """Refuse, before any work, an --out that ubm may not replace with a data directory (the
    one output guard, :func:`ubm.ownership.check_out`), and one that is not a previous import
    of this same mapping (a generated or other data directory is not replaced by an import).
    A previous import of it may hold what split, lists and train derived from it, not more:
    those paths are returned, for the output's swap to check again."""
    try:
        record = json.loads((out / RECORD).read_text())
    except (OSError, ValueError):
        record = {}
    same = record.get("mapping_sha256") == mapping.digest
    derived = _derived(out) if same and out.is_dir() else set()
    check_out(out, "data", derived=derived)
    if out.is_dir() and any(out.iterdir()) and not same:
        raise OutputError(f"--out {out} exists and is not empty (nor a previous import of {mapping.path}); "
                          "give a new directory or remove it")
    return derived


def import_data(config: Path, out: Path, settings: Settings = Settings(),
                progress: Callable[[str], None] = lambda _m: None) -> ImportResult:
    """Read the mapping, check it against its sources, and write the data directory ``out``."""
    timer = Timer()
    mapping = load_mapping(config)
    out = Path(out)
    derived = _check_out(out, mapping)
    with transcoded(mapping, settings.temp_directory) as (mapping, names):
        try:
            return _import(mapping, out, settings, progress, timer, derived)
        except (ConfigError, DataError) as exc:  # name the user's files, not their UTF-8 copies
            raise type(exc)(renamed(str(exc), names)) from exc


def _import(mapping: Mapping, out: Path, settings: Settings, progress: Callable[[str], None],
            timer: Timer, derived: set[str]) -> ImportResult:
    con = connect(settings)
    try:
        with atomic_dir(out, "data", derived=derived) as tmp:
            progress("staging events")
            _stage_joins(con, mapping)
            readers = _stage_events(con, mapping)
            _stage_products(con, mapping)
            _stage_clients(con, mapping)
            staged = {e: _staged(con, e, mapping) for e in mapping.events}
            notes = event_value_warnings(con, mapping, staged, readers)
            _check_kept(mapping, staged, notes)
            progress("building id maps")
            sizes = _maps(con, mapping, tmp)
            progress("writing tables")
            _write_events(con, mapping, tmp)
            without = _write_products(con, mapping, tmp)
            relevant = _write_clients(con, mapping, tmp)
            result = _result(con, mapping, out, staged, sizes, without, relevant)
            result.seconds = timer.seconds
            result.notes = notes + price_warnings(con, mapping) + id_warnings(con)
            record = {"mapping": str(mapping.path.resolve()), "mapping_sha256": mapping.digest,
                      "result": asdict(result) | {"out": str(out)}}
            (tmp / RECORD).write_text(json.dumps(record, indent=1, default=str) + "\n")
    finally:
        con.close()
    return result


def _result(con: duckdb.DuckDBPyConnection, mapping: Mapping, out: Path, staged: dict[str, dict],
            sizes: dict[str, int], without: int, relevant: int) -> ImportResult:
    rows = {e: int(staged[e].get(None, (0,))[0]) if e in staged else 0 for e in EVENT_TYPES}
    dropped = {}
    for event, em in mapping.events.items():
        source = mapping.sources[em.source]
        dropped[event] = _reasons(staged[event], list(source.filters) + list(em.filters), source.joins)
    if mapping.products is not None:
        reasons = dict(con.execute("SELECT dropped, count(*) FROM stage_products WHERE dropped IS NOT NULL "
                                   "GROUP BY 1").fetchall())
        filters = list(mapping.sources[mapping.products.source].filters) + list(mapping.products.filters)
        dropped["products"] = _reasons({k: (v,) for k, v in reasons.items()}, filters,
                                       mapping.sources[mapping.products.source].joins)
    kept = [r.get(None) for r in staged.values() if r.get(None)]
    first = min((r[1] for r in kept if r[1] is not None), default=None)
    last = max((r[2] for r in kept if r[2] is not None), default=None)
    return ImportResult(out, rows, dropped, sizes["client_id"], relevant, sizes["sku"], sizes["category"],
                        sizes["url"], without, _second(first), _second(last))


def _second(ts: Any) -> str | None:
    """A staged time as the tables write it: text truncated to the second (epoch ms keep a fraction)."""
    return str(ts)[:19] if ts is not None else None


def run_command(config: Path, out: Path, settings: Settings) -> None:
    """The body of ``ubm import``: a bad mapping is one ``error:`` line and exit 2."""
    try:
        result = import_data(config, out, settings, progress=lambda m: click.echo(m, err=True))
    except (ConfigError, OutputError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(result.describe())
