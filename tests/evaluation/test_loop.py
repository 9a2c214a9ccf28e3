"""End-to-end runs on CPU.

The evaluation net is ~51 M parameters whatever D is (AdamW alone is ~0.3 s per step on a
2-core machine), so exactly one run uses the official sizes, on the first 20 clients (one
partial batch per epoch, 3 epochs). The other loop properties (determinism, step count with
full batches plus a tail, best-of-3 selection) are size-independent and use
``hidden_sizes=(32, 64)`` on 130 or 300 clients."""

import math

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import ubm.evaluation.loop as train_mod
from ubm.evaluation.metrics import MetricValues, TaskMetrics
from ubm.evaluation.loop import TaskResult, expected_steps, select_best, train_task

N, D, L = 130, 8, 4
N_OFFICIAL = 20
TINY = (32, 64)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)).astype(np.float16)
    y_train = (rng.random((N, L)) < 0.3).astype(np.float32)
    y_val = (rng.random((N, L)) < 0.3).astype(np.float32)
    y_val[:, 2] = 0  # a label without positives in the validation window
    popularity = np.array([40, 30, 20, 10], dtype=np.int64)
    return x, y_train, y_val, popularity


@pytest.fixture(scope="module")
def official_run(data):
    x, y_train, y_val, popularity = data
    steps = []
    handle = register_optimizer_step_post_hook(lambda *a, **k: steps.append(1))
    try:
        result = train_task(x[:N_OFFICIAL], y_train[:N_OFFICIAL], y_val[:N_OFFICIAL], kind="propensity",
                            popularity=popularity, progress=False)
    finally:
        handle.remove()
    return result, len(steps)


def test_end_to_end_propensity(official_run):
    result, _ = official_run
    assert isinstance(result, TaskResult)
    assert len(result.epochs) == 3 and [e.epoch for e in result.epochs] == [0, 1, 2]
    assert result.n_clients == N_OFFICIAL and result.n_labels == L and result.embedding_dim == D
    assert result.device == "cpu" and result.official and not result.fast
    assert result.labels_without_positives == 1 and result.labels_without_negatives == 0
    for e in result.epochs:
        assert 0.0 <= e.auroc <= 1.0 and 0.0 <= e.diversity <= 1.0 and 0.0 <= e.novelty <= 1.0
        assert e.score == 0.8 * e.auroc + 0.1 * e.diversity + 0.1 * e.novelty
        assert math.isfinite(e.train_loss) and e.train_samples_per_s > 0
    scores = [e.score for e in result.epochs]
    assert result.best_epoch == scores.index(max(scores))
    assert result.best_score == round(max(scores), 4)


def test_two_runs_identical(data):
    x, y_train, y_val, popularity = data
    a, b = (train_task(x, y_train, y_val, kind="propensity", popularity=popularity, progress=False,
                       hidden_sizes=TINY) for _ in range(2))
    assert not a.official
    for ea, eb in zip(a.epochs, b.epochs):
        assert (ea.auroc, ea.novelty, ea.diversity, ea.score, ea.train_loss) == (
            eb.auroc, eb.novelty, eb.diversity, eb.score, eb.train_loss)
    assert (a.best_epoch, a.best_score) == (b.best_epoch, b.best_score)


def _count_steps(x, y_train, y_val, **kwargs):
    """Train a tiny model, counting optimiser steps with a hook (independent of r.steps)."""
    steps = []
    handle = register_optimizer_step_post_hook(lambda *a, **k: steps.append(1))
    try:
        r = train_task(x, y_train, y_val, progress=False, hidden_sizes=TINY, **kwargs)
    finally:
        handle.remove()
    return r, len(steps)


def test_last_partial_batch_kept(official_run, data):
    result, counted = official_run
    # official sizes, 20 clients: one partial batch per epoch, 3 epochs
    assert counted == 3 == result.steps == expected_steps(N_OFFICIAL)
    assert [e.steps for e in result.epochs] == [1, 1, 1]
    # ceil(130 / 128) = 2 steps per epoch (128 + 2), 3 epochs
    x, y_train, y_val, popularity = data
    r, steps = _count_steps(x, y_train, y_val, kind="propensity", popularity=popularity)
    assert steps == r.steps == expected_steps(N) == 6
    assert [e.steps for e in r.epochs] == [2, 2, 2]
    # and with a longer tail: 300 clients -> 128 + 128 + 44 -> 3 steps per epoch -> 9
    rng = np.random.default_rng(1)
    x3 = rng.standard_normal((300, D)).astype(np.float16)
    y3 = (rng.random((300, 1)) < 0.4).astype(np.float32)
    r, steps = _count_steps(x3, y3, y3, kind="binary", popularity=None)
    assert steps == r.steps == expected_steps(300) == math.ceil(300 / 128) * 3 == 9


def test_progress_goes_to_stderr(data, capsys):
    x, y_train, y_val, _ = data
    train_task(x[:3], y_train[:3, 0], y_val[:3, 0], kind="binary", popularity=None, epochs=1, hidden_sizes=TINY)
    err = capsys.readouterr().err
    assert "epoch 1/1: score" in err
    assert "batches" not in err  # stderr is not a terminal here: no carriage-return bar


def test_progress_bar_draws_on_a_terminal():
    import io
    import time

    from ubm.evaluation.loop import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = _Progress(True, stream)
    bar.draw("epoch 1/3 train", 2, 4, time.perf_counter(), 256)
    bar.draw("epoch 1/3 train", 4, 4, time.perf_counter(), 512, final=True)
    shown = stream.getvalue()
    assert "epoch 1/3 train" in shown and "2/4" in shown and "batches" in shown and "samples/s" in shown
    quiet = Terminal()
    _Progress(False, quiet).draw("x", 1, 1, time.perf_counter(), 1, final=True)
    assert quiet.getvalue() == ""


class _Scripted(TaskMetrics):
    """Stands in for the real metrics: returns scripted AUROCs, one per validation pass."""

    kind = "binary"

    def __init__(self, values):
        self.values = list(values)

    def update(self, logits, targets):
        assert logits.shape[1] == 1 and targets.shape == logits.shape

    def compute(self):
        return MetricValues("binary", self.values.pop(0))

    def reset(self):
        pass


def test_best_of_three_with_mocked_epoch_scores(data, monkeypatch):
    x, y_train, y_val, _ = data
    monkeypatch.setattr(train_mod, "make_task_metrics", lambda *a, **k: _Scripted([0.61234, 0.71236, 0.71236]))
    result = train_task(x[:4], y_train[:4, 0], y_val[:4, 0], kind="binary", popularity=None, progress=False,
                        hidden_sizes=TINY)
    assert [e.score for e in result.epochs] == [0.61234, 0.71236, 0.71236]
    assert result.best_epoch == 1  # first maximum wins
    assert result.best_score == 0.7124


def test_select_best():
    assert select_best([0.5, 0.9, 0.7]) == (1, 0.9)
    assert select_best([0.7, 0.7, 0.6]) == (0, 0.7)
    assert select_best([0.12344, 0.12346, 0.12345]) == (1, 0.1235)
    with pytest.raises(ValueError):
        select_best([])


def test_input_validation(data):
    x, y_train, y_val, _ = data
    with pytest.raises(ValueError):
        train_task(x, y_train, y_val, kind="propensity", popularity=None, progress=False)
    with pytest.raises(ValueError):
        train_task(x, y_train[:10], y_val, kind="propensity", popularity=np.ones(L), progress=False)
    with pytest.raises(ValueError):
        train_task(x, y_train, y_val, kind="binary", popularity=None, progress=False)


def test_report_png(official_run, tmp_path):
    from ubm.evaluation.report import write_report_png

    result, _ = official_run
    path = write_report_png({"propensity_x": result, "churn": {"epochs": [{"score": 0.6}, {"score": 0.65}, {"score": 0.64}]}},
                            tmp_path / "out" / "report.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["report.png"]  # no temp file left behind


def test_matmul_precision_forced_and_restored(data, monkeypatch):
    x, y_train, y_val, _ = data
    previous = torch.get_float32_matmul_precision()
    seen = []

    class Spy(_Scripted):
        def update(self, logits, targets):
            seen.append(torch.get_float32_matmul_precision())

    monkeypatch.setattr(train_mod, "make_task_metrics", lambda *a, **k: Spy([0.5]))
    torch.set_float32_matmul_precision("medium")
    try:
        train_task(x[:4], y_train[:4, 0], y_val[:4, 0], kind="binary", popularity=None, epochs=1,
                   progress=False, hidden_sizes=TINY)
        assert seen == ["highest"]  # the official run uses PyTorch's default fp32 matmuls
        assert torch.get_float32_matmul_precision() == "medium"  # the caller's setting is restored
    finally:
        torch.set_float32_matmul_precision(previous)
