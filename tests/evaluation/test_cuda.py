"""The multi-task engine on a GPU (issue 24): skipped without CUDA; bench/device_check.sh
stage 2 runs them (``pytest -m cuda tests/evaluation/test_cuda.py``).

Every epoch and the best logits of the multi engine equal the one-task loop's bit for bit,
with CUDA graphs on and off, in official numerics and with --fast; each task records whether
it replayed graphs and why not; two runs are identical (no race between the task streams);
`ubm train --devices cuda,cuda` runs its worker processes (plain ``cuda`` crashed them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

from ubm.evaluation.loop import train_task  # noqa: E402
from ubm.evaluation.multi import TaskData, train_tasks  # noqa: E402

TINY = (32, 64)
N, D = 300, 64
KEYS = ("auroc", "novelty", "diversity", "score", "train_loss", "steps")


@pytest.fixture(scope="module")
def tasks():
    """As in test_multi: churn on a subset (its own batch count), a tail batch, a task smaller
    than one batch (eager only: fewer rows than a graph's batch)."""
    rng = np.random.default_rng(3)
    labels = lambda n, w: (rng.random((n, w)) < 0.3).astype(np.float32)  # noqa: E731
    x = rng.standard_normal((N, D)).astype(np.float16)
    churn = np.flatnonzero(rng.random(N) < 0.6)
    few = np.sort(rng.choice(N, 50, replace=False))
    return x, [
        TaskData("churn", "binary", labels(len(churn), 1), labels(len(churn), 1), None, churn),
        TaskData("conversion", "binary", labels(N, 1), labels(N, 1)),
        TaskData("propensity_category", "propensity", labels(N, 5), labels(N, 5), np.array([50, 40, 30, 20, 10])),
        TaskData("propensity_few", "propensity", labels(50, 3), labels(50, 3), np.array([3, 2, 1]), few),
    ]


def _epochs(result) -> list:
    return [[getattr(e, k) for k in KEYS] for e in result.epochs]


@pytest.mark.parametrize("hidden", [TINY, None], ids=["tiny", "official-width"])
@pytest.mark.parametrize("fast", [False, True], ids=["official", "fast"])
@pytest.mark.parametrize("graphs", [True, False], ids=["graphs", "eager"])
def test_multi_equals_single_bit_for_bit(tasks, graphs, fast, hidden):
    x, specs = tasks
    together = train_tasks(x, specs, device="cuda", progress=False, fast=fast, hidden_sizes=hidden, graphs=graphs)
    for spec in specs:
        rows = x if spec.rows is None else x[spec.rows]
        alone = train_task(rows, spec.y_train, spec.y_val, kind=spec.kind, popularity=spec.popularity,
                           device="cuda", progress=False, fast=fast, hidden_sizes=hidden)
        multi = together[spec.name]
        assert _epochs(multi) == _epochs(alone), spec.name
        assert np.array_equal(multi.best_logits, alone.best_logits), spec.name
        assert (multi.best_epoch, multi.best_score, multi.official) == (alone.best_epoch, alone.best_score,
                                                                          alone.official)


@pytest.mark.parametrize("graphs", [True, False])
def test_cuda_graphs_recorded_per_task(tasks, graphs, capfd):
    x, specs = tasks
    results = train_tasks(x, specs, device="cuda", epochs=1, progress=False, hidden_sizes=TINY, graphs=graphs)
    assert "CUDA graph capture failed" not in capfd.readouterr().err
    for name, r in results.items():
        if not graphs:
            assert (r.extra["cuda_graphs"], r.extra["cuda_graphs_reason"]) == (False, "turned off (--no-cuda-graphs)")
        elif name == "propensity_few":
            assert (r.extra["cuda_graphs"], r.extra["cuda_graphs_reason"]) == (
                False, "fewer rows (50) than one batch (128)")
        else:
            assert (r.extra["cuda_graphs"], r.extra["cuda_graphs_reason"]) == (True, None), name


def test_two_runs_are_identical(tasks):
    x, specs = tasks
    runs = [train_tasks(x, specs, device="cuda", progress=False, hidden_sizes=None) for _ in range(2)]
    for spec in specs:
        a, b = runs[0][spec.name], runs[1][spec.name]
        assert _epochs(a) == _epochs(b) and np.array_equal(a.best_logits, b.best_logits), spec.name


def test_worker_processes_on_the_gpu(tmp_path):
    """Two workers on device 0 (`--devices cuda,cuda`): each sets a numbered device and trains
    its tasks together; the scores equal the in-process multi engine's."""
    import ubm.evaluation.train as train_mod
    from ubm.prepare.targets import TASKS
    from tests.fixtures import prepare_tiny

    data = prepare_tiny(tmp_path / "data", labels=True)
    common = dict(tasks=list(TASKS), device="cuda", labels=data / "labels", progress=False,
                  hidden_sizes=TINY, predictions=False, log=lambda m: None)
    one = train_mod.evaluate(data, data / "entry", tmp_path / "one", **common)
    two = train_mod.evaluate(data, data / "entry", tmp_path / "two", devices="cuda,cuda", **common)
    assert two.scores == one.scores
    for task, r in two.results.items():
        assert _epochs(r) == _epochs(one.results[task]) and r.device.startswith("cuda"), task
