"""The stored validation outputs (TaskResult.best_logits, <run>/predictions) and `--ci` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ubm.evaluation.loop as loop_mod
from ubm.cli import main
from ubm.evaluation.loop import train_task
from ubm.evaluation.metrics import MetricValues, TaskMetrics, make_task_metrics
from ubm.evaluation.significance import Predictions, compare, load_predictions, load_run, write_predictions

TINY = (32, 64)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((130, 8)).astype(np.float16)  # 2 validation batches: 128 + 2
    y = (rng.random((130, 4)) < 0.3).astype(np.float32)
    return x, y, np.array([40, 30, 20, 10], dtype=np.int64)


class _Recorder(TaskMetrics):
    """Scripted epoch scores; keeps every validation pass's logits."""

    kind = "binary"

    def __init__(self, scores):
        self.scores, self.passes, self.current = list(scores), [], []

    def update(self, logits, targets):
        self.current.append(logits.clone())

    def compute(self):
        self.passes.append(torch.cat(self.current).numpy())
        self.current = []
        return MetricValues("binary", self.scores.pop(0))

    def reset(self):
        pass


@pytest.mark.parametrize("scores,best", [([0.6, 0.7, 0.7], 1), ([0.7, 0.5, 0.9], 2), ([0.8, 0.8, 0.8], 0)])
def test_best_logits_are_the_chosen_epochs_validation_outputs(data, monkeypatch, scores, best):
    x, y, _ = data
    recorder = _Recorder(scores)
    monkeypatch.setattr(loop_mod, "make_task_metrics", lambda *a, **k: recorder)
    result = train_task(x, y[:, 0], y[:, 0], kind="binary", popularity=None, progress=False, hidden_sizes=TINY)
    assert result.best_epoch == best
    assert result.best_logits.dtype == np.float32 and result.best_logits.shape == (130, 1)
    assert np.array_equal(result.best_logits, recorder.passes[best])
    assert not np.array_equal(recorder.passes[0], recorder.passes[2])  # the epochs' outputs differ


def test_best_logits_rescored_give_the_best_epochs_metrics_and_stay_out_of_to_dict(data):
    x, y, popularity = data
    result = train_task(x, y, y, kind="propensity", popularity=popularity, progress=False, hidden_sizes=TINY)
    metrics = make_task_metrics("propensity", 4, popularity)
    logits, targets = torch.from_numpy(result.best_logits), torch.from_numpy(y)
    for s in range(0, 130, 128):
        metrics.update(logits[s : s + 128], targets[s : s + 128])
    values = metrics.compute()
    best = result.epochs[result.best_epoch]
    assert (values.auroc, values.novelty, values.diversity) == (best.auroc, best.novelty, best.diversity)
    as_dict = result.to_dict()
    assert "best_logits" not in as_dict and "extra" in as_dict
    json.dumps(as_dict)  # metrics.json stays plain JSON


def _fake_run(root: Path, name: str, tasks: dict[str, Predictions], scores: dict[str, float] | None = None) -> Path:
    """A run directory as `ubm train` leaves it; scores default to the predictions' own, rounded."""
    run = root / name
    (run / "predictions").mkdir(parents=True)
    for task, preds in tasks.items():
        write_predictions(run / "predictions" / f"{task}.npz", preds)
    if scores is None:
        own = compare({name: tasks}, resamples=1).intervals[name]
        scores = {task: round(iv.point, 4) for task, iv in own.items()}
    (run / "scores.json").write_text(json.dumps(scores))
    (run / "metrics.json").write_text(json.dumps({"official": True, "tasks": {
        t: {"best_score": v, "n_clients": len(tasks[t].client_ids) if t in tasks else None}
        for t, v in scores.items()}}))
    return run


def _preds(task: str, kind: str, logits: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> Predictions:
    pop = np.arange(labels.shape[1], 0, -1, dtype=np.int64) * 10 if kind == "propensity" else None
    return Predictions(task=task, kind=kind, client_ids=ids, logits=logits.astype(np.float32), labels=labels,
                       popularity=pop)


def test_leaderboard_ci_table_json_plot_and_refusal(tmp_path):
    rng = np.random.default_rng(2)
    n = 400
    ids = np.arange(n, dtype=np.int64) + 1000
    churn_y = (rng.random((n, 1)) < 0.5).astype(np.uint8)
    prop_y = (rng.random((n, 6)) < 0.2).astype(np.uint8)
    good_churn = churn_y * 2.0 + rng.standard_normal((n, 1))
    prop = prop_y * 1.0 + rng.standard_normal((n, 6))
    runs = {
        "good": _fake_run(tmp_path, "good", {"churn": _preds("churn", "binary", good_churn, churn_y, ids),
                                             "propensity_category": _preds("propensity_category", "propensity",
                                                                           prop, prop_y, ids)}),
        "noise": _fake_run(tmp_path, "noise", {"churn": _preds("churn", "binary", rng.standard_normal((n, 1)),
                                                               churn_y, ids),
                                               "propensity_category": _preds("propensity_category", "propensity",
                                                                             prop, prop_y, ids)}),
    }
    board, plot = tmp_path / "board.json", tmp_path / "forest.png"
    result = CliRunner().invoke(main, ["leaderboard", str(runs["noise"]), str(runs["good"]), "--ci",
                                       "--resamples", "200", "--json", str(board), "--plot", str(plot)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "95 % bootstrap intervals (200 resamples" in result.output
    # the better-placed run comes first in a pair
    assert any(line.split()[:4] == ["churn", "good", "-", "noise"] for line in result.output.splitlines())
    data = json.loads(board.read_text())
    diffs = {d["task"]: d for d in data["ci"]["differences"]}
    assert diffs["churn"]["first"] == "good" and diffs["churn"]["verdict"] == "better"
    assert diffs["propensity_category"]["low"] == diffs["propensity_category"]["high"] == 0.0  # same outputs
    assert diffs["propensity_category"]["verdict"] == "not distinguishable"
    assert "good better" in result.output and "not distinguishable" in result.output
    ci = data["ci"]["intervals"]["good"]["churn"]
    assert ci["low"] < ci["point"] < ci["high"] and data["ci"]["resamples"] == 200
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.json", "forest.png", "good", "noise"]
    assert "good better" in result.output

    # a run over other clients: refused in one line, exit 1, nothing written
    other = _fake_run(tmp_path, "other", {"churn": _preds("churn", "binary", good_churn, churn_y, ids + 1)})
    refused = CliRunner().invoke(main, ["leaderboard", str(runs["good"]), str(other), "--ci",
                                        "--json", str(tmp_path / "refused.json")])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        "error: churn: runs good and other were evaluated on different clients "
        "(400 and 400 clients, 2 in only one); cannot pair them"]
    assert not (tmp_path / "refused.json").exists()
    missing = _fake_run(tmp_path, "bare", {}, {"churn": 0.9})
    out = CliRunner().invoke(main, ["leaderboard", str(runs["good"]), str(missing), "--ci"])
    assert out.exit_code == 1 and "no stored predictions" in out.output and "Traceback" not in out.output
    # predictions that are not the ones behind scores.json (left over from another run): refused
    stale = _fake_run(tmp_path, "stale", {"churn": _preds("churn", "binary", good_churn, churn_y, ids)},
                      {"churn": 0.5})
    out = CliRunner().invoke(main, ["leaderboard", str(runs["good"]), str(stale), "--ci", "--resamples", "10"])
    assert out.exit_code == 1 and "not from the same run" in out.output and "scores.json says 0.5000" in out.output
    usage = CliRunner().invoke(main, ["leaderboard", str(runs["good"]), "--plot", str(tmp_path / "x.png")])
    assert usage.exit_code == 2 and "--plot needs --ci" in usage.output


def test_train_stores_predictions_and_prints_intervals(tmp_path):
    root = tmp_path / "data"
    runner = CliRunner()
    for args in (["generate", "--out", str(root), "--size", "tiny", "--seed", "5"],
                 ["split", "--data-dir", str(root)], ["lists", "--data-dir", str(root)],
                 ["features", "--data-dir", str(root), "--recipe", "baseline", "--out", str(root / "entry")]):
        assert runner.invoke(main, args, catch_exceptions=False).exit_code == 0
    run = tmp_path / "run"
    result = runner.invoke(main, ["train", "--data-dir", str(root), "--embeddings-dir", str(root / "entry"),
                                  "--tasks", "churn", "--out", str(run), "--device", "cpu", "--quiet",
                                  "--ci", "--resamples", "100"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "bootstrap intervals (100 resamples" in result.output
    preds = load_predictions(run / "predictions" / "churn.npz", "churn", "binary")
    labels_dir = next((root / ".cache").glob("labels-*")) / "churn"
    entry_ids = np.load(root / "entry" / "client_ids.npy")
    label_ids = np.load(labels_dir / "client_ids.npy")
    expected = entry_ids[np.isin(entry_ids, label_ids)]  # evaluated clients, in the entry's order
    assert np.array_equal(preds.client_ids, expected)
    validation = np.load(labels_dir / "validation.npy")
    row = {c: i for i, c in enumerate(label_ids)}
    assert np.array_equal(preds.labels, validation[[row[c] for c in expected]])
    assert preds.logits.dtype == np.float32 and preds.logits.shape == (len(expected), 1)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "best_logits" not in metrics["tasks"]["churn"]
    best = metrics["tasks"]["churn"]["epochs"][metrics["tasks"]["churn"]["best_epoch"]]
    point = compare({"run": load_run(run, ["churn"])}, resamples=10).intervals["run"]["churn"].point
    assert point == pytest.approx(best["score"], abs=1e-6)  # the stored outputs give the run's own score

    # rerun into the same directory without predictions: the old ones go (none left stale)
    before = json.loads((run / "scores.json").read_text())
    result = runner.invoke(main, ["train", "--data-dir", str(root), "--embeddings-dir", str(root / "entry"),
                                  "--tasks", "churn", "--out", str(run), "--device", "cpu", "--quiet",
                                  "--no-predictions"], catch_exceptions=False)
    assert result.exit_code == 0 and not (run / "predictions").exists()
    assert json.loads((run / "scores.json").read_text()) == before
    assert sorted(p.name for p in run.iterdir()) == [".ubm-manifest.json", "metrics.json", "report.png",
                                                     "scores.json", "tasks"]
