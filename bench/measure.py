"""Run one benchmark stage as a child process; record wall time and peak RSS.

    python bench/measure.py --label split --size medium --out bench/results.jsonl -- ubm split --data-dir D

Peak RSS is the child's ru_maxrss (the largest resident set of any waited-for
descendant), so it includes DuckDB's memory but not this wrapper's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", required=True)
    parser.add_argument("--size", default="")
    parser.add_argument("--out", default="bench/results.jsonl")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    start = time.perf_counter()
    rc = subprocess.call(command)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    record = {
        "label": args.label, "size": args.size, "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1), "rc": rc, "cores": os.cpu_count(),
        "machine": platform.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(command),
    }
    with open(args.out, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"[bench] {args.label} ({args.size}): {seconds:.1f}s, peak RSS {peak_kib / 1024:.0f} MiB, rc={rc}",
          file=sys.stderr)
    return rc


def measured(label: str, size: str, out: Path, command: list[str]) -> dict:
    """Run ``command`` under this script (another bench script's stage) and return its record;
    a failed stage ends the bench run."""
    rc = subprocess.call([sys.executable, __file__, "--label", label, "--size", size, "--out", str(out), "--",
                          *command])
    if rc != 0:
        raise SystemExit(f"error: {label} failed (exit {rc}): {' '.join(command)}")
    return json.loads(Path(out).read_text().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
