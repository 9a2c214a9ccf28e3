"""ubm import on broken mappings and broken source rows (docs/import.md §8): every failure is
exactly one ``error:`` line naming the key, file, line, column or value, a non-zero exit (2 for
the mapping, 1 for the data), no traceback, and nothing written: no --out, no scratch beside it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ubm.cli import main

CSV = "u,ts,s,ev,p\n1,2019-10-01 00:00:00,10,buy,1.5\n2,2019-10-02 00:00:00,11,view,2.5\n"
SOURCE = '[sources.e]\npath = "e.csv"\n'
EVENT = ('[events.product_buy]\nsource = "e"\nclient_id = "u"\ntimestamp = "ts"\nsku = "s"\n'
         'event_column = "ev"\nevent_values = ["buy"]\n')
PRODUCTS = '[products]\nsource = "e"\nsku = "s"\nprice = "p"\n'
GOOD = SOURCE + EVENT + PRODUCTS


def run(tmp_path: Path, mapping: str, files: dict[str, bytes | str] | None = None) -> object:
    for name, content in ({"e.csv": CSV} | (files or {})).items():
        data = content.encode() if isinstance(content, str) else content
        (tmp_path / name).write_bytes(data)
    (tmp_path / "m.toml").write_text(mapping)
    return CliRunner().invoke(main, ["import", "--config", str(tmp_path / "m.toml"), "--out", str(tmp_path / "D")])


def assert_one_error(tmp_path: Path, result: object, code: int, *named: str) -> None:
    lines = result.output.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert result.exit_code == code, result.output
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert not [line for line in lines if line.startswith(("  ", "LINE", "Possible"))], result.output
    for text in named:
        assert text in errors[0], (text, errors[0])
    assert not (tmp_path / "D").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".D") or ".ubm-" in p.name]


def test_the_good_mapping_imports(tmp_path):
    result = run(tmp_path, GOOD)
    assert result.exit_code == 0, result.output


MAPPINGS = [
    ("sources = [", "not a valid TOML file"),
    (EVENT, "sources: missing"),
    ('[sources.e]\nformat = "csv"\n' + EVENT, "sources.e.path: missing"),
    (GOOD.replace('"e.csv"', '"daily/*.csv"'), "sources.e.path: no file matches"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\nformat = "xlsx"'), "sources.e.format: 'xlsx'"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\ndelimiter = ";;"'), "sources.e.delimiter"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\nheader = "yes"'), "sources.e.header: expected"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\ndelimiter = "\\n"'), "sources.e.delimiter"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\ndelimiter = "\\""'), "sources.e.quote"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\nquote = "ab"'), "sources.e.quote"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\nencoding = "klingon"'), "sources.e.encoding"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\ntimezone = "Mars/Base"'), "sources.e.timezone"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\ntimestamp_format = "yyyy-mm-dd"'),
     "sources.e.timestamp_format: 'yyyy-mm-dd'"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\ntimestamp_format = "%Q"'), "sources.e.timestamp_format"),
    (GOOD.replace("[events.product_buy]", "[events.purchase]"), "events.purchase: unknown event type"),
    (GOOD.replace('sku = "s"\nevent_column', 'event_column'), "events.product_buy.sku: missing"),
    (GOOD.replace('event_values = ["buy"]\n', ""), "event_column and event_values go together"),
    (GOOD.replace('event_values = ["buy"]', "event_values = []"), "events.product_buy.event_values"),
    (GOOD.replace('event_values = ["buy"]', "event_values = [3]"), "events.product_buy.event_values"),
    (GOOD.replace('client_id = "u"', 'client_id = "user"'), "events.product_buy.client_id: column 'user'"),
    (GOOD.replace('event_column = "ev"', 'event_column = "kind"'), "column 'kind'"),
    (GOOD.replace('price = "p"', 'price = "cost"'), "products.price: column 'cost'"),
    (GOOD + 'filter = "p >"', "products.filter[1]"),
    (GOOD + 'filter = "p > 0; DROP TABLE x"', "products.filter[1]"),
    (GOOD + "filter = \"p IN (SELECT 1)\"", "products.filter[1]"),
    (GOOD + "filter = \"getenv('HOME') = ''\"", "products.filter[1]"),
    (GOOD + "filter = \"read_csv('/etc/passwd') IS NULL\"", "products.filter[1]"),
    (GOOD + 'filter = "p + 1"', "products.filter[1]"),  # not a predicate
    (GOOD + 'filter = "nope > 0"', "column 'nope'"),
    (GOOD + 'filter = "ev > 0"', "products.filter[1]"),  # text against a number
    (GOOD.replace('event_values = ["buy"]', 'event_values = ["buy"]\nfilter = "u > 5"'),
     "TRY_CAST(col AS DOUBLE)"),  # an id column is read as text
    (GOOD.replace('source = "e"\nsku = "s"\nprice', 'source = "x"\nsku = "s"\nprice'), "products.source: no source"),
    (GOOD + 'pick = "latest"', "products.pick"),
    (GOOD + 'price_decimal = ";"', "products.price_decimal"),
    (GOOD + "category_when = \"ev = 'cat'\"", "products.category_when: names the rows holding products.category"),
    (GOOD + 'price_when = "ev ="', "products.price_when"),
    (GOOD + "price_when = \"nope = 'x'\"", "column 'nope'"),
    (GOOD + 'price_when = "p + 1"', "products.price_when: 'p + 1' is not a true/false predicate"),
    (GOOD + 'colour = "red"', "products.colour: unknown key"),
    (GOOD + '[clients]\nrule = "most_active"\n', "clients.n"),
    (GOOD + '[clients]\nrule = "file"\nfile = "list.csv"\ncolumn = "id"\n', "clients.path: no file matches"),
    (GOOD + '[tables]\nx = 1\n', "mapping.tables: unknown key"),
    (GOOD.replace('path = "e.csv"', 'path = "e.csv"\nread_as_text = ["price"]'), "sources.e.read_as_text[1]: column"),
]


@pytest.mark.parametrize("mapping,named", MAPPINGS, ids=[n for _, n in MAPPINGS])
def test_a_broken_mapping_is_one_line_exit_2_and_nothing_written(tmp_path, mapping, named):
    assert_one_error(tmp_path, run(tmp_path, mapping), 2, named)


HEADERS = "ev,kind\nbuy,a\nview,b\n"
JOINED = GOOD.replace('path = "e.csv"', 'path = "e.csv"\njoin = {source = "h", on = "ev"}') + \
    '[sources.h]\npath = "h.csv"\n'


@pytest.mark.parametrize("mapping,named", [
    (JOINED.replace('source = "h", on', 'source = "x", on'), "sources.e.join[1].source: no other source named 'x'"),
    (JOINED.replace('source = "h", on', 'source = "e", on'), "sources.e.join[1].source: no other source named 'e'"),
    (JOINED.replace('on = "ev"', 'on = "nope"'), "sources.e.join[1].on: column 'nope'"),
    (JOINED.replace('on = "ev"', 'on = "kind"'), "sources.e.join[1].on: column 'kind' is neither in source 'e'"),
    (JOINED.replace('join = {source = "h", on = "ev"}', 'join = [3]'), "sources.e.join[1]: expected a table"),
    (JOINED.replace('[sources.h]\npath = "h.csv"\n', '[sources.h]\npath = "h.csv"\njoin = {source = "e", on = "ev"}\n'),
     "joins sources itself"),
    (JOINED.replace('price = "p"', 'price = "colour"'), "products.price: column 'colour'"),
], ids=["unknown", "itself", "key-nowhere", "key-not-on-left", "not-a-table", "nested", "column"])
def test_a_broken_join_is_one_line_exit_2(tmp_path, mapping, named):
    assert_one_error(tmp_path, run(tmp_path, mapping, {"h.csv": HEADERS}), 2, named)


def test_a_join_brings_the_joined_columns(tmp_path):
    mapping = JOINED.replace('event_column = "ev"\nevent_values = ["buy"]',
                             'event_column = "kind"\nevent_values = ["b"]')
    result = run(tmp_path, mapping, {"h.csv": HEADERS})
    assert result.exit_code == 0, result.output
    assert "product_buy                  1  -" in result.output  # the view row, kind b


def test_a_missing_mapping_file_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["import", "--config", str(tmp_path / "no.toml"), "--out", str(tmp_path / "D")])
    assert_one_error(tmp_path, result, 2, "no.toml")


def test_an_empty_client_list_is_refused(tmp_path):
    mapping = GOOD + '[clients]\nrule = "file"\nfile = "list.csv"\ncolumn = "id"\n'
    assert_one_error(tmp_path, run(tmp_path, mapping, {"list.csv": "id\n \n"}), 1, "list.csv", "lists no client")


def test_a_client_list_naming_a_column_it_lacks_is_refused(tmp_path):
    mapping = GOOD + '[clients]\nrule = "file"\nfile = "list.csv"\ncolumn = "id"\n'
    assert_one_error(tmp_path, run(tmp_path, mapping, {"list.csv": "client\n1\n"}), 2, "clients.column: column 'id'")


ROWS = [
    ("latin-1 text", {"e.csv": "u,ts,s,ev,p\n1,2019-10-01 00:00:00,caf\xe9,buy,1\n".encode("latin-1")},
     ["e.csv", "line 2", "encoding", "'latin-1', 'cp1252'"]),
    ("a byte cp1252 lacks", {"e.csv": b"u,ts,s,ev,p\n1,2019-10-01,a,buy,1\n2,2019-10-01,b\x81,buy,1\n"},
     ["e.csv", "line 3", "b'\\x81'", "cp1252"]),
    ("a ragged line", {"e.csv": CSV + "".join(f"{i},2019-10-01 00:00:00,{i},buy,1\n" for i in range(3000))
                       + "3,2019-10-01 00:00:00,12,buy,1,extra\n"}, ["e.csv", "line 3004", "Found: 6"]),
    ("no layout", {"e.csv": "u,ts,s,ev,p\n1,2\n1,2,3,4,5,6,7\n\"\n"}, ["e.csv", "cannot be read as CSV"]),
    ("an empty file", {"e.csv": ""}, ["e.csv", "the file is empty"]),
    ("a bad time", {"e.csv": CSV + "3,yesterday,12,buy,1\n"}, ["e.csv", "column 'ts'", "'yesterday'"]),
    ("a US time under auto", {"e.csv": CSV + "3,10/01/2019 05:30 PM,12,buy,1\n"},
     ["'10/01/2019 05:30 PM'", "timestamp_format to a strptime format"]),
    ("header only", {"e.csv": "u,ts,s,ev,p\n"}, ["nothing to import"]),
    ("no client ids", {"e.csv": "u,ts,s,ev,p\n,2019-10-01,1,buy,1\n \t,2019-10-01,2,buy,1\n"},
     ["nothing to import", "2 missing client id"]),
    ("a truncated gzip", {"e.csv": b"", "e.csv.gz": gzip.compress(CSV.encode())[:25]}, ["e.csv.gz"]),
]


@pytest.mark.parametrize("files,named", [(f, n) for _, f, n in ROWS], ids=[r[0] for r in ROWS])
def test_broken_source_rows_are_one_line_exit_1_and_nothing_written(tmp_path, files, named):
    mapping = GOOD.replace('"e.csv"', '"e.csv.gz"') if "e.csv.gz" in files else GOOD
    if any(b"\x81" in f for f in files.values() if isinstance(f, bytes)):
        mapping = mapping.replace('path = "e.csv"', 'path = "e.csv"\nencoding = "cp1252"')
    assert_one_error(tmp_path, run(tmp_path, mapping, files), 1, *named)


@pytest.mark.parametrize("head,named", [
    (b"PK\x03\x04rest of a zip", "a zip archive"),            # a Kaggle download, or an .xlsx
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook"),
    (b"BZh91AY&SY", "a bzip2 file"),
])
def test_a_container_duckdb_cannot_open_is_refused_by_name(tmp_path, head, named):
    mapping = GOOD.replace('path = "e.csv"', 'path = "e.csv"\nformat = "csv"')
    assert_one_error(tmp_path, run(tmp_path, mapping, {"e.csv": head}), 2, "sources.e.path", "e.csv", named)


def test_a_filter_that_fails_on_the_data_names_the_filter(tmp_path):
    result = run(tmp_path, GOOD + "filter = \"regexp_matches(ev, '(')\"")
    assert_one_error(tmp_path, result, 1, "e.csv", "row filters", "regexp_matches(ev, '(')")


def test_a_csv_given_as_parquet_is_one_line(tmp_path):
    mapping = GOOD.replace('path = "e.csv"', 'path = "e.csv"\nformat = "parquet"')
    assert_one_error(tmp_path, run(tmp_path, mapping), 1, "e.csv")


def test_a_nested_json_field_named_as_an_id_is_refused(tmp_path):
    mapping = GOOD.replace('"e.csv"', '"e.jsonl"')
    lines = '{"u": {"id": 1}, "ts": "2019-10-01", "s": 1, "ev": "buy", "p": 1}\n'
    assert_one_error(tmp_path, run(tmp_path, mapping, {"e.jsonl": lines}), 2,
                     "events.product_buy.client_id: column 'u'", "STRUCT")


def test_nulls_on_a_json_source_is_refused(tmp_path):
    mapping = GOOD.replace('path = "e.csv"', 'path = "e.jsonl"\nnulls = ["NA"]')
    lines = '{"u": 1, "ts": "2019-10-01", "s": 1, "ev": "buy", "p": 1}\n'
    assert_one_error(tmp_path, run(tmp_path, mapping, {"e.jsonl": lines}), 2, "sources.e.nulls")


def test_a_broken_json_line_is_one_line(tmp_path):
    mapping = GOOD.replace('"e.csv"', '"e.jsonl"')
    lines = '{"u": 1, "ts": "2019-10-01", "s": 1, "ev": "buy", "p": 1}\n{"u": 2, "ts": \n'
    assert_one_error(tmp_path, run(tmp_path, mapping, {"e.jsonl": lines}), 1, "e.jsonl")


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.tuples(_TEXT, _TEXT, _TEXT, _TEXT), min_size=1, max_size=4))
def test_arbitrary_cells_import_or_fail_in_one_line(tmp_path_factory, cells):
    """Whatever the cells hold (quotes, delimiters, newlines, odd Unicode), the import either
    succeeds or stops with one error line and nothing written: never a traceback."""
    tmp_path = tmp_path_factory.mktemp("cells")
    quoted = ['"' + c.replace('"', '""') + '"' for row in cells for c in row]
    body = "".join(",".join(quoted[i:i + 4]) + ",1\n" for i in range(0, len(quoted), 4))
    result = run(tmp_path, GOOD, {"e.csv": "u,ts,s,ev,p\n" + body})
    if result.exit_code != 0:
        assert_one_error(tmp_path, result, result.exit_code, "")
        assert result.exit_code in (1, 2)


@pytest.mark.parametrize("name,other,code,named", [
    ("f.csv", "ts,u\n2019-10-02 00:00:00,2\n", 1, ["f.csv", "has no column 's'"]),                # a column gone
    ("f.csv", "u;ts;s\n2;2019-10-02;11\n", 1, ["f.csv", "has no column 'u'", "u;ts;s"]),         # another delimiter
    ("a.csv", "ts,u\n2019-10-02 00:00:00,2\n", 2, ["column 's'", "its first file", "a.csv"]),     # the first file
])
def test_one_daily_file_of_a_glob_without_the_mapped_columns_is_named(tmp_path, name, other, code, named):
    mapping = GOOD.replace('"e.csv"', '"*.csv"').replace(PRODUCTS, "").replace('event_column = "ev"\n', "")
    mapping = mapping.replace('event_values = ["buy"]\n', "")
    result = run(tmp_path, mapping, {"e.csv": "u,ts,s\n1,2019-10-01,10\n", name: other})
    assert_one_error(tmp_path, result, code, *named)


_KEYS = {  # where a text goes in the mapping: (line to replace, its replacement with {v} as the text)
    "client_id": ('client_id = "u"', "client_id = {v}"),
    "timestamp_format": ('path = "e.csv"', 'path = "e.csv"\ntimestamp_format = {v}'),
    "timezone": ('path = "e.csv"', 'path = "e.csv"\ntimezone = {v}'),
    "delimiter": ('path = "e.csv"', 'path = "e.csv"\ndelimiter = {v}'),
    "quote": ('path = "e.csv"', 'path = "e.csv"\nquote = {v}'),
    "filter": ('price = "p"', 'price = "p"\nfilter = {v}'),
    "price_when": ('price = "p"', 'price = "p"\nprice_when = {v}'),
    "event_values": ('event_values = ["buy"]', "event_values = [{v}]"),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(_KEYS)), value=_TEXT)
def test_any_text_in_a_mapping_key_imports_or_fails_in_one_line(tmp_path_factory, key, value):
    """A mapping value of any text (SQL fragments, quotes, control characters, odd Unicode)
    gives a data directory or one error line with nothing written, never a traceback."""
    import json
    tmp_path = tmp_path_factory.mktemp("key")
    old, new = _KEYS[key]
    result = run(tmp_path, GOOD.replace(old, new.format(v=json.dumps(value))))
    if result.exit_code != 0:
        assert result.exit_code in (1, 2)
        assert_one_error(tmp_path, result, result.exit_code, "")
