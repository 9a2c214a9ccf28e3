"""Validation metrics of docs/evaluation.md §3, at parity with the official pipeline.

* AUROC is torchmetrics' own ``AUROC`` (binary, or multilabel macro), fed batch by batch.
  torchmetrics decides *per update call* whether to apply a sigmoid (only when some value
  of that batch lies outside [0, 1]), so the batching is part of the metric.
* ``Diversity`` and ``Novelty`` are small accumulators with the same state dtypes and the
  same per-batch arithmetic as the official torchmetrics metrics: float32 running sums
  updated once per batch, the ``10e-10`` (= 1e-9) epsilons, novelty's popularity
  normalised in numpy (float64 for integer counts) and multiplied in that dtype before the
  per-batch sum is added into the float32 state.

Everything here is pure: no I/O, no printing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchmetrics import AUROC

from ubm.contract import Kind

#: The official code writes ``10e-10``; it is the same double as 1e-9.
EPS = 10e-10
NOVELTY_TOP_K = 10
NOVELTY_POWER = 100
AUROC_WEIGHT = 0.8
DIVERSITY_WEIGHT = 0.1
NOVELTY_WEIGHT = 0.1


class Diversity:
    """Mean normalised entropy of the row-normalised sigmoid outputs.

    State: ``sum_of_entropies`` and ``num_of_entropies``, float32 scalars, updated once per batch.
    """

    def __init__(self, output_dim: int, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.output_dim = torch.tensor(output_dim, dtype=torch.float32, device=self.device)
        self.n_labels = int(output_dim)
        self.reset()

    def reset(self) -> None:
        self.sum_of_entropies = torch.tensor(0, dtype=torch.float32, device=self.device)
        self.num_of_entropies = torch.tensor(0, dtype=torch.float32, device=self.device)

    def update(self, logits: Tensor) -> None:
        if logits.ndim != 2 or logits.shape[1] != self.n_labels:
            raise ValueError(f"expected logits of shape [B, {self.n_labels}], got {tuple(logits.shape)}")
        p = torch.sigmoid(logits)
        p = p / p.sum(dim=-1).unsqueeze(-1)
        self.sum_of_entropies -= torch.sum(p * torch.log2(p + EPS))
        self.num_of_entropies += p.shape[0]

    def compute(self) -> Tensor:
        return self.sum_of_entropies / ((self.num_of_entropies + EPS) * torch.log2(self.output_dim))


class Novelty:
    """``(1 - P) ** 100`` where P is the mean popularity mass of each row's top-k sigmoid outputs.

    ``popularity`` is normalised by the sum of its k largest values (k = min(10, n)) with
    numpy, keeping numpy's result dtype (float64 for the int64 counts of the organiser
    files), exactly like the official metric. A popularity array of all zeros gives NaN,
    as it does officially.
    """

    def __init__(self, popularity: np.ndarray, k: int = NOVELTY_TOP_K, device: str | torch.device = "cpu") -> None:
        popularity = np.asarray(popularity)
        if popularity.ndim != 1 or len(popularity) == 0:
            raise ValueError(f"popularity must be a non-empty 1-D array, got shape {popularity.shape}")
        self.device = torch.device(device)
        self.k = min(k, len(popularity))
        top_sum = np.sum(np.sort(popularity)[-self.k :])
        with np.errstate(divide="ignore", invalid="ignore"):
            normalised = popularity / top_sum
        self.popularity = torch.tensor(normalised, device=self.device)
        self.reset()

    def reset(self) -> None:
        self.sum_of_popularities = torch.tensor(0, dtype=torch.float32, device=self.device)
        self.num_of_datapoints = torch.tensor(0, dtype=torch.float32, device=self.device)

    def update(self, logits: Tensor) -> None:
        if logits.ndim != 2 or logits.shape[1] != len(self.popularity):
            raise ValueError(f"expected logits of shape [B, {len(self.popularity)}], got {tuple(logits.shape)}")
        p = torch.sigmoid(logits)
        values, indices = torch.topk(p, self.k, dim=1)
        self.sum_of_popularities += torch.sum(values * self.popularity[indices])
        self.num_of_datapoints += len(p)

    def compute(self) -> Tensor:
        return (1 - self.sum_of_popularities / (self.num_of_datapoints + EPS)) ** NOVELTY_POWER


def task_score(kind: Kind, auroc: float, novelty: float | None = None, diversity: float | None = None) -> float:
    """The task's score for one epoch.

    binary (churn, conversion): AUROC. propensity: ``0.8*AUROC + 0.1*diversity + 0.1*novelty``,
    summed in that order (the official container's order, so the float is bit-identical).
    """
    if kind == "binary":
        return float(auroc)
    if kind == "propensity":
        if novelty is None or diversity is None:
            raise ValueError("a propensity score needs novelty and diversity")
        return AUROC_WEIGHT * auroc + DIVERSITY_WEIGHT * diversity + NOVELTY_WEIGHT * novelty
    raise ValueError(f"unknown task kind {kind!r}")


@dataclass(frozen=True)
class MetricValues:
    """One validation pass. novelty/diversity are None for binary tasks."""

    kind: Kind
    auroc: float
    novelty: float | None = None
    diversity: float | None = None

    @property
    def score(self) -> float:
        return task_score(self.kind, self.auroc, self.novelty, self.diversity)


class TaskMetrics:
    """Base calculator: ``update(logits, targets)`` once per validation batch, then ``compute()``.

    ``compute()`` returns python floats and resets the state, like the official calculators.
    """

    kind: Kind

    def update(self, logits: Tensor, targets: Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self) -> MetricValues:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _compute_auroc_quietly(metric: AUROC) -> float:
    # torchmetrics warns for a class with no positive / no negative sample (it scores it 0);
    # the caller reports those counts itself, so the warnings are noise here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(positive|negative) samples in targets.*")
        warnings.filterwarnings("ignore", message=".*was `nan`.*")
        return float(metric.compute().item())


class BinaryTaskMetrics(TaskMetrics):
    """Churn / conversion: torchmetrics ``AUROC(task="binary")``.

    The official loop passes logits of shape [B, 1] and targets of shape [B, 1] (long);
    torchmetrics flattens both, so [B] and [B, 1] give identical states.
    """

    kind: Kind = "binary"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        # validate_args only adds input checks (and device syncs); formatting is unchanged.
        self.auroc = AUROC(task="binary", validate_args=False).to(device)

    def update(self, logits: Tensor, targets: Tensor) -> None:
        self.auroc.update(logits, targets.long())

    def compute(self) -> MetricValues:
        value = _compute_auroc_quietly(self.auroc)
        self.reset()
        return MetricValues(kind="binary", auroc=value)

    def reset(self) -> None:
        self.auroc.reset()


class PropensityTaskMetrics(TaskMetrics):
    """Propensity: multilabel macro AUROC + Novelty + Diversity, all updated from the same logits."""

    kind: Kind = "propensity"

    def __init__(self, n_labels: int, popularity: np.ndarray, device: str | torch.device = "cpu") -> None:
        self.n_labels = int(n_labels)
        self.auroc = AUROC(task="multilabel", num_labels=self.n_labels, validate_args=False).to(device)
        self.novelty = Novelty(popularity, device=device)
        self.diversity = Diversity(self.n_labels, device=device)
        if len(self.novelty.popularity) != self.n_labels:
            raise ValueError(f"popularity has {len(self.novelty.popularity)} values for {self.n_labels} labels")

    def update(self, logits: Tensor, targets: Tensor) -> None:
        self.auroc.update(logits, targets.long())
        self.diversity.update(logits)
        self.novelty.update(logits)

    def compute(self) -> MetricValues:
        auroc = _compute_auroc_quietly(self.auroc)
        diversity = float(self.diversity.compute().item())
        novelty = float(self.novelty.compute().item())
        self.reset()
        return MetricValues(kind="propensity", auroc=auroc, novelty=novelty, diversity=diversity)

    def reset(self) -> None:
        self.auroc.reset()
        self.novelty.reset()
        self.diversity.reset()


def make_task_metrics(
    kind: Kind, n_labels: int, popularity: np.ndarray | None = None, device: str | torch.device = "cpu"
) -> TaskMetrics:
    if kind == "binary":
        if n_labels != 1:
            raise ValueError(f"a binary task has one output, got {n_labels}")
        return BinaryTaskMetrics(device=device)
    if kind == "propensity":
        if popularity is None:
            raise ValueError("a propensity task needs a popularity array")
        return PropensityTaskMetrics(n_labels, popularity, device=device)
    raise ValueError(f"unknown task kind {kind!r}")


@dataclass(frozen=True)
class LabelBalance:
    """Label columns of a validation target matrix with a single class (each scores AUROC 0)."""

    n_labels: int
    without_positives: int
    without_negatives: int


def label_balance(y: np.ndarray) -> LabelBalance:
    """Count label columns with no positive / no negative. ``y``: [N] or [N, L], values 0/1."""
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"expected labels of shape [N] or [N, L], got {y.shape}")
    positives = (y == 1).sum(axis=0)
    negatives = (y == 0).sum(axis=0)
    return LabelBalance(
        n_labels=int(y.shape[1]),
        without_positives=int((positives == 0).sum()),
        without_negatives=int((negatives == 0).sum()),
    )
