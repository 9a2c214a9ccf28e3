"""The baseline recipe (docs/baseline.md) on a hand-made data directory, slot by slot."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import VALUE_COLUMN, write_dataset, write_events
from ubm.profiles.features import export_features
from ubm.profiles.recipes import OptionError, get_recipe
from ubm.profiles.writer import ColumnWriter, Float16OverflowWarning

RELEVANT = [30, 10, 20, 40]  # 40 has no events at all; the order is the output order
PROPERTIES = [(100, 1, 10), (101, 1, 20), (102, 2, 20), (103, 3, 30)]

INPUT = {
    # product_buy max_ts among relevant clients: 2022-06-10 12:00:00 (client 99's later buys don't count)
    # sku counts 100:2 101:2 102:1 103:1 -> top2 [100, 101] (tie by smaller id)
    # category 1:4 2:1 3:1 -> [1, 2]; price 20:3 10:2 30:1 -> [20, 10]
    "product_buy": [
        (10, "2022-06-10 12:00:00", 100),
        (10, "2022-06-09 12:00:00", 101),  # exactly max_ts - 1 day: inside the 1-day window
        (10, "2022-06-09 11:59:59", 100),  # one second earlier: 7-day window only
        (20, "2022-06-03 12:00:00", 102),  # exactly max_ts - 7 days: inside the 7-day window
        (20, "2022-06-01 00:00:00", 101),  # older than every window: total count only
        (30, "2022-06-10 00:00:00", 103),  # sku/category/price none in the top 2
        (99, "2022-06-20 00:00:00", 103), (99, "2022-06-20 00:00:00", 103),
        (99, "2022-06-20 00:00:00", 103), (99, "2022-06-20 00:00:00", 103),
    ],
    "add_to_cart": [(30, "2022-06-01 00:00:00", 102)],
    # page_visit has its own max_ts, 2022-06-05 08:00:00; url counts 8:2 9:2 7:1 -> [8, 9]
    "page_visit": [
        (10, "2022-06-05 08:00:00", 9), (10, "2022-06-05 08:00:00", 9),  # exact duplicates both count
        (20, "2022-06-04 08:00:00", 8),  # exactly 1 day before max_ts
        (20, "2022-05-20 08:00:00", 8),
        (30, "2022-06-05 08:00:00", 7),
        (99, "2022-06-30 00:00:00", 7), (99, "2022-06-30 00:00:00", 7), (99, "2022-06-30 00:00:00", 7),
    ],
    "search_query": [
        (20, "2022-06-01 00:00:00", list(range(16))),
        (20, "2022-06-02 00:00:00", list(range(1, 17))),
        (99, "2022-06-02 00:00:00", [255] * 16),
    ],
}
# after the split point: present in D/<type>.parquet, absent from D/input/
LATER = {
    "product_buy": [(10, "2022-07-01 00:00:00", 103)] * 3,
    "page_visit": [(30, "2022-07-01 00:00:00", 7)] * 3,
}

# windows (1, 7), top_n 2; every column not listed is 0
EXPECTED = {
    30: {"product_buy.count": 1,
         "add_to_cart.count": 1,
         **{f"add_to_cart.{d}d.{c}.top1": 1 for d in (1, 7) for c in ("sku", "category", "price")},
         "page_visit.count": 1},
    10: {"product_buy.count": 3,
         "product_buy.1d.sku.top1": 1, "product_buy.1d.sku.top2": 1,
         "product_buy.1d.category.top1": 2,
         "product_buy.1d.price.top1": 1, "product_buy.1d.price.top2": 1,
         "product_buy.7d.sku.top1": 2, "product_buy.7d.sku.top2": 1,
         "product_buy.7d.category.top1": 3,
         "product_buy.7d.price.top1": 1, "product_buy.7d.price.top2": 2,
         "page_visit.count": 2, "page_visit.1d.url.top2": 2, "page_visit.7d.url.top2": 2},
    20: {"product_buy.count": 2,
         "product_buy.7d.category.top2": 1, "product_buy.7d.price.top1": 1,
         "page_visit.count": 2, "page_visit.1d.url.top1": 1, "page_visit.7d.url.top1": 1,
         **{f"search_query.query_mean.{i}": i - 0.5 for i in range(1, 17)}},
    40: {},
}


def make_data(root: Path) -> Path:
    events = {e: INPUT.get(e, []) + LATER.get(e, []) for e in VALUE_COLUMN}
    write_dataset(root, relevant=RELEVANT, properties=PROPERTIES, **events)
    for event, column in VALUE_COLUMN.items():
        write_events(root / "input" / f"{event}.parquet", INPUT.get(event, []), column)
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("features") / "data")


def export(data_dir: Path, out: Path, **kw):
    result = export_features(data_dir, out, **kw)
    meta = json.loads((out / "columns.json").read_text())
    return np.load(out / "client_ids.npy"), np.load(out / "embeddings.npy"), meta, result


def expected_matrix(names: list[str], expected: dict[int, dict[str, float]]) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    matrix = np.zeros((len(RELEVANT), len(names)), dtype=np.float64)
    for row, client in enumerate(RELEVANT):
        for name, value in expected[client].items():
            matrix[row, index[name]] = value
    return matrix


def test_every_slot_matches_hand_computed_values(data_dir, tmp_path):
    ids, emb, meta, _ = export(data_dir, tmp_path / "e", options={"windows": [1, 7], "top_n": 2})
    assert ids.dtype == np.int64 and ids.tolist() == RELEVANT
    assert emb.dtype == np.float16 and emb.shape == (4, 3 * 13 + 5 + 16)
    want = expected_matrix(meta["columns"], EXPECTED)
    for row, client in enumerate(RELEVANT):
        diff = {meta["columns"][j]: (float(emb[row, j]), want[row, j])
                for j in np.flatnonzero(emb[row].astype(np.float64) != want[row])}
        assert not diff, f"client {client}: (got, want) {diff}"


def test_top_per_column_ignores_non_relevant_clients_and_break_ties_by_smaller_id(data_dir, tmp_path):
    _, _, meta, _ = export(data_dir, tmp_path / "e", options={"windows": [1, 7], "top_n": 2})
    info = meta["recipe_info"]
    assert info["product_buy"]["top"] == {"sku": [100, 101], "category": [1, 2], "price": [20, 10]}
    assert info["product_buy"]["max_ts"] == "2022-06-10T12:00:00"  # not client 99's 2022-06-20
    assert info["page_visit"]["top"] == {"url": [8, 9]}
    assert info["page_visit"]["max_ts"] == "2022-06-05T08:00:00"
    assert info["remove_from_cart"] == {"events": 0, "max_ts": None, "top": {"sku": [], "category": [], "price": []}}


def test_source_all_reads_every_event(data_dir, tmp_path):
    _, emb, meta, _ = export(data_dir, tmp_path / "e", source="all", options={"windows": [1, 7], "top_n": 2})
    names = meta["columns"]
    # client 10's three later buys of sku 103 make it the top sku and move max_ts to 2022-07-01
    assert meta["recipe_info"]["product_buy"]["top"]["sku"] == [103, 100]
    assert meta["recipe_info"]["product_buy"]["max_ts"] == "2022-07-01T00:00:00"
    row10 = emb[RELEVANT.index(10)]
    assert row10[names.index("product_buy.count")] == 6
    assert row10[names.index("product_buy.1d.sku.top1")] == 3
    assert row10[names.index("product_buy.7d.sku.top2")] == 0  # the June buys are > 7 days old now


def test_window_order_follows_the_option(data_dir, tmp_path):
    _, emb17, meta17, _ = export(data_dir, tmp_path / "a", options={"windows": [1, 7], "top_n": 2})
    _, emb71, meta71, _ = export(data_dir, tmp_path / "b", options={"windows": [7, 1], "top_n": 2})
    assert meta71["columns"][1].startswith("product_buy.7d.")
    order = [meta71["columns"].index(n) for n in meta17["columns"]]
    np.testing.assert_array_equal(emb71[:, order], emb17)


def test_defaults_give_320_columns_in_spec_order(data_dir, tmp_path):
    _, emb, meta, _ = export(data_dir, tmp_path / "e")
    names = meta["columns"]
    assert emb.shape == (4, 320) and len(names) == 320
    assert meta["options"] == {"windows": [1, 7, 30], "top_n": 10}
    assert names[:3] == ["product_buy.count", "product_buy.1d.sku.top1", "product_buy.1d.sku.top2"]
    assert names[11] == "product_buy.1d.category.top1" and names[31] == "product_buy.7d.sku.top1"
    assert names[91] == "add_to_cart.count" and names[273] == "page_visit.count"
    assert names[274] == "page_visit.1d.url.top1" and names[304] == "search_query.query_mean.1"
    # top_n 10 but only 4 skus exist: slots 5..10 stay zero; 30-day window holds what the 7-day did
    row10 = emb[RELEVANT.index(10)]
    assert row10[names.index("product_buy.30d.sku.top1")] == 2
    assert row10[names.index("product_buy.30d.sku.top4")] == 0
    assert not emb[:, [names.index(f"product_buy.30d.sku.top{k}") for k in range(5, 11)]].any()
    assert not emb[RELEVANT.index(40)].any()


def test_sku_without_properties_counts_only_in_total_and_sku_slots(tmp_path):
    root = write_dataset(tmp_path / "d", relevant=[1], properties=[(100, 1, 10)],
                         product_buy=[(1, "2022-06-01 00:00:00", 555), (1, "2022-06-01 00:00:00", 555),
                                      (1, "2022-06-01 00:00:00", 100)])
    _, emb, meta, _ = export(root, tmp_path / "e", source="all", options={"windows": [1], "top_n": 2})
    got = {n: float(v) for n, v in zip(meta["columns"], emb[0]) if v}
    assert got == {"product_buy.count": 3, "product_buy.1d.sku.top1": 2, "product_buy.1d.sku.top2": 1,
                   "product_buy.1d.category.top1": 1, "product_buy.1d.price.top1": 1}


def test_counts_beyond_float16_are_clipped_with_a_warning(tmp_path):
    rows = [(1, "2022-06-01 00:00:00", 7)] * 70_000
    root = write_dataset(tmp_path / "d", relevant=[1, 2], properties=[(100, 1, 10)], page_visit=rows)
    with pytest.warns(Float16OverflowWarning, match=r"^2 feature value\(s\) exceeded float16's maximum 65504"):
        _, emb, meta, result = export(root, tmp_path / "e", source="all", options={"windows": [1], "top_n": 1})
    assert np.isfinite(emb).all()
    assert emb[0, meta["columns"].index("page_visit.count")] == 65504
    assert emb[0, meta["columns"].index("page_visit.1d.url.top1")] == 65504
    assert result.overflow == 2 and meta["float16_overflow"]["clipped_values"] == 2
    assert meta["float16_overflow"]["by_column"] == {"page_visit.count": 1, "page_visit.1d.url.top1": 1}


def test_no_warning_without_overflow(data_dir, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", Float16OverflowWarning)
        export(data_dir, tmp_path / "e")


def test_column_writer_clips_negative_and_rejects_nan():
    out = np.zeros((2, 2), dtype=np.float16)
    writer = ColumnWriter(out, ["a", "b"])
    writer.write(0, np.array([[1.5, -1e6], [70_000.0, 2.0]]))
    assert out.tolist() == [[1.5, -65504.0], [65504.0, 2.0]] and writer.overflow == 2
    assert writer.overflow_by_column == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="NaN in column b"):
        writer.write(0, np.array([[0.0, np.nan], [0.0, 0.0]]))
    writer.scatter(np.array([1]), 1, np.array([[9.0]]))
    assert out[1, 1] == 9


def test_spooled_writer_writes_the_bytes_of_the_memory_mapped_writer(tmp_path):
    from ubm.profiles.writer import SpooledColumnWriter

    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(7)]
    blocks = [(0, rng.normal(size=(11, 3)) * 1e5), (3, rng.normal(size=(11, 2))), (1, rng.normal(size=(11, 2)))]
    direct = np.lib.format.open_memmap(tmp_path / "direct.npy", mode="w+", dtype=np.float16, shape=(11, 7))
    plain = ColumnWriter(direct, names)
    spooled = SpooledColumnWriter(tmp_path / "spooled.npy", 11, names, tmp_path / "spool", chunk_rows=4)
    for col, block in blocks:  # the last block overlaps the first; column 5 and 6 are never written
        plain.write(col, block)
        spooled.write(col, block)
    plain.close()
    del direct
    spooled.close()
    assert (tmp_path / "spooled.npy").read_bytes() == (tmp_path / "direct.npy").read_bytes()
    assert spooled.overflow == plain.overflow > 0 and spooled.overflow_by_column == plain.overflow_by_column
    assert list((tmp_path / "spool").iterdir()) == []
    with pytest.raises(TypeError, match="full-height"):
        spooled.scatter(np.array([0]), 0, np.zeros((1, 1)))


@pytest.mark.parametrize("options, message", [
    ({"windows": [1, 1]}, "distinct"),
    ({"windows": "0,7"}, r"in 1\.\.36600, got 0,7"),
    ({"windows": "1,99999999999"}, r"in 1\.\.36600, got 1,99999999999"),
    ({"windows": "7,2.5"}, "windows takes a whole number, got '2.5'"),
    ({"top_n": 0}, "top_n must be >= 1"),
    ({"top_n": 2.5}, "top_n takes a whole number, got 2.5"),
    ({"top_n": True}, "top_n takes a whole number"),
    ({"depth": 3}, "no option depth"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(OptionError, match=message):
        get_recipe("baseline").resolve(options)


@pytest.mark.parametrize("recipe, options, key", [
    ("universal", {"sku_dim": "2.5"}, "sku_dim"),
    ("universal", {"clip": "inf"}, "clip"),
    ("universal", {"recent": 10**9}, "recent"),
    ("learned", {"cut_days": 10**12}, "cut_days"),
    ("learned", {"lr": "nan"}, "lr"),
    ("learned", {"epochs": 0}, "epochs"),
])
def test_bad_options_name_the_option(recipe, options, key):
    with pytest.raises(OptionError, match=key) as caught:
        get_recipe(recipe).resolve(options)
    assert caught.value.key == key


def test_windows_accept_comma_text():
    assert get_recipe("baseline").resolve({"windows": "30, 7", "top_n": "3"}) == {"windows": [30, 7], "top_n": 3}
