"""Cost of `ubm leaderboard --ci`: store, load and resample one propensity task's outputs.

Synthetic outputs shaped like a full-scale task (default 1,000,000 clients x 100 labels,
positives at the rates of the medium data), two runs that differ slightly. Prints one JSON
line with the seconds of each step, the size of the predictions file, and (with --widths)
how the interval width of the grouped bootstrap compares with the plain client bootstrap.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ubm.evaluation.significance import (
    DEFAULT_BLOCKS,
    Predictions,
    client_terms,
    compare,
    load_predictions,
    make_design,
    task_draws,
    write_predictions,
)


def synthetic(n: int, n_labels: int, seed: int, shift: float = 0.0) -> Predictions:
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.03, 0.001, n_labels)  # a popular head and a long tail
    labels = (rng.random((n, n_labels), dtype=np.float32) < rates).astype(np.uint8)
    logits = rng.standard_normal((n, n_labels), dtype=np.float32) - 4.0
    logits += labels * np.float32(1.0 + shift)
    popularity = np.round(rates * 1e5).astype(np.int64)
    return Predictions(task="propensity_sku", kind="propensity", client_ids=np.arange(n, dtype=np.int64),
                       logits=logits.astype(np.float16), labels=labels, popularity=popularity)


def timed(fn, result: dict, key: str):
    """Wall and CPU seconds (all threads): on a shared machine the CPU figure is the steadier one."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    result[f"{key}_s"] = time.perf_counter() - t0
    result[f"{key}_cpu_s"] = time.process_time() - c0
    return out


def widths(n: int, n_labels: int, resamples: int, blocks: list[int]) -> dict:
    """95 % widths of one run's score interval and of a paired difference, per number of groups
    (``n`` groups = the plain client bootstrap)."""
    a = synthetic(n, n_labels, seed=7)
    b = synthetic(n, n_labels, seed=7, shift=0.05)
    out = {}
    for count in blocks:
        result = compare({"a": {"propensity_sku": a}, "b": {"propensity_sku": b}}, resamples=resamples,
                         seed=3, blocks=count)
        iv, diff = result.intervals["a"]["propensity_sku"], result.differences[0]
        out[f"{n}x{n_labels}_groups_{min(count, n)}"] = {"score_width": round(iv.high - iv.low, 5),
                                                         "difference_width": round(diff.high - diff.low, 5)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=DEFAULT_BLOCKS)
    parser.add_argument("--widths", type=int, default=0, help="also compare widths on this many clients "
                        "(10 labels): plain client bootstrap against 1000 and 250 groups")
    parser.add_argument("--group-widths", action="store_true",
                        help="also compare widths at the full size with 250, 1000 and 4000 groups (10 labels)")
    args = parser.parse_args()

    a = synthetic(args.clients, args.labels, seed=1)
    b = synthetic(args.clients, args.labels, seed=1, shift=0.01)
    result = {"clients": args.clients, "labels": args.labels, "resamples": args.resamples, "blocks": args.blocks,
              "threads": torch.get_num_threads(), "machine": platform.machine(),
              "load_average": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "propensity_sku.npz"
        timed(lambda: write_predictions(path, a), result, "write")
        result["file_mb"] = round(path.stat().st_size / 2**20, 1)
        timed(lambda: load_predictions(path, "propensity_sku", "propensity"), result, "load")
    terms = timed(lambda: client_terms(a), result, "client_terms")
    design = timed(lambda: make_design(args.clients, args.resamples, 0, args.blocks), result, "design")
    timed(lambda: task_draws(terms, a.labels, "propensity", design), result, "one_run_resamples")
    del terms
    comparison = timed(lambda: compare({"a": {"propensity_sku": a}, "b": {"propensity_sku": b}},
                                       resamples=args.resamples, blocks=args.blocks), result, "paired_two_runs")
    diff = comparison.differences[0]
    result["difference"] = [round(diff.point, 5), round(diff.low, 5), round(diff.high, 5), diff.verdict]
    if args.widths:
        result.update(widths(args.widths, 10, args.resamples, [args.widths, 1000, 250]))
    if args.group_widths:
        result.update(widths(args.clients, 10, args.resamples, [250, 1000, 4000]))
    for key, value in result.items():
        if key.endswith("_s"):
            result[key] = round(value, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
