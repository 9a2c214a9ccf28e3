"""Profile models (`ubm fit`, `ubm features --model`): exactness, new clients and items, contract, drift.

On a tiny generated dataset (600 clients, 50 relevant, 60 days): applying fit(D) to D gives the
bytes of `ubm features --recipe R` on D for the three recipes; clients unseen at fit get rows
computed with the fitted state; skus unseen at fit reach the profile only through their
category and name; another label list, option set or format is refused by name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ubm.cli import main as ubm_main
from ubm.data.io import Settings
from ubm.profiles.model import (ARRAYS_FILE, MODEL_FILE, apply_model, column_blocks, column_statistics, fit_model,
                                load_model)
from ubm.profiles.state import ModelError

SETTINGS = Settings(threads=1, progress_bar=False)
FAST = ["-o", "epochs=2", "-o", "train_clients=400", "-o", "candidates=20", "-o", "embed=8", "-o", "hidden=16",
        "-o", "dim=4", "-o", "progress=false"]
RECIPES = {"baseline": [], "universal": [], "learned": FAST}
SKU_EVENTS = ("product_buy", "add_to_cart", "remove_from_cart")
OFFSET = 1_000_000  # added to every sku of the "new items" data: no sku of it was seen at fit


def ubm(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(ubm_main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("model") / "data"
    ubm("generate", "--out", root, "--size", "tiny", "--days", "60", "--seed", "5")
    ubm("split", "--data-dir", root)
    ubm("lists", "--data-dir", root)
    return root


@pytest.fixture(scope="module")
def fitted(data_dir, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Per recipe: (the model fitted on D, the entry `ubm features --recipe` writes on D)."""
    work = tmp_path_factory.mktemp("fitted")
    out = {}
    for recipe, options in RECIPES.items():
        ubm("fit", "--data-dir", data_dir, "--recipe", recipe, *options, "--out", work / f"m-{recipe}")
        ubm("features", "--data-dir", data_dir, "--recipe", recipe, *options, "--out", work / f"e-{recipe}")
        out[recipe] = (work / f"m-{recipe}", work / f"e-{recipe}")
    return out


def embeddings(entry: Path) -> np.ndarray:
    return np.load(entry / "embeddings.npy")


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_apply_to_the_fitted_data_gives_the_bytes_of_features_recipe(recipe, fitted, data_dir, tmp_path):
    model, reference = fitted[recipe]
    printed = ubm("features", "--data-dir", data_dir, "--model", model, "--out", tmp_path / "e")
    for name in ("embeddings.npy", "client_ids.npy"):
        assert (tmp_path / "e" / name).read_bytes() == (reference / name).read_bytes(), name
    meta = json.loads((tmp_path / "e" / "columns.json").read_text())
    blocks = load_model(model).meta["blocks"]
    # drift on the fitted data itself: nothing moved, one printed line per block
    assert [d["name"] for d in meta["drift"]] == [b["name"] for b in blocks]
    assert all(d["mean_shift_sd"] == 0.0 for d in meta["drift"])
    assert sum(line.startswith("drift ") for line in printed.splitlines()) == len(blocks)
    assert meta["recipe"] == recipe and meta["model"]["path"] == str(model.resolve())


def test_model_directory_is_json_and_numeric_arrays(fitted, data_dir):
    model, reference = fitted["learned"]
    meta = json.loads((model / MODEL_FILE).read_text())
    assert meta["format"] == "ubm-profile-model" and meta["format_version"] == 1
    assert meta["columns"] == json.loads((reference / "columns.json").read_text())["columns"]
    assert meta["fitted"]["fingerprint"]["files"]["relevant_clients"]["path"] == "input/relevant_clients.npy"
    with np.load(model / ARRAYS_FILE, allow_pickle=False) as npz:  # no object arrays: loads without pickle
        assert all(npz[k].dtype.kind in "biuf" for k in npz.files)
    keys = set(meta["arrays"])
    assert {"universal/learned/als.sku/factors", "universal/learned/als.sku/items", "learned/catalog.vocabulary",
            "learned/export.moments", "universal/lists.propensity_sku"} <= keys
    assert any(k.startswith("learned/encoder/model0.") for k in keys)
    assert json.loads((model / ".ubm-manifest.json").read_text())["kind"] == "model"


def _drop_lists(root: Path) -> None:
    """Remove the lists `ubm lists` built (and their stamp): the model's lists then apply."""
    for path in (root / "target").glob("*.npy"):
        path.unlink()
    (root / ".ubm" / "lists.json").unlink(missing_ok=True)


def _new_clients(data_dir: Path, dst: Path) -> np.ndarray:
    """D with 20 more relevant clients (clients with events but not relevant at fit), lists removed
    (the model's lists then apply)."""
    shutil.copytree(data_dir, dst)
    old = np.load(data_dir / "input" / "relevant_clients.npy")
    seen = pc.unique(pq.read_table(data_dir / "input" / "page_visit.parquet")["client_id"]).to_numpy()
    new = np.setdiff1d(seen, old)[:20]
    assert len(new) == 20
    np.save(dst / "input" / "relevant_clients.npy", np.concatenate([old, new]))
    _drop_lists(dst)
    return new


@pytest.mark.parametrize("recipe", ["universal", "learned"])
def test_new_clients_get_rows_and_old_clients_keep_theirs(recipe, fitted, data_dir, tmp_path):
    model, reference = fitted[recipe]
    new = _new_clients(data_dir, tmp_path / "d2")
    ubm("features", "--data-dir", tmp_path / "d2", "--model", model, "--out", tmp_path / "e")
    got, ref = embeddings(tmp_path / "e"), embeddings(reference)
    n_old = len(ref)
    assert got.shape == (n_old + len(new), ref.shape[1]) and np.isfinite(got).all()
    assert np.abs(got[n_old:]).sum(axis=1).min() > 0  # every new client has events, so a non-zero row
    # statistics are scaled with the fitted spreads and ALS clients fold in one row at a time, so the
    # clients of the fit keep their rows (the encoder's batches may round a float16 step apart)
    np.testing.assert_allclose(got[:n_old].astype(np.float32), ref.astype(np.float32), atol=2e-2, rtol=1e-2)
    names = load_model(model).meta["columns"]
    sql_cols = [i for i, c in enumerate(names) if not c.startswith(("learned.", "encoder."))]
    assert np.array_equal(got[:n_old, sql_cols], ref[:, sql_cols])


def _new_skus(data_dir: Path, dst: Path) -> None:
    """D where every sku event names a product unseen at fit (sku + OFFSET) with the properties
    (category, price, name) of the product it replaces."""
    shutil.copytree(data_dir, dst)
    for event in SKU_EVENTS:
        path = dst / f"{event}.parquet"
        table = pq.read_table(path)
        i = table.schema.get_field_index("sku")
        pq.write_table(table.set_column(i, table.schema.field(i), pc.add(table["sku"], OFFSET)), path)
    props = pq.read_table(dst / "product_properties.parquet")
    moved = props.set_column(0, props.schema.field(0), pc.add(props["sku"], OFFSET))
    pq.write_table(pa.concat_tables([props, moved]), dst / "product_properties.parquet")
    ubm("split", "--data-dir", dst)
    _drop_lists(dst)


def test_unseen_skus_count_through_their_category_only(fitted, data_dir, tmp_path):
    model, reference = fitted["universal"]
    _new_skus(data_dir, tmp_path / "d2")
    printed = ubm("features", "--data-dir", tmp_path / "d2", "--model", model, "--out", tmp_path / "e")
    got, ref = embeddings(tmp_path / "e"), embeddings(reference)
    names = load_model(model).meta["columns"]
    col = {c: i for i, c in enumerate(names)}
    sku_factors = [i for c, i in col.items() if c.startswith("learned.sku.")]
    cat_factors = [i for c, i in col.items() if c.startswith("learned.category.")]
    listed_skus = [i for c, i in col.items() if c.startswith("list.propensity_sku.")]
    assert ref[:, sku_factors].any() and not got[:, sku_factors].any()  # no known sku: the neutral zero row
    assert not got[:, listed_skus].any()  # the listed skus were never bought or carted here
    np.testing.assert_allclose(got[:, cat_factors].astype(np.float32), ref[:, cat_factors].astype(np.float32),
                               atol=1e-2)  # same categories: same category factors
    meta = json.loads((tmp_path / "e" / "columns.json").read_text())
    drift = {d["name"]: d for d in meta["drift"]}
    assert drift["learned"]["mean_shift_sd"] > 0 and drift["activity.page_visit"]["mean_shift_sd"] == 0
    assert "drift learned: mean shift" in printed


def test_learned_applies_to_unseen_skus(fitted, data_dir, tmp_path):
    model, reference = fitted["learned"]
    _new_skus(data_dir, tmp_path / "d2")
    apply_model(model, tmp_path / "d2", tmp_path / "e", settings=SETTINGS)
    got = embeddings(tmp_path / "e")
    assert got.shape == embeddings(reference).shape and np.isfinite(got).all()


def test_other_label_list_is_refused_by_name(fitted, data_dir, tmp_path):
    model, _ = fitted["universal"]
    shutil.copytree(data_dir, tmp_path / "d2")
    listed = np.load(tmp_path / "d2" / "target" / "propensity_sku.npy")
    np.save(tmp_path / "d2" / "target" / "propensity_sku.npy", listed[::-1].copy())
    out = ubm("features", "--data-dir", tmp_path / "d2", "--model", model, "--out", tmp_path / "e", code=1)
    assert out.startswith("error: ") and "propensity_sku.npy" in out and "fitted with" in out
    assert not (tmp_path / "e").exists()


def test_other_options_or_format_are_refused(fitted, data_dir, tmp_path):
    model, _ = fitted["baseline"]
    shutil.copytree(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / MODEL_FILE).read_text())
    meta["options"]["top_n"] = 3  # columns differ from what the model's state was fitted for
    (tmp_path / "m" / MODEL_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="columns"):
        apply_model(tmp_path / "m", data_dir, tmp_path / "e", settings=SETTINGS)
    meta["options"]["top_n"] = 10
    meta["format_version"] = 99
    (tmp_path / "m" / MODEL_FILE).write_text(json.dumps(meta))
    out = ubm("features", "--data-dir", data_dir, "--model", tmp_path / "m", "--out", tmp_path / "e", code=1)
    assert out.startswith("error: ") and "v99" in out
    ubm("features", "--data-dir", data_dir, "--model", data_dir, "--out", tmp_path / "e", code=2)
    out = ubm("features", "--data-dir", data_dir, "--model", model, "-o", "top_n=3", "--out", tmp_path / "e", code=2)
    assert "drop --option" in out


def test_fit_refuses_an_entry_as_out_and_python_api(fitted, data_dir, tmp_path):
    _, reference = fitted["baseline"]
    out = ubm("fit", "--data-dir", data_dir, "--out", reference, code=2)
    assert "not a profile model" in out
    result = fit_model(data_dir, "baseline", tmp_path / "m", settings=SETTINGS, top_n=2)
    # 3 sku event types x (1 + 3 windows x 3 columns x 2) + page visits 1 + 3 x 2 + 16 query dims
    assert result.n_columns == len(load_model(tmp_path / "m").meta["columns"]) == 3 * 19 + 7 + 16
    applied = apply_model(tmp_path / "m", data_dir, tmp_path / "e", settings=SETTINGS)
    assert applied.n_columns == result.n_columns and [d.name for d in applied.drift][:1] == ["product_buy"]


def test_column_blocks():
    names = ["a.x", "a.y", "encoder.rep.0", "encoder.churn", "encoder.conversion", "encoder.sku.level"]
    blocks = column_blocks("baseline", {"clip": 10.0}, names)
    assert [(b["name"], b["start"], b["stop"]) for b in blocks] == [
        ("a", 0, 2), ("encoder.rep", 2, 3), ("encoder.binary", 3, 5), ("encoder.sku", 5, 6)]


def test_column_statistics_on_paper(tmp_path):
    # one column clipped at 3.3 (no float32 or float16 is 3.3): 3.30078 and -3.3105 are at or
    # beyond it, 3.29883 is not; mean and spread of the four float16 values as written
    values = np.array([3.3, 3.298, -3.31, 1.0], dtype=np.float16)
    np.save(tmp_path / "e.npy", values[:, None])
    stats = column_statistics(tmp_path / "e.npy", [{"name": "b", "start": 0, "stop": 1, "clip": 3.3}])
    exact = values.astype(np.float64)
    assert stats["clipped"].tolist() == [0.5]
    assert stats["mean"][0] == pytest.approx(exact.mean(), abs=1e-15)
    assert stats["std"][0] == pytest.approx(exact.std(), rel=1e-12)
