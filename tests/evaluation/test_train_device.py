"""Device handling of `ubm train` checked without a GPU (issue 24): the worker's CUDA device
index, the graph-capture fallback recorded per task, validation time that includes the
metric computation, and an evaluation that maps the entry instead of reading it into RAM.

Small hidden sizes (32, 64) as in test_multi: none of this depends on the width."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.cuda._utils import _get_device_index

import ubm.evaluation.multi as multi_mod
import ubm.evaluation.train as train_mod
import ubm.evaluation.workers as workers_mod
from tests.fixtures import prepare_tiny
from ubm.evaluation.multi import TaskData, graphs_refusal, train_tasks
from ubm.evaluation.train import evaluate
from ubm.evaluation.workers import DeviceJob, TrainOptions, cuda_index
from ubm.prepare.targets import TASKS

TINY = (32, 64)


def _job(device: str) -> DeviceJob:
    return DeviceJob(device=device, tasks=("churn",), embeddings_dir=Path("e"), labels_dir=Path("l"),
                     results_dir=Path("r"), keys={"churn": "k"}, options=TrainOptions())


@pytest.mark.parametrize(("device", "index"), [("cuda", 0), ("cuda:0", 0), ("cuda:1", 1), ("cpu", None)])
def test_worker_sets_a_numbered_cuda_device(monkeypatch, device, index):
    """`--devices cuda` (and auto on a GPU machine) reached set_device with torch.device("cuda"),
    which it refuses before any CUDA call; the stand-in runs the same index check."""
    calls = []

    def set_device(dev):
        calls.append(_get_device_index(dev))  # raises ValueError for a device without an index

    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    monkeypatch.setattr(workers_mod, "run_job", lambda job, log: {"churn": None})
    assert workers_mod._worker(_job(device)) == ["churn"]
    assert calls == ([] if index is None else [index])


def test_unnumbered_cuda_device_is_what_set_device_refuses():
    with pytest.raises(ValueError, match="specified index"):
        _get_device_index(torch.device("cuda"))
    assert cuda_index("cuda") == 0 and cuda_index("cuda:3") == 3


# ---- the multi engine on CPU


def _tasks(n: int = 300, d: int = 8) -> tuple[np.ndarray, list[TaskData]]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, d)).astype(np.float16)
    y = lambda w: (rng.random((n, w)) < 0.3).astype(np.float32)  # noqa: E731
    return x, [TaskData("conversion", "binary", y(1), y(1)),
               TaskData("propensity_sku", "propensity", y(4), y(4), np.array([9, 5, 3, 1]))]


def _epochs(results) -> dict:
    keys = ("auroc", "novelty", "diversity", "score", "train_loss", "steps")
    return {t: [[getattr(e, k) for k in keys] for e in r.epochs] for t, r in results.items()}


def test_graphs_refusal_reasons():
    cuda = torch.device("cuda")  # a device object needs no CUDA
    assert graphs_refusal(True, cuda, 128, 128) is None
    assert graphs_refusal(False, cuda, 1000, 128) == "turned off (--no-cuda-graphs)"
    assert graphs_refusal(True, torch.device("cpu"), 1000, 128) == "not on CUDA (cpu)"
    assert graphs_refusal(True, cuda, 127, 128) == "fewer rows (127) than one batch (128)"


def test_failed_capture_is_recorded_per_task_and_warned(monkeypatch, capsys):
    """A capture the driver refuses trains eagerly with the same numbers, says so on stderr
    and in each task's extra (metrics.json), instead of one easily missed line."""
    x, specs = _tasks()
    eager = train_tasks(x, specs, epochs=2, progress=False, hidden_sizes=TINY)
    for r in eager.values():
        assert r.extra["cuda_graphs"] is False and r.extra["cuda_graphs_reason"] == "not on CUDA (cpu)"

    class Refused:
        def __init__(self, run):
            raise RuntimeError("operation not permitted when stream is capturing\nCUDA kernel errors ...")

    monkeypatch.setattr(multi_mod, "graphs_refusal", lambda *args: None)  # as if on CUDA
    monkeypatch.setattr(multi_mod, "_Graphs", Refused)
    capsys.readouterr()
    refused = train_tasks(x, specs, epochs=2, progress=False, hidden_sizes=TINY)
    err = capsys.readouterr().err
    for name, r in refused.items():
        assert r.extra["cuda_graphs"] is False
        assert r.extra["cuda_graphs_reason"] == "capture failed: operation not permitted when stream is capturing"
        assert (f"warning: {name}: CUDA graph capture failed (operation not permitted when stream is capturing); "
                f"training eagerly") in err
    assert _epochs(refused) == _epochs(eager)


def test_validation_seconds_include_the_metric_computation(monkeypatch):
    """Each task's metrics.compute() sleeps 0.3 s: the shared validation time holds both."""
    real = multi_mod.make_task_metrics

    class Slow:
        def __init__(self, inner):
            self.inner = inner

        def update(self, *args):
            self.inner.update(*args)

        def compute(self):
            time.sleep(0.3)
            return self.inner.compute()

    monkeypatch.setattr(multi_mod, "make_task_metrics", lambda *a, **k: Slow(real(*a, **k)))
    x, specs = _tasks(n=200)
    results = train_tasks(x, specs, epochs=1, progress=False, hidden_sizes=TINY)
    for r in results.values():
        epoch = r.epochs[0]
        assert epoch.val_seconds >= 0.6  # two tasks' computations
        assert epoch.seconds == pytest.approx(epoch.train_seconds + epoch.val_seconds)


# ---- `ubm train` end to end


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return prepare_tiny(tmp_path_factory.mktemp("device") / "data", labels=True)


def test_evaluate_maps_the_entry_and_records_graphs_per_task(prepared, tmp_path, monkeypatch):
    modes = []
    real = train_mod.load_entry

    def spy(path, *, mmap=False):
        modes.append(mmap)
        return real(path, mmap=mmap)

    monkeypatch.setattr(train_mod, "load_entry", spy)
    monkeypatch.setattr(workers_mod, "load_entry", spy)
    out = tmp_path / "run"
    evaluate(prepared, prepared / "entry", out, tasks=list(TASKS), device="cpu", trainer="multi",
             labels=prepared / "labels", progress=False, hidden_sizes=TINY, log=lambda m: None)
    assert modes and all(modes)  # never read whole into memory
    tasks = json.loads((out / "metrics.json").read_text())["tasks"]
    assert sorted(tasks) == sorted(TASKS)
    for r in tasks.values():
        assert r["extra"]["cuda_graphs"] is False and r["extra"]["cuda_graphs_reason"] == "not on CUDA (cpu)"
