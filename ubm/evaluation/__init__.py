"""Evaluation at official parity: the fixed model, metrics, the training loop, `ubm train`, leaderboard, report."""
