"""ubm import on real-data shapes (docs/import.md §4, §5, §8): zone suffixes and offsets, epoch
unit mistakes, prices as text, event values that match nothing, ids from spreadsheets, the
REES46 multi-category store layout. Hand-made rows, answers computed on paper."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.prepare.test_importer import DATA, EXAMPLES, rows, ubm


def imported(tmp_path: Path, csv: str, source: str = "", products: str = "", event: str = "") -> object:
    """Import one CSV of columns u, ts, s (and more) as purchases; the result of the command."""
    (tmp_path / "e.csv").write_text(csv)
    (tmp_path / "m.toml").write_text(f'[sources.e]\npath = "e.csv"\n{source}\n'
                                     f'[events.product_buy]\nsource = "e"\nclient_id = "u"\ntimestamp = "ts"\n'
                                     f'sku = "s"\n{event}\n{products}')
    return ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")


def times(tmp_path: Path) -> list[str]:
    return [r[0] for r in rows(tmp_path / "D/product_buy.parquet", "SELECT timestamp FROM t ORDER BY sku")]


def test_iso_times_with_an_offset_or_zone_name_their_instant_the_others_are_local(tmp_path):
    result = imported(tmp_path, "u,ts,s\n"
                      "1,2019-10-01 00:00:00 UTC,1\n"        # zone name: UTC whatever the source's zone
                      "1,2019-10-01T02:00:00+02:00,2\n"      # offset: 00:00 UTC
                      "1,2014-04-07T10:51:09.277Z,3\n"       # Z (Yoochoose clicks)
                      "1,2019-10-01 05:00:00-0500,4\n"       # offset without colon: 10:00 UTC
                      "1,2019-10-01 09:00:00,5\n",           # no zone: London wall time, BST: 08:00 UTC
                      source='timezone = "Europe/London"')
    assert result.exit_code == 0, result.output
    assert times(tmp_path) == ["2019-10-01 00:00:00", "2019-10-01 00:00:00", "2014-04-07 10:51:09",
                               "2019-10-01 10:00:00", "2019-10-01 08:00:00"]


def test_with_the_default_utc_zone_offsets_are_honoured_too(tmp_path):
    # the UTC path skips the offset test (DuckDB's TIMESTAMPTZ cast reads naive text as UTC)
    result = imported(tmp_path, "u,ts,s\n1,2019-10-01T02:00:00+02:00,1\n1,2019-10-01 09:00:00,2\n"
                      "1,2019-10-01 00:00:00 Europe/London,3\n1,2019-10-01,4\n")
    assert result.exit_code == 0, result.output
    assert times(tmp_path) == ["2019-10-01 00:00:00", "2019-10-01 09:00:00", "2019-09-30 23:00:00",
                               "2019-10-01 00:00:00"]


def test_a_strptime_format_with_an_offset_reads_the_offset(tmp_path):
    result = imported(tmp_path, "u,ts,s\n1,01.10.2019 02:30 +0200,1\n1,01.10.2019 02:30 -0130,2\n",
                      source='timestamp_format = "%d.%m.%Y %H:%M %z"\ntimezone = "Asia/Tokyo"')
    assert result.exit_code == 0, result.output
    assert times(tmp_path) == ["2019-10-01 00:30:00", "2019-10-01 04:00:00"]


def test_a_parquet_time_with_time_zone_is_an_instant_whatever_the_source_zone(tmp_path):
    duckdb.sql("SELECT 1 AS u, TIMESTAMPTZ '2019-10-01 00:00:00+02' AS ts, 7 AS s").write_parquet(
        str(tmp_path / "e.parquet"))
    (tmp_path / "m.toml").write_text('[sources.e]\npath = "e.parquet"\ntimezone = "America/New_York"\n'
                                     '[events.product_buy]\nsource = "e"\nclient_id = "u"\ntimestamp = "ts"\n'
                                     'sku = "s"\n')
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
    assert times(tmp_path) == ["2019-09-30 22:00:00"]


@pytest.mark.parametrize("fmt,value,hint", [
    ("epoch_s", "1433221332117", "13 digits look like epoch_ms"),   # RetailRocket ms read as s: year 47386
    ("epoch_ms", "1433221332", "10 digits look like epoch_s"),      # seconds read as ms: January 1970
    ("%Y-%m-%d", "0019-10-01", ""),                                 # a two-digit year read by %Y
])
def test_times_outside_1980_2099_are_unit_mistakes_refused_with_the_value(tmp_path, fmt, value, hint):
    result = imported(tmp_path, f"u,ts,s\n1,{value},1\n", source=f'timestamp_format = "{fmt}"')
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "e.csv" in error[0] and f"'{value}'" in error[0] and "1980..2099" in error[0]
    assert hint in error[0]
    assert not (tmp_path / "D").exists()


PRICES = ("u,ts,s,p\n1,2019-10-01,1,$3.10\n1,2019-10-01,2,\"1,234.00\"\n1,2019-10-01,3, 7.5 EUR\n"
          "1,2019-10-01,4,\"12,50\"\n1,2019-10-01,5,N/A\n1,2019-10-01,6,\n")
PRODUCTS = '[products]\nsource = "e"\nsku = "s"\nprice = "p"\n'


def test_prices_as_text_lose_currency_signs_and_thousands_commas(tmp_path):
    result = imported(tmp_path, PRICES, products=PRODUCTS)
    assert result.exit_code == 0, result.output
    # priced: 3.10, 1234, 7.5 (ranks 1, 3, 2 of 3: buckets 0, 66, 33); '12,50', 'N/A', '': no price
    assert rows(tmp_path / "D/product_properties.parquet", "SELECT sku, price FROM t ORDER BY sku") == [
        (0, 0), (1, 66), (2, 33), (3, 0), (4, 0), (5, 0)]
    warning = [line for line in result.output.splitlines() if line.startswith("warning: products.price")]
    assert len(warning) == 1 and "2 row(s)" in warning[0] and "'12,50'" in warning[0]
    assert "price_decimal = ','" in warning[0]


def test_price_decimal_comma_reads_european_prices(tmp_path):
    csv = "u;ts;s;p\n1;2019-10-01;1;12,50\n1;2019-10-01;2;1.234,00 €\n1;2019-10-01;3;3,1\n"
    result = imported(tmp_path, csv, source='delimiter = ";"', products=PRODUCTS + 'price_decimal = ","\n')
    assert result.exit_code == 0, result.output
    # 12.5, 1234, 3.1: ranks 2, 3, 1 of 3
    assert rows(tmp_path / "D/product_properties.parquet", "SELECT sku, price FROM t ORDER BY sku") == [
        (0, 33), (1, 66), (2, 0)]
    assert "warning" not in result.output


def test_event_values_that_match_no_row_are_a_warning_naming_the_values_there(tmp_path):
    csv = "u,ts,s,ev\n1,2019-10-01,1,Purchase\n1,2019-10-01,1,Purchase\n1,2019-10-01,2,view\n"
    (tmp_path / "e.csv").write_text(csv)
    (tmp_path / "m.toml").write_text(
        '[sources.e]\npath = "e.csv"\n'
        '[events.product_buy]\nsource = "e"\nclient_id = "u"\ntimestamp = "ts"\nsku = "s"\n'
        'event_column = "ev"\nevent_values = ["purchase"]\n'
        '[events.page_visit]\nsource = "e"\nclient_id = "u"\ntimestamp = "ts"\nurl = "s"\n'
        'event_column = "ev"\nevent_values = ["view"]\n')
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning: events.product_buy")]
    assert len(warning) == 1 and "'Purchase' (2), 'view' (1)" in warning[0]


def test_a_source_with_no_kept_event_is_refused(tmp_path):
    result = imported(tmp_path, "u,ts,s,ev\n1,2019-10-01,1,Purchase\n",
                      event='event_column = "ev"\nevent_values = ["purchase"]')
    assert result.exit_code == 1, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "nothing to import" in error[0] and "'Purchase' (1)" in error[0]
    assert not (tmp_path / "D").exists()


def test_ids_in_scientific_notation_are_a_warning(tmp_path):
    # Google Merchandise Store exports opened in a spreadsheet: fullVisitorId 2.81772E+18
    result = imported(tmp_path, "u,ts,s\n2.81772E+18,2019-10-01,1\n6.93896E+18,2019-10-01,2\n17850.0,2019-10-01,3\n")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if "scientific notation" in line]
    assert len(warning) == 1 and warning[0].startswith("warning: 2 client_id id(s)") and "'2.81772E+18'" in warning[0]


def test_the_rees46_example_reads_the_multi_category_store_layout(tmp_path):
    shutil.copy(EXAMPLES / "rees46.toml", tmp_path / "rees46.toml")
    shutil.copy(DATA / "rees46.csv", tmp_path / "2019-Oct.csv")
    result = ubm("import", "--config", tmp_path / "rees46.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
    d = tmp_path / "D"
    count = "SELECT count(*) FROM t"
    assert [rows(d / f"{e}.parquet", count)[0][0] for e in
            ("product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query")] == [2, 2, 1, 5, 0]
    assert rows(d / ".ubm/maps/client_id.parquet") == [(0, "519107250"), (1, "541312140"), (2, "554748717")]
    assert rows(d / ".ubm/maps/sku.parquet") == [(0, "1004856"), (1, "3900821"), (2, "17200506"), (3, "44600062")]
    assert rows(d / "product_buy.parquet") == [(1, "2019-10-02 10:05:00", 0), (2, "2019-10-01 00:04:00", 1)]
    # latest prices 128.00, 33.20, 543.10, 35.79: ranks 3, 1, 4, 2 of 4
    assert rows(d / "product_properties.parquet", "SELECT sku, price FROM t ORDER BY sku") == [
        (0, 50), (1, 0), (2, 75), (3, 25)]
    # four category ids and the "no category" id (original NULL, the last)
    assert rows(d / ".ubm/maps/category.parquet", "SELECT count(*), count(original) FROM t") == [(5, 4)]


def test_a_windows_1252_source_is_read_through_python_codecs(tmp_path):
    # Excel's CSV on Windows: curly quotes and dashes are bytes 0x93, 0x94, 0x96, which DuckDB's
    # latin-1 reader refuses; the names keep their words, the file is not modified
    csv = "u;ts;s;name\n1;2019-10-01;1;\x93Bush\x94 Bookcase \x96 oak\n2;2019-10-02;2;caf\xe9\n".encode("latin-1")
    (tmp_path / "e.csv").write_bytes(csv)
    (tmp_path / "m.toml").write_text(
        '[sources.e]\npath = "e.csv"\ndelimiter = ";"\nencoding = "cp1252"\n'
        '[events.product_buy]\nsource = "e"\nclient_id = "u"\ntimestamp = "ts"\nsku = "s"\n'
        '[products]\nsource = "e"\nsku = "s"\nname = "name"\n')
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "e.csv").read_bytes() == csv
    names = rows(tmp_path / "D/product_properties.parquet", "SELECT name FROM t ORDER BY sku")
    (tmp_path / "f.csv").write_text("u;ts;s;name\n1;2019-10-01;1;\u201cBush\u201d Bookcase \u2013 oak\n"
                                    "2;2019-10-02;2;caf\u00e9\n", encoding="utf-8")
    (tmp_path / "n.toml").write_text((tmp_path / "m.toml").read_text().replace('"e.csv"', '"f.csv"')
                                     .replace('encoding = "cp1252"', ""))
    assert ubm("import", "--config", tmp_path / "n.toml", "--out", tmp_path / "F").exit_code == 0
    assert names == rows(tmp_path / "F/product_properties.parquet", "SELECT name FROM t ORDER BY sku")
    assert names[0] != names[1]


def test_a_stray_text_past_the_sniffed_lines_is_read_with_read_as_text(tmp_path):
    # DuckDB types a CSV column from its first 20,480 lines; an 'N/A' price after them stops the
    # import by line, and read_as_text takes the column as text (filters then cast it themselves)
    body = "".join(f"{i},2019-10-01,{i},1.5\n" for i in range(1, 21000)) + "9,2019-10-01,9,N/A\n"
    result = imported(tmp_path, "u,ts,s,p\n" + body, products=PRODUCTS)
    assert result.exit_code == 1
    assert "line 21001" in result.output and "read_as_text = ['p']" in result.output
    result = imported(tmp_path, "u,ts,s,p\n" + body, source='read_as_text = ["p"]',
                      products=PRODUCTS + 'filter = "TRY_CAST(p AS DOUBLE) > 1"\n')
    assert result.exit_code == 0, result.output
    assert "1 filter 'TRY_CAST(p AS DOUBLE) > 1'" in result.output  # the N/A row, NULL: false


def test_the_retailrocket_example_takes_category_and_price_from_the_long_item_properties(tmp_path):
    shutil.copy(EXAMPLES / "retailrocket.toml", tmp_path / "m.toml")
    shutil.copy(DATA / "clicks.csv", tmp_path / "events.csv")
    shutil.copy(DATA / "item_properties_part1.csv", tmp_path / "item_properties_part1.csv")
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
    d = tmp_path / "D"
    assert rows(d / ".ubm/maps/sku.parquet") == [(0, "248676"), (1, "318965"), (2, "355908"), (3, "367447"),
                                                 (4, "999999")]
    assert rows(d / ".ubm/maps/category.parquet") == [(0, "1277"), (1, "1280"), (2, "1338"), (3, None)]
    # 248676: its latest categoryid row (1280); 318965 and 367447 have none: the "no category" id;
    # prices from the 790 rows only: 248676 120.0, 355908 277.2 (ranks 1, 2 of 2), the rest none
    assert rows(d / "product_properties.parquet", "SELECT sku, category, price FROM t ORDER BY sku") == [
        (0, 1, 0), (1, 3, 0), (2, 2, 50), (3, 3, 0), (4, 1, 0)]
    assert "5 (1 without properties)" in result.output  # 367447: no row; 318965 has its 'available' row
    assert "warning" not in result.output  # '1116713 960601 n277.200' (property 888) is no price row


def test_a_category_named_not_set_warns_as_no_value(tmp_path):
    # Google Analytics exports write '(not set)' where a product has no category
    csv = "u,ts,s,c\n1,2019-10-01,1,(not set)\n1,2019-10-01,2,Apparel\n"
    result = imported(tmp_path, csv, products='[products]\nsource = "e"\nsku = "s"\ncategory = "c"\n')
    assert result.exit_code == 0, result.output
    assert "warning: the category map holds '(not set)'" in result.output and "every product" in result.output


def test_missing_value_markers_warn_as_ids_and_nulls_makes_them_missing(tmp_path):
    # Diginetica writes userId NA for anonymous sessions: as an id, NA would be one huge client
    csv = "u;ts;s;p\nNA;2019-10-01;1;NA\nNA;2019-10-01;2;3.5\n7;2019-10-01;NULL;2.5\n8;2019-10-02;3;1.5\n"
    result = imported(tmp_path, csv, source='delimiter = ";"', products=PRODUCTS)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "look like \"no value\"" in line]
    assert len(warnings) == 2 and "client_id map holds 'NA'" in warnings[0] and "'NULL'" in warnings[1]
    shutil.rmtree(tmp_path / "D")
    result = imported(tmp_path, csv, source='delimiter = ";"\nnulls = ["NA", "NULL"]', products=PRODUCTS)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output  # the price column of numbers and NA is numbers now
    assert rows(tmp_path / "D/.ubm/maps/client_id.parquet") == [(0, "8")]
    assert "2 missing client id, 1 missing value" in result.output


def test_the_olist_example_joins_lines_to_orders_customers_and_catalogue(tmp_path):
    # normalised tables: the line has the product and price, its order the customer and time,
    # the customer row the person (u100 placed both o1 and o2), the catalogue the category
    shutil.copy(EXAMPLES / "olist.toml", tmp_path / "m.toml")
    for f in (DATA / "olist").iterdir():
        shutil.copy(f, tmp_path / f.name)
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
    d = tmp_path / "D"
    assert rows(d / ".ubm/maps/client_id.parquet") == [(0, "u100")]
    # pC: only canceled and orphan lines; pZ has no catalogue row, yet its line is a purchase
    assert rows(d / ".ubm/maps/sku.parquet") == [(0, "pA"), (1, "pB"), (2, "pZ")]
    # Sao Paulo wall times, UTC-3 in April and September 2017
    assert rows(d / "product_buy.parquet") == [(0, "2017-04-26 13:53:06", 0), (0, "2017-04-26 13:53:06", 2),
                                               (0, "2017-09-13 11:59:02", 0), (0, "2017-09-13 11:59:02", 1)]
    # o3 is canceled; o9 has no order, counted as such before the filters see its NULL status
    assert "1 filter \"order_status NOT IN ('canceled', 'unavailable')\", 1 no row in joined source 'orders'" \
        in result.output
    assert rows(d / ".ubm/maps/category.parquet") == [(0, "artes"), (1, "perfumaria"), (2, None)]
    # pA's latest line 58.90, pB 10.00, pZ 5.00: ranks 3, 2, 1 of 3; pZ in the "no category" id
    assert rows(d / "product_properties.parquet", "SELECT sku, category, price FROM t ORDER BY sku") == [
        (0, 1, 66), (1, 0, 33), (2, 2, 0)]


def test_a_mapping_saved_with_a_byte_order_mark_and_crlf_reads(tmp_path):
    (tmp_path / "e.csv").write_text("u,ts,s\n1,2019-10-01,1\n")
    text = ('[sources.e]\npath = "e.csv"\n[events.product_buy]\nsource = "e"\nclient_id = "u"\n'
            'timestamp = "ts"\nsku = "s"\n')
    (tmp_path / "m.toml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "D")
    assert result.exit_code == 0, result.output
