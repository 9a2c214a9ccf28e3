"""The arithmetic of `ubm ablate` (ubm.evaluation.ablation) on hand-made cases: block ranges
from the recorded accounting, the zeroed variants, and the leave-one-out contributions when
one block is pure noise and another carries the label."""

from __future__ import annotations

import numpy as np
import pytest

from ubm.errors import DataError
from ubm.evaluation.ablation import Block, effects, format_effects, keep_mask, study_blocks, zeroed
from ubm.evaluation.significance import Predictions

TABLE = [{"name": "activity.page_visit", "columns": 2, "seconds": 1.5},
         {"name": "activity.product_buy", "columns": 3, "seconds": 0.5},
         {"name": "funnel", "columns": 1, "seconds": 0.25},
         {"name": "learned.sku", "columns": 2, "seconds": 4.0}]


def test_blocks_group_by_prefix_and_keep_their_columns():
    activity, funnel, learned = study_blocks(TABLE)
    assert activity == Block("activity", ("activity.page_visit", "activity.product_buy"), ((0, 2), (2, 5)), 2.0)
    assert activity.columns == 5 and funnel.ranges == ((5, 6),) and learned.ranges == ((6, 8),)
    (one,) = study_blocks(TABLE, ["activity.product_buy"])
    assert one.ranges == ((2, 5),) and one.seconds == 0.5
    with pytest.raises(DataError, match="no block 'rhythm'.*activity.page_visit, activity.product_buy"):
        study_blocks(TABLE, ["rhythm"])


def test_variants_zero_exactly_the_blocks_columns():
    _, funnel, _ = study_blocks(TABLE)
    x = np.arange(1, 17, dtype=np.float16).reshape(2, 8)
    without = zeroed(x, keep_mask(8, funnel, "without"))
    only = zeroed(x, keep_mask(8, funnel, "only"))
    assert without.dtype == np.float16 and without.shape == x.shape
    assert without[:, 5].tolist() == [0, 0] and np.array_equal(np.delete(without, 5, 1), np.delete(x, 5, 1))
    assert only[:, 5].tolist() == [6, 14] and not np.delete(only, 5, 1).any()
    assert x[0, 5] == 6  # the entry itself is untouched


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney: the share of (positive, negative) pairs ranked right, ties half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def _preds(logits: np.ndarray, labels: np.ndarray) -> Predictions:
    return Predictions(task="churn", kind="binary", client_ids=np.arange(len(labels), dtype=np.int64),
                       logits=logits.astype(np.float32)[:, None], labels=labels.astype(np.uint8)[:, None],
                       popularity=None)


def test_noise_block_contributes_nothing_and_label_block_everything():
    """A two-block entry: "signal" carries the label, "noise" is pure noise. What the fixed model
    makes of each variant is stood in for by its outputs: without the noise block the outputs are
    the full entry's (the noise carried nothing); without the signal block they are noise."""
    rng = np.random.default_rng(3)
    n = 400
    labels = (rng.random(n) < 0.3).astype(np.uint8)
    signal = 2.0 * labels + rng.standard_normal(n)
    noise = rng.standard_normal(n)
    full = {"churn": [_preds(signal, labels)]}
    blocks = study_blocks([{"name": "signal", "columns": 3, "seconds": 1.0},
                           {"name": "noise", "columns": 5, "seconds": 2.0}])
    variants = {("signal", "without"): {"churn": [_preds(noise, labels)]},
                ("noise", "without"): {"churn": [_preds(signal, labels)]},
                ("signal", "only"): {"churn": [_preds(signal, labels)]}}
    got = {(e.block, e.mode): e for e in effects(full, variants, blocks, resamples=200)}

    label_block, noise_block, alone = got["signal", "without"], got["noise", "without"], got["signal", "only"]
    assert label_block.full == pytest.approx(_auroc(signal, labels), abs=1e-6)
    assert label_block.variant == pytest.approx(_auroc(noise, labels), abs=1e-6)
    assert label_block.point == pytest.approx(_auroc(signal, labels) - _auroc(noise, labels), abs=1e-6)
    assert label_block.point > 0.3 and label_block.low > 0 and label_block.verdict == "better"
    assert (label_block.columns, label_block.seconds) == (3, 1.0)
    # identical outputs: every resample's difference is 0, so the interval is [0, 0]
    assert noise_block.point == noise_block.low == noise_block.high == 0.0
    assert noise_block.verdict == "not distinguishable" and noise_block.columns == 5
    assert alone.point == 0.0 and alone.full == alone.variant  # the label block alone is the full entry

    table = format_effects(list(got.values()), 0.95)
    assert "helps" in table and "no measurable effect" in table


def test_two_seeds_pair_and_a_seed_spread_is_counted():
    rng = np.random.default_rng(4)
    n = 300
    labels = (rng.random(n) < 0.4).astype(np.uint8)
    base = labels * 1.0 + rng.standard_normal(n)
    full = {"churn": [_preds(base, labels), _preds(base + 0.5 * rng.standard_normal(n), labels)]}
    without = {"churn": [_preds(base, labels), _preds(base, labels)]}
    blocks = study_blocks([{"name": "a", "columns": 1}, {"name": "b", "columns": 1}])
    (e,) = effects(full, {("a", "without"): without}, blocks, resamples=100)
    assert e.point == 0.0  # the official seeds agree
    assert e.mean == pytest.approx((_auroc(full["churn"][1].logits[:, 0], labels) - _auroc(base, labels)) / 2,
                                   abs=1e-6)
