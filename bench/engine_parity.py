"""Engine parity of `ubm train` on prepared data (device check stage 3; issue 24).

    python bench/engine_parity.py --data D --device cuda --work W --json parity.json [--hidden 32,64]

D holds a split, lists, a baseline entry in D/entry and labels in D/labels. Trains all six
tasks with the one-task loop, the multi engine (twice: no stream races), the multi engine
without CUDA graphs and two worker processes on the device (``--devices DEV,DEV``), in
official numerics and with ``--fast``; every epoch's metrics and the best epoch's logits
of each run must equal the one-task loop's bit for bit. Each task says whether it replayed
CUDA graphs (and why not). Writes one small JSON (no logits); exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from ubm.evaluation.store import TASKS_DIR  # noqa: E402
from ubm.evaluation.train import evaluate  # noqa: E402
from ubm.prepare.targets import TASKS  # noqa: E402

KEYS = ("auroc", "novelty", "diversity", "score", "train_loss", "steps")
# name -> (engine, graphs, two workers); each in official numerics and with --fast
RUNS = {"single": ("single", True, False), "multi": ("multi", True, False), "multi-again": ("multi", True, False),
        "multi-nographs": ("multi", False, False), "workers": ("auto", True, True)}


def train(data: Path, out: Path, device: str, name: str, fast: bool, hidden: tuple[int, int] | None) -> float:
    engine, graphs, workers = RUNS[name]
    t0 = time.perf_counter()
    evaluate(data, data / "entry", out, tasks=list(TASKS), device=device, devices=f"{device},{device}" if workers
             else None, fast=fast, labels=data / "labels", progress=False, resume=False, trainer=engine,
             graphs=graphs, hidden_sizes=hidden, predictions=False, log=lambda m: None)
    return time.perf_counter() - t0


def compare(ref: Path, run: Path) -> dict:
    """Per task: engine, cuda_graphs (+ reason), the largest epoch difference, logits equal."""
    a = json.loads((ref / "metrics.json").read_text())["tasks"]
    b = json.loads((run / "metrics.json").read_text())["tasks"]
    out = {}
    for task, ra in a.items():
        rb = b[task]
        worst = max((0.0 if ea[k] == eb[k] else float("inf") if None in (ea[k], eb[k]) else abs(ea[k] - eb[k])
                     for ea, eb in zip(ra["epochs"], rb["epochs"]) for k in KEYS), default=0.0)
        if len(ra["epochs"]) != len(rb["epochs"]):
            worst = float("inf")
        la = np.load(ref / TASKS_DIR / f"{task}.best_logits.npy")
        lb = np.load(run / TASKS_DIR / f"{task}.best_logits.npy")
        out[task] = {"engine": rb["engine"], "device": rb["device"],
                     "cuda_graphs": rb["extra"].get("cuda_graphs", False),
                     "cuda_graphs_reason": rb["extra"].get("cuda_graphs_reason"),
                     "max_epoch_diff": worst if worst != float("inf") else "inf",
                     "logits_equal": bool(la.shape == lb.shape and np.array_equal(la, lb)),
                     "identical": worst == 0.0 and la.shape == lb.shape and bool(np.array_equal(la, lb))}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--hidden", help="THIN,WIDE instead of the official widths (dry runs only)")
    parser.add_argument("--no-workers", action="store_true", help="leave out the two-worker runs")
    args = parser.parse_args()
    names = [n for n in RUNS if not (args.no_workers and RUNS[n][2])]
    hidden = tuple(int(v) for v in args.hidden.split(",")) if args.hidden else None
    report: dict = {"device": args.device, "official_width": hidden is None, "groups": {}}
    same = True
    for fast in (False, True):
        group = "fast" if fast else "official"
        runs, seconds = {}, {}
        for name in names:
            runs[name] = args.work / f"{group}-{name}"
            seconds[name] = round(train(args.data, runs[name], args.device, name, fast, hidden), 2)
            print(f"{group} {name}: {seconds[name]} s", file=sys.stderr, flush=True)
        compared = {name: compare(runs["single"], runs[name]) for name in names if name != "single"}
        ok = all(t["identical"] for r in compared.values() for t in r.values())
        same &= ok
        report["groups"][group] = {"identical": ok, "seconds": seconds, "runs": compared}
        args.json.write_text(json.dumps(report, indent=1) + "\n")  # what finished, if the next group is cut
    report["identical"] = same
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print("all runs identical to the one-task loop" if same else "some runs differ", file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
