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
