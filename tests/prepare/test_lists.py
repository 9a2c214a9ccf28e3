"""The label lists of docs/tasks.md §3: definitions, ties at the cut, given files kept."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from tests import split_fixture as fx
from tests.fixtures import write_dataset
from ubm.cli import main
from ubm.data.io import DataError
from ubm.prepare.lists import build_lists
from ubm.prepare.split import split


def load(root, name):
    array = np.load(root / "target" / f"{name}.npy")
    assert array.dtype == np.int64
    return array.tolist()


@pytest.fixture
def split_root(tmp_path):
    root = fx.make(tmp_path / "d")
    split(root)
    return root


def test_lists_on_the_worked_example(split_root):
    result = build_lists(split_root)
    assert load(split_root, "active_clients") == fx.ACTIVE
    for task, (values, counts) in {
        "propensity_sku": fx.LIST_SKU, "propensity_new_sku": fx.LIST_NEW_SKU,
        "propensity_category": fx.LIST_CATEGORY, "propensity_price": fx.LIST_PRICE,
    }.items():
        assert load(split_root, task) == values, task
        assert load(split_root, f"popularity_{task}") == counts, task
    assert "propensity_sku.npy" in result.built and result.kept == []


def test_given_files_are_kept_and_force_rebuilds(split_root):
    target = split_root / "target"
    target.mkdir(exist_ok=True)
    np.save(target / "propensity_sku.npy", np.array([4, 2, 1], dtype=np.int64))  # no popularity file
    np.save(target / "active_clients.npy", np.array([30], dtype=np.int64))
    result = build_lists(split_root)
    assert load(split_root, "propensity_sku") == [4, 2, 1]
    # popularity built for the given list, in its order; sku 2 never bought in the train window
    assert load(split_root, "popularity_propensity_sku") == [1, 0, 2]
    assert load(split_root, "active_clients") == [30]
    assert "propensity_sku.npy" in result.kept and "popularity_propensity_sku.npy" in result.built
    assert load(split_root, "propensity_category") == fx.LIST_CATEGORY[0]

    build_lists(split_root, force=True)
    assert load(split_root, "propensity_sku") == fx.LIST_SKU[0]
    assert load(split_root, "popularity_propensity_sku") == fx.LIST_SKU[1]
    assert load(split_root, "active_clients") == fx.ACTIVE


def test_top_100_ties_at_the_cut_and_new_skus(tmp_path):
    # train window: 90 skus bought 3 times, 60 skus bought twice (ties straddle the cut at 100),
    # written in descending id order so file order and id order disagree.
    three = list(range(589, 499, -1))
    two = [2000 - 7 * i for i in range(60)]
    old = [three[0], two[-1]]  # bought in the input window too: never new
    buys = [(1, "2022-01-01 00:00:00", s) for s in old]
    t = 0
    for sku, times in [(s, 3) for s in three] + [(s, 2) for s in two]:
        for _ in range(times):
            t += 1
            buys.append((1000 + t, f"2022-03-{1 + t % 14:02d} 10:00:00", sku))
    buys.append((7, "2022-03-30 00:00:00", three[0]))  # sets end = 2022-03-30; train = [03-03, 03-17)
    buys = [b for b in buys if not ("2022-03-01" <= b[1] < "2022-03-03")]
    # recompute what survives in the train window to keep the answer honest
    train = [b for b in buys if "2022-03-03" <= b[1] < "2022-03-17"]
    counts: dict[int, int] = {}
    for _, _, sku in train:
        counts[sku] = counts.get(sku, 0) + 1
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
    expected_new = sorted(((s, n) for s, n in counts.items() if s not in old),
                          key=lambda kv: (-kv[1], kv[0]))[:100]
    skus = sorted({b[2] for b in buys})
    properties = [(s, s % 13, s % 100) for s in skus]
    root = write_dataset(tmp_path / "d", relevant=[1, 7], properties=properties, product_buy=buys)
    split(root)
    build_lists(root)
    assert len(counts) > 100
    # the cut falls inside a group of equal counts
    assert sum(1 for n in counts.values() if n == expected[99][1]) > sum(
        1 for _, n in expected if n == expected[99][1])
    assert load(root, "propensity_sku") == [s for s, _ in expected]
    assert load(root, "popularity_propensity_sku") == [n for _, n in expected]
    assert load(root, "propensity_new_sku") == [s for s, _ in expected_new]
    assert not set(old) & set(load(root, "propensity_new_sku"))
    price_counts: dict[int, int] = {}
    for _, _, sku in train:
        price_counts[sku % 100] = price_counts.get(sku % 100, 0) + 1
    assert load(root, "propensity_price") == [p for p, _ in sorted(
        price_counts.items(), key=lambda kv: (-kv[1], kv[0]))][:100]
    assert load(root, "active_clients") == [1]


def test_lists_need_a_split(tmp_path):
    root = fx.make(tmp_path / "d")
    with pytest.raises(DataError, match="input/product_buy.parquet"):
        build_lists(root)


def test_cli_lists(split_root):
    result = CliRunner().invoke(main, ["lists", "--data-dir", str(split_root)])
    assert result.exit_code == 0, result.output
    assert "propensity_new_sku" in result.output and "(built)" in result.output
    result = CliRunner().invoke(main, ["lists", "--data-dir", str(split_root)])
    assert "(given)" in result.output and "(built)" not in result.output


# -- empty lists (docs/tasks.md §3-4): left out and said, skipped by name where a task is trained --

def test_no_new_sku_in_the_train_window_leaves_the_list_out_and_says_why(tmp_path):
    # sku 4, the only new one in the worked example, was also bought in the input window here
    root = fx.make(tmp_path / "d", product_buy=[*fx.PRODUCT_BUY, (99, "2022-09-01 10:00:00", 4)])
    split(root)
    result = CliRunner().invoke(main, ["lists", "--data-dir", str(root)])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("propensity_new_sku"))
    assert "not written" in line and "new" in line, result.output
    assert not (root / "target" / "propensity_new_sku.npy").exists()
    assert load(root, "propensity_sku") == fx.LIST_SKU[0]  # the others as in the worked example


def test_no_active_client_gives_an_empty_active_list_and_a_warning(tmp_path):
    root = fx.make(tmp_path / "d", relevant=[20, 30, 50, 60])  # none of them bought in the input window
    split(root)
    result = build_lists(root)
    assert load(root, "active_clients") == [] and len(result.warnings) == 1
    assert "active_clients.npy is empty" in result.warnings[0]


@pytest.mark.parametrize("task", ["propensity_sku", "propensity_category", "propensity_new_sku", "propensity_price"])
def test_an_empty_given_label_list_is_skipped_by_name_and_reported(split_root, tmp_path, task):
    import json

    from ubm.prepare.targets import build_targets, left_out_tasks, load_task

    build_lists(split_root)
    for name in (task, f"popularity_{task}"):
        np.save(split_root / "target" / f"{name}.npy", np.array([], dtype=np.int64))
    assert set(left_out_tasks(split_root, ("churn", task))) == {task}
    assert f"{task}.npy is empty" in left_out_tasks(split_root, (task,))[task]
    result = CliRunner().invoke(main, ["targets", "--data-dir", str(split_root), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "t" / task).exists()
    assert task in json.loads((tmp_path / "t" / "summary.json").read_text())["skipped"]
    load_task(tmp_path / "t", "churn")  # the other tasks load as before
    check = CliRunner().invoke(main, ["check", "--data-dir", str(split_root)])
    assert check.exit_code == 1 and f"{task}.npy: empty" in check.output
    build_targets(split_root, tmp_path / "t2", tasks=("conversion", task))  # also when asked for alone
