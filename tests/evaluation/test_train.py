"""`ubm train` / `ubm leaderboard` end to end on generated tiny data, and the id alignment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.fixtures import prepare_tiny
from ubm.cli import main
from ubm.evaluation.labels import align, resolve_tasks
from ubm.data.io import DataError


def test_align_keeps_entry_order_and_finds_label_rows():
    entry = np.array([5, 3, 9, 7], dtype=np.int64)
    task = np.array([3, 5, 7], dtype=np.int64)  # label arrays' order; 9 is not evaluated
    entry_rows, label_rows = align(entry, task)
    assert entry_rows.tolist() == [0, 1, 3]
    assert label_rows.tolist() == [1, 0, 2]
    assert task[label_rows].tolist() == entry[entry_rows].tolist()


def test_align_with_no_task_clients():
    entry_rows, label_rows = align(np.array([1, 2]), np.array([], dtype=np.int64))
    assert entry_rows.size == 0 and label_rows.size == 0


def test_resolve_tasks():
    assert resolve_tasks(["all"])[0] == "churn" and len(resolve_tasks(["all"])) == 6
    assert resolve_tasks(["conversion", "churn", "conversion"]) == ["conversion", "churn"]
    with pytest.raises(DataError, match="unknown task"):
        resolve_tasks(["nope"])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return prepare_tiny(tmp_path_factory.mktemp("eval") / "data")


def test_train_writes_scores_metrics_report_and_leaderboard(prepared, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(prepared / "entry"),
        "--tasks", "churn", "--tasks", "propensity_category", "--out", str(run), "--device", "cpu", "--quiet",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scores = json.loads((run / "scores.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(scores) == {"churn", "propensity_category"}
    for task, score in scores.items():
        epochs = metrics["tasks"][task]["epochs"]
        assert len(epochs) == 3
        best = max(range(3), key=lambda i: epochs[i]["score"])
        assert metrics["tasks"][task]["best_epoch"] == best
        assert score == round(epochs[best]["score"], 4)
    prop = metrics["tasks"]["propensity_category"]["epochs"][0]
    assert prop["score"] == pytest.approx(0.8 * prop["auroc"] + 0.1 * prop["novelty"] + 0.1 * prop["diversity"])
    assert metrics["official"] is True
    assert (run / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    churn_clients = np.load(next((prepared / ".cache").glob("labels-*")) / "churn" / "client_ids.npy")
    assert metrics["tasks"]["churn"]["n_clients"] == len(churn_clients)

    # Borda over the run and a copy with a worse churn score: the copy earns fewer points.
    worse = tmp_path / "worse"
    shutil.copytree(run, worse)
    (worse / "scores.json").write_text(json.dumps({**scores, "churn": scores["churn"] - 0.1}))
    worse_metrics = json.loads((worse / "metrics.json").read_text())
    worse_metrics["tasks"]["churn"]["best_score"] = scores["churn"] - 0.1  # the leaderboard checks both agree
    (worse / "metrics.json").write_text(json.dumps(worse_metrics))
    board = tmp_path / "board.json"
    result = CliRunner().invoke(main, ["leaderboard", str(run), str(worse), "--names", "a,b",
                                       "--json", str(board)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "a" in result.output and "b" in result.output
    totals = json.loads(board.read_text())
    assert json.dumps(totals)  # parsed back
    text = board.read_text()
    assert '"a"' in text and '"b"' in text


def test_train_refuses_an_invalid_entry(prepared, tmp_path):
    entry = tmp_path / "entry"
    shutil.copytree(prepared / "entry", entry)
    emb = np.load(entry / "embeddings.npy")
    np.save(entry / "embeddings.npy", emb.astype(np.float32))
    result = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(entry),
        "--tasks", "churn", "--out", str(tmp_path / "run"), "--device", "cpu",
    ])
    assert result.exit_code == 1
    assert "wrong dtype" in result.output
    assert not (tmp_path / "run" / "scores.json").exists()


def test_no_relevant_check_evaluates_exactly_the_entry_clients(prepared, tmp_path):
    ids = np.load(prepared / "entry" / "client_ids.npy")
    emb = np.load(prepared / "entry" / "embeddings.npy")
    keep = np.arange(len(ids))[::2][::-1]  # half the clients, reversed order
    entry = tmp_path / "entry"
    entry.mkdir()
    np.save(entry / "client_ids.npy", ids[keep])
    np.save(entry / "embeddings.npy", emb[keep])
    run = tmp_path / "run"
    strict = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(entry),
        "--tasks", "conversion", "--out", str(run), "--device", "cpu", "--quiet",
    ])
    assert strict.exit_code == 1 and "not a permutation" in strict.output
    result = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(entry), "--no-relevant-check",
        "--tasks", "conversion", "--out", str(run), "--device", "cpu", "--quiet",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["tasks"]["conversion"]["n_clients"] == len(keep)
    label_dirs = [d for d in (prepared / ".cache").glob("labels-*")
                  if json.loads((d / "summary.json").read_text())["client_ids"].endswith("client_ids.npy")
                  and "entry" in json.loads((d / "summary.json").read_text())["client_ids"]]
    assert label_dirs, "labels for the entry's own client set were computed"
    assert np.load(label_dirs[0] / "conversion" / "client_ids.npy").tolist() == ids[keep].tolist()
