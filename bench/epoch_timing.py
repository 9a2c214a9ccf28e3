"""Seconds per epoch of the evaluation model at a given size (random profiles and labels).

    python bench/epoch_timing.py --clients 1000000 --dim 2048 --device cuda [--fast]
    python bench/epoch_timing.py --clients 2000 --dim 320 --device cpu
    python bench/epoch_timing.py --clients 1000000 --dim 2048 --device cuda --tasks 6 --engine multi --epochs 3

With ``--tasks 1`` (default) one binary task is timed with `ubm.evaluation.loop.train_task`.
With ``--tasks K`` (2..6) K tasks shaped like the real ones (churn on 60 % of the rows,
conversion, then propensity tasks of ``--labels`` labels) are trained either one after
another (``--engine single``) or together (``--engine multi``,
`ubm.evaluation.multi.train_tasks`). Prints one JSON line (with each task's ``cuda_graphs``
for the multi engine). Runs from a checkout as a script: the repository root goes on the path.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` puts bench/ there, not the root

from ubm.evaluation.loop import train_task
from ubm.evaluation.multi import TaskData, train_tasks
from ubm.util import keep_freed_memory

NAMES = ["churn", "conversion", "propensity_category", "propensity_sku", "propensity_new_sku", "propensity_price"]


def make_tasks(n: int, k: int, labels: int, rng: np.random.Generator) -> list[TaskData]:
    tasks = []
    for name in NAMES[:k]:
        rows = np.flatnonzero(rng.random(n) < 0.6) if name == "churn" else None
        m = n if rows is None else len(rows)
        width = 1 if name in ("churn", "conversion") else labels
        y = (rng.random((m, width)) < 0.3).astype(np.uint8)
        kind = "binary" if width == 1 and name in ("churn", "conversion") else "propensity"
        pop = None if kind == "binary" else rng.integers(1, 1000, width)
        tasks.append(TaskData(name, kind, y, y, pop, rows))
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--labels", type=int, default=1, help="labels of a propensity task (1 task: 1 = binary)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--engine", choices=["single", "multi"], default="single")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--no-graphs", action="store_true", help="multi engine: no CUDA graphs")
    parser.add_argument("--hidden", help="THIN,WIDE instead of the official 2048,4096 (dry runs only)")
    args = parser.parse_args()
    hidden = tuple(int(v) for v in args.hidden.split(",")) if args.hidden else None
    keep_freed_memory()  # as `ubm train` does
    rng = np.random.default_rng(0)
    # Random profiles drawn by torch (on the device when there is one: 1 M x 2048 in numpy
    # would take longer than the epoch it feeds).
    gen_device = args.device if args.device.startswith("cuda") else "cpu"
    g = torch.Generator(device=gen_device).manual_seed(0)
    x = torch.randn((args.clients, args.dim), generator=g, device=gen_device, dtype=torch.float32)
    x = x.to(torch.float16).cpu().numpy()
    out = {"clients": args.clients, "dim": args.dim, "labels": args.labels, "tasks": args.tasks,
           "engine": args.engine, "epochs": args.epochs, "fast": args.fast, "graphs": not args.no_graphs,
           "official_width": hidden is None}
    if args.tasks == 1:
        y = (rng.random((args.clients, args.labels)) < 0.3).astype(np.float32)
        kind = "binary" if args.labels == 1 else "propensity"
        pop = None if kind == "binary" else rng.integers(1, 1000, args.labels)
        result = train_task(x, y, y, kind=kind, popularity=pop, device=args.device, epochs=args.epochs,
                            progress=False, fast=args.fast, hidden_sizes=hidden)
        epoch = result.epochs[0]
        out.update(device=result.device, train_seconds=round(epoch.train_seconds, 2),
                   val_seconds=round(epoch.val_seconds, 2), epoch_seconds=round(epoch.seconds, 2),
                   train_samples_per_s=round(epoch.train_samples_per_s),
                   total_seconds=round(result.seconds, 2), peak_memory_bytes=result.peak_memory_bytes)
        print(json.dumps(out))
        return
    tasks = make_tasks(args.clients, args.tasks, max(args.labels, 2), rng)
    t0 = time.perf_counter()
    if args.engine == "multi":
        results = train_tasks(x, tasks, device=args.device, epochs=args.epochs, progress=False, fast=args.fast,
                              graphs=not args.no_graphs, hidden_sizes=hidden)
    else:
        results = {}
        for t in tasks:
            rows = x if t.rows is None else x[t.rows]
            results[t.name] = train_task(rows, t.y_train, t.y_val, kind=t.kind, popularity=t.popularity,
                                         device=args.device, epochs=args.epochs, progress=False, fast=args.fast,
                                         hidden_sizes=hidden)
    total = time.perf_counter() - t0
    samples = sum(r.n_clients * len(r.epochs) for r in results.values())
    # multi: every task's epoch times are the shared wall time, so count them once
    timed = [next(iter(results.values()))] if args.engine == "multi" else list(results.values())
    train_seconds = sum(e.train_seconds for r in timed for e in r.epochs)
    val_seconds = sum(e.val_seconds for r in timed for e in r.epochs)
    out.update(device=next(iter(results.values())).device, total_seconds=round(total, 2),
               train_seconds=round(train_seconds, 2), val_seconds=round(val_seconds, 2),
               train_samples_per_s=round(samples / train_seconds), samples_per_s_overall=round(samples / total),
               peak_memory_bytes=max(r.peak_memory_bytes or 0 for r in results.values()),
               scores={k: r.best_score for k, r in results.items()},
               cuda_graphs={k: r.extra.get("cuda_graphs", False) for k, r in results.items()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
