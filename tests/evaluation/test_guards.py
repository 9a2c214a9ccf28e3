"""Numbers with a guard: popularity files of every bad kind are refused by name; shares score
as counts do (the official novelty is scale-invariant); a NaN/inf score is never written."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ubm.data.io import DataError, load_popularity
from ubm.evaluation.metrics import Novelty
from ubm.evaluation.loop import EpochResult, TaskResult
from ubm.evaluation.outputs import write_outputs


@pytest.mark.parametrize("values, expected", [
    (np.array([3, 1, 0, 6], dtype=np.int64), np.int64),
    (np.array([0.3, 0.1, 0.0, 0.6]), np.float64),
    (np.array([0.3, 0.1, 0.0, 0.6], dtype=np.float32), np.float64),
    (np.array([3, 1, 0, 6], dtype=np.uint8), np.int64),
])
def test_numeric_popularity_is_kept(tmp_path, values, expected):
    path = tmp_path / "popularity_x.npy"
    np.save(path, values)
    got = load_popularity(path, 4)
    assert got.dtype == expected
    np.testing.assert_allclose(got, values.astype(np.float64))


def _save_pickled(path):
    np.save(path, np.array([1, "a", None, 2], dtype=object), allow_pickle=True)


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.array([1.0, -0.5, 2.0, 0.0])), "negative"),
    (lambda p: np.save(p, np.array([1, -1, 2, 0])), "negative"),
    (lambda p: np.save(p, np.array([1.0, np.nan, 2.0, 0.0])), "NaN or infinite"),
    (lambda p: np.save(p, np.array([1.0, np.inf, 2.0, 0.0])), "NaN or infinite"),
    (lambda p: np.save(p, np.array([], dtype=np.float64)), "expected 4"),
    (lambda p: np.save(p, np.array([1, 2, 3])), "expected 4"),
    (lambda p: np.save(p, np.ones((2, 2))), "expected 4"),
    (_save_pickled, "numeric"),
    (lambda p: np.save(p, np.array(["a", "b", "c", "d"])), "numeric"),
    (lambda p: np.save(p, np.array([True, False, True, True])), "numeric"),
    (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "numeric"),
    (lambda p: p.write_bytes(b"not an npy file at all"), "numeric"),
])
def test_bad_popularity_is_refused_by_name(tmp_path, make, message):
    path = tmp_path / "popularity_x.npy"
    make(path)
    with pytest.raises(DataError) as err:
        load_popularity(path, 4)
    assert str(path) in str(err.value) and message in str(err.value)


def test_empty_popularity_for_zero_labels_is_read_as_empty(tmp_path):
    # An empty label list (docs/tasks.md §3) has an empty popularity; its task is refused where
    # it is trained (targets.load_task, tests/test_lists.py), not where the files are read.
    path = tmp_path / "popularity_x.npy"
    np.save(path, np.array([], dtype=np.int64))
    assert load_popularity(path, 0).shape == (0,)
    np.save(path, np.array([1], dtype=np.int64))
    with pytest.raises(DataError, match="expected 0 popularity values"):
        load_popularity(path, 0)


def test_novelty_with_shares_equals_counts_and_hand_value():
    counts = np.array([6, 3, 1, 0], dtype=np.int64)
    shares = counts / counts.sum()
    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0], [-3.0, 1.0, 0.0, 4.0]])
    results = []
    for pop in (counts, shares):
        n = Novelty(pop, k=2)
        n.update(logits)
        results.append(float(n.compute()))
    # By hand: popularity / (sum of its top-2 values), k = 2 largest sigmoids per row.
    norm = counts / 9.0
    p = 1 / (1 + np.exp(-logits.numpy().astype(np.float64)))
    mass = 0.0
    for row in p:
        top = np.argsort(row)[-2:]
        mass += float((row[top] * norm[top]).sum())
    expected = (1 - mass / 2) ** 100
    assert results[0] == pytest.approx(results[1], rel=1e-6)
    assert results[0] == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(results[0]) and results[0] > 0


def _result(score: float, novelty: float | None = 0.5) -> TaskResult:
    epoch = EpochResult(epoch=0, auroc=0.6, novelty=novelty, diversity=0.5, score=score, train_loss=0.1,
                        steps=1, train_seconds=0.1, val_seconds=0.1, seconds=0.2, train_samples_per_s=1.0)
    return TaskResult(kind="propensity", epochs=[epoch], best_epoch=0, best_score=score,
                      labels_without_positives=0, labels_without_negatives=0, n_labels=4, n_clients=2,
                      embedding_dim=2, device="cpu", official=True, fast=False, steps=1, seconds=0.2)


@pytest.mark.parametrize("score, novelty, metric", [
    (math.nan, 0.5, "score"), (math.inf, 0.5, "score"), (-math.inf, 0.5, "score"),
    (0.5, math.nan, "novelty"), (0.5, math.inf, "novelty"),
])
def test_non_finite_score_is_never_written(tmp_path, score, novelty, metric):
    out = tmp_path / "run"
    with pytest.raises(DataError) as err:
        write_outputs(out, {"propensity_sku": score}, {"propensity_sku": _result(score, novelty)},
                      tmp_path, tmp_path, False)
    assert "propensity_sku" in str(err.value) and metric in str(err.value)
    assert not (out / "scores.json").exists() and not (out / "metrics.json").exists()
