"""Run the chain on generated data and fingerprint every output, so a refactor can prove
that nothing changed: `python bench/identity.py --work W --out before.json`, change the
code, rerun with `--out after.json --compare before.json` (exit 1 on any difference).

Outputs fingerprinted: the split (input/, target/), the label lists, the label arrays of
`ubm targets`, both recipes' entries and `scores.json` of `ubm train` (baseline entry).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

SKIP_SUFFIXES = (".png",)
SKIP_NAMES = {"metrics.json", "columns.json", "manifest.json", "stamp.json"}


def run(args: list[str]) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def fingerprint(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in SKIP_SUFFIXES or path.name in SKIP_NAMES:
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.parent.name == "tasks" and path.suffix == ".json":  # a task record: timings, finish time, key
            continue  # (its logits, tasks/<task>.best_logits.npy, are compared)
        data = path.read_bytes()
        if path.suffix == ".json":  # records paths under the scratch directory, which differs per run
            data = data.replace(str(root).encode(), b"<work>")
        out[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="scratch directory (replaced)")
    ap.add_argument("--out", type=Path, required=True, help="fingerprint JSON to write")
    ap.add_argument("--compare", type=Path, help="fingerprint JSON to compare against")
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--tasks", default="all", help="tasks trained for scores.json")
    a = ap.parse_args()
    ubm = str(Path(sys.executable).with_name("ubm"))
    shutil.rmtree(a.work, ignore_errors=True)
    data, runs = a.work / "data", a.work / "runs"
    run([ubm, "generate", "--out", str(data), "--size", a.size, "--seed", a.seed])
    run([ubm, "split", "--data-dir", str(data)])
    run([ubm, "lists", "--data-dir", str(data), "--force"])
    run([ubm, "targets", "--data-dir", str(data), "--out", str(a.work / "labels")])
    for recipe in ("baseline", "universal"):
        run([ubm, "features", "--data-dir", str(data), "--recipe", recipe,
             "--out", str(data / "entries" / recipe)])
    run([ubm, "train", "--data-dir", str(data), "--embeddings-dir", str(data / "entries" / "baseline"),
         "--tasks", a.tasks, "--out", str(runs / "baseline")])
    prints = fingerprint(a.work)
    a.out.write_text(json.dumps(prints, indent=1, sort_keys=True) + "\n")
    print(f"{len(prints)} files fingerprinted -> {a.out}")
    if a.compare is None:
        return 0
    before = json.loads(a.compare.read_text())
    # Every output of the earlier run must be there, byte for byte; outputs that a newer
    # version adds (e.g. predictions/) are listed, not compared.
    diff = sorted(k for k in before if before[k] != prints.get(k))
    for key in diff:
        print(f"DIFFERS: {key}" if key in prints else f"MISSING: {key}")
    for key in sorted(prints.keys() - before.keys()):
        print(f"new (not compared): {key}")
    print("identical" if not diff else f"{len(diff)} outputs differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
