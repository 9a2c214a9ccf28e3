"""The ``learned`` recipe: pseudo-future targets, leakage, order and seed properties, options.

Built on a tiny generated dataset (600 clients, 60 days) with a small, fast training setup;
``base="none"`` so each test checks the encoder block itself.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ubm.cli import main as ubm_main
from ubm.contract import EVENT_TYPES, MAX_COLUMNS
from ubm.data.io import Settings
from ubm.data.opener import open_data
from ubm.profiles.features import export_features
from ubm.profiles.recipes import get_recipe
from ubm.profiles.recipes.learned import check_options, encoder_columns
from ubm.profiles.recipes.learned.prep import fetch_targets, use_clients

FAST = {"base": "none", "epochs": 2, "train_clients": 400, "candidates": 20, "embed": 8, "hidden": 16,
        "dim": 4, "heads": "binary,sku,new_sku", "chunk": 17, "progress": False}
SETTINGS = Settings(threads=1, progress_bar=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("learned") / "data"
    runner = CliRunner()
    for args in (["generate", "--out", str(root), "--size", "tiny", "--days", "60", "--seed", "5"],
                 ["split", "--data-dir", str(root)], ["lists", "--data-dir", str(root)]):
        result = runner.invoke(ubm_main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


def relist(root: Path) -> None:
    """Rebuild the label lists after a test rewrote relevant_clients.npy (they derive from it)."""
    result = CliRunner().invoke(ubm_main, ["lists", "--data-dir", str(root), "--force"])
    assert result.exit_code == 0, result.output


def build(data_dir: Path, out: Path, **options) -> tuple[np.ndarray, dict]:
    export_features(data_dir, out, recipe="learned", options={**FAST, **options}, settings=SETTINGS)
    return np.load(out / "embeddings.npy"), json.loads((out / "columns.json").read_text())


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory) -> tuple[np.ndarray, dict]:
    return build(data_dir, tmp_path_factory.mktemp("ref") / "entry")


def test_columns_records_and_scaling(reference):
    emb, meta = reference
    assert meta["columns"] == encoder_columns(check_options(FAST))
    assert emb.shape == (50, 4 + 2 + 202) and emb.dtype == np.float16
    info = meta["recipe_info"]["encoder"]
    assert [e["epoch"] for e in info["epochs"]] == [1, 2]
    assert set(info["epochs"][0]["validation"]) == {"churn", "conversion", "category", "sku", "new_sku", "price"}
    assert 1 <= info["best_epoch"] <= 2
    x = emb.astype(np.float64)
    assert np.isfinite(x).all() and np.abs(x).max() <= 10.0
    moving = x.std(axis=0) > 0
    assert moving[:4].all()  # the representation varies across clients


def test_centre_on_the_mean_or_on_the_empty_client(data_dir, reference, tmp_path):
    """Same training, two centres: on active rows the two blocks differ by a constant per column,
    which is the mean of the empty-centred block (clients without events count as the empty client)."""
    by_mean = reference[0].astype(np.float64)
    by_empty = build(data_dir, tmp_path / "entry", centre="empty")[0].astype(np.float64)
    active = by_empty.any(axis=1)
    assert 0 < (~active).sum() and not by_mean[~active].any()
    assert np.allclose(by_empty.std(axis=0)[by_empty.std(axis=0) > 0], 1.0, atol=0.01)  # std over all
    offset = by_empty[active] - by_mean[active]
    assert np.allclose(offset, by_empty.mean(axis=0), atol=0.02)


def _remove_target_windows(src: Path, dst: Path) -> int:
    """Copy a data directory without any event of the target windows; returns how many were dropped."""
    shutil.copytree(src, dst)
    first = min(pc.min(pq.read_table(src / "target" / f"{name}.parquet").column("timestamp")).as_py()
                for name in ("train_target", "validation_target"))
    dropped = 0
    for event in EVENT_TYPES:
        table = pq.read_table(src / f"{event}.parquet")
        ts = table.column("timestamp")
        keep = pc.less(ts, first.strftime("%Y-%m-%d %H:%M:%S") if ts.type == "string" else first)
        dropped += table.num_rows - pc.sum(keep).as_py()
        pq.write_table(table.filter(keep), dst / f"{event}.parquet")
    for name in ("train_target", "validation_target"):
        (dst / "target" / f"{name}.parquet").unlink()
    # The published files now differ from what the split was made from, on purpose: without
    # its stamps the directory is taken as given (the same input/ chunks, no target window).
    shutil.rmtree(dst / ".ubm")
    return dropped


def test_block_unchanged_without_target_window_events(data_dir, reference, tmp_path):
    stripped = tmp_path / "stripped"
    assert _remove_target_windows(data_dir, stripped) > 0
    emb, _ = build(stripped, tmp_path / "entry")
    assert emb.tobytes() == reference[0].tobytes()


def test_shuffled_relevant_clients_permute_rows(data_dir, reference, tmp_path):
    shuffled = tmp_path / "shuffled"
    shutil.copytree(data_dir, shuffled)
    ids = np.load(data_dir / "input" / "relevant_clients.npy")
    perm = np.random.default_rng(3).permutation(len(ids))
    np.save(shuffled / "input" / "relevant_clients.npy", ids[perm])
    relist(shuffled)
    emb, _ = build(shuffled, tmp_path / "entry")
    assert np.array_equal(np.load(tmp_path / "entry" / "client_ids.npy"), ids[perm])
    assert emb.tobytes() == reference[0][perm].tobytes()


def test_same_seed_same_block_other_seed_another(data_dir, reference, tmp_path):
    # again through the command line: every recipe option is reachable with -o KEY=VALUE
    args = [a for k, v in FAST.items() for a in ("-o", f"{k}={v}")]
    result = CliRunner().invoke(ubm_main, ["features", "--data-dir", str(data_dir), "--recipe", "learned",
                                           "--out", str(tmp_path / "again"), "--threads", "1", *args])
    assert result.exit_code == 0, result.output
    again = np.load(tmp_path / "again" / "embeddings.npy")
    assert again.tobytes() == reference[0].tobytes()
    other, _ = build(data_dir, tmp_path / "other", seed=1)
    assert other.shape == again.shape and not np.array_equal(other, again)


def test_client_without_events_is_the_zero_vector(data_dir, tmp_path):
    extra = tmp_path / "extra"
    shutil.copytree(data_dir, extra)
    ids = np.load(data_dir / "input" / "relevant_clients.npy")
    np.save(extra / "input" / "relevant_clients.npy", np.append(ids, 10**12))
    relist(extra)
    emb, _ = build(extra, tmp_path / "entry")
    seen = np.unique(np.concatenate([pq.read_table(data_dir / "input" / f"{e}.parquet").column("client_id")
                                     .to_numpy() for e in EVENT_TYPES]))
    active = np.isin(np.append(ids, 10**12), seen)
    assert 0 < (~active).sum() < len(active) - 1  # the fixture has relevant clients without input events
    assert np.array_equal(emb.any(axis=1), active)


def test_each_output_group_keeps_its_own_best_epoch(reference):
    info = reference[1]["recipe_info"]["encoder"]
    epochs = info["epochs"]
    assert set(info["best_epochs"]) == {"rep", "binary", "category", "sku", "new_sku", "price"}
    for group, best in info["best_epochs"].items():
        scores = [e["selection"][group] for e in epochs]
        assert best == epochs[scores.index(min(scores))]["epoch"]  # the first epoch with the lowest score
    first = epochs[0]
    relative = {k: v / info["validation_constant"][k] for k, v in first["validation"].items()}
    assert first["selection"]["binary"] == pytest.approx((relative["churn"] + relative["conversion"]) / 2, rel=1e-3)
    assert first["selection"]["rep"] == pytest.approx(sum(relative.values()) / len(relative), rel=1e-3)


def test_level_splits_a_listed_head_without_losing_it(data_dir):
    """level + (slot - level) gives back each slot's raw score."""
    from ubm.profiles.recipes.learned.export import outputs
    from ubm.profiles.recipes.learned.prep import fetch_clients, load_catalog
    from ubm.profiles.recipes.learned.train import candidate_index, fit

    opts = check_options({**FAST, "level": "true", "centre": "mean"})
    data = open_data(data_dir, window="input", settings=SETTINGS)
    try:
        end = dt.datetime.fromisoformat(str(data.con.execute(
            "SELECT max(timestamp) FROM product_buy").fetchall()[0][0])) + dt.timedelta(seconds=1)
        cut = end - dt.timedelta(days=opts["cut_days"])
        catalog = load_catalog(data, cut, opts["vocabulary"])
        fitted = fit(data, catalog, cut, opts, lambda _: None)
        ids = np.load(data_dir / "input" / "relevant_clients.npy")
        use_clients(data, np.sort(ids))
        chunk = fetch_clients(data, end, 0, len(ids), opts["length"], catalog)
        import torch
        listed = np.unique(pq.read_table(data_dir / "input" / "product_buy.parquet").column("sku").to_numpy())[:7]
        items = {"sku": torch.from_numpy(candidate_index("sku", listed, catalog))}
        plain = outputs(fitted, chunk, items, ["sku"], 16)
        split = outputs(fitted, chunk, items, ["sku"], 16, level=("sku",))
    finally:
        data.close()
    dim = opts["dim"]
    assert plain.shape[1] == dim + 100 and split.shape[1] == dim + 101
    level, slots = split[:, dim], split[:, dim + 1:dim + 8]
    assert np.allclose(level, plain[:, dim:dim + 7].mean(axis=1), atol=1e-5)
    assert np.allclose(level[:, None] + slots, plain[:, dim:dim + 7], atol=1e-5)
    assert not split[:, dim + 8:].any()  # slots beyond a short list stay 0


def test_pseudo_future_targets_read_only_purchases_after_the_cut(data_dir):
    buys = pq.read_table(data_dir / "input" / "product_buy.parquet")
    ts = np.array([dt.datetime.fromisoformat(str(t)) for t in buys.column("timestamp").to_pylist()])
    client, sku = buys.column("client_id").to_numpy(), buys.column("sku").to_numpy()
    cut = max(ts) - dt.timedelta(days=7)
    clients = np.unique(client)
    listed = np.unique(sku)[:5]
    data = open_data(data_dir, window="input", settings=SETTINGS)
    try:
        use_clients(data, clients)
        got = fetch_targets(data, cut, 0, len(clients), {"sku": listed})
    finally:
        data.close()
    after = ts >= cut
    assert 0 < after.sum() < len(ts)
    assert np.array_equal(got.no_buy, (~np.isin(clients, client[after])).astype(np.float32))
    expected = np.zeros((len(clients), 5), dtype=np.float32)
    for c, s in zip(client[after], sku[after]):
        if s in listed:
            expected[np.searchsorted(clients, c), np.searchsorted(listed, s)] = 1
    assert np.array_equal(got.lists["sku"], expected)


def test_default_width_and_options():
    opts = get_recipe("learned").resolve({})
    names = get_recipe("learned").columns(opts)
    assert len(names) <= MAX_COLUMNS and len(set(names)) == len(names)
    assert len(names) == 1828 + 16 + 2 + 202  # universal without its url blocks, the encoder's columns
    assert names[-202:] == [f"encoder.{k}.{s}" for k in ("sku", "new_sku") for s in ("level", *range(100))]
    assert opts["level"] == "category,sku,new_sku,price"
    raw_new = encoder_columns(check_options({**opts, "level": "sku"}))
    assert raw_new[-100:] == [f"encoder.new_sku.{s}" for s in range(100)]  # the new-sku slots raw
    assert len(get_recipe("learned").columns(
        check_options({"top_urls": 50, "url_dim": 64, "dim": 32, "heads": "binary"}))) == 1992 + 32 + 2
    assert len(encoder_columns(check_options({"base": "none", "heads": "binary,category,sku,new_sku,price",
                                              "dim": 8}))) == 414
    assert len(encoder_columns(check_options({"base": "none", "heads": "sku", "dim": 8, "level": "false"}))) == 108
    assert check_options({"level": "new_sku,sku"})["level"] == "sku,new_sku"
    assert check_options({"level": ["new_sku", "sku"]})["level"] == "sku,new_sku"  # a list, as heads takes
    assert check_options({"level": False})["level"] == "" and check_options({"level": "none"})["level"] == ""
    assert check_options({"level": True})["level"] == check_options({"level": "all"})["level"] == opts["level"]
    with pytest.raises(ValueError, match="level lists 'churn'"):
        check_options({"level": "churn"})
    with pytest.raises(ValueError, match="centre must be 'empty' or 'mean'"):
        check_options({"centre": "median"})
    with pytest.raises(ValueError, match="unknown head 'brand'"):
        check_options({"heads": "sku,brand"})
    with pytest.raises(ValueError, match="at most 2048"):
        check_options({"top_urls": 50, "url_dim": 64})
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        check_options({"epochs": 0})


def test_a_head_with_nothing_to_learn_does_not_pick_the_epoch_for_the_others():
    from ubm.profiles.recipes.learned.train import group_scores, relative_losses

    # sku's base rate loses 1e-7 (no validation positive): divided by it, 5e-7 would be 5.0
    # and outweigh churn and conversion; it is left out and its group follows "rep"
    val = {"churn": 0.30, "conversion": 0.45, "sku": 5e-7}
    constant = {"churn": 0.60, "conversion": 0.50, "sku": 1e-7}
    relative = relative_losses(val, constant)
    assert relative == pytest.approx({"churn": 0.5, "conversion": 0.9})
    groups = group_scores(relative)
    assert groups["rep"] == pytest.approx(0.7) and groups["binary"] == pytest.approx(0.7)
    assert "sku" not in groups
    # with something to learn (a rare positive: base-rate loss 2e-3) the head counts
    assert relative_losses({"sku": 1e-3}, {"sku": 2e-3}) == pytest.approx({"sku": 0.5})
    assert group_scores({}) == {"rep": 0.0}
