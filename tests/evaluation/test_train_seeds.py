"""`ubm train --seeds`: each task from several seeds, the official first. With one seed the
run's scores.json is byte-identical to a run without seeds; with several it still is (the
official seed's scores), and metrics.json adds per-seed scores, mean and spread. Each seed is
stored and resumed on its own; the multi trainer trains a task's seeds together with the same
numbers; `ubm leaderboard --ci` pairs the seeds of runs trained from the same ones.

Tiny hidden sizes and one task (conversion, 50 clients): nothing here depends on the width."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.fixtures import prepare_tiny
from ubm.cli import main
from ubm.errors import DataError
from ubm.evaluation.model import SEED
from ubm.evaluation.store import parse_seeds, unit_name, unit_of
from ubm.evaluation.train import evaluate

TINY = (32, 64)
TASK = "conversion"


def test_parse_seeds():
    assert parse_seeds(None) == [SEED] and parse_seeds("1") == [SEED]
    assert parse_seeds("3") == [SEED, SEED + 1, SEED + 2]
    assert parse_seeds(f"{SEED},7, 9") == [SEED, 7, 9]
    for bad, why in [("0", "1..100"), ("x", "not a count"), ("7,1278", "must start with the official"),
                     (f"{SEED},7,7", "distinct"), (f"{SEED},-1", "distinct")]:
        with pytest.raises(DataError, match=why):
            parse_seeds(bad)


def test_unit_names_round_trip():
    assert unit_name("churn") == "churn" == unit_name("churn", SEED)
    assert unit_name("propensity_sku", 7) == "propensity_sku.seed7"
    assert unit_of("propensity_sku.seed7") == ("propensity_sku", 7) and unit_of("churn") == ("churn", SEED)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_tiny(tmp_path_factory.mktemp("seeds") / "data", labels=True)


def _run(prepared, out, seeds=None, **kwargs):
    return evaluate(prepared, prepared / "entry", out, tasks=[TASK], device="cpu", labels=prepared / "labels",
                    progress=False, hidden_sizes=TINY, log=lambda m: None, seeds=seeds, **kwargs)


def test_one_seed_is_todays_run_and_more_seeds_keep_its_scores(prepared, tmp_path, trained):
    plain = _run(prepared, tmp_path / "plain")
    one = _run(prepared, tmp_path / "one", seeds=[SEED])
    two = _run(prepared, tmp_path / "two", seeds=[SEED, 7])
    scores = (tmp_path / "plain" / "scores.json").read_bytes()
    assert (tmp_path / "one" / "scores.json").read_bytes() == scores
    assert (tmp_path / "two" / "scores.json").read_bytes() == scores  # the official seed's
    assert trained == [TASK, TASK, TASK, unit_name(TASK, 7)]

    one_metrics = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert "seeds" not in one_metrics and "seed_runs" not in one_metrics
    assert "seeds" not in one_metrics["tasks"][TASK]
    assert sorted(p.name for p in (tmp_path / "one" / "predictions").iterdir()) == [f"{TASK}.npz"]

    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["seeds"] == [SEED, 7]
    spread = metrics["tasks"][TASK]["seeds"]
    per_seed = two.seed_scores[TASK]
    assert spread["scores"] == per_seed and per_seed[0] == plain.scores[TASK]
    assert spread["mean"] == pytest.approx(sum(per_seed) / 2)
    assert spread["sd"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2 ** 0.5)
    assert metrics["seed_runs"][f"{TASK}.seed7"]["best_score"] == per_seed[1]
    assert sorted(p.name for p in (tmp_path / "two" / "predictions").iterdir()) == [f"{TASK}.npz", f"{TASK}.seed7.npz"]
    official = np.load(tmp_path / "two" / "predictions" / f"{TASK}.npz")["logits"]
    other = np.load(tmp_path / "two" / "predictions" / f"{TASK}.seed7.npz")["logits"]
    assert official.shape == other.shape and not np.array_equal(official, other)  # another initialisation
    assert np.array_equal(official, np.load(tmp_path / "plain" / "predictions" / f"{TASK}.npz")["logits"])


def test_resume_is_per_task_and_seed(prepared, tmp_path, trained):
    out = tmp_path / "run"
    _run(prepared, out, seeds=[SEED, 7])
    first = json.loads((out / "metrics.json").read_text())["tasks"][TASK]["seeds"]["scores"]
    _run(prepared, out, seeds=[SEED, 7, 9])
    assert trained == [TASK, f"{TASK}.seed7", f"{TASK}.seed9"]  # only the new seed
    (out / "tasks" / f"{TASK}.seed7.best_logits.npy").unlink()
    again = _run(prepared, out, seeds=[SEED, 7, 9])
    assert trained[3:] == [f"{TASK}.seed7"]  # only the damaged one
    assert again.seed_scores[TASK][:2] == first


def test_the_multi_trainer_trains_a_tasks_seeds_together_with_the_same_numbers(prepared, tmp_path):
    single = _run(prepared, tmp_path / "single", seeds=[SEED, 7], trainer="single")
    multi = _run(prepared, tmp_path / "multi", seeds=[SEED, 7], trainer="multi")
    assert multi.seed_scores == single.seed_scores
    for name in (f"{TASK}.npz", f"{TASK}.seed7.npz"):
        a = np.load(tmp_path / "single" / "predictions" / name)["logits"]
        b = np.load(tmp_path / "multi" / "predictions" / name)["logits"]
        assert np.array_equal(a, b), name
    runs = json.loads((tmp_path / "multi" / "metrics.json").read_text())["seed_runs"]
    assert runs[f"{TASK}.seed7"]["extra"]["trained_with"] == [TASK, f"{TASK}.seed7"]


def test_worker_processes_spread_the_task_seed_pairs(prepared, tmp_path):
    single = _run(prepared, tmp_path / "single", seeds=[SEED, 7])
    workers = _run(prepared, tmp_path / "workers", seeds=[SEED, 7], devices="cpu,cpu")
    assert workers.seed_scores == single.seed_scores
    other = np.load(tmp_path / "workers" / "predictions" / f"{TASK}.seed7.npz")["logits"]
    assert np.array_equal(other, np.load(tmp_path / "single" / "predictions" / f"{TASK}.seed7.npz")["logits"])


def test_cli_bad_seeds_is_a_usage_error(prepared, tmp_path):
    result = CliRunner().invoke(main, [
        "train", "--data-dir", str(prepared), "--embeddings-dir", str(prepared / "entry"),
        "--labels", str(prepared / "labels"), "--out", str(tmp_path / "run"), "--seeds", "7,1278", "--quiet"])
    assert result.exit_code == 2 and "--seeds" in result.output and "official seed 1278" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_leaderboard_pairs_seeds_and_says_which_source_dominates(prepared, tmp_path):
    _run(prepared, tmp_path / "a", seeds=[SEED, 7, 9])
    _run(prepared, tmp_path / "b", seeds=[SEED, 7, 9])
    _run(prepared, tmp_path / "c", seeds=[SEED, 7])
    runner = CliRunner()
    args = ["leaderboard", str(tmp_path / "a"), str(tmp_path / "b"), "--ci", "--resamples", "50"]
    result = runner.invoke(main, args + ["--json", str(tmp_path / "lb.json")])
    assert result.exit_code == 0, result.output
    assert "Training seeds 1278, 7, 9" in result.output and "dominates" in result.output
    seeded = json.loads((tmp_path / "lb.json").read_text())["ci_seeds"]
    assert seeded["seeds"] == [SEED, 7, 9]
    (diff,) = seeded["differences"]
    # the same entry trained from the same seeds: every pair's difference is 0 on every draw
    assert diff["point"] == diff["low"] == diff["high"] == 0.0 and diff["verdict"] == "not distinguishable"
    assert len(seeded["spreads"]["a"][TASK]["scores"]) == 3
    mixed = runner.invoke(main, ["leaderboard", str(tmp_path / "a"), str(tmp_path / "c"), "--ci", "--resamples", "50"])
    assert mixed.exit_code == 0 and "trained from different seeds" in mixed.output
