import json

import pytest

from ubm.evaluation.leaderboard import format_comparison, format_table, leaderboard, to_json
from ubm.evaluation.seeds import spread
from ubm.evaluation.significance import Comparison, Interval

RUNS = {
    "A": {"churn": 0.7000, "propensity_category": 0.6000, "propensity_sku": 0.8000},
    "B": {"churn": 0.7000, "propensity_category": 0.6200, "propensity_sku": 0.7500},
    "C": {"churn": 0.6500, "propensity_category": 0.6100, "propensity_sku": 0.8100},
}


def test_three_runs_by_hand_with_a_tie():
    # N = 3: rank 1 earns 2, rank 2 earns 1, rank 3 earns 0.
    # churn: A and B tie for places 1-2 -> each (2 + 1) / 2 = 1.5; C third -> 0
    # propensity_category: B 2, C 1, A 0
    # propensity_sku: C 2, A 1, B 0
    # totals: A 1.5 + 0 + 1 = 2.5; B 1.5 + 2 + 0 = 3.5; C 0 + 1 + 2 = 3.0 -> B, C, A
    board = leaderboard(RUNS)
    churn = board.per_task["churn"]
    assert churn.points == {"A": 1.5, "B": 1.5, "C": 0.0}
    assert churn.ranks == {"A": 1, "B": 1, "C": 3}
    assert board.per_task["propensity_category"].points == {"A": 0.0, "B": 2.0, "C": 1.0}
    assert board.per_task["propensity_sku"].points == {"A": 1.0, "B": 0.0, "C": 2.0}
    assert board.totals == {"A": 2.5, "B": 3.5, "C": 3.0}
    assert board.order == ["B", "C", "A"]
    assert board.positions == {"B": 1, "C": 2, "A": 3}
    assert board.tasks == ["churn", "propensity_category", "propensity_sku"]
    # points handed out per task are N(N-1)/2 = 3 whatever the ties
    assert all(sum(t.points.values()) == 3 for t in board.per_task.values())


def test_equal_totals_share_a_position_and_missing_scores_get_zero():
    board = leaderboard({"x": {"churn": 0.6, "sku": 0.5}, "y": {"churn": 0.5, "sku": 0.6}, "z": {"churn": 0.4}})
    # churn: x 2, y 1, z 0; sku: y 2, x 1, z missing -> 0
    assert board.totals == {"x": 3.0, "y": 3.0, "z": 0.0}
    assert board.order == ["x", "y", "z"] and board.positions == {"x": 1, "y": 1, "z": 3}
    assert board.per_task["sku"].ranks["z"] is None and board.per_task["sku"].scores["z"] is None
    nan_board = leaderboard({"x": {"churn": float("nan")}, "y": {"churn": 0.5}})
    assert nan_board.per_task["churn"].points == {"x": 0.0, "y": 1.0}


def test_format_table_and_json():
    board = leaderboard(RUNS)
    table = format_table(board)
    lines = table.splitlines()
    assert lines[0].split() == ["#", "run", "points", "churn", "propensity_category", "propensity_sku"]
    assert lines[2].split()[:3] == ["1", "B", "3.5"]
    assert "0.7000 (1.5)" in lines[2]
    assert "ties share the average" in table
    data = json.loads(to_json(board))
    assert data["order"] == ["B", "C", "A"]
    assert data["per_task"]["churn"]["points"]["A"] == pytest.approx(1.5)


def test_train_ci_shows_the_seed_spread_beside_the_client_interval():
    board = leaderboard({"r": {"churn": 0.75}})
    comparison = Comparison(resamples=10, level=0.95, seed=0, blocks=1000,
                            intervals={"r": {"churn": Interval(0.75, 0.7, 0.8)}})
    text = format_comparison(board, comparison, {"r": {"churn": spread([0.75, 0.70, 0.65])}})
    row = next(line for line in text.splitlines() if line.startswith("churn"))
    # sd of 0.75, 0.70, 0.65 is 0.05; range 0.10 over the width 0.10 is 1.00
    assert row.split() == ["churn", "r", "0.7500", "0.7000", "0.8000", "0.1000", "0.0500", "0.6500", "0.7500",
                           "1.00"]
    assert "seeds sd" in text and "3 training seeds" in text
    assert "seeds sd" not in format_comparison(board, comparison)  # one seed: as before
