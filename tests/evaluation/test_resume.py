"""`ubm train` resumes only from what is whole: a task whose stored logits are gone, cut short,
of the wrong shape or not the ones its record wrote is trained again, never reused with stale
numbers and never a crash; predictions that are gone are written again from the store.

One task (churn), tiny hidden sizes: the resume logic does not depend on the width."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import prepare_tiny
from ubm.evaluation.store import TaskStore
from ubm.evaluation.train import evaluate

TINY = (32, 64)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_tiny(tmp_path_factory.mktemp("resume") / "data", labels=True)


def _run(prepared, out, log):
    return evaluate(prepared, prepared / "entry", out, tasks=["churn"], device="cpu", labels=prepared / "labels",
                    progress=False, hidden_sizes=TINY, log=log.append)


def _damage(kind: str, path) -> None:
    if kind == "deleted":
        path.unlink()
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-7])
    elif kind == "wrong shape":
        np.save(path, np.zeros((3, 1), dtype=np.float32))
    else:  # same shape, other numbers: e.g. a kill between the logits and the record of a retrain
        logits = np.load(path)
        np.save(path, logits + 1)


@pytest.mark.parametrize("kind", ["deleted", "truncated", "wrong shape", "other numbers"])
def test_damaged_logits_retrain_the_task(prepared, tmp_path, trained, kind):
    out = tmp_path / "run"
    log: list[str] = []
    _run(prepared, out, log)
    scores = (out / "scores.json").read_bytes()
    predictions = (out / "predictions" / "churn.npz").read_bytes()
    assert trained == ["churn"]
    _damage(kind, TaskStore(out / "tasks").logits_path("churn"))
    log.clear()
    _run(prepared, out, log)
    assert trained == ["churn", "churn"]  # trained again, not reused
    assert any("not reusing" in m and "training it again" in m for m in log)
    assert not any("reusing the result" in m for m in log)
    # the same seeded training: the same numbers, and whole files again
    assert (out / "scores.json").read_bytes() == scores
    assert (out / "predictions" / "churn.npz").read_bytes() == predictions
    log.clear()
    _run(prepared, out, log)
    assert trained == ["churn", "churn"] and any("reusing the result" in m for m in log)


def test_deleted_predictions_are_written_again_from_the_store(prepared, tmp_path, trained):
    out = tmp_path / "run"
    log: list[str] = []
    _run(prepared, out, log)
    predictions = (out / "predictions" / "churn.npz").read_bytes()
    (out / "predictions" / "churn.npz").unlink()
    _run(prepared, out, log)
    assert trained == ["churn"]  # the store's logits are whole: nothing to retrain
    assert (out / "predictions" / "churn.npz").read_bytes() == predictions


def test_a_record_without_its_logits_digest_is_checked_by_shape(prepared, tmp_path, trained):
    """Records written before the digest was stored are still reused when their logits fit."""
    import json

    out = tmp_path / "run"
    log: list[str] = []
    _run(prepared, out, log)
    record_path = TaskStore(out / "tasks").json_path("churn")
    record = json.loads(record_path.read_text())
    del record["logits_sha256"]
    record_path.write_text(json.dumps(record))
    _run(prepared, out, log)
    assert trained == ["churn"]
    TaskStore(out / "tasks").logits_path("churn").unlink()
    _run(prepared, out, log)
    assert trained == ["churn", "churn"]
