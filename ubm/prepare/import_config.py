"""The mapping file of ``ubm import`` (docs/import.md): TOML read into dataclasses.

Everything here is checked before any source row is read: unknown keys, wrong types, missing
required keys, sources that match no file. A mistake raises :class:`ConfigError` naming the
key (``events.product_buy.sku``) and what is wrong; the command exits with 2.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ubm.contract import EVENT_TYPES, EVENT_VALUE

FORMATS = ("csv", "parquet", "json")
NATIVE_ENCODINGS = ("utf-8", "utf-16", "latin-1")  # what DuckDB's CSV reader reads itself; others: import_transcode
TIME_FORMATS = ("auto", "epoch_s", "epoch_ms", "epoch_us")
PICKS = ("latest", "most_frequent")
CLIENT_RULES = ("all", "most_active", "sample", "file")
_SUFFIX_FORMAT = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
                  ".json": "json", ".jsonl": "json", ".ndjson": "json"}
_COMPRESSED = (".gz", ".zst", ".gzip")


class ConfigError(Exception):
    """A mapping that cannot be used; the message names the key, file or column."""


@dataclass(frozen=True)
class Source:
    name: str
    paths: tuple[str, ...]  # files, globs expanded, in sorted order
    format: str
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"
    quote: str = '"'
    timestamp_format: str = "auto"  # a strptime format, or one of TIME_FORMATS
    timezone: str = "UTC"
    filters: tuple[str, ...] = ()
    read_as_text: tuple[str, ...] = ()  # csv: columns read as text whatever DuckDB's sniffer types them
    nulls: tuple[str, ...] = ()  # csv: texts that mean "no value" besides the empty field ('NA', 'NULL')
    joins: tuple[tuple[str, str], ...] = ()  # (source, key column): rows of another source joined by key
    join_left: tuple[str, ...] = ()  # per join, the side holding its key: base_ (the file), j1 ... (set on import)


@dataclass(frozen=True)
class EventMapping:
    event: str
    source: str
    client_id: str
    timestamp: str
    value: str  # the column mapped to sku / url / query
    event_column: str | None = None
    event_values: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Products:
    source: str
    sku: str
    category: str | None = None
    price: str | None = None
    name: str | None = None
    timestamp: str | None = None
    pick: str = "most_frequent"
    filters: tuple[str, ...] = ()
    price_decimal: str = "."  # the decimal point of prices given as text ('.' or ',')
    when: dict[str, str] = field(default_factory=dict)  # property -> predicate of the rows that hold it


@dataclass(frozen=True)
class Clients:
    rule: str = "all"
    n: int | None = None
    seed: int = 0
    file: Source | None = None
    column: str | None = None


@dataclass(frozen=True)
class Mapping:
    path: Path
    digest: str  # sha256 of the mapping file's bytes
    sources: dict[str, Source]
    events: dict[str, EventMapping]
    products: Products | None
    clients: Clients = field(default_factory=Clients)


def _take(table: dict[str, Any], where: str, allowed: dict[str, type | tuple[type, ...]],
          required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys of one TOML table, each of its expected type; unknown or missing keys refused."""
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(allowed)})")
    for key in required:
        if key not in table:
            raise ConfigError(f"{where}.{key}: missing (required)")
    for key, value in table.items():
        kinds = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        if isinstance(value, bool) and bool not in kinds:
            kinds = ()
        if not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "text").replace("list", "list of text") for k in kinds)
            raise ConfigError(f"{where}.{key}: expected {names or 'another kind'}, got {value!r}")
    return table


def _texts(value: str | list, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise ConfigError(f"{where}: expected non-empty text or a list of it, got {value!r}")
    return tuple(items)


def _expand(patterns: tuple[str, ...], base: Path, where: str) -> tuple[str, ...]:
    files: list[str] = []
    for pattern in patterns:
        pattern = str(Path(pattern).expanduser()) if pattern.startswith("~") else pattern
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matched = sorted(glob.glob(full)) if glob.has_magic(full) else ([full] if Path(full).is_file() else [])
        if not matched:
            raise ConfigError(f"{where}: no file matches {full}")
        files += [m for m in matched if m not in files]
    return tuple(files)


# Containers DuckDB does not open (it reads plain, .gz and .zst files), told by their first bytes.
_CONTAINERS = ((b"PK\x03\x04", "a zip archive (an .xlsx workbook is one too)", "unzip it, or export the sheet as CSV"),
               (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook", "export the sheet as CSV"),
               (b"BZh", "a bzip2 file", "recompress it with gzip or zstd"),
               (b"\xfd7zXZ", "an xz file", "recompress it with gzip or zstd"))


def _check_containers(paths: tuple[str, ...], where: str) -> None:
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(6)
        except OSError as exc:
            raise ConfigError(f"{where}: {path}: {exc.strerror or exc}") from exc
        for magic, what, fix in _CONTAINERS:
            if head.startswith(magic):
                raise ConfigError(f"{where}: {path} is {what}, which DuckDB does not read; {fix}")


def _format_of(paths: tuple[str, ...], where: str) -> str:
    kinds = set()
    for p in paths:
        name = p.lower()
        for ext in _COMPRESSED:
            name = name.removesuffix(ext)
        kinds.add(_SUFFIX_FORMAT.get(Path(name).suffix))
    if len(kinds) != 1 or None in kinds:
        raise ConfigError(f"{where}.format: cannot tell the format from the file names; "
                          f"set format = one of {', '.join(FORMATS)}")
    return kinds.pop()


_SOURCE_KEYS: dict[str, Any] = {"path": (str, list), "format": str, "delimiter": str, "header": bool,
                                "encoding": str, "quote": str, "timestamp_format": str, "timezone": str,
                                "filter": (str, list), "read_as_text": (str, list),
                                "nulls": (str, list), "join": (dict, list)}


def _source(name: str, table: Any, base: Path, where: str) -> Source:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    t = _take(table, where, _SOURCE_KEYS, ("path",))
    paths = _expand(_texts(t["path"], f"{where}.path"), base, f"{where}.path")
    _check_containers(paths, f"{where}.path")
    fmt = t.get("format") or _format_of(paths, where)
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    delimiter, quote = t.get("delimiter", ","), t.get("quote", '"')
    if len(delimiter) != 1 and delimiter != "\\t" or delimiter in ("\n", "\r"):
        raise ConfigError(f"{where}.delimiter: expected one character other than a line break, got {delimiter!r}")
    if len(quote) > 1 or quote and quote in (delimiter, "\n", "\r"):
        raise ConfigError(f"{where}.quote: expected one character (or none) other than the delimiter and a "
                          f"line break, got {quote!r}")
    encoding = t.get("encoding", "utf-8")
    if encoding not in NATIVE_ENCODINGS:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(f"{where}.encoding: {encoding!r} is not an encoding (utf-8, utf-16, latin-1, or a "
                              "Python codec name such as cp1252)") from None
    filters = _texts(t["filter"], f"{where}.filter") if "filter" in t else ()
    as_text = _texts(t["read_as_text"], f"{where}.read_as_text") if "read_as_text" in t else ()
    nulls = _texts(t["nulls"], f"{where}.nulls") if "nulls" in t else ()
    if nulls and fmt != "csv":
        raise ConfigError(f"{where}.nulls: only a CSV source has texts for 'no value' ({fmt} has typed nulls)")
    return Source(name, paths, fmt, t.get("delimiter", ","), t.get("header", True), t.get("encoding", "utf-8"),
                  t.get("quote", '"'), t.get("timestamp_format", "auto"), t.get("timezone", "UTC"), filters,
                  as_text, nulls, _joins(t.get("join", []), where))


def _joins(value: dict | list, where: str) -> tuple[tuple[str, str], ...]:
    tables = [value] if isinstance(value, dict) else value
    out = []
    for i, table in enumerate(tables):
        at = f"{where}.join[{i + 1}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{at}: expected a table {{source = ..., on = ...}}, got {table!r}")
        t = _take(table, at, {"source": str, "on": str}, ("source", "on"))
        out.append((t["source"], t["on"]))
    return tuple(out)


def _check_joins(sources: dict[str, Source]) -> None:
    """A join names another source, one that joins nothing itself (one level: lines and their header)."""
    for name, source in sources.items():
        for i, (other, _key) in enumerate(source.joins):
            at = f"sources.{name}.join[{i + 1}].source"
            if other not in sources or other == name:
                raise ConfigError(f"{at}: no other source named {other!r} (sources: {', '.join(sources)})")
            if sources[other].joins:
                raise ConfigError(f"{at}: source {other!r} joins sources itself; join them all from {name!r}")


def _event(event: str, table: Any, sources: dict[str, Source]) -> EventMapping:
    where = f"events.{event}"
    if event not in EVENT_TYPES:
        raise ConfigError(f"{where}: unknown event type (event types: {', '.join(EVENT_TYPES)})")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    value = EVENT_VALUE[event]
    t = _take(table, where, {"source": str, "client_id": str, "timestamp": str, value: str,
                             "event_column": str, "event_values": (str, list), "filter": (str, list)},
              ("source", "client_id", "timestamp", value))
    if t["source"] not in sources:
        raise ConfigError(f"{where}.source: no source named {t['source']!r} (sources: {', '.join(sources)})")
    if ("event_column" in t) != ("event_values" in t):
        raise ConfigError(f"{where}: event_column and event_values go together")
    values = _texts(t["event_values"], f"{where}.event_values") if "event_values" in t else ()
    filters = _texts(t["filter"], f"{where}.filter") if "filter" in t else ()
    return EventMapping(event, t["source"], t["client_id"], t["timestamp"], t[value], t.get("event_column"),
                        values, filters)


def _products(table: Any, sources: dict[str, Source]) -> Products:
    where = "products"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    t = _take(table, where, {"source": str, "sku": str, "category": str, "price": str, "name": str,
                             "timestamp": str, "pick": str, "filter": (str, list), "price_decimal": str,
                             "category_when": str, "price_when": str, "name_when": str},
              ("source", "sku"))
    if t["source"] not in sources:
        raise ConfigError(f"{where}.source: no source named {t['source']!r} (sources: {', '.join(sources)})")
    pick = t.get("pick", "latest" if "timestamp" in t else "most_frequent")
    if pick not in PICKS:
        raise ConfigError(f"{where}.pick: {pick!r} is not one of {', '.join(PICKS)}")
    if pick == "latest" and "timestamp" not in t:
        raise ConfigError(f"{where}.pick: 'latest' needs products.timestamp (the column that orders the rows)")
    filters = _texts(t["filter"], f"{where}.filter") if "filter" in t else ()
    decimal = t.get("price_decimal", ".")
    if decimal not in (".", ","):
        raise ConfigError(f"{where}.price_decimal: {decimal!r} is not '.' or ','")
    when = {}
    for prop in ("category", "price", "name"):
        if f"{prop}_when" in t:
            if prop not in t:
                raise ConfigError(f"{where}.{prop}_when: names the rows holding products.{prop}, which is not given")
            when[prop] = _texts(t[f"{prop}_when"], f"{where}.{prop}_when")[0]
    return Products(t["source"], t["sku"], t.get("category"), t.get("price"), t.get("name"),
                    t.get("timestamp"), pick, filters, decimal, when)


def _clients(table: Any, base: Path) -> Clients:
    where = "clients"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    t = _take(table, where, {"rule": str, "n": int, "seed": int, "file": (str, list), "column": str,
                             "format": str, "delimiter": str, "header": bool})
    rule = t.get("rule", "all")
    if rule not in CLIENT_RULES:
        raise ConfigError(f"{where}.rule: {rule!r} is not one of {', '.join(CLIENT_RULES)}")
    if rule in ("most_active", "sample") and ("n" not in t or t["n"] < 1):
        raise ConfigError(f"{where}.n: rule {rule!r} needs n, a positive number of clients")
    source = None
    if rule == "file":
        if "file" not in t or "column" not in t:
            raise ConfigError(f"{where}: rule 'file' needs file and column")
        source = _source("clients", {k: t[k] for k in ("format", "delimiter", "header") if k in t}
                         | {"path": t["file"]}, base, where)
    return Clients(rule, t.get("n"), t.get("seed", 0), source, t.get("column"))


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; paths in it are relative to the file's directory."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8-sig"))  # a byte order mark (Windows editors) is no statement
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML file ({exc})") from exc
    _take(doc, "mapping", {"sources": dict, "events": dict, "products": dict, "clients": dict},
          ("sources", "events"))
    base = path.resolve().parent
    sources = {n: _source(n, t, base, f"sources.{n}") for n, t in doc["sources"].items()}
    if not sources:
        raise ConfigError("sources: no source given")
    _check_joins(sources)
    events = {e: _event(e, t, sources) for e, t in doc["events"].items()}
    if not events:
        raise ConfigError("events: no event type mapped")
    events = {e: events[e] for e in EVENT_TYPES if e in events}  # the contract's order
    products = _products(doc["products"], sources) if "products" in doc else None
    clients = _clients(doc["clients"], base) if "clients" in doc else Clients()
    return Mapping(path, hashlib.sha256(raw).hexdigest(), sources, events, products, clients)
