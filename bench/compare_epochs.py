"""Compare every epoch's metrics of `ubm train` runs: `python bench/compare_epochs.py REF RUN [RUN ...]`.

Each argument is a run directory (or its metrics.json). For every task of REF and every
epoch, auroc, novelty, diversity, score and train_loss of each RUN must equal REF's
bit for bit (the multi-task engine's promise). Prints one line per run and task with the
largest difference and the engine; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEYS = ("auroc", "novelty", "diversity", "score", "train_loss", "steps")


def load(path: Path) -> dict:
    if path.is_dir():
        path = path / "metrics.json"
    return json.loads(path.read_text())["tasks"]


def diff(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    return 0.0 if a == b else abs(a - b)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ref", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    ref = load(args.ref)
    same = True
    for run_path in args.runs:
        run = load(run_path)
        for task, r in ref.items():
            if task not in run:
                print(f"{run_path.name:<28}{task:<22}missing")
                same = False
                continue
            o = run[task]
            worst = max((diff(ea[k], eb[k]) for ea, eb in zip(r["epochs"], o["epochs"]) for k in KEYS), default=0.0)
            worst = worst if len(r["epochs"]) == len(o["epochs"]) else float("inf")
            same &= worst == 0.0
            print(f"{run_path.name:<28}{task:<22}{o.get('engine', '?'):<8}max |diff| {worst:.3g}"
                  f"  {'IDENTICAL' if worst == 0.0 else 'DIFFERENT'}")
    print("all epochs identical" if same else "some epochs differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
