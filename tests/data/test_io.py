"""The data contract (ubm.data.io): both published encodings, and errors that name file, column, value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import split_fixture as fx
from tests.fixtures import default_vec, write_dataset
from ubm.data import sql
from ubm.contract import EVENT_TYPES
from ubm.data.io import DataError
from ubm.data.opener import open_data
from ubm.prepare.lists import build_lists
from ubm.prepare.split import split

VIEWS = EVENT_TYPES + ("product_properties", "train_target", "validation_target")


def view_rows(data, view):
    with sql.explained(data):
        rows = data.con.sql(f"SELECT * FROM {view}").fetchall()
    # vectors come back as tuples; make them lists so they compare with plain ints
    return sorted((tuple(list(v) if isinstance(v, tuple) else v for v in r) for r in rows), key=repr)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    base = tmp_path_factory.mktemp("enc")
    roots = {}
    for native in (False, True):
        root = fx.make(base / ("native" if native else "text"), native=native)
        split(root)
        build_lists(root)
        roots[native] = root
    return roots


@pytest.mark.parametrize("window", ["all", "input"])
def test_every_view_reads_the_same_in_both_encodings(both, window):
    text = open_data(both[False], window=window)
    native = open_data(both[True], window=window)
    for view in VIEWS + ("relevant_clients", "active_clients", "label_list_propensity_sku"):
        assert text.has(view) and native.has(view), view
        assert view_rows(text, view) == view_rows(native, view), view
    types = dict(text.con.sql("SELECT column_name, column_type FROM (DESCRIBE search_query)").fetchall())
    assert types == {"client_id": "BIGINT", "timestamp": "TIMESTAMP", "query": "UTINYINT[16]"}
    rows = view_rows(text, "search_query")
    assert rows[0][2] == fx.default_vec(1) and rows[0][1] == dt.datetime(2022, 10, 1)
    expected_buys = len(fx.PRODUCT_BUY) if window == "all" else fx.INPUT_ROWS["product_buy"]
    assert len(view_rows(text, "product_buy")) == expected_buys
    names = dict((r[0], r[3]) for r in view_rows(native, "product_properties"))
    assert names[3] == default_vec(3)
    text.close()
    native.close()


def test_vector_text_with_any_spacing(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    vec = list(range(0, 256, 16))
    pq.write_table(pa.table({"client_id": [1, 2], "timestamp": ["2022-01-01 00:00:00"] * 2,
                             "query": ["[" + " ".join(map(str, vec)) + "]",
                                       "[ " + ",  ".join(map(str, vec[:8])) + "\n  "
                                       + " ".join(map(str, vec[8:])) + " ]"]}),
                   root / "search_query.parquet")
    data = open_data(root)
    assert [r[2] for r in view_rows(data, "search_query")] == [vec, vec]


def test_bad_timestamp_names_file_column_value(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)],
                         page_visit=[(1, "2022-06-01 10:00:00", 5), (1, "2022-13-45 10:00:00", 5)])
    data = open_data(root)
    with pytest.raises(DataError) as err:
        sql.fetch_numpy(data, "summary/events", {"pattern": "%"})
    message = str(err.value)
    assert "page_visit.parquet" in message and "'timestamp'" in message and "2022-13-45 10:00:00" in message


@pytest.mark.parametrize("bad", ["[1 2 3]", "[ 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 300]", "[a b]"])
def test_bad_vector_names_file_column_value(tmp_path, bad):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    pq.write_table(pa.table({"client_id": [1, 1], "timestamp": ["2022-01-01 00:00:00"] * 2,
                             "query": ["[" + " ".join(["1"] * 16) + "]", bad]}),
                   root / "search_query.parquet")
    data = open_data(root)
    with pytest.raises(DataError) as err:
        view_rows(data, "search_query")
    message = str(err.value)
    assert "search_query.parquet" in message and "'query'" in message and bad in message


def test_wrong_column_type_names_file_and_column(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    pq.write_table(pa.table({"client_id": [1], "timestamp": ["2022-01-01 00:00:00"], "sku": ["abc"]}),
                   root / "add_to_cart.parquet")
    with pytest.raises(DataError) as err:
        open_data(root)
    assert "add_to_cart.parquet" in str(err.value) and "'sku'" in str(err.value)
    assert "VARCHAR" in str(err.value)


def test_missing_column_names_it(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    pq.write_table(pa.table({"client_id": [1], "timestamp": ["2022-01-01 00:00:00"]}),
                   root / "page_visit.parquet")
    with pytest.raises(DataError, match="page_visit.parquet: missing column 'url'"):
        open_data(root)


def test_missing_file_and_directory(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    (root / "product_buy.parquet").unlink()
    with pytest.raises(DataError) as err:
        open_data(root, require=("product_buy",))
    assert str(root / "product_buy.parquet") in str(err.value)
    with pytest.raises(DataError, match="train_target.parquet"):
        open_data(root, require=("train_target",))
    with pytest.raises(DataError, match="data directory not found"):
        open_data(tmp_path / "absent")


def test_unreadable_files(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    (root / "remove_from_cart.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="remove_from_cart.parquet: not a readable parquet"):
        open_data(root)
    root = write_dataset(tmp_path / "e", relevant=[1], properties=[(1, 2, 3)])
    np.save(root / "input" / "relevant_clients.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match="relevant_clients.npy: expected a 1-D integer array"):
        open_data(root)


def test_memory_share_lowers_duckdbs_limit_for_the_block_and_puts_it_back():
    import duckdb

    from ubm.data.engine import DuckDBEngine, setting_bytes

    con = duckdb.connect()
    con.execute("SET memory_limit = '1GiB'")
    con.execute("SET allocator_background_threads = false")

    def settings() -> tuple[int | None, str]:
        limit, threads = con.execute("SELECT current_setting('memory_limit'), "
                                     "current_setting('allocator_background_threads')").fetchall()[0]
        return setting_bytes(str(limit)), str(threads).lower()

    before = settings()
    assert before == (2**30, "false")
    with DuckDBEngine(con).memory_share(0.25):
        assert settings() == (2**28, "true")  # a quarter of 1 GiB, freed memory purged in the background
    assert settings() == before
    assert setting_bytes("3.7 GiB") == int(3.7 * 2**30) and setting_bytes("lots") is None
    con.close()


def test_engine_options_reach_a_command_as_one_settings_value(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ubm.cli import main
    from ubm.data.io import Settings

    seen: list[Settings] = []

    class Done:
        warnings: list[str] = []

        def describe(self) -> str:
            return "done"

    monkeypatch.setattr("ubm.prepare.lists.build_lists", lambda d, s, force, **_: seen.append(s) or Done())
    monkeypatch.setattr("ubm.prepare.importer.run_command", lambda c, o, s: seen.append(s))
    (tmp_path / "d").mkdir()
    runner = CliRunner()
    result = runner.invoke(main, ["lists", "--data-dir", str(tmp_path / "d"), "--threads", "3",
                                  "--memory-limit", "1GB", "--temp-dir", str(tmp_path / "t"),
                                  "--engine", "spark", "--master", "local[1]", "--spark-conf", "a.b = c"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["import", "--config", "m.toml", "--out", str(tmp_path / "o"), "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert seen == [Settings(threads=3, memory_limit="1GB", temp_directory=str(tmp_path / "t"), engine="spark",
                             master="local[1]", spark_conf=(("a.b", "c"),)),
                    Settings(threads=2, memory_limit="4GB")]


def test_every_command_with_engine_options_takes_one_settings_parameter():
    import inspect

    from ubm.cli import main
    from ubm.sql_cli import main as sql_main

    commands = [*main.commands.values(), *sql_main.commands.values()]
    with_options = [c for c in commands if any(p.name == "threads" for p in c.params)]
    assert len(with_options) >= 9  # import, summary, check, split, lists, targets, features, train, ubm-sql run
    for command in with_options:
        names = set(inspect.signature(inspect.unwrap(command.callback)).parameters)
        assert "settings" in names and not names & {"threads", "memory_limit", "temp_dir", "engine"}, command.name


@pytest.mark.parametrize("broken", [
    lambda b: b.replace(b"(5,)", b"(5, "),          # unclosed bracket: tokenize.TokenError
    lambda b: b.replace(b"'descr'", b"'descr"),      # unclosed quote: SyntaxError
    lambda b: b[:20],                                 # cut inside the header: ValueError
    lambda b: b.replace(b"<i8", b"<q9"),              # no such dtype: TypeError
])
def test_a_damaged_npy_header_is_a_data_error_naming_the_file(tmp_path, broken):
    import io as _io

    from ubm.data.io import read_npy

    buf = _io.BytesIO()
    np.save(buf, np.arange(5, dtype=np.int64))
    path = tmp_path / "active_clients.npy"
    path.write_bytes(broken(buf.getvalue()))
    with pytest.raises(DataError, match=r"active_clients\.npy: not a loadable \.npy file"):
        read_npy(path)
