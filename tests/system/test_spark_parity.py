"""The Spark engine against the DuckDB engine on the same tiny generated data: the split,
label lists, targets and both recipes' entries (docs/sql.md §2).

Integers and labels must be identical, float features equal to within float16 rounding, and
rows in the same order wherever the contract fixes the order (split files, entry rows,
label rows). One local SparkSession serves the whole module.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")

from ubm.contract import EVENT_TYPES, PROPENSITY_TASKS, TASKS  # noqa: E402
from ubm.data.generate import generate  # noqa: E402
from ubm.data.io import Settings  # noqa: E402
from ubm.prepare.lists import build_lists  # noqa: E402
from ubm.prepare.split import split  # noqa: E402
from ubm.prepare.targets import build_targets  # noqa: E402
from ubm.profiles.features import export_features  # noqa: E402

pytestmark = pytest.mark.spark

DUCK = Settings(threads=2)
SPARK = Settings(engine="spark", master="local[2]")
SPLIT_FILES = [f"input/{e}.parquet" for e in EVENT_TYPES] + [
    "target/train_target.parquet", "target/validation_target.parquet"]


@pytest.fixture(scope="module")
def spark_session():
    from ubm.data.spark import session
    spark = session("local[2]")
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def both(tmp_path_factory, spark_session) -> dict[str, Path]:
    """The pipeline up to targets on one generated data set, once per engine."""
    base = tmp_path_factory.mktemp("parity")
    generate(base / "raw", "tiny", seed=11)
    roots = {}
    for name, settings in (("duckdb", DUCK), ("spark", SPARK)):
        root = base / name
        shutil.copytree(base / "raw", root)
        split(root, settings)
        build_lists(root, settings, force=True)
        build_targets(root, base / f"labels-{name}", settings)
        roots[name] = root
    return roots


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("name", SPLIT_FILES)
def test_split_files_hold_the_same_rows_in_the_same_order(both, name):
    duck, spark = _rows(both["duckdb"] / name), _rows(both["spark"] / name)
    assert len(duck) > 0
    assert spark == duck


def test_split_files_keep_types_and_microsecond_timestamps(both):
    for name in SPLIT_FILES:
        duck = pq.read_schema(both["duckdb"] / name)
        spark = pq.read_schema(both["spark"] / name)
        assert [f.type for f in spark] == [f.type for f in duck], name
        assert str(spark.field("timestamp").type) == "timestamp[us]"


def test_label_lists_and_popularity_are_identical(both):
    for task in ["active_clients", *PROPENSITY_TASKS, *(f"popularity_{t}" for t in PROPENSITY_TASKS)]:
        duck = np.load(both["duckdb"] / "target" / f"{task}.npy")
        spark = np.load(both["spark"] / "target" / f"{task}.npy")
        assert duck.dtype == spark.dtype and len(duck) > 0, task
        np.testing.assert_array_equal(spark, duck, err_msg=task)


def test_targets_are_identical(both):
    base = both["duckdb"].parent
    for task in TASKS:
        for part in ("client_ids", "train", "validation", "labels"):
            duck = np.load(base / "labels-duckdb" / task / f"{part}.npy")
            spark = np.load(base / "labels-spark" / task / f"{part}.npy")
            assert duck.dtype == spark.dtype, (task, part)
            np.testing.assert_array_equal(spark, duck, err_msg=f"{task}/{part}")
        labels = np.load(base / "labels-duckdb" / task / "train.npy")
        assert len(labels) > 0, task
        if task != "churn":  # tiny data: its 4 churn clients all buy again
            assert labels.sum() > 0, task


def _entry(root: Path, recipe: str, settings: Settings) -> tuple[np.ndarray, np.ndarray, dict]:
    out = root / "entries" / recipe
    options = LEARNED if recipe == "learned" else None
    export_features(root, out, recipe=recipe, options=options, settings=settings)
    meta = json.loads((out / "columns.json").read_text())
    return np.load(out / "client_ids.npy"), np.load(out / "embeddings.npy"), meta


def _assert_float16_close(spark: np.ndarray, duck: np.ndarray) -> None:
    """Equal up to one float16 rounding step (the engines may sum doubles in another order)."""
    a, b = duck.astype(np.float32), spark.astype(np.float32)
    step = np.abs(np.spacing(duck)).astype(np.float32)
    far = np.abs(a - b) > step
    assert not far.any(), f"{int(far.sum())} cells differ by more than a float16 step, e.g. {np.argwhere(far)[:3]}"


# The learned recipe small enough for a test; its encoder trains seeded on the same SQL output.
LEARNED = {"cut_days": 3, "epochs": 2, "train_clients": 400, "candidates": 20, "embed": 8, "hidden": 16, "dim": 4,
           "heads": "binary,sku,new_sku", "chunk": 17, "progress": False,
           # the sequence block too: its SQL (seq_events, seq_urls) on both engines
           "sequence": "on", "seq_len": 12, "seq_dim": 4, "seq_embed": 8, "seq_epochs": 1}


@pytest.mark.parametrize("recipe", ["baseline", "universal", "learned"])
def test_entries_match_within_float16_rounding(both, recipe):
    duck_ids, duck, duck_meta = _entry(both["duckdb"], recipe, DUCK)
    spark_ids, spark, spark_meta = _entry(both["spark"], recipe, SPARK)
    np.testing.assert_array_equal(spark_ids, duck_ids)
    assert spark_meta["columns"] == duck_meta["columns"]
    assert spark.shape == duck.shape and spark.dtype == np.float16
    assert np.count_nonzero(duck) > duck.shape[0]  # the entry is not trivially empty
    _assert_float16_close(spark, duck)
    if recipe == "baseline":  # counts: exact
        counts = [i for i, c in enumerate(duck_meta["columns"]) if "query_mean" not in c]
        np.testing.assert_array_equal(spark[:, counts], duck[:, counts])


# --- the same named errors and commands on Spark ---------------------------------------

def test_bad_timestamp_names_file_column_value_on_spark(tmp_path, spark_session):
    import pyarrow as pa
    from ubm.data import sql
    from ubm.data.io import DataError
    from ubm.data.opener import open_data
    from tests.fixtures import write_dataset
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)],
                         page_visit=[(1, "2022-06-01 10:00:00", 5), (1, "2022-13-45 10:00:00", 5)])
    data = open_data(root, settings=SPARK)
    try:
        with pytest.raises(DataError) as err:
            sql.fetch_numpy(data, "summary/events", {"pattern": "%"})
    finally:
        data.close()
    message = str(err.value)
    assert "page_visit.parquet" in message and "'timestamp'" in message and "2022-13-45 10:00:00" in message
    del pa


@pytest.mark.parametrize("bad", ["[1 2 3]", "[ 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 300]"])
def test_bad_vector_names_file_column_value_on_spark(tmp_path, spark_session, bad):
    import pyarrow as pa
    from ubm.data import sql
    from ubm.data.io import DataError
    from ubm.data.opener import open_data
    from tests.fixtures import write_dataset
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(1, 2, 3)])
    pq.write_table(pa.table({"client_id": [1, 1], "timestamp": ["2022-01-01 00:00:00"] * 2,
                             "query": ["[" + " ".join(["1"] * 16) + "]", bad]}),
                   root / "search_query.parquet")
    data = open_data(root, settings=SPARK)
    try:
        with pytest.raises(DataError) as err:
            sql.fetch_numpy(data, "features/baseline/query_mean")
    finally:
        data.close()
    message = str(err.value)
    assert "search_query.parquet" in message and "'query'" in message and bad in message


def test_ubm_sql_run_with_engine_spark_matches_duckdb(both, spark_session):
    from click.testing import CliRunner
    from ubm.sql_cli import main as sql_main
    args = ["run", "lists/most_bought", "--data-dir", str(both["duckdb"]), "--window", "input",
            "--param", "limit=5", "--set", "column=sku", "--format", "csv"]
    duck = CliRunner().invoke(sql_main, args)
    spark = CliRunner().invoke(sql_main, [*args, "--engine", "spark", "--master", "local[2]"])
    assert duck.exit_code == 0 and spark.exit_code == 0, spark.output
    assert spark.stdout.splitlines() == duck.stdout.splitlines()
    assert len(duck.stdout.splitlines()) == 6


def test_ubm_split_with_engine_spark_on_the_command_line(both, tmp_path, spark_session):
    from click.testing import CliRunner
    from ubm.cli import main as ubm_main
    root = tmp_path / "d"
    shutil.copytree(both["duckdb"].parent / "raw", root)
    got = CliRunner().invoke(ubm_main, ["split", "--data-dir", str(root), "--engine", "spark",
                                        "--master", "local[2]", "--spark-conf", "spark.sql.shuffle.partitions=3"])
    assert got.exit_code == 0, got.output
    assert _rows(root / "target/train_target.parquet") == _rows(both["duckdb"] / "target/train_target.parquet")
    bad = CliRunner().invoke(ubm_main, ["split", "--data-dir", str(root), "--engine", "spark",
                                        "--spark-conf", "spark.sql.session.timeZone=Europe/Warsaw"])
    assert bad.exit_code == 1 and "ubm sets spark.sql.session.timeZone=UTC" in bad.output


def test_summary_reads_the_same_on_both_engines(both, spark_session):
    from ubm.prepare.summary import summarise
    duck = summarise(both["duckdb"], "all", DUCK).splitlines()
    spark = summarise(both["duckdb"], "all", SPARK).splitlines()
    assert spark[1:] == duck[1:] and "relevant clients: 50" in "\n".join(duck)


@pytest.mark.parametrize("recipe", ["baseline", "universal", "learned"])
def test_model_fitted_on_duckdb_applies_on_spark(both, recipe, tmp_path):
    """A profile model's SQL parts run on Spark: applied there, it gives the DuckDB entry of the
    same data up to float16 rounding (and on DuckDB, `ubm features --recipe`'s bytes)."""
    from ubm.profiles.model import apply_model, fit_model

    options = LEARNED if recipe == "learned" else None
    fit_model(both["duckdb"], recipe, tmp_path / "m", options, settings=DUCK)
    apply_model(tmp_path / "m", both["duckdb"], tmp_path / "duck", settings=DUCK)
    apply_model(tmp_path / "m", both["spark"], tmp_path / "spark", settings=SPARK)
    duck, spark = (np.load(tmp_path / e / "embeddings.npy") for e in ("duck", "spark"))
    _, reference, _ = _entry(both["duckdb"], recipe, DUCK)
    assert duck.tobytes() == reference.tobytes()
    _assert_float16_close(spark, duck)


def test_sequence_events_on_spark(tmp_path, spark_session):
    """The learned sequence block's SQL on a hand-made case: the same rows on both engines."""
    import datetime as dt
    from tests.fixtures import write_dataset
    from ubm.data import sql
    from ubm.data.opener import open_data
    from ubm.profiles.recipes.learned.prep import use_clients
    root = write_dataset(tmp_path / "d", relevant=[1, 2], properties=[(10, 5, 7)],
                         page_visit=[(1, "2022-06-01 10:00:00", 33), (2, "2022-06-01 09:00:00", 33)],
                         search_query=[(1, "2022-06-01 10:00:30", [200] * 3 + [0] * 13)],
                         product_buy=[(1, "2022-06-01 10:01:30", 10)],
                         add_to_cart=[(1, "2022-06-01 10:01:30", 99), (2, "2022-06-03 00:00:00", 10)])
    got = {}
    for name, settings in (("duckdb", DUCK), ("spark", SPARK)):
        data = open_data(root, settings=settings)
        try:
            use_clients(data, np.array([1, 2], dtype=np.int64))
            rows = sql.fetch_numpy(data, "features/learned/seq_events",
                                   {"end": dt.datetime(2022, 6, 2), "lo": 0, "hi": 2, "length": 3})
            got[name] = {k: np.ma.filled(np.ma.asarray(v).astype(float), -9).tolist() for k, v in rows.items()}
        finally:
            data.close()
    assert got["spark"] == got["duckdb"]
    assert got["spark"]["event"] == [1, 2, 5, 4] and got["spark"]["gap"] == [0, 60, 30, -9]


def test_refresh_on_spark_gives_the_bytes_of_a_duckdb_full_apply(both, tmp_path, spark_session):
    """The refresh's SQL (watermarks, the kept tail, new events) on Spark: an entry applied
    to the first weeks' events and refreshed with the rest is the full apply's bytes."""
    from tests.fixtures import latest, upto
    from ubm.profiles.model import apply_model, fit_model
    from ubm.profiles.refresh import refresh_entry

    raw = both["duckdb"].parent / "raw"
    fit_model(raw, "baseline", tmp_path / "m", source="all", settings=DUCK)
    start = upto(raw, tmp_path / "start", latest(raw) - dt.timedelta(days=3))
    apply_model(tmp_path / "m", start, tmp_path / "e", source="all", settings=SPARK, refreshable=True)
    assert refresh_entry(tmp_path / "m", raw, tmp_path / "e", settings=SPARK).incremental
    apply_model(tmp_path / "m", raw, tmp_path / "full", source="all", settings=DUCK)
    for name in ("embeddings.npy", "client_ids.npy"):
        assert (tmp_path / "e" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
