"""Two-source verdicts (ubm.evaluation.seeds): paired seeds, resampled clients within each."""

from __future__ import annotations

import numpy as np
import pytest

from ubm.data.io import DataError
from ubm.evaluation.seeds import combine, compare_seeded, spread
from ubm.evaluation.significance import Predictions, compare


def _binary(logits: np.ndarray, labels: np.ndarray) -> Predictions:
    return Predictions(task="churn", kind="binary", client_ids=np.arange(len(labels), dtype=np.int64),
                       logits=logits.astype(np.float32)[:, None], labels=labels.astype(np.uint8)[:, None],
                       popularity=None)


def test_combine_on_paper():
    first = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    second = np.zeros_like(first)
    d = combine("churn", "a", "b", first, second, np.array([0.25, 0.65]), np.zeros(2), level=0.5)
    assert d.point == pytest.approx(0.25)  # the official seed's difference
    assert d.mean == pytest.approx(0.45)
    assert d.client_var == pytest.approx(0.0125)  # each seed: var of 4 values spaced 0.1
    assert d.seed_var == pytest.approx(0.08)  # (0.25 - 0.65)**2 / 2
    assert d.dominant == "seeds"
    assert (d.low, d.high) == pytest.approx(tuple(np.quantile(first.ravel(), [0.25, 0.75])))
    assert d.verdict == "better"
    with pytest.raises(DataError, match="same seeds"):
        combine("churn", "a", "b", first, second[:1], np.zeros(2), np.zeros(1), level=0.5)


def test_spread():
    s = spread([0.7, 0.8, 0.9])
    assert s.scores == (0.7, 0.8, 0.9) and s.mean == pytest.approx(0.8) and s.sd == pytest.approx(0.1)
    assert spread([0.7]).sd == 0.0


def _case(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.4
    good = labels * 1.0 + rng.standard_normal(n)
    weak = labels * 0.5 + rng.standard_normal(n)
    return labels, good, weak


def test_identical_seeds_are_the_client_bootstrap():
    labels, good, weak = _case()
    a, b = _binary(good, labels), _binary(weak, labels)
    spreads, (diff,) = compare_seeded({"a": {"churn": [a, a, a]}, "b": {"churn": [b, b, b]}}, resamples=200)
    (plain,) = compare({"a": {"churn": a}, "b": {"churn": b}}, resamples=200).differences
    assert diff.seed_var == 0.0 and diff.dominant == "clients"
    assert (diff.point, diff.low, diff.high) == pytest.approx((plain.point, plain.low, plain.high))
    assert diff.verdict == plain.verdict == "better"
    assert spreads["a"]["churn"].sd == 0.0


def test_a_lucky_official_seed_is_not_a_verdict():
    # many clients (little client noise); b's seeds are all like a's except the official one,
    # which is much better: seeds dominate and the pooled interval contains 0.
    labels, good, weak = _case(n=900, seed=1)
    rng = np.random.default_rng(2)
    a = [_binary(weak + 0.3 * rng.standard_normal(len(labels)), labels) for _ in range(4)]
    b = [_binary(good, labels)] + [_binary(weak + 0.3 * rng.standard_normal(len(labels)), labels) for _ in range(3)]
    spreads, (diff,) = compare_seeded({"b": {"churn": b}, "a": {"churn": a}}, resamples=200)
    (official,) = compare({"b": {"churn": b[0]}, "a": {"churn": a[0]}}, resamples=200).differences
    assert official.verdict == "better"  # one seed each: the lucky seed looks like a real difference
    assert diff.point == pytest.approx(official.point)
    assert diff.dominant == "seeds" and diff.seed_var > diff.client_var
    assert diff.low < 0 < diff.high and diff.verdict == "not distinguishable"
    assert spreads["b"]["churn"].scores[0] == pytest.approx(official.point + spreads["a"]["churn"].scores[0])


def test_runs_with_different_seed_counts_are_refused():
    labels, good, weak = _case()
    a, b = _binary(good, labels), _binary(weak, labels)
    with pytest.raises(DataError, match="same seeds"):
        compare_seeded({"a": {"churn": [a, a]}, "b": {"churn": [b]}}, resamples=20)
