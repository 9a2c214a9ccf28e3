#!/usr/bin/env python3
"""Compare ubm's task scores with the official RecSys Challenge 2025 training pipeline.

NOT run in CI. It reimplements nothing: it runs the organisers' own
``python -m training_pipeline.train`` from a checkout of their repository, on the same data
directory and the same competition entry that ``ubm evaluate`` scored, then compares the
official ``scores.json`` / ``epochs.json`` with ubm's ``scores.json`` / ``metrics.json``.

Prerequisites (yours to install; ubm does not depend on any of it):

* a checkout of the official repository (``training_pipeline/``, ``validator/``,
  ``data_utils/`` at its root), e.g. ``git clone https://github.com/Synerise/recsys2025``;
* a Python environment with its requirements (pytorch-lightning, torchmetrics, pandas,
  numpy, torch; ``neptune`` too unless ``--hidden-logging-mode`` is used: without it the
  official code builds an offline Neptune logger per task);
* the data directory laid out as the official code expects (``input/``, ``target/``,
  docs/data.md §3), and the entry directory (``client_ids.npy``, ``embeddings.npy``).

Example::

    ubm evaluate --data-dir DATA --embeddings-dir ENTRY --out runs/mine --device cuda
    python bench/parity_official.py --official-repo ~/src/recsys2025 --python ~/venvs/rs25/bin/python \\
        --data-dir DATA --embeddings-dir ENTRY --ours runs/mine \\
        --tasks churn propensity_category propensity_sku --accelerator gpu --devices 0

What to expect. Exact equality (all four decimals, and the same best epoch) needs the same
device type, the same torch / cuBLAS build and the same torchmetrics as the official run:
the model is the same sequence of float32 operations in both, but matrix products are not
bit-reproducible across GPU models or library versions. On one machine ubm's loop has been
checked bitwise against a transcription of the official Lightning loop (per-epoch AUROC,
novelty and diversity identical, CPU and H100); this script is the end-to-end check with
the real pipeline, including the official target calculators.

Notes.
* ``--hidden-logging-mode`` renames conversion, propensity_new_sku and propensity_price to
  hidden1..3 in the official output; this script maps them back.
* The official run skips the relevant-clients check only with
  ``--disable-relevant-clients-check``; pass the same setting ``ubm evaluate`` used.
* The official ``epochs.json`` is 0-based, like ubm's ``best_epoch``.

Exit status: 0 when every compared task matches, 1 when one differs, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HIDDEN_NAMES = {"hidden1": "conversion", "hidden2": "propensity_new_sku", "hidden3": "propensity_price"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official-repo", type=Path, required=True, help="checkout of the official repository")
    p.add_argument("--python", default=sys.executable, help="interpreter with the official requirements")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--embeddings-dir", type=Path, required=True)
    p.add_argument("--ours", type=Path, required=True, help="ubm output folder (scores.json, metrics.json)")
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--accelerator", default="gpu")
    p.add_argument("--devices", nargs="+", default=["0"])
    p.add_argument("--num-workers", type=int, default=4)
    p.add_argument("--score-dir", type=Path, default=None, help="where the official scores go (default: a temp dir)")
    p.add_argument("--disable-relevant-clients-check", action="store_true")
    p.add_argument("--hidden-logging-mode", action="store_true", help="avoids needing neptune")
    p.add_argument("--skip-official", action="store_true", help="only compare an existing --score-dir")
    return p.parse_args(argv)


def run_official(args: argparse.Namespace, score_dir: Path) -> float:
    cmd = [
        args.python, "-m", "training_pipeline.train",
        "--data-dir", str(args.data_dir.resolve()),
        "--embeddings-dir", str(args.embeddings_dir.resolve()),
        "--tasks", *args.tasks,
        "--log-name", "ubm-parity",
        "--accelerator", args.accelerator,
        "--devices", *args.devices,
        "--num-workers", str(args.num_workers),
        "--score-dir", str(score_dir.resolve()),
    ]
    if args.disable_relevant_clients_check:
        cmd.append("--disable-relevant-clients-check")
    if args.hidden_logging_mode:
        cmd.append("--hidden-logging-mode")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(args.official_repo.resolve()) + os.pathsep + env.get("PYTHONPATH", "")
    print("running:", " ".join(cmd), file=sys.stderr)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=args.official_repo, env=env, check=True)
    return time.perf_counter() - t


def load_json(path: Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def compare(official_dir: Path, ours_dir: Path, tasks: list[str]) -> list[tuple[str, object, object, object, object, bool]]:
    off_scores = {HIDDEN_NAMES.get(k, k): v for k, v in load_json(official_dir / "scores.json").items()}
    off_epochs_path = official_dir / "epochs.json"
    off_epochs = {HIDDEN_NAMES.get(k, k): v for k, v in load_json(off_epochs_path).items()} if off_epochs_path.exists() else {}
    our_scores = load_json(ours_dir / "scores.json")
    metrics_path = ours_dir / "metrics.json"
    our_tasks = load_json(metrics_path).get("tasks", {}) if metrics_path.exists() else {}
    rows = []
    for task in tasks:
        o, u = off_scores.get(task), our_scores.get(task)
        oe = off_epochs.get(task)
        ue = our_tasks.get(task, {}).get("best_epoch")
        same = o is not None and u is not None and o == u and (oe is None or ue is None or oe == ue)
        rows.append((task, o, u, oe, ue, same))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.official_repo / "training_pipeline").is_dir():
        print(f"{args.official_repo} does not look like the official repository (no training_pipeline/)", file=sys.stderr)
        return 2
    if not (args.ours / "scores.json").is_file():
        print(f"{args.ours}/scores.json not found: run `ubm evaluate` first", file=sys.stderr)
        return 2
    score_dir = args.score_dir or Path(tempfile.mkdtemp(prefix="official-scores-"))
    score_dir.mkdir(parents=True, exist_ok=True)
    if not args.skip_official:
        seconds = run_official(args, score_dir)
        print(f"official pipeline: {seconds:.1f} s", file=sys.stderr)
    rows = compare(score_dir, args.ours, args.tasks)
    print(f"{'task':<22}{'official':>10}{'ubm':>10}{'epoch(off)':>12}{'epoch(ubm)':>12}  match")
    for task, o, u, oe, ue, same in rows:
        print(f"{task:<22}{str(o):>10}{str(u):>10}{str(oe):>12}{str(ue):>12}  {'yes' if same else 'NO'}")
    print(f"official scores in {score_dir}")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
