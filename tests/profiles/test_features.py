"""Entry export: files, metadata, atomic replacement, refusals, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.fixtures import write_dataset, write_events
from ubm.cli import main
from ubm.profiles.features import export_features
from ubm.profiles.recipes import RECIPES, Recipe, register
from ubm.data.io import DataError
from ubm.profiles.validate import validate_entry
from ubm.ownership import OutputError, write_manifest


def small_data(root: Path, relevant=(5, 3, 4), with_input: bool = True) -> Path:
    buys = [(3, "2022-06-01 00:00:00", 100), (5, "2022-06-02 00:00:00", 101)]
    write_dataset(root, relevant=list(relevant), properties=[(100, 1, 10), (101, 2, 20)], product_buy=buys,
                  page_visit=[(4, "2022-06-01 00:00:00", 9)])
    if with_input:
        for event, column in (("product_buy", "sku"), ("add_to_cart", "sku"), ("remove_from_cart", "sku"),
                              ("page_visit", "url"), ("search_query", "query")):
            write_events(root / "input" / f"{event}.parquet", buys if event == "product_buy" else [], column)
    return root


def test_entry_files_and_metadata(tmp_path):
    root = small_data(tmp_path / "d")
    result = export_features(root, tmp_path / "e")
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [".ubm-manifest.json", "client_ids.npy",
                                                                "columns.json", "embeddings.npy"]
    meta = json.loads((tmp_path / "e" / "columns.json").read_text())
    assert meta["recipe"] == "baseline" and meta["source"] == "input"
    assert meta["options"] == {"windows": [1, 7, 30], "top_n": 10}
    assert meta["n_rows"] == 3 and meta["n_columns"] == 320 == len(meta["columns"])
    files = meta["fingerprint"]["files"]
    assert files["product_buy"]["path"] == "input/product_buy.parquet" and files["product_buy"]["rows"] == 2
    assert files["relevant_clients"]["rows"] == 3
    assert result.n_rows == 3 and result.n_columns == 320
    assert validate_entry(root, tmp_path / "e").ok
    # page_visit of client 4 is not in the input window: zero
    emb = np.load(tmp_path / "e" / "embeddings.npy")
    assert emb[2, meta["columns"].index("page_visit.count")] == 0
    assert emb[0, meta["columns"].index("product_buy.count")] == 1


def test_fingerprint_changes_with_the_data(tmp_path):
    root = small_data(tmp_path / "d")
    export_features(root, tmp_path / "e1")
    write_events(root / "input" / "page_visit.parquet", [(4, "2022-06-01 00:00:00", 9)], "url")
    export_features(root, tmp_path / "e2")
    fp1 = json.loads((tmp_path / "e1" / "columns.json").read_text())["fingerprint"]
    fp2 = json.loads((tmp_path / "e2" / "columns.json").read_text())["fingerprint"]
    assert fp1["sha256"] != fp2["sha256"]
    assert fp1["files"]["page_visit"]["rows"] == 0 and fp2["files"]["page_visit"]["rows"] == 1


def test_missing_input_window_names_the_file_and_the_way_out(tmp_path):
    root = small_data(tmp_path / "d", with_input=False)
    with pytest.raises(DataError, match=r"input/product_buy\.parquet.*--source all"):
        export_features(root, tmp_path / "e")
    assert not (tmp_path / "e").exists()
    export_features(root, tmp_path / "e", source="all")
    assert (tmp_path / "e" / "embeddings.npy").is_file()


def test_duplicate_relevant_clients_are_refused(tmp_path):
    root = small_data(tmp_path / "d", relevant=(5, 3, 5))
    with pytest.raises(DataError, match="1 client id.*more than once, e.g. 5"):
        export_features(root, tmp_path / "e")


def _failing_build(data, clients, options, out):
    out.write(0, np.full((len(clients), 1), 7.0))
    raise RuntimeError("recipe broke half way")


@pytest.fixture
def failing_recipe():
    register(Recipe("test_failing", "fails after writing", {}, lambda o: ["x"], _failing_build))
    yield "test_failing"
    RECIPES.pop("test_failing")


def test_failed_export_leaves_the_old_entry_intact(tmp_path, failing_recipe):
    root = small_data(tmp_path / "d")
    export_features(root, tmp_path / "e")
    before = {p.name: p.read_bytes() for p in (tmp_path / "e").iterdir()}
    with pytest.raises(RuntimeError, match="half way"):
        export_features(root, tmp_path / "e", recipe=failing_recipe)
    assert {p.name: p.read_bytes() for p in (tmp_path / "e").iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["d", "e"]  # no temporary directory left behind


def test_successful_export_replaces_the_whole_entry(tmp_path):
    root = small_data(tmp_path / "d")
    export_features(root, tmp_path / "e")
    (tmp_path / "e" / "stale.txt").write_text("from an older run")
    with pytest.raises(OutputError, match="holds stale.txt, which ubm did not write"):  # not ubm's
        export_features(root, tmp_path / "e", options={"windows": [1], "top_n": 1})
    write_manifest(tmp_path / "e", "entry")  # now listed as ubm's (as an older run's file would be)
    export_features(root, tmp_path / "e", options={"windows": [1], "top_n": 1})
    assert not (tmp_path / "e" / "stale.txt").exists()
    assert np.load(tmp_path / "e" / "embeddings.npy").shape == (3, 3 * (1 + 3) + (1 + 1) + 16)
    assert sorted(os.listdir(tmp_path)) == ["d", "e"]


def test_a_registered_recipe_is_exported(tmp_path):
    def build(data, clients, options, out):
        out.write(0, np.arange(len(clients)) * options["scale"])
        return {"built": True}
    register(Recipe("test_scaled", "row numbers", {"scale": 2}, lambda o: ["row"], build))
    try:
        root = small_data(tmp_path / "d")
        result = export_features(root, tmp_path / "e", recipe="test_scaled", options={"scale": 3})
    finally:
        RECIPES.pop("test_scaled")
    assert np.load(tmp_path / "e" / "embeddings.npy")[:, 0].tolist() == [0, 3, 6]
    assert result.info == {"built": True}


def test_refuses_to_replace_a_directory_that_is_not_an_entry(tmp_path):
    root = small_data(tmp_path / "d")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a directory ubm wrote .* holds keep.txt"):
        export_features(root, tmp_path / "notes")
    with pytest.raises(OutputError, match="replace the data directory"):
        export_features(root, root)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_too_many_columns_is_refused_before_any_work(tmp_path):
    root = small_data(tmp_path / "d")
    with pytest.raises(ValueError, match="gives 3020 columns; an entry holds 1..2048"):
        export_features(root, tmp_path / "e", options={"windows": [1, 7, 30], "top_n": 100})
    assert not (tmp_path / "e").exists()


def test_cli_features_then_validate(tmp_path):
    root = small_data(tmp_path / "d")
    runner = CliRunner()
    res = runner.invoke(main, ["features", "--data-dir", str(root), "--out", str(tmp_path / "e"),
                               "--windows", "1,7", "--top-n", "3"])
    assert res.exit_code == 0, res.output
    assert "3 clients x 80 columns" in res.output  # 3 * (1 + 2*3*3) + (1 + 2*3) + 16
    res = runner.invoke(main, ["validate", "--data-dir", str(root), "--embeddings-dir", str(tmp_path / "e")])
    assert res.exit_code == 0 and "entry ok: 3 clients x 80 columns" in res.output
    res = runner.invoke(main, ["features", "--data-dir", str(root), "--out", str(tmp_path / "e"), "--top-n", "0"])
    assert res.exit_code == 2 and "top_n must be >= 1" in res.output
    res = runner.invoke(main, ["features", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 1 and "data directory not found" in res.output
