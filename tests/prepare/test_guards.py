"""Issue 21, data side: outlier ends, inputs changed mid-run, stale label lists, values out of range."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from tests import split_fixture as fx
from tests.fixtures import prepare_tiny, write_events
from ubm.cli import main
from ubm.data.io import DataError, load_id_array
from ubm.prepare.split import split


def test_far_outlier_is_named_and_nothing_written(tmp_path):
    # enough purchases for the gap to be evidence: one a day for 60 days, then one in 2122
    buys = [(10, f"2022-{6 + d // 30:02d}-{1 + d % 30:02d} 10:00:00", 1 + d % 4) for d in range(60)] * 2
    root = fx.make(tmp_path / "d", product_buy=buys + [(20, "2122-01-01 00:00:00", 2)])
    result = CliRunner().invoke(main, ["split", "--data-dir", str(root)])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "product_buy.parquet" in lines[0] and "2122-01-01 00:00:00" in lines[0]
    assert not (root / "target").exists()
    ok = CliRunner().invoke(main, ["split", "--data-dir", str(root), "--outliers", "drop"])
    assert ok.exit_code == 0, ok.output
    assert "2022-07-30 10:00:00" in ok.output  # the end is the latest purchase before the outlier


def test_empty_train_window_is_refused(tmp_path):
    root = fx.make(tmp_path / "d", product_buy=[(10, "2022-06-01 10:00:00", 1), (10, "2022-09-01 10:00:00", 1)])
    with pytest.raises(DataError, match="train target window"):
        split(root)


@pytest.mark.parametrize("column,values", [("client_id", [1, -1]), ("price", [5, 150]), ("price", [-1]),
                                           ("price", [100]), ("category", [-1]), ("sku", [-3])])
def test_id_array_out_of_range_is_refused(tmp_path, column, values):
    path = tmp_path / "a.npy"
    np.save(path, np.asarray(values, dtype=np.int64))
    with pytest.raises(DataError, match=rf"a\.npy: value -?\d+ is outside {column}'s range"):
        load_id_array(path, column=column)


def test_uint64_beyond_int64_is_refused_not_wrapped(tmp_path):
    path = tmp_path / "r.npy"
    np.save(path, np.asarray([1, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(DataError, match="18446744073709551615"):
        load_id_array(path)


def test_changed_label_list_makes_a_universal_entry_stale(tmp_path):
    root = prepare_tiny(tmp_path / "d")
    r = CliRunner().invoke(main, ["features", "--data-dir", str(root), "--recipe", "universal",
                                  "--out", str(root / "u")])
    assert r.exit_code == 0, r.output
    ok = CliRunner().invoke(main, ["validate", "--data-dir", str(root), "--embeddings-dir", str(root / "u")])
    assert ok.exit_code == 0, ok.output
    lst = root / "target" / "propensity_category.npy"
    np.save(lst, np.load(lst)[::-1].copy())
    bad = CliRunner().invoke(main, ["validate", "--data-dir", str(root), "--embeddings-dir", str(root / "u")])
    assert bad.exit_code == 1 and "propensity_category.npy" in bad.output


def test_input_changed_mid_run_writes_no_entry(tmp_path, monkeypatch):
    root = prepare_tiny(tmp_path / "d")
    from ubm.profiles import features as feat

    real = feat.load_id_array

    def touching(path, *a, **k):
        got = real(path, *a, **k)
        write_events(root / "input" / "page_visit.parquet", [(1, "2022-06-01 00:00:00", 9)], "url")
        return got

    monkeypatch.setattr(feat, "load_id_array", touching)
    with pytest.raises(DataError, match="changed while `ubm features` was reading it"):
        feat.export_features(root, tmp_path / "e")
    assert not (tmp_path / "e").exists()


def _with_column(path, column, values, dtype):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    i = table.column_names.index(column)
    table = table.set_column(i, column, pa.array(values, dtype))
    pq.write_table(table, path)


@pytest.mark.parametrize("table, column, bad, dtype, shown", [
    ("product_properties", "price", 150, "int64", "150"),
    ("product_properties", "category", -1, "int64", "-1"),
    ("product_buy", "sku", 2**64 - 1, "uint64", "18446744073709551615"),
])
def test_parquet_values_out_of_range_are_named(tmp_path, table, column, bad, dtype, shown):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "d"
    assert CliRunner().invoke(main, ["generate", "--out", str(root), "--size", "tiny", "--seed", "3"]).exit_code == 0
    path = root / f"{table}.parquet"
    values = pq.read_table(path).column(column).to_pylist()
    values[0] = bad
    _with_column(path, column, values, getattr(pa, dtype)())
    checked = CliRunner().invoke(main, ["check", "--data-dir", str(root)])
    assert checked.exit_code == 1
    assert f"{path}: column '{column}': 1 value(s) outside {column}'s range" in checked.output
    assert f"(e.g. {shown})" in checked.output and "Traceback" not in checked.output
    result = CliRunner().invoke(main, ["split", "--data-dir", str(root)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and str(path) in lines[0] and f"outside {column}'s range" in lines[0], result.output
    assert not (root / "target").exists()


def test_check_covers_label_list_ranges_duplicates_and_popularity(tmp_path):
    root = prepare_tiny(tmp_path / "d")
    np.save(root / "target" / "propensity_price.npy", np.array([3, 150, 7], dtype=np.int64))
    lst = np.load(root / "target" / "propensity_category.npy")
    np.save(root / "target" / "propensity_category.npy", np.concatenate([lst, lst[:1]]))
    np.save(root / "target" / "popularity_propensity_sku.npy", -np.ones(len(np.load(root / "target" / "propensity_sku.npy"))))
    result = CliRunner().invoke(main, ["check", "--data-dir", str(root)])
    assert result.exit_code == 1
    assert "propensity_price.npy: value 150 is outside price's range 0..99" in result.output
    assert "propensity_category.npy: 1 id(s) listed more than once" in result.output
    assert "popularity_propensity_sku.npy: popularity holds negative values" in result.output
