"""The device check's plumbing on CPU (issue 24): `bench/device_check.sh --dry-run` runs every
stage at toy sizes and writes the same small files a GPU run returns.

One dry run for the module (about two minutes on two shared cores); without wheels the
script uses this interpreter's packages, and it runs the checkout without installing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = {"1-versions.json", "2-cuda-tests.json", "3-parity.json", "4-timing.json", "5-full.json",
         "summary.json", "log.txt"}


def _check(tmp: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp / "out"
    wheels = tmp / "no-wheels"
    wheels.mkdir(exist_ok=True)
    inherited = {k: v for k, v in os.environ.items() if k not in ("STAGES", "BUDGET")}
    full_env = {**inherited, "PYTHON": sys.executable, "OUT": str(out), "WHEELS": str(wheels),
                "PRIVATE": str(tmp / "private"), **(env or {})}
    done = subprocess.run(["bash", str(ROOT / "bench" / "device_check.sh"), "--dry-run", "--work", str(tmp / "work"),
                           *args], env=full_env, capture_output=True, text=True, timeout=900)
    return done, out


def _read(out: Path, name: str) -> dict:
    return json.loads((out / name).read_text())


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    done, out = _check(tmp_path_factory.mktemp("dry"))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_every_stage_writes_its_own_small_file(dry):
    assert {p.name for p in dry.iterdir()} == FILES
    assert all(p.stat().st_size < 1 << 20 for p in dry.iterdir())  # far under the 16 MiB a file may be
    summary = _read(dry, "summary.json")
    assert summary["dry_run"] is True and summary["device"] == "cpu"
    assert {int(k): v["status"] for k, v in summary["stages"].items()} == {n: "ok" for n in range(1, 6)}


def test_versions_come_from_the_checkout(dry):
    versions = _read(dry, "1-versions.json")["versions"]
    assert Path(versions["ubm"]).parent == ROOT / "ubm" and Path(versions["sql_dir"]).is_dir()
    assert versions["cuda_available"] is False and versions["duckdb"][0].isdigit()


def test_cuda_tests_ran_and_skipped_without_a_gpu(dry):
    tests = _read(dry, "2-cuda-tests.json")
    assert tests["rc"] == 0 and tests["counts"]["skipped"] >= 10 and "passed" not in tests["counts"]


def test_parity_compares_every_run_and_task(dry):
    parity = _read(dry, "3-parity.json")["parity"]
    assert parity["identical"] is True and parity["official_width"] is False
    for group in ("official", "fast"):
        runs = parity["groups"][group]["runs"]
        assert sorted(runs) == ["multi", "multi-again", "multi-nographs"]  # workers: device runs only
        for name, tasks in runs.items():
            assert len(tasks) == 6
            for task in tasks.values():
                assert task["identical"] and task["logits_equal"] and task["max_epoch_diff"] == 0.0
                assert task["cuda_graphs"] is False and task["cuda_graphs_reason"] in (
                    "not on CUDA (cpu)", "turned off (--no-cuda-graphs)")


def test_timing_and_full_stages(dry):
    timing = _read(dry, "4-timing.json")
    assert sorted(timing["runs"]) == ["multi-fast", "multi-official", "single-task-fast", "single-task-official"]
    multi = timing["runs"]["multi-official"]
    assert multi["status"] == "ok" and multi["tasks"] == 6 and multi["clients"] == 300
    assert len(multi["cuda_graphs"]) == 6 and not any(multi["cuda_graphs"].values())
    assert set(timing["projected_full_seconds"]) == set(timing["runs"])
    full = _read(dry, "5-full.json")
    assert {r["status"] for r in full["runs"].values()} == {"ok"} and full["runs"]["multi-fast"]["epochs"] == 3


def test_stages_select_and_a_short_budget_still_returns_what_finished(tmp_path):
    # How far a 25 s budget gets depends on the machine's speed: stage 1 always finishes,
    # stage 3 finishes or is cut off, and the exit status says which.
    done, out = _check(tmp_path, "--budget", "25", env={"STAGES": "1,3"})
    assert {p.name for p in out.iterdir()} == {"1-versions.json", "3-parity.json", "summary.json", "log.txt"}
    stages = _read(out, "summary.json")["stages"]
    assert stages["1"]["status"] == "ok"
    assert stages["3"]["status"] in ("ok", "timeout", "skipped")
    assert done.returncode == (1 if stages["3"]["status"] == "timeout" else 0)  # cut off, not hung


def test_a_budget_too_short_for_any_stage_skips_them_all_and_says_so(tmp_path):
    # Under 5 s left, a stage is skipped without starting: deterministic on any machine.
    done, out = _check(tmp_path, "--budget", "4", env={"STAGES": "1,3"})
    stages = _read(out, "summary.json")["stages"]
    assert {stages[s]["status"] for s in ("1", "3")} == {"skipped"} and done.returncode == 0  # nothing failed


def test_bad_stage_list_is_one_error_line(tmp_path):
    done, out = _check(tmp_path, "--stages", "1,9")
    assert done.returncode == 2 and "error: --stages '1,9'" in done.stderr and "Traceback" not in done.stderr
