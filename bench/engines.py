"""DuckDB and Spark side by side: each SQL stage of the pipeline once per engine, on copies of
one generated data directory; wall time and peak resident memory of the whole process tree
(Python driver plus Spark's JVM, which in local mode holds driver and executors).

    python bench/engines.py --data data/bench-medium --master 'local[2]' --out bench/results.jsonl

Stages: split, lists, targets, features-baseline, features-universal. One line per stage and
engine goes to --out (label engines-<stage>-<engine>), and a table of Spark/DuckDB ratios is
printed. The Spark figures include the session start (~10 s) in every stage, as a user pays it
per command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

STAGES = ("split", "lists", "targets", "features-baseline", "features-universal")


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def measure(command: list[str]) -> tuple[float, float, int]:
    """(seconds, peak tree RSS MiB, exit code) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def poll() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    if proc.returncode:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return time.perf_counter() - start, peak[0] / 1024, proc.returncode


def stage_command(ubm: str, stage: str, root: Path, engine: list[str]) -> list[str]:
    if stage == "split":
        return [ubm, "split", "--data-dir", str(root), *engine]
    if stage == "lists":
        return [ubm, "lists", "--force", "--data-dir", str(root), *engine]
    if stage == "targets":
        return [ubm, "targets", "--data-dir", str(root), "--out", str(root / "labels"), *engine]
    recipe = stage.removeprefix("features-")
    return [ubm, "features", "--data-dir", str(root), "--recipe", recipe,
            "--out", str(root / "entries" / recipe), *engine]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="generated data directory (not modified)")
    ap.add_argument("--work", type=Path, default=None, help="scratch directory (default: <data>-engines)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--size", default="", help="label for the data size")
    ap.add_argument("--out", type=Path, default=Path("bench/results.jsonl"))
    a = ap.parse_args()
    ubm = str(Path(sys.executable).with_name("ubm"))
    work = a.work or a.data.with_name(a.data.name + "-engines")
    engines = {"duckdb": ["--engine", "duckdb"], "spark": ["--engine", "spark", "--master", a.master]}
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for engine, flags in engines.items():
        root = work / engine
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(a.data, root, ignore=shutil.ignore_patterns("target", "entries", "labels"))
        for chunk in (root / "input").glob("*.parquet"):  # keep relevant_clients.npy, redo the split
            chunk.unlink()
        for stage in a.stages.split(","):
            seconds, mib, rc = measure(stage_command(ubm, stage, root, flags))
            results[(stage, engine)] = (seconds, mib)
            record = {"label": f"engines-{stage}-{engine}", "size": a.size, "seconds": round(seconds, 2),
                      "peak_rss_mib": round(mib, 1), "rc": rc, "cores": os.cpu_count(),
                      "machine": platform.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                      "master": a.master if engine == "spark" else None}
            with open(a.out, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            print(f"[engines] {stage:<20} {engine:<7} {seconds:8.1f} s  {mib:8.0f} MiB  rc={rc}", file=sys.stderr)
            if rc:
                return rc
    print(f"{'stage':<20}{'duckdb s':>10}{'spark s':>10}{'ratio':>8}{'duckdb MiB':>12}{'spark MiB':>11}")
    for stage in a.stages.split(","):
        (ds, dm), (ss, sm) = results[(stage, "duckdb")], results[(stage, "spark")]
        print(f"{stage:<20}{ds:>10.1f}{ss:>10.1f}{ss / ds:>8.1f}{dm:>12.0f}{sm:>11.0f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
