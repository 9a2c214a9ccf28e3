"""Issue 21 §3: labels that do not cover exactly the evaluated clients are refused, or (with
--no-relevant-check) scored and marked unofficial in scores.json, metrics.json and the table;
the leaderboard refuses what it cannot rank and marks unofficial runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.fixtures import prepare_tiny
from ubm.cli import main
from ubm.data.io import DataError
from ubm.evaluation.outputs import format_scores
from ubm.evaluation.train import evaluate

TINY = (32, 64)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = prepare_tiny(tmp_path_factory.mktemp("labels") / "data")
    relevant = np.load(root / "input" / "relevant_clients.npy")
    np.save(root.parent / "sub.npy", relevant[::2].copy())
    result = CliRunner().invoke(main, ["targets", "--data-dir", str(root), "--out", str(root.parent / "sub"),
                                       "--client-ids", str(root.parent / "sub.npy")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root


def test_relative_client_ids_outside_the_data_dir(prepared, tmp_path, monkeypatch):
    monkeypatch.chdir(prepared.parent)
    result = CliRunner().invoke(main, ["targets", "--data-dir", str(prepared), "--out", str(tmp_path / "t"),
                                       "--client-ids", "sub.npy"])
    assert result.exit_code == 0, result.output


def test_subset_labels_are_refused_with_the_relevant_check(prepared, tmp_path):
    sub = prepared.parent / "sub"
    n = len(np.load(prepared / "input" / "relevant_clients.npy"))
    half = len(np.load(sub / "conversion" / "client_ids.npy"))
    result = CliRunner().invoke(main, ["train", "--data-dir", str(prepared), "--embeddings-dir",
                                       str(prepared / "entry"), "--labels", str(sub), "--tasks", "conversion",
                                       "--out", str(tmp_path / "run"), "--device", "cpu", "--quiet"])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    assert f"labels in {sub} cover {half:,} of the {n:,} clients conversion evaluates" in lines[0]
    assert "--no-relevant-check" in lines[0]
    assert not (tmp_path / "run").exists()


def test_subset_labels_without_the_check_are_marked_unofficial_everywhere(prepared, tmp_path):
    sub = prepared.parent / "sub"
    run = tmp_path / "run"
    result = evaluate(prepared, prepared / "entry", run, tasks=["conversion"], device="cpu",
                      relevant_check=False, labels=sub, hidden_sizes=TINY, progress=False, log=lambda m: None)
    half = len(np.load(sub / "conversion" / "client_ids.npy"))
    scores = json.loads((run / "scores.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert any(f"cover {half:,} of the" in r for r in scores["unofficial"])
    assert metrics["official"] is False and metrics["tasks"]["conversion"]["official"] is False
    assert "cover" in metrics["tasks"]["conversion"]["unofficial"]
    assert metrics["tasks"]["conversion"]["n_clients"] == half
    assert metrics["clients"]["conversion"]["n"] == half
    assert "UNOFFICIAL: conversion: " in format_scores(result.results, result.unofficial) or \
        any("UNOFFICIAL" in ln for ln in format_scores(result.results, result.unofficial).splitlines())


def test_labels_of_another_data_set_are_refused(prepared, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(prepared.parent / "sub", other)
    (other / "stamp.json").unlink()  # no stamp: only the client sets can tell
    ids = np.load(other / "churn" / "client_ids.npy")
    np.save(other / "churn" / "client_ids.npy", ids + 10**9)
    with pytest.raises(DataError, match=r"cover 0 of the \d+ clients churn evaluates"):
        evaluate(prepared, prepared / "entry", tmp_path / "run", tasks=["churn"], device="cpu",
                 labels=other, hidden_sizes=TINY, progress=False, log=lambda m: None)


def test_official_path_unchanged(prepared, tmp_path):
    run = tmp_path / "run"
    result = evaluate(prepared, prepared / "entry", run, tasks=["churn"], device="cpu", progress=False,
                      log=lambda m: None)
    scores = json.loads((run / "scores.json").read_text())
    assert list(scores) == ["churn"] and result.unofficial == []
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["official"] is True and "unofficial" not in metrics
    assert "UNOFFICIAL" not in format_scores(result.results, result.unofficial)


def _run(root: Path, name: str, scores: dict, official: bool = True, n: int = 10, sha: str = "a" * 64,
         metrics: object = None) -> Path:
    run = root / name
    run.mkdir()
    (run / "scores.json").write_text(json.dumps(scores))
    if metrics is None:
        tasks = {t: {"best_score": v, "n_clients": n} for t, v in scores.items() if t != "unofficial"}
        metrics = {"official": official, "tasks": tasks, "clients": {t: {"n": n, "sha256": sha} for t in tasks}}
    if metrics is not False:
        (run / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    return run


def _board(*runs: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["leaderboard", *map(str, runs)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _one_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("value, message", [
    (1.7, "outside 0..1"), (-0.2, "outside 0..1"), ("NaN", "expected a finite number"),
])
def test_leaderboard_refuses_scores_no_task_can_have(tmp_path, value, message):
    good = _run(tmp_path, "good", {"churn": 0.7})
    bad = _run(tmp_path, "bad", {"churn": 0.6})
    (bad / "scores.json").write_text('{"churn": %s}' % value)
    code, out = _board(good, bad)
    assert code == 1
    line = _one_error(out)
    assert f"{bad / 'scores.json'}" in line and message in line and str(value) in line.replace("nan", "NaN")


def test_leaderboard_refuses_an_edited_score(tmp_path):
    good = _run(tmp_path, "good", {"churn": 0.7})
    bad = _run(tmp_path, "bad", {"churn": 0.6})
    (bad / "scores.json").write_text('{"churn": 0.9}')
    code, out = _board(good, bad)
    assert code == 1 and "0.9" in _one_error(out) and "metrics.json says 0.6" in out


@pytest.mark.parametrize("metrics, message", [
    (False, "missing metrics file"), ("[1, 2]", "not the metrics of a `ubm train` run"),
    ('{"auc": 0.6}', "not the metrics of a `ubm train` run"), ("{", "not valid JSON"),
])
def test_leaderboard_refuses_runs_of_another_tool(tmp_path, metrics, message):
    good = _run(tmp_path, "good", {"churn": 0.7})
    bad = _run(tmp_path, "bad", {"churn": 0.6}, metrics=metrics)
    code, out = _board(good, bad)
    assert code == 1 and message in _one_error(out) and str(bad) in _one_error(out)


def test_leaderboard_refuses_runs_on_different_clients(tmp_path):
    a = _run(tmp_path, "a", {"churn": 0.7}, n=31)
    b = _run(tmp_path, "b", {"churn": 0.6}, n=17)
    code, out = _board(a, b)
    assert code == 1 and "(31 and 17 clients)" in _one_error(out) and "churn" in out
    c = _run(tmp_path, "c", {"churn": 0.6}, n=31, sha="b" * 64)  # same count, other clients
    code, out = _board(a, c)
    assert code == 1 and "different clients" in _one_error(out)


def test_leaderboard_marks_unofficial_runs(tmp_path):
    a = _run(tmp_path, "a", {"churn": 0.7})
    b = _run(tmp_path, "b", {"churn": 0.6, "unofficial": ["labels in T cover 17 of the 31 clients"]},
             official=False)
    c = _run(tmp_path, "c", {"churn": 0.5}, official=False)  # older run: only metrics.json says so
    board = tmp_path / "board.json"
    result = CliRunner().invoke(main, ["leaderboard", str(a), str(b), str(c), "--json", str(board)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(ln.split()[:2] == ["1", "a"] for ln in lines)
    assert any(ln.split()[:3] == ["2", "b", "[unofficial]"] for ln in lines)
    assert "UNOFFICIAL b: labels in T cover 17 of the 31 clients" in result.output
    assert "UNOFFICIAL c: metrics.json says official: false" in result.output
    assert json.loads(board.read_text())["unofficial"] == {
        "b": ["labels in T cover 17 of the 31 clients"], "c": ["metrics.json says official: false"]}
