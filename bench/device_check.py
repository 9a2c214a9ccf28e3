"""The staged device check (issue 24): run by bench/device_check.sh on a lent GPU machine.

    python bench/device_check.py --out OUT [--stages 1,3] [--budget 470] [--dry-run]

Stages, in order of value, each with its own timeout and its own small result file in OUT,
written as soon as the stage ends (a cut-off run still returns what finished):

  1 ``1-versions.json``    Python, torch, CUDA, the GPU, DuckDB, torchmetrics; nvidia-smi
  2 ``2-cuda-tests.json``  ``pytest -m cuda tests/evaluation/test_cuda.py`` (skipped there without a GPU)
  3 ``3-parity.json``      ``small`` data, six tasks: single vs multi (twice) vs multi without
                           graphs vs two workers, official and --fast, bit for bit per epoch,
                           every task saying whether it replayed CUDA graphs
  4 ``4-timing.json``      one epoch of six tasks at 2048 columns on 250 k rows, multi engine,
                           official and --fast, and the one-task loop beside it
  5 ``5-full.json``        1 M x 2048 x 6 tasks x 3 epochs, official then --fast, only when
                           stage 4's rate says it fits in the time left

plus ``summary.json`` (every stage's status and seconds, rewritten after each) and
``log.txt`` (the tail of every command). Seven files, each a few kB; no logits. The stages
share ``--budget`` seconds (default 470: the whole call under 8 minutes with the install).
``--stages`` (or ``STAGES=1,3``) selects stages. ``--dry-run``: toy sizes and narrow models on
the CPU, the same stages and files: what tests/system/test_device_check.py runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
TAIL = 4000  # characters of a command's output kept in its stage file


@dataclass(frozen=True)
class Sizes:
    data: str  # `ubm generate --size` of the parity data
    hidden: str | None  # --hidden THIN,WIDE or None (official widths)
    timing_clients: int
    full_clients: int
    dim: int
    labels: int


DEVICE_SIZES = Sizes("small", None, 250_000, 1_000_000, 2048, 100)
DRY_SIZES = Sizes("tiny", "32,64", 300, 300, 16, 5)
# stage -> (name, cap in seconds); the cap is cut to what is left of the budget
STAGES = {1: ("versions", 40), 2: ("cuda-tests", 120), 3: ("parity", 200), 4: ("timing", 200), 5: ("full", 100_000)}


@dataclass
class Ran:
    argv: list[str]
    rc: int | None  # None: killed at its timeout
    seconds: float
    tail: str


class Check:
    def __init__(self, out: Path, work: Path, dry: bool, budget: float, python: str) -> None:
        self.out, self.work, self.dry, self.python = out, work, dry, python
        self.device = "cpu" if dry else "cuda"
        self.sizes = DRY_SIZES if dry else DEVICE_SIZES
        self.deadline = time.monotonic() + budget
        self.summary: dict = {"dry_run": dry, "device": self.device, "budget_s": budget, "stages": {}}
        out.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, text: str) -> None:
        with open(self.out / "log.txt", "a") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def run(self, argv: list[str], timeout: float) -> Ran:
        """One command in its own process group, killed whole at its timeout."""
        t0 = time.monotonic()
        self.log(f"$ {' '.join(argv)}   (timeout {timeout:.0f} s)")
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=max(timeout, 1))
            rc: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            rc = None
        ran = Ran(argv, rc, round(time.monotonic() - t0, 2), (output or "")[-TAIL:])
        self.log(ran.tail + f"[rc {rc}, {ran.seconds} s]\n")
        return ran

    def py(self, args: list[str], timeout: float) -> Ran:
        return self.run([self.python, *args], timeout)

    def stage(self, number: int, body: Callable[[float], dict]) -> None:
        name, cap = STAGES[number]
        timeout = min(cap, self.left())
        t0 = time.monotonic()
        if timeout < 5:
            result = {"status": "skipped", "reason": "no time left in the budget"}
        else:
            try:
                result = body(timeout)
            except Exception as exc:  # a broken stage must not stop the next ones
                result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        result = {"stage": number, "name": name, **result, "seconds": round(time.monotonic() - t0, 2)}
        (self.out / f"{number}-{name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        self.summary["stages"][number] = {k: result.get(k) for k in ("name", "status", "seconds", "reason")}
        self.summary["left_s"] = round(self.left(), 1)
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=1) + "\n")


def status(ran: Ran) -> str:
    return "timeout" if ran.rc is None else "ok" if ran.rc == 0 else "failed"


VERSIONS = """
import json, os, platform, sys
import numpy, torch
out = {"python": platform.python_version(), "executable": sys.executable, "cpus": os.cpu_count(),
       "torch": torch.__version__, "torch_cuda": torch.version.cuda, "numpy": numpy.__version__,
       "cuda_available": torch.cuda.is_available(), "devices": []}
if torch.cuda.is_available():
    out["cudnn"] = torch.backends.cudnn.version()
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out["devices"].append({"name": p.name, "capability": f"{p.major}.{p.minor}", "memory_bytes": p.total_memory})
import importlib.metadata as meta
for name in ("duckdb", "torchmetrics", "pyarrow", "pandas", "jinja2", "click", "matplotlib", "pytest"):
    try:
        __import__(name)
        out[name] = meta.version(name)
    except Exception as exc:
        out[name] = f"missing ({type(exc).__name__})"
import ubm
from ubm.data.templating import SQL_DIR
out["ubm"], out["sql_dir"] = ubm.__file__, str(SQL_DIR)
print(json.dumps(out))
"""


def stage_versions(check: Check, timeout: float) -> dict:
    ran = check.py(["-c", VERSIONS], timeout)
    result: dict = {"status": status(ran)}
    try:
        result["versions"] = json.loads(ran.tail.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result["output"] = ran.tail
    smi = check.run(["nvidia-smi"], min(20, timeout)) if not check.dry else None
    result["nvidia_smi"] = "dry run: not called" if smi is None else smi.tail
    return result


def stage_cuda_tests(check: Check, timeout: float) -> dict:
    ran = check.py(["-m", "pytest", "-m", "cuda", "tests/evaluation/test_cuda.py", "-p", "no:cacheprovider", "-rfEs"],
                   timeout)
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", ran.tail)}
    return {"status": status(ran), "rc": ran.rc, "counts": counts, "output": ran.tail}


def stage_parity(check: Check, timeout: float) -> dict:
    end = time.monotonic() + timeout
    data = check.work / "parity-data"
    steps = [["generate", "--out", str(data), "--size", check.sizes.data, "--seed", "0"],
             ["split", "--data-dir", str(data)], ["lists", "--data-dir", str(data)],
             ["features", "--data-dir", str(data), "--recipe", "baseline", "--out", str(data / "entry")],
             ["targets", "--data-dir", str(data), "--out", str(data / "labels")]]
    if not (data / "labels" / "summary.json").is_file():
        for step in steps:
            ran = check.py(["-m", "ubm", *step], end - time.monotonic())
            if ran.rc != 0:
                return {"status": status(ran), "reason": f"ubm {step[0]} failed", "output": ran.tail}
    report = check.work / "parity.json"
    report.unlink(missing_ok=True)
    argv = ["bench/engine_parity.py", "--data", str(data), "--device", check.device, "--work",
            str(check.work / "parity-runs"), "--json", str(report)]
    # dry run: no worker processes (tests/evaluation/test_multi.py runs them on CPU; spawning costs a minute here)
    argv += ["--hidden", check.sizes.hidden, "--no-workers"] if check.dry else []
    ran = check.py(argv, end - time.monotonic())
    result: dict = {"status": status(ran), "output": ran.tail[-1500:]}
    if report.is_file():
        result["parity"] = json.loads(report.read_text())
    return result


def timing(check: Check, clients: int, epochs: int, tasks: int, fast: bool, timeout: float) -> dict:
    s = check.sizes
    argv = ["bench/epoch_timing.py", "--clients", str(clients), "--dim", str(s.dim), "--device", check.device,
            "--epochs", str(epochs), "--tasks", str(tasks)]
    argv += ["--labels", str(s.labels), "--engine", "multi"] if tasks > 1 else []
    argv += ["--fast"] if fast else []
    argv += ["--hidden", s.hidden] if s.hidden else []
    ran = check.py(argv, timeout)
    try:
        return {"status": status(ran), **json.loads(ran.tail.strip().splitlines()[-1])}
    except (ValueError, IndexError):
        return {"status": status(ran), "output": ran.tail}


def stage_timing(check: Check, timeout: float) -> dict:
    end = time.monotonic() + timeout
    n = check.sizes.timing_clients
    runs = {}
    for name, tasks, fast in (("multi-official", 6, False), ("multi-fast", 6, True),
                              ("single-task-official", 1, False), ("single-task-fast", 1, True)):
        runs[name] = timing(check, n, 1, tasks, fast, end - time.monotonic())
    # Per-step cost does not depend on the row count: 1 M rows x 3 epochs is (1 M / n) x 3 epochs of this.
    scale = check.sizes.full_clients / n * 3
    projected = {name: round((r["train_seconds"] + r["val_seconds"]) * scale * (6 if name.startswith("single") else 1),
                             1) for name, r in runs.items() if r.get("status") == "ok"}
    ok = all(r.get("status") == "ok" for r in runs.values())
    return {"status": "ok" if ok else "failed", "clients": n, "runs": runs,
            "projected_full_seconds": projected,
            "projection": f"(train + validation seconds of the epoch) x {scale:g}, x 6 tasks for the one-task loop"}


def stage_full(check: Check, timeout: float, projected: dict) -> dict:
    end = time.monotonic() + timeout
    runs: dict = {}
    for name, fast in (("multi-official", False), ("multi-fast", True)):
        need = projected.get(name)
        left = end - time.monotonic()
        if need is None or need * 1.25 + 60 > left:  # data set-up and a margin beside the epochs
            runs[name] = {"status": "skipped", "reason": f"needs about {need} s, {left:.0f} s left"}
            continue
        runs[name] = timing(check, check.sizes.full_clients, 3, 6, fast, left)
    statuses = {r["status"] for r in runs.values()}
    return {"status": "ok" if statuses == {"ok"} else "skipped" if statuses == {"skipped"} else "partial",
            "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/device-out")))
    parser.add_argument("--work", type=Path, default=None, help="scratch data and runs (default: a folder in /tmp)")
    parser.add_argument("--stages", default=os.environ.get("STAGES", "1,2,3,4,5"))
    parser.add_argument("--budget", type=float, default=float(os.environ.get("BUDGET", 470)))
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    try:
        wanted = sorted({int(s) for s in args.stages.replace(" ", ",").split(",") if s})
        if not set(wanted) <= set(STAGES):
            raise ValueError
    except ValueError:
        print(f"error: --stages {args.stages!r}: a comma list of 1..5", file=sys.stderr)
        return 2
    work = args.work or Path("/tmp") / ("ubm-device-dry" if args.dry_run else "ubm-device")
    check = Check(args.out, work, args.dry_run, args.budget, sys.executable)
    check.summary["stages_wanted"] = wanted
    earlier = args.out / "4-timing.json"  # a rerun of stage 5 alone reads the rate of an earlier stage 4
    projected: dict = json.loads(earlier.read_text()).get("projected_full_seconds", {}) if earlier.is_file() else {}
    for number in wanted:
        if number == 1:
            check.stage(1, lambda t: stage_versions(check, t))
        elif number == 2:
            check.stage(2, lambda t: stage_cuda_tests(check, t))
        elif number == 3:
            check.stage(3, lambda t: stage_parity(check, t))
        elif number == 4:
            check.stage(4, lambda t: stage_timing(check, t))
            projected = json.loads((args.out / "4-timing.json").read_text()).get("projected_full_seconds", {})
        elif number == 5:
            check.stage(5, lambda t: stage_full(check, t, projected))
        print(f"stage {number}: {check.summary['stages'][number]['status']} "
              f"({check.summary['stages'][number]['seconds']} s)", flush=True)
    return 0 if all(s["status"] in ("ok", "skipped") for s in check.summary["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
