"""Per-task label matrices (docs/tasks.md) on the worked example, plus the loader and atomicity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests import split_fixture as fx
from ubm.prepare import targets as targets_mod
from ubm.cli import main
from ubm.data.io import DataError
from ubm.prepare.lists import build_lists
from ubm.prepare.split import split
from ubm.ownership import MANIFEST, is_temp_name
from ubm.prepare.targets import TASKS, build_targets, load_task


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = fx.make(tmp_path_factory.mktemp("t") / "d")
    split(root)
    build_lists(root)
    out = root / "labels"
    build_targets(root, out)
    return root, out


def col(matrix, j=0):
    return matrix[:, j].tolist()


def test_binary_tasks(prepared):
    _, out = prepared
    conv = load_task(out, "conversion")
    assert conv.kind == "binary" and conv.popularity is None
    assert conv.client_ids.tolist() == fx.RELEVANT and conv.client_ids.dtype == np.int64
    assert conv.train.dtype == np.uint8 and conv.train.shape == (6, 1)
    # relevant order 10 20 30 40 50 60; 1 = no purchase in the window
    assert col(conv.train) == [0, 0, 1, 1, 1, 1]
    assert col(conv.validation) == [1, 0, 0, 1, 1, 1]
    churn = load_task(out, "churn")
    assert churn.client_ids.tolist() == fx.ACTIVE  # 10, 40
    assert col(churn.train) == [0, 1]  # 40 is active and buys nothing later: label 1
    assert col(churn.validation) == [1, 1]


def test_propensity_tasks(prepared):
    _, out = prepared
    sku = load_task(out, "propensity_sku")
    assert sku.kind == "propensity"
    assert sku.labels.tolist() == fx.LIST_SKU[0] and sku.popularity.tolist() == fx.LIST_SKU[1]
    train = np.zeros((6, 3), np.uint8)
    train[0, 0] = 1  # client 10 bought sku 1 twice: still 1
    train[1, 1] = 1  # client 20 bought sku 3
    assert (sku.train == train).all()  # client 99's sku 4 is not a relevant client's
    valid = np.zeros((6, 3), np.uint8)
    valid[2, 0] = 1  # client 30 bought sku 1; sku 2 is not listed
    assert (sku.validation == valid).all()

    new = load_task(out, "propensity_new_sku")
    assert new.labels.tolist() == [4] and new.train.sum() == 0 and new.validation.sum() == 0

    cat = load_task(out, "propensity_category")
    assert cat.labels.tolist() == [100, 300]
    assert col(cat.train, 0) == [1, 1, 0, 0, 0, 0] and cat.train[:, 1].sum() == 0
    assert col(cat.validation, 0) == [0, 0, 1, 0, 0, 0]

    price = load_task(out, "propensity_price")
    assert price.labels.tolist() == [5, 9]
    assert price.train.tolist() == [[1, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0]]
    assert price.validation.tolist() == [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0], [0, 0]]


def test_summary(prepared):
    _, out = prepared
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["tasks"]) == list(TASKS)
    s = summary["tasks"]["propensity_sku"]
    assert s["clients"] == 6 and s["labels"] == 3
    assert s["positives"] == {"train": 2, "validation": 1}
    assert s["labels_without_positive"] == {"train": 1, "validation": 2}
    assert summary["tasks"]["churn"]["clients"] == 2
    assert summary["tasks"]["conversion"]["positives"] == {"train": 4, "validation": 4}


def test_client_ids_file_order(prepared, tmp_path):
    root, _ = prepared
    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([40, 99, 20, 10], dtype=np.int64))  # another order, a non-relevant client
    out = tmp_path / "labels"
    build_targets(root, out, client_ids=ids)
    conv = load_task(out, "conversion")
    assert conv.client_ids.tolist() == [40, 99, 20, 10]
    assert col(conv.train) == [1, 0, 0, 0]
    churn = load_task(out, "churn")
    assert churn.client_ids.tolist() == [40, 10] and col(churn.validation) == [1, 1]
    sku = load_task(out, "propensity_sku")
    assert sku.train.tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]


def test_interrupted_targets_leave_previous_output(prepared, tmp_path, monkeypatch):
    root, _ = prepared
    out = tmp_path / "labels"
    build_targets(root, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real = targets_mod._labels_for

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(targets_mod, "_labels_for", failing)
    with pytest.raises(RuntimeError):
        build_targets(root, out, client_ids=None)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if is_temp_name(p.name)] == []


def test_missing_lists_point_to_ubm_lists(tmp_path):
    root = fx.make(tmp_path / "d")
    split(root)
    with pytest.raises(DataError, match="ubm lists"):
        build_targets(root, tmp_path / "labels")


def test_load_task_checks(prepared, tmp_path):
    _, out = prepared
    with pytest.raises(DataError, match="unknown task"):
        load_task(out, "hidden1")
    with pytest.raises(DataError, match="no labels"):
        load_task(tmp_path, "churn")
    broken = tmp_path / "broken"
    (broken / "churn").mkdir(parents=True)
    for name in ("client_ids", "labels"):
        np.save(broken / "churn" / f"{name}.npy", np.load(out / "churn" / f"{name}.npy"))
    np.save(broken / "churn" / "train.npy", np.zeros((5, 1), np.uint8))
    np.save(broken / "churn" / "validation.npy", np.zeros((2, 1), np.uint8))
    with pytest.raises(DataError, match="train.npy"):
        load_task(broken, "churn")


def test_cli_targets(prepared, tmp_path):
    root, _ = prepared
    out = tmp_path / "cli-labels"
    result = CliRunner().invoke(main, ["targets", "--data-dir", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "propensity_price" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(list(TASKS) + [MANIFEST, "stamp.json", "summary.json"])
