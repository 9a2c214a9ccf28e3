"""Fixtures shared by the evaluation tests."""

import pytest

import ubm.evaluation.workers as workers_mod


@pytest.fixture
def trained(monkeypatch) -> list[str]:
    """Calls of the one-task loop, by task (and seed): what a run really trained."""
    calls: list[str] = []
    real = workers_mod.train_task

    def counting(*args, **kwargs):
        calls.append(kwargs["label"])
        return real(*args, **kwargs)

    monkeypatch.setattr(workers_mod, "train_task", counting)
    return calls
