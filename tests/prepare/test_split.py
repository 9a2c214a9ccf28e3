"""The time split (docs/split.md) on a hand-made data directory with worked answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests import split_fixture as fx
from ubm.prepare import split as split_mod
from ubm.cli import main
from ubm.contract import EVENT_TYPES
from ubm.data.io import DataError, Settings
from ubm.ownership import is_temp_name
from ubm.prepare.split import boundaries_for, split

OUTPUTS = [f"input/{e}.parquet" for e in EVENT_TYPES] + [
    "target/train_target.parquet", "target/validation_target.parquet"]


def rows(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def snapshot(root) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in OUTPUTS}


def test_boundaries_follow_the_spec_example():
    b = boundaries_for(fx.END)
    assert b.train_target_start == fx.TTS
    assert b.validation_target_start == fx.VTS
    # just after midnight, the day still counts from 00:00:00 of (end - 27 days)
    b = boundaries_for(dt.datetime(2022, 11, 9, 0, 0, 1))
    assert b.train_target_start == dt.datetime(2022, 10, 13)


@pytest.mark.parametrize("native", [False, True])
def test_split_rows_and_boundaries(tmp_path, native):
    root = fx.make(tmp_path / "d", native=native)
    result = split(root)
    assert result.boundaries.end == fx.END
    assert result.boundaries.train_target_start == fx.TTS
    assert result.boundaries.validation_target_start == fx.VTS
    assert {e: result.rows[e] for e in EVENT_TYPES} == fx.INPUT_ROWS
    assert {t: result.rows[t] for t in fx.TARGET_ROWS} == fx.TARGET_ROWS

    buys = rows(root / "input/product_buy.parquet")
    assert buys == [{"client_id": 10, "timestamp": dt.datetime(2022, 10, 12, 23, 59, 59), "sku": 1},
                    {"client_id": 40, "timestamp": dt.datetime(2022, 9, 1, 10), "sku": 3}]
    visits = rows(root / "input/page_visit.parquet")
    assert [(r["client_id"], r["url"]) for r in visits] == [(50, 8), (50, 8)]
    assert max(r["timestamp"] for r in visits) == dt.datetime(2022, 10, 12, 23, 59, 59)

    train = rows(root / "target/train_target.parquet")
    assert [(r["client_id"], r["timestamp"], r["sku"], r["category"], r["price"]) for r in train] == [
        (10, fx.TTS, 1, 100, 5),
        (10, dt.datetime(2022, 10, 13, 5), 1, 100, 5),
        (20, dt.datetime(2022, 10, 26, 23, 59, 59), 3, 100, 9),
        (99, dt.datetime(2022, 10, 14, 10), 4, 300, 5),
    ]
    valid = rows(root / "target/validation_target.parquet")
    assert [(r["client_id"], r["timestamp"], r["sku"]) for r in valid] == [
        (20, fx.VTS, 2), (30, dt.datetime(2022, 11, 1, 8), 1), (30, fx.END, 2)]

    # relevant_clients.npy is left alone
    assert np.load(root / "input/relevant_clients.npy").tolist() == fx.RELEVANT


def test_split_column_types_and_encodings(tmp_path):
    text_root = fx.make(tmp_path / "text")
    native_root = fx.make(tmp_path / "native", native=True)
    split(text_root)
    split(native_root)
    for root, vec_type in ((text_root, pa.string()), (native_root, pa.list_(pa.int64()))):
        schema = pq.read_schema(root / "input/search_query.parquet")
        assert pa.types.is_timestamp(schema.field("timestamp").type)
        assert schema.field("client_id").type == pa.int64()
        assert schema.field("query").type == vec_type  # published encoding kept
        target = pq.read_schema(root / "target/validation_target.parquet")
        assert target.names == ["client_id", "timestamp", "sku", "category", "price", "name"]
        assert target.field("name").type == vec_type
    text_query = rows(text_root / "input/search_query.parquet")[0]["query"]
    native_query = rows(native_root / "input/search_query.parquet")[0]["query"]
    assert [int(x) for x in text_query.strip("[]").split()] == native_query == fx.default_vec(1)
    # names joined from the right sku: sku 2's name on the first validation row
    name = rows(native_root / "target/validation_target.parquet")[0]["name"]
    assert name == fx.default_vec(2)


def test_rerun_gives_identical_bytes(tmp_path):
    root = fx.make(tmp_path / "d")
    split(root)
    first = snapshot(root)
    split(root)
    assert snapshot(root) == first


def test_missing_sku_is_an_error_and_writes_nothing(tmp_path):
    buys = fx.PRODUCT_BUY + [(20, "2022-10-15 00:00:00", 77), (30, "2022-10-30 00:00:00", 77),
                             (30, "2022-10-30 00:00:01", 78), (40, "2022-09-01 00:00:00", 79)]
    root = fx.make(tmp_path / "d", product_buy=buys)
    with pytest.raises(DataError) as err:
        split(root)
    message = str(err.value)
    assert "2 sku(s)" in message and "3 purchases" in message
    assert "77 (2 purchases)" in message and "78" in message
    assert "79" not in message.replace(str(root), "")  # input-window skus are not the split's business
    assert sorted(p.name for p in (root / "input").iterdir()) == ["relevant_clients.npy"]
    assert not (root / "target").exists()


def test_duplicate_properties_sku_is_an_error(tmp_path):
    root = fx.make(tmp_path / "d", properties=fx.PROPERTIES + [(3, 101, 9)])
    with pytest.raises(DataError, match="more than once"):
        split(root)


def test_no_purchases_is_an_error(tmp_path):
    root = fx.make(tmp_path / "d", product_buy=[])
    with pytest.raises(DataError, match="no product_buy"):
        split(root)


def test_interrupted_split_leaves_previous_outputs(tmp_path, monkeypatch):
    root = fx.make(tmp_path / "d")
    split(root)
    before = snapshot(root)
    # new data: a later split would change every file
    fx.make(root, product_buy=fx.PRODUCT_BUY + [(50, "2022-10-01 00:00:00", 4)])
    calls = {"n": 0}
    real_run = split_mod.sql.write_parquet

    def failing_run(data, name, *args, **kwargs):
        if name == "split/target_chunk":
            calls["n"] += 1
            if calls["n"] == 2:  # every input chunk and the train target are already written
                raise RuntimeError("disk full")
        return real_run(data, name, *args, **kwargs)

    monkeypatch.setattr(split_mod.sql, "write_parquet", failing_run)
    with pytest.raises(RuntimeError):
        split(root)
    assert calls["n"] == 2
    assert snapshot(root) == before
    leftovers = [p.name for d in ("input", "target") for p in (root / d).iterdir() if is_temp_name(p.name)]
    assert leftovers == []
    monkeypatch.undo()
    assert split(root).rows["product_buy"] == 3


def test_cli_prints_boundaries_and_counts(tmp_path):
    root = fx.make(tmp_path / "d")
    result = CliRunner().invoke(main, ["split", "--data-dir", str(root), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "[2022-10-13 00:00:00, 2022-10-27 00:00:00)" in result.output
    assert "[2022-10-27 00:00:00, 2022-11-09 15:02:11]" in result.output
    assert "train_target" in result.output


def test_cli_error_exit_code(tmp_path):
    result = CliRunner().invoke(main, ["split", "--data-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "nope" in result.output


def test_bad_timestamp_in_an_event_file_is_named(tmp_path):
    root = fx.make(tmp_path / "d", page_visit=fx.PAGE_VISIT + [(50, "2022-10-32 00:00:00", 8)])
    with pytest.raises(DataError) as err:
        split(root)
    assert "page_visit.parquet" in str(err.value) and "2022-10-32 00:00:00" in str(err.value)
    assert not (root / "target").exists()


def test_input_chunks_keep_the_published_row_order(tmp_path):
    root = fx.make(tmp_path / "d")
    split(root)
    visits = rows(root / "input/page_visit.parquet")
    # as in page_visit.parquet (like the official pandas split), not sorted
    assert [r["timestamp"] for r in visits] == [dt.datetime(2022, 10, 12, 23, 59, 59), dt.datetime(2022, 6, 1)]


def test_same_bytes_with_one_or_two_threads_on_many_row_groups(tmp_path):
    # enough rows for several output row groups, published in small row groups (many batches)
    rng = np.random.default_rng(0)
    n = 300_000
    seconds = np.sort(rng.integers(0, 150 * 86400, n))
    stamps = (np.datetime64("2022-06-01T00:00:00") + seconds.astype("timedelta64[s]")).astype(str)
    visits = pa.table({"client_id": rng.integers(0, 5000, n), "timestamp": np.char.replace(stamps, "T", " "),
                       "url": rng.integers(0, 10**6, n)})
    outputs = {}
    for threads in (1, 2):
        root = fx.make(tmp_path / f"t{threads}")
        pq.write_table(visits, root / "page_visit.parquet", row_group_size=20_000)
        split(root, Settings(threads=threads))
        outputs[threads] = snapshot(root)
        kept = visits.filter(pc.less(visits["timestamp"], "2022-10-13 00:00:00"))
        written = pq.read_table(root / "input/page_visit.parquet")
        assert written.num_rows == kept.num_rows
        assert pq.ParquetFile(root / "input/page_visit.parquet").metadata.num_row_groups > 1
        assert written["url"].to_pylist() == kept["url"].to_pylist()  # file order kept
    assert outputs[1] == outputs[2]


def test_timestamp_with_an_offset_is_rejected(tmp_path):
    root = fx.make(tmp_path / "d", page_visit=fx.PAGE_VISIT + [(50, "2022-10-01 00:00:00+02", 8)])
    with pytest.raises(DataError) as err:
        split(root)
    assert "2022-10-01 00:00:00+02" in str(err.value)
