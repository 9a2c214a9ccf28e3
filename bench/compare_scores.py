"""Compare task scores of runs: `python bench/compare_scores.py A.json B.json [--tol 0.002]`.

Each file is a `ubm train` scores.json, or a run directory holding one, or the JSON of
bench/lightning_reference.py ({task: {"score": ...}}). Prints the differences and exits 1
when any task differs by more than the tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_scores(path: Path) -> dict[str, float]:
    if path.is_dir():
        path = path / "scores.json"
    raw = json.loads(path.read_text())
    return {k: (v["score"] if isinstance(v, dict) else v) for k, v in raw.items() if k != "placeholder"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--tol", type=float, default=0.002)
    args = parser.parse_args()
    a, b = load_scores(args.a), load_scores(args.b)
    worst = 0.0
    for task in sorted(set(a) & set(b)):
        diff = abs(a[task] - b[task])
        worst = max(worst, diff)
        print(f"{task:<22}{a[task]:>9.4f}{b[task]:>9.4f}{diff:>9.4f}")
    print(f"max |diff| = {worst:.4f} (tolerance {args.tol})")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
