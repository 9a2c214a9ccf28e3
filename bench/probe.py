"""A cheap linear probe of entries: ridge regression per task, scored with the task's own metric.

NOT the official evaluation (``ubm train`` trains the fixed ~55 M-parameter MLP); a quick,
comparable proxy for when that is too slow (CPU): for each task, the ridge solution of
train-window labels on the entry's columns (plus an intercept), fitted on all evaluated clients,
then the validation-window metric of its scores (AUROC; for propensity 0.8 AUROC + 0.1
diversity + 0.1 novelty, as ``ubm.evaluation.metrics``), best over a small grid of ridge
strengths (as the protocol keeps the best epoch). Same features in, same procedure: a
difference between entries says which columns carry more linear signal, not the official gap.

    python bench/probe.py --labels D/labels ENTRY [ENTRY ...] [--names a,b]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ubm.contract import TASKS, task_kind
from ubm.evaluation.metrics import make_task_metrics
from ubm.evaluation.labels import align

RIDGE = (1.0, 10.0, 100.0, 1000.0)  # times the number of clients / 1000


def probe_task(x: np.ndarray, ids: np.ndarray, labels: Path, task: str, grams: dict) -> float:
    """``grams`` caches XᵀX per set of evaluated rows (churn's clients differ from the others')."""
    d = labels / task
    task_ids = np.load(d / "client_ids.npy")
    rows, label_rows = align(ids, task_ids)
    xs = torch.from_numpy(np.concatenate([x[rows], np.ones((len(rows), 1), np.float32)], axis=1))
    key = rows.tobytes()
    if key not in grams:
        grams[key] = (xs.T @ xs).double()
    gram = grams[key]
    y = torch.from_numpy(np.load(d / "train.npy")[label_rows].astype(np.float32))
    yv = torch.from_numpy(np.load(d / "validation.npy")[label_rows].astype(np.int64))
    xty = (xs.T @ y).double()
    kind = task_kind(task)
    popularity = np.load(d / "popularity.npy") if kind == "propensity" else None
    best = -1.0
    for ridge in RIDGE:
        w = torch.linalg.solve(gram + ridge * len(rows) / 1000 * torch.eye(len(gram), dtype=gram.dtype), xty)
        metric = make_task_metrics(kind, y.shape[1], popularity)
        metric.update(xs @ w.float(), yv)
        best = max(best, metric.compute().score)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("entries", nargs="+", type=Path)
    ap.add_argument("--labels", required=True, type=Path, help="labels written by `ubm targets`")
    ap.add_argument("--names", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    names = args.names.split(",") if args.names else [e.name for e in args.entries]
    table = {}
    for name, entry in zip(names, args.entries):
        x = np.load(entry / "embeddings.npy").astype(np.float32)
        ids = np.load(entry / "client_ids.npy")
        grams: dict = {}
        table[name] = {t: round(probe_task(x, ids, args.labels, t, grams), 4) for t in TASKS}
        print(f"{name:<12}" + " ".join(f"{t} {v:.4f}" for t, v in table[name].items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
