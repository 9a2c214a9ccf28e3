"""The universal recipe: each SQL block on a hand-made fixture, scaling, the learned block, the recipe."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tests.fixtures import write_dataset
from ubm.data import sql
from ubm.data.opener import open_data
from ubm.profiles.recipes.als import learned_features
from ubm.profiles.recipes import get_recipe
from ubm.profiles.recipes.universal import DEFAULTS, check_options, universal_columns
from ubm.profiles.recipes.universal.blocks import cosine_to_items, label_lists
from ubm.profiles.recipes.universal.scale import standardise
from ubm.profiles.writer import ColumnWriter

U = "features/universal/"


def universal_features(data, *, seed: int = 0, options: dict | None = None) -> tuple[list[str], np.ndarray]:
    """The recipe's columns and float16 values, through the same writer as `ubm features`."""
    recipe = get_recipe("universal")
    opts = recipe.resolve({**(options or {}), "seed": seed})
    names = recipe.columns(opts)
    n = data.relevant_count
    out = ColumnWriter(np.zeros((n, len(names)), dtype=np.float16), names)
    recipe.build(data, None, opts, out)
    return names, out.array
REF = dt.datetime(2022, 6, 30, 12)      # latest event (client 1's page visit)
START = dt.datetime(2022, 4, 1, 7)      # earliest event (client 2's cart)
DAY = 86400.0

# sku -> (category, price, name)
PROPS = [
    (100, 10, 5, [10] * 16),
    (101, 10, 7, [20] * 16),
    (102, 11, 5, list(range(16))),
    (103, 12, 9, [255] * 16),
    (104, 11, 3, [0] * 16),
]
EVENTS = dict(
    product_buy=[
        (1, "2022-06-01 10:00:00", 100), (1, "2022-06-01 10:00:00", 100),  # exact duplicate: counts twice
        (1, "2022-06-11 09:00:00", 101), (1, "2022-06-29 12:00:00", 102),
        (2, "2022-04-01 08:00:00", 104),
        (5, "2022-06-30 00:00:00", 100),  # not relevant
    ],
    add_to_cart=[
        (1, "2022-06-01 09:00:00", 100), (1, "2022-06-29 11:00:00", 102),
        (2, "2022-04-01 07:00:00", 104), (2, "2022-06-28 07:00:00", 101),
        (3, "2022-06-25 10:00:00", 102), (3, "2022-06-26 10:00:00", 103),
    ],
    remove_from_cart=[(2, "2022-06-28 07:30:00", 101)],
    page_visit=[(1, "2022-06-30 12:00:00", 7), (3, "2022-06-20 12:00:00", 8), (3, "2022-06-21 12:00:00", 8)],
    search_query=[(3, "2022-06-21 13:00:00", [1] * 16), (3, "2022-06-22 13:00:00", [3] * 16)],
)
RELEVANT = [1, 2, 3, 4]  # client 4 has no events at all


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("uni"), relevant=RELEVANT, properties=PROPS, **EVENTS)
    d = open_data(root, settings=_settings())
    yield d
    d.close()


def _settings():
    from ubm.data.io import Settings
    return Settings(threads=1, progress_bar=False)


def rows(data, name, params=None, structure=None):
    rel = sql.run(data, U + name, params, structure)
    cols = rel.columns
    return [dict(zip(cols, r)) for r in rel.fetchall()]


def test_reference(data):
    assert rows(data, "reference") == [{"ref_ts": REF, "first_ts": START}]


def test_activity_counts_recency_trend(data):
    got = rows(data, "activity", {"ref": REF, "start": START})
    assert [r["pos"] for r in got] == [0, 1, 2, 3]
    c1, c2, c3, c4 = got
    # client 1: buys 06-01 (x2), 06-11, 06-29; 7-day window starts 06-23 12:00, 30-day 05-31 12:00
    assert (c1["n_all"], c1["n_7"], c1["n_30"], c1["n_90"]) == (4, 1, 4, 4)
    assert (c1["days_all"], c1["days_7"], c1["distinct_all"], c1["categories_all"]) == (3, 1, 3, 2)
    assert c1["recency"] == pytest.approx(1.0)
    assert c1["tenure"] == pytest.approx((REF - dt.datetime(2022, 6, 1, 10)).total_seconds() / DAY)
    assert (c1["trend_7_30"], c1["trend_30_90"], c1["trend_90_all"]) == (0.25, 1.0, 1.0)
    # client 2: one old buy, outside the 90-day window (which starts 04-01 12:00)
    assert (c2["n_all"], c2["n_90"], c2["trend_90_all"]) == (1, 0, 0.0)
    assert c2["recency"] == pytest.approx((REF - dt.datetime(2022, 4, 1, 8)).total_seconds() / DAY)
    # no purchases: counts 0, recency = input span + 1 day, tenure 0
    empty = (REF - START).total_seconds() / DAY + 1
    for c in (c3, c4):
        assert (c["n_all"], c["days_all"], c["distinct_all"], c["tenure"]) == (0, 0, 0, 0)
        assert c["recency"] == pytest.approx(empty)


def test_activity_queries(data):
    got = rows(data, "activity", {"ref": REF, "start": START},
               {"event": "search_query", "value": "query", "categories": False})
    assert "categories_all" not in got[0]
    c3 = got[2]
    assert (c3["n_all"], c3["n_7"], c3["n_30"], c3["distinct_all"], c3["days_all"]) == (2, 0, 2, 2, 2)
    assert c3["recency"] == pytest.approx(7 + 23 / 24)


def test_funnel(data):
    got = rows(data, "funnel", {"ref": REF})
    assert [(r["conversion_all"], r["abandonment_all"], r["conversion_30"], r["abandonment_30"]) for r in got] == [
        (2.0, 0.0, 2.0, 0.0),   # 4 buys / 2 adds
        (0.5, 0.5, 0.0, 1.0),   # 1 buy, 2 adds, 1 remove; last 30 days: 1 add, 1 remove
        (0.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0, 0.0),
    ]


def test_purchase_gaps(data):
    got = rows(data, "purchase_gaps")
    assert [(r["purchase_days"], r["gap_mean"], r["gap_min"], r["gap_last"]) for r in got] == [
        (3, 14.0, 10, 18), (1, 0.0, 0, 0), (0, 0.0, 0, 0), (0, 0.0, 0, 0)]


def test_label_counts_category_distribution(data):
    got = rows(data, "label_counts", {"values": [11, 10], "ref": REF}, {"column": "category"})
    # client 1 bought cat 11 once (06-29) and cat 10 three times; client 2 cat 11 long ago; client 5 not relevant
    assert got == [{"pos": 0, "slot": 0, "n_30": 1, "n_all": 1},
                   {"pos": 0, "slot": 1, "n_30": 3, "n_all": 3},
                   {"pos": 1, "slot": 0, "n_30": 0, "n_all": 1}]
    urls = rows(data, "label_counts", {"values": [8], "ref": REF},
                {"event": "page_visit", "column": "url", "windows": []})
    assert urls == [{"pos": 2, "slot": 0, "n_all": 2}]


def test_top_values_and_fallback_lists(data):
    assert [(r["slot"], r["value"], r["events"]) for r in rows(data, "most_frequent", {"n": 2})] == [(0, 100, 2), (1, 101, 1)]
    never = rows(data, "most_frequent", {"n": 10}, {"event": "add_to_cart", "never_bought": True})
    assert [r["value"] for r in never] == [103]
    lists, sources = label_lists(data, 100)
    assert lists["propensity_category"].tolist() == [10, 11]   # 3 buys vs 2 (ties by smaller id)
    assert lists["propensity_price"].tolist() == [5, 3, 7]
    assert lists["propensity_new_sku"].tolist() == [103]
    assert all(s.startswith("fallback") for s in sources.values())


def test_list_category_affinity(data):
    got = rows(data, "list_category_affinity", {"values": [103, 100]}, {"events": ["add_to_cart"]})
    # sku 103 is in cat 12 (client 3 carted 103), sku 100 in cat 10 (clients 1 and 2 carted cat 10)
    assert got == [{"pos": 0, "slot": 1, "n": 1}, {"pos": 1, "slot": 1, "n": 1}, {"pos": 2, "slot": 0, "n": 1}]


def test_name_vectors_mean_and_spread(data):
    got = rows(data, "name_vectors")
    c1 = got[0]
    names = np.array([[10] * 16, [10] * 16, [20] * 16, list(range(16))], dtype=float)  # 100, 100, 101, 102
    assert c1["n"] == 4
    np.testing.assert_allclose([c1[f"mean_{i}"] for i in range(16)], names.mean(axis=0))
    np.testing.assert_allclose([c1[f"std_{i}"] for i in range(16)], names.std(axis=0))
    assert got[3]["n"] == 0 and all(got[3][f"mean_{i}"] == 0 for i in range(16))
    q = rows(data, "name_vectors", structure={"event": "search_query", "vector": "query"})
    assert (q[2]["n"], q[2]["mean_0"], q[2]["std_15"]) == (2, 2.0, 1.0)


def test_sku_names_and_cosine(data):
    got = rows(data, "sku_names", {"values": [103, 999, 100]})
    assert [r["slot"] for r in got] == [-1, 0, 2]  # 999 has no properties
    assert got[0]["name_0"] == pytest.approx((10 + 20 + 0 + 255 + 0) / 5)
    centre = np.zeros(2)
    cos = cosine_to_items(np.array([[1.0, 0.0], [3.0, 3.0], [5.0, 5.0]]), np.array([True, True, False]),
                          np.array([[2.0, 0.0], [0.0, 1.0]]), centre)
    np.testing.assert_allclose(cos, [[1.0, 0.0], [2 ** -0.5, 2 ** -0.5], [0.0, 0.0]])


def test_rhythm(data):
    c3 = rows(data, "rhythm")[2]
    # client 3: carts 06-25 (Sat) 10h, 06-26 (Sun) 10h; visits 06-20 (Mon) 12h, 06-21 (Tue) 12h;
    # searches 06-21 (Tue) 13h, 06-22 (Wed) 13h
    assert (c3["hour_10"], c3["hour_12"], c3["hour_13"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert [c3[f"dow_{d}"] for d in range(1, 8)] == pytest.approx([1 / 6, 2 / 6, 1 / 6, 0, 0, 1 / 6, 1 / 6])
    assert all(v == 0 for k, v in rows(data, "rhythm")[3].items() if k != "pos")


def test_interactions(data):
    got = rows(data, "interactions", structure={"column": "category"})
    # categories present: 10 -> item 0, 11 -> 1, 12 -> 2; weights buy 4, cart 2, remove 1
    assert [(r["pos"], r["item"], r["weight"]) for r in got] == [
        (0, 0, 3 * 4 + 1 * 2), (0, 1, 4 + 2), (1, 0, 2 + 1), (1, 1, 4 + 2), (2, 1, 2), (2, 2, 2)]


def test_standardise():
    x = np.array([[0.0, 5.0], [np.e - 1, 5.0]])
    out = standardise(x, log=np.array([True, False]), std_floor=0.1, clip=10.0)
    np.testing.assert_allclose(out, [[-1.0, 0.0], [1.0, 0.0]], atol=1e-6)  # constant column -> 0
    assert standardise(np.array([[0.0]] * 99 + [[1.0]]), log=False, std_floor=0.1, clip=3.0).max() == 3.0
    # centred on a client without events: log1p(0) = 0 for the count, 2.0 for the second column
    x = np.array([[0.0, 2.0], [np.e - 1, 4.0], [np.e ** 2 - 1, 3.0]])
    out = standardise(x, log=np.array([True, False]), std_floor=0.1, clip=10.0, empty=np.array([0.0, 2.0]))
    std = np.array([np.std([0.0, 1.0, 2.0]), np.std([2.0, 4.0, 3.0])])
    np.testing.assert_allclose(out, [[0.0, 0.0], [1.0 / std[0], 2.0 / std[1]], [2.0 / std[0], 1.0 / std[1]]],
                               rtol=1e-6)


def test_learned_width_and_determinism(data):
    opts = {"blocks": {"category": {"events": {"product_buy": 1, "add_to_cart": 1}, "column": "category", "dim": 3},
                       "url": {"events": {"page_visit": 1}, "column": "url", "dim": 2}}, "iterations": 3}
    names, a = learned_features(data, seed=0, options=opts)
    _, b = learned_features(data, seed=0, options=opts)
    _, c = learned_features(data, seed=1, options=opts)
    assert a.shape == (4, 5) and len(names) == 5 and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a[3] == 0)  # no interactions: zero row
    norms = np.linalg.norm(a[:, :3], axis=1)
    np.testing.assert_allclose(norms[:3], np.sqrt(3), rtol=1e-5)  # L2-normalised, scaled by sqrt(dim)


def test_universal_features_shape_finite_and_empty_client(data):
    names, x = universal_features(data, seed=0, options={"category_dim": 4, "sku_dim": 4, "url_dim": 4,
                                                         "learned_iterations": 2})
    assert x.shape == (4, len(names)) and x.dtype == np.float16
    assert len(names) == len(set(names)) <= 2048
    assert np.isfinite(x).all() and np.isfinite(x.astype(np.float16)).all()
    learned = np.array([n.startswith("learned.") for n in names])
    assert np.abs(x[:, ~learned]).max() <= DEFAULTS["clip"]
    assert np.abs(x[:, learned]).max() <= 2.0 + 2e-3  # float16 rounding  # unit rows scaled by sqrt(4)
    col = names.index("activity.product_buy.n_all")
    assert x[0, col] > x[1, col] > x[3, col] == x[2, col]  # standardised log1p counts keep their order
    assert names.index("list.propensity_category.product_buy.n_all.0") > col


def test_centre_empty_makes_a_client_without_events_zero(data):
    small = {"category_dim": 2, "sku_dim": 2, "url_dim": 2, "learned_iterations": 1}
    names, x = universal_features(data, seed=0, options={**small, "centre": "empty"})
    _, m = universal_features(data, seed=0, options={**small, "centre": "mean"})
    assert np.all(x[3] == 0)  # client 4 has no events: every block's neutral value, centred to 0
    assert not np.all(m[3] == 0)  # mean-centred: it sits below the mean
    col = names.index("activity.product_buy.n_all")
    assert x[0, col] > x[1, col] > x[3, col] == x[2, col] == 0
    rec = names.index("activity.product_buy.recency")
    assert x[0, rec] < 0 and x[2, rec] == 0  # client 3 never bought: recency is the empty value
    # value_weight scales the per-value blocks only
    _, w = universal_features(data, seed=0, options={**small, "centre": "empty", "value_weight": 0.5})
    value = np.array([n.startswith(("list.", "new_sku.", "top_urls.")) for n in names])
    np.testing.assert_allclose(w[:, value], 0.5 * x[:, value], rtol=1e-6)
    np.testing.assert_array_equal(w[:, ~value], x[:, ~value])


def test_default_width_and_options():
    assert len(universal_columns(check_options({}))) == 1992
    assert len(universal_columns(check_options({"windows": "7,30", "learned": "false"}))) < 1992
    with pytest.raises(ValueError):
        check_options({"windows": [0]})
    with pytest.raises(ValueError):
        check_options({"centre": "median"})


def test_recipe_registered_and_exported(data, tmp_path):
    import json

    from ubm.profiles.features import export_features
    from ubm.profiles.recipes import get_recipe

    recipe = get_recipe("universal")
    small = {"category_dim": 2, "sku_dim": 2, "url_dim": 2, "learned_iterations": 1, "list_size": 5, "top_urls": 3}
    result = export_features(data.root, tmp_path / "entry", recipe="universal", options=small, source="all",
                             settings=_settings())
    emb = np.load(tmp_path / "entry" / "embeddings.npy")
    assert emb.dtype == np.float16 and emb.shape == (4, len(recipe.columns(recipe.resolve(small))))
    assert np.isfinite(emb).all() and result.overflow == 0
    meta = json.loads((tmp_path / "entry" / "columns.json").read_text())
    assert meta["recipe_info"]["list_lengths"]["propensity_category"] == 2


def test_export_records_per_block_accounting(data, tmp_path):
    import json

    from ubm.profiles.features import export_features
    from ubm.profiles.recipes.universal.plan import plan

    small = {"category_dim": 2, "sku_dim": 2, "url_dim": 2, "learned_iterations": 1, "list_size": 5, "top_urls": 3}
    lines: list[str] = []
    export_features(data.root, tmp_path / "entry", recipe="universal", options=small, source="all",
                    settings=_settings(), progress=lines.append)
    meta = json.loads((tmp_path / "entry" / "columns.json").read_text())
    blocks = meta["recipe_info"]["blocks"]
    planned = plan(get_recipe("universal").resolve(small))
    assert [b["name"] for b in blocks] == [p.name for p in planned]
    assert [b["columns"] for b in blocks] == [len(p.columns) for p in planned]
    assert sum(b["columns"] for b in blocks) == meta["n_columns"]
    assert all(b["rows"] == 4 and b["seconds"] >= 0 and b["peak_rss_mib"] > 0 for b in blocks)
    assert meta["recipe_info"]["seconds_by_block"] == {b["name"]: b["seconds"] for b in blocks}
    finished = [line for line in lines if line.startswith("[")]
    assert len(finished) == len(planned) and finished[-1].startswith(f"[{len(planned)}/{len(planned)}] learned: 4 x 6 in ")
    assert all(b["cpu_seconds"] >= 0 for b in blocks)
    assert not (tmp_path / "entry" / ".spool").exists()


def test_column_groups_standardise_as_the_whole_block():
    from ubm.profiles.recipes.universal.scale import column_groups

    assert column_groups(33, 16) == [(0, 16), (16, 33)]  # never a one-column group
    assert column_groups(34, 16) == [(0, 16), (16, 32), (32, 34)]
    assert column_groups(1, 16) == [(0, 1)] and column_groups(0) == []
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 2, size=(5001, 37)) * (rng.random((5001, 37)) < 0.2)
    whole = standardise(x.copy(), log=True, std_floor=0.1, clip=10.0, empty=0.0)
    parts = [standardise(x[:, a:b].copy(), log=True, std_floor=0.1, clip=10.0, empty=0.0)
             for a, b in column_groups(37, 16)]
    assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_als_solved_in_chunks_equals_one_product():
    from ubm.profiles.recipes.als import als

    rng = np.random.default_rng(5)
    n, m = 3000, 1500  # both A and Aᵀ span several chunks of 512 rows
    key = np.unique(rng.integers(0, n, 20_000) * m + rng.zipf(1.3, 20_000) % m)
    rows, cols = key // m, key % m
    values = rng.random(len(rows))
    whole = als(rows, cols, values, n, m, 8, seed=1, iterations=3, chunk_rows=n)
    chunked = als(rows, cols, values, n, m, 8, seed=1, iterations=3, chunk_rows=512)
    assert whole.shape == (n, 8) and np.isfinite(whole).all()
    assert np.array_equal(whole, chunked)
