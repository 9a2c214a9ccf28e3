"""Tasks trained together (ubm.evaluation.multi) equal the single-task loop, epoch by epoch;
`ubm train` saves finished tasks, resumes, and spreads tasks over worker processes.

Small hidden sizes (32, 64) as in test_train: the engines' equality does not depend on the
width, and the official width costs ~0.3 s per step on 2 cores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.optim.optimizer import register_optimizer_step_post_hook

from ubm.ownership import write_manifest

import ubm.evaluation.train as train_mod
import ubm.evaluation.workers as workers_mod
from tests.fixtures import prepare_tiny
from ubm.cli import main
from ubm.data.io import DataError
from ubm.evaluation.loop import TaskResult, train_task
from ubm.evaluation.multi import TaskData, train_tasks
from ubm.evaluation.store import TaskStore
from ubm.evaluation.train import evaluate
from ubm.evaluation.workers import TrainOptions, parse_devices, spread
from ubm.prepare.targets import TASKS

TINY = (32, 64)
N, D = 300, 8


def _labels(rng, n, L):
    return (rng.random((n, L)) < 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def tasks():
    """Six tasks like the real ones: churn on a subset of rows (entry order kept, its own
    batch count), a tail batch, a task smaller than one batch, propensity label counts."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, D)).astype(np.float16)
    churn_rows = np.flatnonzero(rng.random(N) < 0.6)  # ~180 rows: 2 batches, the others 3
    few = np.sort(rng.choice(N, 50, replace=False))  # one partial batch only
    specs = [
        TaskData("churn", "binary", _labels(rng, len(churn_rows), 1), _labels(rng, len(churn_rows), 1), None,
                 churn_rows),
        TaskData("conversion", "binary", _labels(rng, N, 1), _labels(rng, N, 1), None, None),
        TaskData("propensity_category", "propensity", _labels(rng, N, 5), _labels(rng, N, 5),
                 np.array([50, 40, 30, 20, 10]), np.arange(N)),
        TaskData("propensity_few", "propensity", _labels(rng, 50, 3), _labels(rng, 50, 3),
                 np.array([3, 2, 1]), few),
    ]
    return x, specs


def _single(x, spec: TaskData) -> TaskResult:
    rows = x if spec.rows is None else x[spec.rows]
    return train_task(rows, spec.y_train, spec.y_val, kind=spec.kind, popularity=spec.popularity,
                      progress=False, hidden_sizes=TINY)


def test_every_epoch_equals_the_single_task_loop(tasks):
    x, specs = tasks
    together = train_tasks(x, specs, progress=False, hidden_sizes=TINY)
    assert list(together) == [s.name for s in specs]
    for spec in specs:
        alone, multi = _single(x, spec), together[spec.name]
        assert multi.engine == "multi" and alone.engine == "single"
        assert len(multi.epochs) == len(alone.epochs) == 3
        for a, b in zip(alone.epochs, multi.epochs):
            assert (a.auroc, a.novelty, a.diversity, a.score, a.train_loss, a.steps) == (
                b.auroc, b.novelty, b.diversity, b.score, b.train_loss, b.steps), spec.name
        assert (multi.best_epoch, multi.best_score, multi.steps, multi.n_clients, multi.n_labels) == (
            alone.best_epoch, alone.best_score, alone.steps, alone.n_clients, alone.n_labels)
        assert multi.best_logits.dtype == np.float32 and multi.best_logits.shape == (alone.n_clients, alone.n_labels)
        assert np.array_equal(multi.best_logits, alone.best_logits)
    # the scores differ between tasks: the models really learnt different labels
    assert len({r.epochs[-1].train_loss for r in together.values()}) == len(specs)


def test_steps_interleave_task_by_task(tasks):
    """Step i of every task runs before step i + 1 of any; a task with fewer batches stops early."""
    x, specs = tasks
    order = []
    handle = register_optimizer_step_post_hook(lambda opt, *a, **k: order.append(id(opt)))
    try:
        train_tasks(x, specs[:2] + specs[3:], epochs=1, progress=False, hidden_sizes=TINY)
    finally:
        handle.remove()
    names = {}
    labelled = [names.setdefault(o, len(names)) for o in order]
    # churn: 2 batches, conversion: 3, propensity_few: 1
    assert labelled == [0, 1, 2, 0, 1, 1]


def test_best_logits_are_the_best_epochs(tasks):
    x, specs = tasks
    result = _single(x, specs[2])
    # AUROC of the stored logits is the best epoch's AUROC.
    from torchmetrics.functional import auroc

    value = auroc(torch.from_numpy(result.best_logits), torch.from_numpy(specs[2].y_val).long(),
                  task="multilabel", num_labels=5)
    assert float(value) == pytest.approx(result.epochs[result.best_epoch].auroc, abs=1e-6)


def test_task_store_round_trip_and_key(tmp_path, tasks):
    x, specs = tasks
    result = _single(x, specs[0])
    store = TaskStore(tmp_path / "tasks")
    store.save("churn", "k1", result)
    loaded, when = store.load("churn", "k1")
    assert loaded.to_dict() == json.loads(json.dumps(result.to_dict()))
    assert np.array_equal(loaded.best_logits, result.best_logits) and when
    assert store.load("churn", "other-key") is None
    assert store.load("conversion", "k1") is None
    store.json_path("churn").write_text("{not json")
    assert store.load("churn", "k1") is None
    assert sorted(p.name for p in store.root.iterdir()) == ["churn.best_logits.npy", "churn.json"]  # no temp files


def test_spread_balances_and_keeps_order():
    costs = {"churn": 40, "conversion": 100, "a": 100, "b": 100, "c": 100, "d": 100}
    groups = spread(list(costs), costs, 2)
    assert sorted(t for g in groups for t in g) == sorted(costs)
    assert [sum(costs[t] for t in g) for g in groups] == [240, 300] or [sum(costs[t] for t in g) for g in groups] == [300, 240]
    for g in groups:
        assert g == [t for t in costs if t in g]
    assert spread(["x"], {"x": 1}, 3) == [["x"], [], []]


def test_parse_devices():
    assert parse_devices("cpu,cpu", "auto") == ["cpu", "cpu"]
    assert parse_devices(None, "cpu") == ["cpu"]
    if not torch.cuda.is_available():
        with pytest.raises(DataError, match="cuda:1 requested but this machine has 0 CUDA"):
            parse_devices("cpu,cuda:1", "auto")
    with pytest.raises(DataError, match="unknown device 'gpu0'"):
        parse_devices("gpu0", "auto")


def test_trainer_choice():
    auto = TrainOptions()
    assert auto.trainer_for("cuda:0", 6) == "multi" and auto.trainer_for("cuda", 1) == "single"
    assert auto.trainer_for("cpu", 6) == "single"
    assert TrainOptions(trainer="multi").trainer_for("cpu", 6) == "multi"
    with pytest.raises(DataError, match="unknown trainer"):
        TrainOptions(trainer="fastest").trainer_for("cpu", 2)


# ---- `ubm train` end to end on generated tiny data


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return prepare_tiny(tmp_path_factory.mktemp("multi") / "data", labels=True)


def _evaluate(prepared: Path, out: Path, log: list[str] | None = None, **kwargs):
    messages = [] if log is None else log
    return evaluate(prepared, prepared / "entry", out, tasks=list(TASKS), device="cpu",
                    labels=prepared / "labels", progress=False, hidden_sizes=TINY, log=messages.append, **kwargs)


def _epochs(metrics_path: Path) -> dict:
    tasks = json.loads(metrics_path.read_text())["tasks"]
    keys = ("auroc", "novelty", "diversity", "score", "train_loss", "steps")
    return {t: [[e[k] for k in keys] for e in r["epochs"]] for t, r in tasks.items()}


@pytest.fixture(scope="module")
def reference(prepared, tmp_path_factory):
    """All six tasks, one after another, in this process."""
    out = tmp_path_factory.mktemp("ref") / "run"
    _evaluate(prepared, out, trainer="single")
    return out


def test_multi_engine_run_equals_single_engine_run(prepared, reference, tmp_path):
    _evaluate(prepared, tmp_path / "multi", trainer="multi")
    assert (tmp_path / "multi" / "scores.json").read_bytes() == (reference / "scores.json").read_bytes()
    assert _epochs(tmp_path / "multi" / "metrics.json") == _epochs(reference / "metrics.json")
    metrics = json.loads((tmp_path / "multi" / "metrics.json").read_text())["tasks"]
    for r in metrics.values():
        assert r["engine"] == "multi" and r["device"] == "cpu" and r["samples_per_s"] > 0
        assert r["peak_memory_bytes"] > 0 and r["seconds"] > 0 and "best_logits" not in r


def test_worker_processes_on_cpu(prepared, reference, tmp_path):
    log: list[str] = []
    _evaluate(prepared, tmp_path / "workers", log, devices="cpu,cpu")
    assert (tmp_path / "workers" / "scores.json").read_bytes() == (reference / "scores.json").read_bytes()
    # Workers keep the parent's thread count, so every epoch matches bit for bit.
    assert _epochs(tmp_path / "workers" / "metrics.json") == _epochs(reference / "metrics.json")
    metrics = json.loads((tmp_path / "workers" / "metrics.json").read_text())["tasks"]
    assert {r["device"] for r in metrics.values()} == {"cpu"}
    spread_lines = [m for m in log if m.startswith("cpu: ") and "finished" not in m]
    assert len(spread_lines) == 2  # both workers got tasks
    assigned = [t.strip() for m in spread_lines for t in m[len("cpu: "):].split(",")]
    assert sorted(assigned) == sorted(TASKS)


def test_resume_reuses_finished_tasks(prepared, reference, tmp_path):
    out = tmp_path / "run"
    _evaluate(prepared, out)
    first = (out / "scores.json").read_bytes()
    log: list[str] = []
    calls = []
    real = workers_mod.train_task

    def counting(*args, **kwargs):
        calls.append(kwargs.get("label"))
        return real(*args, **kwargs)

    workers_mod.train_task = counting
    try:
        _evaluate(prepared, out, log)
        assert calls == []  # nothing retrained
        assert sum("reusing the result" in m for m in log) == 6
        assert (out / "scores.json").read_bytes() == first == (reference / "scores.json").read_bytes()
        # a rewritten entry file is a different input: every task is trained again
        emb = prepared / "entry" / "embeddings.npy"
        st = emb.stat()
        os.utime(emb, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        try:
            _evaluate(prepared, out, log)
        finally:
            os.utime(emb, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert len(calls) == 6
        _evaluate(prepared, out, log, resume=False)
        assert len(calls) == 12
    finally:
        workers_mod.train_task = real


def test_interrupted_run_says_what_finished_and_resumes(prepared, reference, tmp_path):
    out = tmp_path / "run"
    real = workers_mod.train_task
    seen = []

    def interrupted_at_third(*args, **kwargs):
        seen.append(kwargs["label"])
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    log: list[str] = []
    workers_mod.train_task = interrupted_at_third
    try:
        with pytest.raises(KeyboardInterrupt):
            _evaluate(prepared, out, log)
    finally:
        workers_mod.train_task = real
    done = list(TASKS[:2])
    assert f"stopped: finished {', '.join(done)}; not finished: {', '.join(TASKS[2:])}" in log
    assert any("rerun the same command" in m for m in log)
    assert sorted(p.name for p in (out / "tasks").glob("*.json")) == sorted(f"{t}.json" for t in done)
    assert not (out / "scores.json").exists()  # nothing half-written

    # an earlier complete run in the same directory: its outputs stay whole until the new run
    # replaces them at its end (old or new, never a mix)
    (out / "scores.json").write_text("{}")
    write_manifest(out, "run")  # as that run would have listed it (a hand-written file is refused)
    workers_mod.train_task = interrupted_at_third
    seen.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            _evaluate(prepared, out, log)
    finally:
        workers_mod.train_task = real
    assert (out / "scores.json").read_text() == "{}"

    log.clear()
    _evaluate(prepared, out, log)
    assert sum("reusing the result" in m for m in log) == 4
    assert (out / "scores.json").read_bytes() == (reference / "scores.json").read_bytes()


def test_cli_bad_device_is_one_line(prepared, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(prepared / "entry"),
        "--labels", str(prepared / "labels"), "--out", str(tmp_path / "run"), "--devices", "cpu,cuda:0", "--quiet"])
    assert result.exit_code == 2  # a usage error, found before any work
    assert "--devices" in result.output and "cuda:0 requested but this machine has 0 CUDA device(s)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run" / "scores.json").exists()


def test_cli_interrupt_exits_130(prepared, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "evaluate", interrupted)
    result = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(prepared / "entry"),
        "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 130 and "interrupted" in result.output
