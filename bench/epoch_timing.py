"""Seconds per epoch of the evaluation model at a given size (random profiles and labels).

    python bench/epoch_timing.py --clients 1000000 --dim 2048 --device cuda [--fast]
    python bench/epoch_timing.py --clients 2000 --dim 320 --device cpu

Times one epoch (training + validation) of `ubm.evaluation.loop.train_task`; prints JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ubm.evaluation.loop import train_task
from ubm.util import keep_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--labels", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    keep_freed_memory()  # as `ubm train` does
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.clients, args.dim), dtype=np.float32).astype(np.float16)
    y = (rng.random((args.clients, args.labels)) < 0.3).astype(np.float32)
    kind = "binary" if args.labels == 1 else "propensity"
    pop = None if kind == "binary" else rng.integers(1, 1000, args.labels)
    result = train_task(x, y, y, kind=kind, popularity=pop, device=args.device, epochs=1,
                        progress=False, fast=args.fast)
    epoch = result.epochs[0]
    print(json.dumps({"clients": args.clients, "dim": args.dim, "labels": args.labels, "device": result.device,
                      "fast": args.fast, "train_seconds": round(epoch.train_seconds, 2),
                      "val_seconds": round(epoch.val_seconds, 2), "epoch_seconds": round(epoch.seconds, 2),
                      "train_samples_per_s": round(epoch.train_samples_per_s)}))


if __name__ == "__main__":
    main()
