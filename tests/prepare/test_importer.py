"""ubm import (docs/import.md): hand-made invoice log and clickstream, answers computed on paper."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from ubm.cli import main

DATA = Path(__file__).parents[1] / "files" / "import"
EXAMPLES = Path(__file__).parents[2] / "examples" / "import"


def ubm(*args: str) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def rows(path: Path, sql: str = "SELECT * FROM t ORDER BY ALL") -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def invoices(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imp") / "retail"
    result = ubm("import", "--config", DATA / "invoices.toml", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_client_ids_map_floats_to_dense_ints_in_numeric_order(invoices):
    assert rows(invoices / ".ubm/maps/client_id.parquet") == [
        (0, "12583"), (1, "13047"), (2, "15100"), (3, "15291"), (4, "17850")]
    assert np.load(invoices / "input/relevant_clients.npy").tolist() == [0, 1, 2, 3, 4]


def test_filters_and_missing_customers_drop_rows(invoices):
    # 20 lines: 2 cancellations, 1 zero price, 2 without a customer -> 15 purchases
    assert rows(invoices / "product_buy.parquet", "SELECT count(*) FROM t") == [(15,)]
    skus = {o for _, o in rows(invoices / ".ubm/maps/sku.parquet")}
    assert "D" not in skus and "35004C" not in skus  # only on cancelled lines


def test_times_are_converted_from_london_to_utc(invoices):
    sku = dict((o, i) for i, o in rows(invoices / ".ubm/maps/sku.parquet"))["85123A"]
    times = rows(invoices / "product_buy.parquet", f"SELECT timestamp FROM t WHERE sku = {sku} ORDER BY 1")
    assert times == [("2010-12-01 08:26:00",), ("2011-06-01 08:02:00",)]  # GMT in winter, BST in June


def test_prices_are_quantile_buckets_of_the_latest_price(invoices):
    got = rows(invoices / "product_properties.parquet",
               "SELECT m.original, t.price FROM t JOIN read_parquet("
               f"'{invoices}/.ubm/maps/sku.parquet') m ON m.id = t.sku ORDER BY t.price, 1")
    # 15 products ranked by price: bucket floor(100 * (rank - 1) / 15); ties share a bucket
    assert got[0] == ("22632", 0)  # latest price 0.00
    assert ("85123A", 33) in got  # latest 2.95 is rank 6
    assert ("22727", 53) in got and ("22728", 53) in got  # both 3.75
    assert got[-1] == ("POST", 93)


def test_names_are_hashed_token_vectors(invoices):
    con = duckdb.connect()
    names = [n for (n,) in rows(invoices / "product_properties.parquet", "SELECT name FROM t")]
    for name in names:
        values = [int(v) for v in name.strip("[]").split()]
        assert len(values) == 16 and all(0 <= v <= 255 for v in values)
        # every token moves one dimension by 32 from 128
        assert all((v - 128) % 32 == 0 for v in values)
    token = con.execute("SELECT md5('lantern')").fetchone()[0]
    dim, sign = int(token[:2], 16) % 16, 1 if int(token[2:4], 16) < 128 else -1
    assert dim in range(16) and sign in (1, -1)


def test_layout_passes_check_summary_and_the_chain(invoices, tmp_path):
    work = tmp_path / "d"
    shutil.copytree(invoices, work)
    assert ubm("check", "--data-dir", work).exit_code == 0
    result = ubm("summary", "--data-dir", work)
    assert result.exit_code == 0 and "relevant clients: 5" in result.output


def _example(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    """examples/import/<name> copied unchanged into tmp_path, with hand-made source files
    (relative path -> bytes) where the mapping looks for them; the copied mapping's path."""
    config = tmp_path / name
    shutil.copy(EXAMPLES / name, config)
    for relative, data in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    return config


def _record(out: Path) -> dict:
    return json.loads((out / ".ubm/import.json").read_text())["result"]


# the example's item file (its products: category and price from the long property table)
ITEMS = {"item_properties_part1.csv": (DATA / "item_properties_part1.csv").read_bytes()}


def test_the_clickstream_example_splits_one_mixed_file_by_event(tmp_path):
    # examples/import/retailrocket.toml on clicks.csv (its layout, as events.csv): 7 lines,
    # views 3, addtocart 2, transaction 2; 5 visitors, 257597 with 3 events
    config = _example(tmp_path, "retailrocket.toml", {"events.csv": (DATA / "clicks.csv").read_bytes(),
                                                       **ITEMS})
    out = tmp_path / "clicks"
    result = ubm("import", "--config", config, "--out", out)
    assert result.exit_code == 0, result.output
    report = _record(out)
    assert report["rows"] == {"product_buy": 2, "add_to_cart": 2, "remove_from_cart": 0, "page_visit": 3,
                              "search_query": 0}
    assert report["dropped"] == {"product_buy": {}, "add_to_cart": {}, "page_visit": {}, "products": {}}
    # 100,000 most active of 5 visitors: all; skus of transactions and carts (318965, 355908,
    # 367447) and of the item file (248676, 999999 besides 318965, 355908), urls of views
    assert (report["clients"], report["relevant"], report["skus"], report["urls"]) == (5, 5, 5, 3)
    clients = dict((o, i) for i, o in rows(out / ".ubm/maps/client_id.parquet"))
    assert list(clients) == ["111016", "257597", "483574", "951259", "992329"]
    assert rows(out / ".ubm/maps/url.parquet") == [(0, "248676"), (1, "253185"), (2, "355908")]
    assert rows(out / "product_buy.parquet", "SELECT client_id, timestamp FROM t ORDER BY 1") == [
        (1, "2015-06-02 05:35:00"), (3, "2015-06-02 05:02:17")]
    # sku ids in the order of the original text: 248676 0, 318965 1, 355908 2, 367447 3, 999999 4
    assert rows(out / "add_to_cart.parquet", "SELECT client_id, sku FROM t ORDER BY 1") == [(0, 1), (1, 2)]
    # the report's range is in the tables' terms: epoch ms truncated to the second
    assert "events 2015-06-02 05:02:12 .. 2015-06-02 05:50:14 UTC" in result.output
    assert rows(out / "search_query.parquet", "SELECT count(*) FROM t") == [(0,)]
    assert ubm("check", "--data-dir", out).exit_code == 0
    # the example's rule, with n = 1: the visitor with most events of all types
    config.write_text(config.read_text().replace("n = 100000", "n = 1"))
    assert ubm("import", "--config", config, "--out", tmp_path / "one").exit_code == 0
    assert np.load(tmp_path / "one/input/relevant_clients.npy").tolist() == [clients["257597"]]


def test_the_invoice_example_reads_daily_latin1_files(tmp_path):
    # examples/import/online_retail.toml on invoices.csv (its layout) cut into two daily
    # files of data/ and written in latin-1, with one description holding an accented letter
    head, *lines = (DATA / "invoices.csv").read_text().splitlines()
    lines = [l.replace("POPPY'S PLAYHOUSE BEDROOM", "POPPY'S PLAYHOUSE CAF\u00c9") for l in lines]
    winter = [l for l in lines if ",12/01/2010 " in l]
    summer = [l for l in lines if ",12/01/2010 " not in l]
    assert (len(winter), len(summer)) == (18, 2)
    config = _example(tmp_path, "online_retail.toml", {
        "data/2010-12-01.csv": "\n".join([head, *winter, ""]).encode("latin-1"),
        "data/2011-06-01.csv": "\n".join([head, *summer, ""]).encode("latin-1")})
    out = tmp_path / "retail"
    result = ubm("import", "--config", config, "--out", out)
    assert result.exit_code == 0, result.output
    report = _record(out)
    # 20 lines: 2 cancellations, 1 zero price (event filter), 2 without a customer -> 15
    assert report["rows"]["product_buy"] == 15 and sum(report["rows"].values()) == 15
    assert report["dropped"]["product_buy"] == {"filter \"NOT starts_with(InvoiceNo, 'C')\"": 2,
                                                "filter 'UnitPrice > 0'": 1, "missing client id": 2}
    # products: the source's filters only (the zero-price line gives 22632 its latest price)
    assert report["dropped"]["products"] == {"filter \"NOT starts_with(InvoiceNo, 'C')\"": 2}
    # 13 skus bought + 22086 and 22423 (lines without a customer); every client relevant
    assert (report["clients"], report["relevant"], report["skus"], report["skus_without_properties"]) == (5, 5, 15, 0)
    assert (report["first_ts"], report["last_ts"]) == ("2010-12-01 08:26:00", "2011-06-02 11:30:00")
    assert np.load(out / "input/relevant_clients.npy").tolist() == [0, 1, 2, 3, 4]
    prices = dict(rows(out / "product_properties.parquet", "SELECT m.original, t.price FROM t JOIN read_parquet("
                       f"'{out}/.ubm/maps/sku.parquet') m ON m.id = t.sku"))
    assert (prices["22632"], prices["85123A"], prices["POST"]) == (0, 33, 93)  # as with invoices.toml
    assert ubm("check", "--data-dir", out).exit_code == 0


def _bad(tmp_path: Path, text: str) -> object:
    shutil.copy(DATA / "invoices.csv", tmp_path / "invoices.csv")
    config = tmp_path / "bad.toml"
    config.write_text(text)
    return ubm("import", "--config", config, "--out", tmp_path / "out")


BASE = (DATA / "invoices.toml").read_text()


@pytest.mark.parametrize("text,message", [
    (BASE.replace('pick = "latest"', 'pick = "latest"\ncolour = "red"'), "products.colour: unknown key"),
    (BASE.replace('sku = "StockCode"\nfilter', 'sku = "StockKode"\nfilter'), "events.product_buy.sku: column 'StockKode'"),
    (BASE.replace("%m/%d/%Y %H:%M", "%m/%Q"), "sources.invoices.timestamp_format"),
    (BASE.replace('"UnitPrice > 0"', '"UnitPrice > (SELECT 1)"'), "events.product_buy.filter[1]"),
    (BASE.replace('"UnitPrice > 0"', '"1; DROP TABLE x"'), "events.product_buy.filter[1]"),
    (BASE.replace('"UnitPrice > 0"', '"Nope > 0"'), "column 'Nope'"),
    (BASE.replace("Europe/London", "Mars/Base"), "sources.invoices.timezone"),
])
def test_bad_mappings_are_one_line_and_exit_2(tmp_path, text, message):
    result = _bad(tmp_path, text)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_times_that_do_not_parse_name_file_column_value(tmp_path):
    result = _bad(tmp_path, BASE.replace("%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M"))
    assert result.exit_code == 1
    assert "InvoiceDate" in result.output and "06/01/2011 09:02" in result.output  # the smallest bad value
    assert not (tmp_path / "out").exists()


def test_existing_output_is_refused_unless_same_mapping(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = ubm("import", "--config", DATA / "invoices.toml", "--out", out)
    assert result.exit_code == 2 and (out / "keep.txt").exists()
    fresh = tmp_path / "fresh"
    assert ubm("import", "--config", DATA / "invoices.toml", "--out", fresh).exit_code == 0
    assert ubm("import", "--config", DATA / "invoices.toml", "--out", fresh).exit_code == 0


def _purchase_log(tmp_path: Path) -> Path:
    """8 customers buying one of 11 skus every third day for 60 days: purchases only, and no
    sku is new in the train target window (all 11 are bought in the first weeks)."""
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID"]
    for day in range(60):
        for client in range(8):
            if (day + client) % 3:
                continue
            item = (day * 7 + client) % 11
            lines.append(f"{day}{client},SKU{item},THING NUMBER {item},1,"
                         f"{(dt.date(2011, 1, 1) + dt.timedelta(days=day)):%m/%d/%Y} 10:00,{item + 0.5},{10001 + client}.0")
    (tmp_path / "invoices.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "m.toml"
    config.write_text(BASE)
    return config


def test_split_lists_and_every_recipe_run_on_an_imported_purchase_log(tmp_path):
    config = _purchase_log(tmp_path)
    data = tmp_path / "d"
    for args in (["import", "--config", config, "--out", data], ["check", "--data-dir", data]):
        result = ubm(*args)
        assert result.exit_code == 0, (args[0], result.output)
    # an imported directory has no organiser lists: the split builds them (import, split, features, train)
    result = ubm("split", "--data-dir", data)
    assert result.exit_code == 0, result.output
    assert "label lists (ubm lists):" in result.output
    # no sku is new in the train target window: that list is not written, and the reason is said
    assert "propensity_new_sku               0 entries  (not written: no sku bought" in result.output
    assert not (data / "target/propensity_new_sku.npy").exists()
    assert (data / "target/propensity_sku.npy").exists()
    for recipe, extra in (("baseline", []), ("universal", []), ("learned", ["-o", "epochs=1"]),
                          ("learned", ["-o", "epochs=1", "-o", "sequence=on", "-o", "seq_epochs=1",
                                       "-o", "heads=binary"])):  # no url: the sequence block too
        entry = tmp_path / f"e_{recipe}{len(extra)}"
        result = ubm("features", "--data-dir", data, "--recipe", recipe, "--out", entry, *extra)
        assert result.exit_code == 0, (recipe, result.output)
        assert np.load(entry / "client_ids.npy").tolist() == list(range(8))
        assert np.isfinite(np.load(entry / "embeddings.npy").astype(np.float32)).all(), recipe
    # targets and train say which task cannot be evaluated, and go on with the others
    result = ubm("targets", "--data-dir", data, "--out", tmp_path / "t")
    assert result.exit_code == 0, result.output
    assert "propensity_new_sku    skipped: no label list" in result.output
    assert (tmp_path / "t/propensity_sku/train.npy").exists() and not (tmp_path / "t/propensity_new_sku").exists()
    result = ubm("train", "--data-dir", data, "--embeddings-dir", tmp_path / "e_baseline0", "--out", tmp_path / "r",
                 "--tasks", "churn,propensity_new_sku", "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.output
    assert "warning: propensity_new_sku: skipped" in result.output
    assert list(json.loads((tmp_path / "r/scores.json").read_text())) == ["churn"]


def test_a_log_without_purchases_is_refused_by_check_and_split_by_name(tmp_path):
    lines = (DATA / "clicks.csv").read_text().splitlines()
    kept = "\n".join(l for l in lines if "transaction," not in l) + "\n"
    config = _example(tmp_path, "retailrocket.toml", {"events.csv": kept.encode(), **ITEMS})
    data = tmp_path / "d"
    assert ubm("import", "--config", config, "--out", data).exit_code == 0
    for command in ("check", "split"):
        result = ubm(command, "--data-dir", data)
        assert result.exit_code == 1, (command, result.output)
        assert "no purchases at all" in result.output and "Traceback" not in result.output
    assert not (data / "target").exists()


@pytest.mark.parametrize("clients,expected", [
    ('rule = "most_active"\nn = 2', [1, 4]),  # 13047: 4 purchases, 17850: 5
    ('rule = "file"\nfile = "list.csv"\ncolumn = "customer"', [3, 5]),  # 15291 and a client without events
])
def test_relevant_client_rules(tmp_path, clients, expected):
    (tmp_path / "list.csv").write_text("customer\n15291\n99999.0\n")
    result = _bad(tmp_path, BASE + "\n[clients]\n" + clients + "\n")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out/input/relevant_clients.npy").tolist() == expected


def test_json_lines_queries_become_the_same_vector_whatever_the_case(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"u":"a1","t":"2022-06-01 10:00:00","q":"red shoes"}\n'
                                      '{"u":"b2","t":"2022-06-01 11:00:00","q":"Red  SHOES!"}\n')
    (tmp_path / "m.toml").write_text('[sources.s]\npath = "s.jsonl"\n[events.search_query]\nsource = "s"\n'
                                     'client_id = "u"\ntimestamp = "t"\nquery = "q"\n')
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "d")
    assert result.exit_code == 0, result.output
    (a,), (b,) = rows(tmp_path / "d/search_query.parquet", "SELECT query FROM t ORDER BY client_id")
    assert a == b and a.count(" 96") + a.count("160") == 2  # two tokens, each moves one dimension by 32
    check = ubm("check", "--data-dir", tmp_path / "d")  # no purchases: named by check, not an internal error
    assert check.exit_code == 1 and "no product_buy events" in check.output


def test_the_daily_file_example_reads_iso_times_and_float_customer_ids(tmp_path):
    # examples/import/online_retail_by_day.toml on two hand-made daily files of its layout
    shutil.copy(EXAMPLES / "online_retail_by_day.toml", tmp_path / "m.toml")
    (tmp_path / "by-day").mkdir()
    head = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    (tmp_path / "by-day/2010-12-01.csv").write_text(
        head + "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
               "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom\n")
    (tmp_path / "by-day/2011-06-01.csv").write_text(
        head + "C536379,D,Discount,-1,2011-06-01 09:41:00,27.5,14527.0,United Kingdom\n"
               "536380,85123A,WHITE HANGING HEART,2,2011-06-01 09:45:00,2.95,12583.0,France\n")
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "d")
    assert result.exit_code == 0, result.output
    # a line without a customer and a cancellation are dropped; London summer time is UTC+1;
    # the sku map holds the product lines' skus too: integer 22633 first (0), then 85123A (1)
    assert rows(tmp_path / "d/product_buy.parquet") == [(0, "2011-06-01 08:45:00", 1),
                                                        (1, "2010-12-01 08:26:00", 1)]
    assert rows(tmp_path / "d/.ubm/maps/sku.parquet") == [(0, "22633"), (1, "85123A")]
    assert rows(tmp_path / "d/.ubm/maps/client_id.parquet") == [(0, "12583"), (1, "17850")]
    report = _record(tmp_path / "d")
    assert report["rows"] == {"product_buy": 2, "add_to_cart": 0, "remove_from_cart": 0, "page_visit": 0,
                              "search_query": 0}
    assert report["dropped"] == {"product_buy": {"filter \"NOT starts_with(InvoiceNo, 'C')\"": 1, "missing client id": 1},
                                 "products": {"filter \"NOT starts_with(InvoiceNo, 'C')\"": 1}}
    assert (report["clients"], report["relevant"], report["skus"], report["skus_without_properties"]) == (2, 2, 2, 0)


def test_the_sample_log_of_make_import_example_is_repeatable_and_accounted_for(tmp_path, monkeypatch):
    # examples/import/make_sample.py (make import-example) at a tenth of its size
    spec = importlib.util.spec_from_file_location("make_sample", EXAMPLES / "make_sample.py")
    sample = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_sample", sample)  # its dataclasses look themselves up there
    spec.loader.exec_module(sample)
    lines = sample.write(tmp_path / "data", 40, 60, 50, 0, dt.date(2011, 1, 3))
    again = sample.write(tmp_path / "again", 40, 60, 50, 0, dt.date(2011, 1, 3))
    files = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert lines == again and len(files) == 60 and files[0] == "2011-01-03.csv"
    assert all((tmp_path / "data" / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)
    shutil.rmtree(tmp_path / "again")
    shutil.copy(EXAMPLES / "online_retail.toml", tmp_path / "m.toml")
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "d")
    assert result.exit_code == 0, result.output
    report = _record(tmp_path / "d")
    dropped = report["dropped"]["product_buy"]
    # every line written is kept or dropped for one named reason, and each reason occurs
    assert report["rows"]["product_buy"] + sum(dropped.values()) == lines
    assert set(dropped) == {"filter \"NOT starts_with(InvoiceNo, 'C')\"", "filter 'UnitPrice > 0'", "missing client id"}
    assert 0 < report["clients"] <= 40 and report["relevant"] == report["clients"]
    assert ubm("check", "--data-dir", tmp_path / "d").exit_code == 0


@pytest.mark.parametrize("zone,expected", [("UTC", "2011-06-01 09:02:00"), ("Europe/London", "2011-06-01 08:02:00"),
                                           ("America/New_York", "2011-06-01 13:02:00")])
def test_a_text_time_is_a_wall_time_of_the_source_zone(tmp_path, zone, expected):
    # UTC takes the text as it is (no conversion); other zones move it by their summer offset
    (tmp_path / "b.csv").write_text("c,t,s\n7.0,06/01/2011 09:02,x\n")
    (tmp_path / "m.toml").write_text(f'[sources.b]\npath = "b.csv"\ntimestamp_format = "%m/%d/%Y %H:%M"\n'
                                     f'timezone = "{zone}"\n[events.product_buy]\nsource = "b"\n'
                                     'client_id = "c"\ntimestamp = "t"\nsku = "s"\n')
    result = ubm("import", "--config", tmp_path / "m.toml", "--out", tmp_path / "d")
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "d/product_buy.parquet") == [(0, expected, 0)]


def test_a_new_import_of_the_same_mapping_replaces_what_the_chain_derived_but_not_an_entry(tmp_path):
    config = _purchase_log(tmp_path)
    data = tmp_path / "d"
    for args in (["import", "--config", config, "--out", data], ["split", "--data-dir", data],
                 ["lists", "--data-dir", data]):
        assert ubm(*args).exit_code == 0, args[0]
    (data / ".cache/labels-x").mkdir(parents=True)  # as train's label cache
    assert (data / "target/active_clients.npy").exists() and (data / ".ubm/split.json").exists()
    result = ubm("import", "--config", config, "--out", data)
    assert result.exit_code == 0, result.output
    # split outputs, built lists, stamps and the cache go with the files they came from
    assert not (data / "target").exists() and not (data / "input/product_buy.parquet").exists()
    assert not (data / ".cache").exists() and not (data / ".ubm/split.json").exists()
    # a file no stage of the chain writes there (an entry, a list given by hand) is refused
    for extra in ("entries/e/embeddings.npy", "target/propensity_sku.npy"):
        (data / extra).parent.mkdir(parents=True, exist_ok=True)
        (data / extra).write_bytes(b"mine")
        result = ubm("import", "--config", config, "--out", data)
        assert result.exit_code == 2 and "which ubm did not write" in result.output, result.output
        assert (data / extra).read_bytes() == b"mine"
        (data / extra).unlink()


def test_split_builds_the_lists_only_of_an_imported_directory_unless_told(tmp_path):
    config = _purchase_log(tmp_path)
    data = tmp_path / "d"
    assert ubm("import", "--config", config, "--out", data).exit_code == 0
    result = ubm("split", "--data-dir", data, "--no-lists")
    assert result.exit_code == 0 and "label lists" not in result.output, result.output
    assert not (data / "target/active_clients.npy").exists()
    result = ubm("split", "--data-dir", data)
    assert result.exit_code == 0, result.output
    built = sorted(p.name for p in (data / "target").glob("*.npy"))
    assert "active_clients.npy" in built and "propensity_sku.npy" in built
    # a rerun rebuilds the lists it built from the split it replaces, to the same bytes, and
    # `ubm lists` then finds nothing to do
    before = {name: (data / "target" / name).read_bytes() for name in built}
    assert "built: active_clients.npy" in ubm("split", "--data-dir", data).output
    assert {name: (data / "target" / name).read_bytes() for name in built} == before
    assert "built: nothing" in ubm("lists", "--data-dir", data).output
    # a directory not made by `ubm import` (organiser lists may come): only with --lists
    (data / ".ubm/import.json").unlink()
    shutil.rmtree(data / "target")
    result = ubm("split", "--data-dir", data)
    assert result.exit_code == 0 and not (data / "target/active_clients.npy").exists(), result.output
    result = ubm("split", "--data-dir", data, "--lists")
    assert result.exit_code == 0 and (data / "target/active_clients.npy").exists(), result.output
