import math

import numpy as np
import pytest
import torch

from ubm.evaluation.metrics import (
    BinaryTaskMetrics,
    Diversity,
    MetricValues,
    Novelty,
    PropensityTaskMetrics,
    label_balance,
    make_task_metrics,
    task_score,
)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ---------------------------------------------------------------- Diversity
def test_diversity_by_hand():
    # Row A: logits 0 -> sigmoid 0.5 x4 -> normalised 1/4 each -> entropy 2 bits.
    # Row B: sigmoid [0.75, 0.25, 0.5, 0.5] (sum 2) -> [0.375, 0.125, 0.25, 0.25]
    #   entropy = 0.375*log2(1/0.375) + 0.125*3 + 2*0.25*2
    #           = 0.375*1.4150375 + 0.375 + 1 = 1.9056391
    # diversity = (2 + 1.9056391) / 2 rows / log2(4) = 0.9764098
    a = torch.zeros(1, 4)
    b = torch.tensor([[logit(0.75), logit(0.25), 0.0, 0.0]])
    d = Diversity(4)
    d.update(a)
    d.update(b)
    assert d.compute().item() == pytest.approx(0.9764098, abs=2e-6)
    assert d.num_of_entropies.dtype == torch.float32 and d.num_of_entropies.item() == 2

    one = Diversity(4)
    one.update(torch.cat([a, b]))
    assert one.compute().item() == pytest.approx(0.9764098, abs=2e-6)

    d.reset()
    d.update(a)
    assert d.compute().item() == pytest.approx(1.0, abs=1e-6)  # uniform row -> maximal diversity


def test_diversity_rejects_wrong_width():
    with pytest.raises(ValueError):
        Diversity(3).update(torch.zeros(2, 4))


# ---------------------------------------------------------------- Novelty
def test_novelty_by_hand_all_labels_in_top_k():
    # n = 3 -> k = 3; popularity [6, 3, 1] / (6+3+1) = [0.6, 0.3, 0.1].
    # batch 1, row 1: sigmoid 0.01 everywhere -> 0.01*(0.6+0.3+0.1)            = 0.010
    # batch 2, row 2: sigmoid [0.03, 0.01, 0.01] -> 0.018 + 0.003 + 0.001       = 0.022
    # P = (0.010 + 0.022) / 2 = 0.016; novelty = (1 - 0.016)**100 = 0.984**100 = 0.19930117
    nov = Novelty(np.array([6, 3, 1], dtype=np.int64))
    assert nov.k == 3
    assert nov.popularity.dtype == torch.float64  # numpy int64 / int64 sum -> float64, as officially
    nov.update(torch.full((1, 3), logit(0.01)))
    nov.update(torch.tensor([[logit(0.03), logit(0.01), logit(0.01)]]))
    assert nov.compute().item() == pytest.approx(0.19930117, rel=1e-4)
    nov.reset()
    nov.update(torch.full((1, 3), logit(0.01)))
    assert nov.compute().item() == pytest.approx(0.99**100, rel=1e-4)  # 0.36603234


def test_novelty_top_k_of_more_labels():
    # n = 12 -> k = 10; popularity: ten labels of 10 and two of 5; the 10 largest sum to 100,
    # so the normalised popularity is 0.1 (first ten) and 0.05 (last two).
    # One row: the two unpopular labels at sigmoid 0.75, the rest at 0.01.
    # top-10 = 0.75, 0.75, and eight 0.01 -> 2*0.75*0.05 + 8*0.01*0.1 = 0.075 + 0.008 = 0.083
    # novelty = 0.917**100 = 1.7255739e-4
    pop = np.array([10] * 10 + [5, 5])
    nov = Novelty(pop)
    assert nov.k == 10
    row = torch.full((1, 12), logit(0.01))
    row[0, 10:] = logit(0.75)
    nov.update(row)
    assert nov.compute().item() == pytest.approx(1.7255739e-4, rel=1e-3)


# ---------------------------------------------------------------- AUROC
def test_binary_auroc_batch_by_batch_differs_from_one_update():
    # Batch 1 is all inside [0, 1] -> taken as probabilities as is.
    # Batch 2 has values outside [0, 1] -> torchmetrics applies the sigmoid to that batch only.
    p1, t1 = torch.tensor([[0.9], [0.1]]), torch.tensor([[0], [1]])
    p2, t2 = torch.tensor([[2.0], [-2.0]]), torch.tensor([[1], [0]])
    # Two updates: scores 0.9(neg) 0.1(pos) | 0.881(pos) 0.119(neg).
    #   pos 0.881 beats neg 0.119 only; pos 0.1 beats nobody -> 1 of 4 pairs -> 0.25
    m = BinaryTaskMetrics()
    m.update(p1, t1)
    m.update(p2, t2)
    assert m.compute().auroc == pytest.approx(0.25)
    # One update: everything is sigmoided: 0.711(neg) 0.525(pos) 0.881(pos) 0.119(neg)
    #   pos 0.881 beats both, pos 0.525 beats 0.119 -> 3 of 4 pairs -> 0.75
    m.update(torch.cat([p1, p2]), torch.cat([t1, t2]))
    assert m.compute().auroc == pytest.approx(0.75)


def test_binary_shapes_b_and_b1_agree():
    logits = torch.tensor([0.3, -1.0, 2.0, 0.1, -0.4])
    target = torch.tensor([1, 0, 1, 0, 0])
    a, b = BinaryTaskMetrics(), BinaryTaskMetrics()
    a.update(logits, target)
    b.update(logits[:, None], target[:, None])
    assert a.compute().auroc == b.compute().auroc == pytest.approx(1.0)


def test_binary_single_class_is_zero():
    m = BinaryTaskMetrics()
    m.update(torch.tensor([[0.3], [2.0], [-1.0]]), torch.tensor([[0], [0], [0]]))
    assert m.compute().auroc == 0.0
    m.update(torch.tensor([[0.3], [2.0], [-1.0]]), torch.tensor([[1], [1], [1]]))
    assert m.compute().auroc == 0.0


def test_multilabel_column_without_positives_counts_as_zero():
    # label 0 and label 1 are ranked perfectly (AUROC 1); label 2 has no positive (AUROC 0);
    # macro mean over all three = 2/3.
    logits = torch.tensor([[3.0, -2.0, 0.5], [2.0, -1.0, 0.1], [-1.0, 1.0, -0.3], [-2.0, 2.0, 0.2]])
    target = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]])
    m = PropensityTaskMetrics(3, np.array([3, 2, 1]))
    m.update(logits, target)
    values = m.compute()
    assert values.auroc == pytest.approx(2 / 3)
    # A column with no negative also scores 0.
    target2 = target.clone()
    target2[:, 2] = 1
    m.update(logits, target2)
    assert m.compute().auroc == pytest.approx(2 / 3)


def test_compute_resets_state():
    m = make_task_metrics("propensity", 2, np.array([5, 1]))
    m.update(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), torch.tensor([[1, 0], [0, 1]]))
    first = m.compute()
    m.update(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), torch.tensor([[1, 0], [0, 1]]))
    assert m.compute() == first


# ---------------------------------------------------------------- score and label counts
def test_task_score_weighting():
    assert task_score("binary", 0.7123) == 0.7123
    # 0.8*0.7 + 0.1*diversity(0.5) + 0.1*novelty(0.2) = 0.56 + 0.05 + 0.02 = 0.63
    assert task_score("propensity", 0.7, novelty=0.2, diversity=0.5) == pytest.approx(0.63)
    assert task_score("propensity", 0.7, novelty=0.2, diversity=0.5) == 0.8 * 0.7 + 0.1 * 0.5 + 0.1 * 0.2
    assert MetricValues("propensity", 1.0, novelty=0.0, diversity=0.0).score == pytest.approx(0.8)
    with pytest.raises(ValueError):
        task_score("propensity", 0.7)


def test_label_balance():
    y = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1]])
    lb = label_balance(y)
    assert (lb.n_labels, lb.without_positives, lb.without_negatives) == (4, 1, 1)
    lb = label_balance(np.zeros(5))
    assert (lb.n_labels, lb.without_positives, lb.without_negatives) == (1, 1, 0)
