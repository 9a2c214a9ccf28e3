"""Crash tests: a stage killed at several points leaves the old outputs or the new ones,
never a mix, and the next run leaves no temporary files behind.

A subprocess runs the command line with one function patched to ``os._exit`` at its N-th
call (a kill: no cleanup, no finally blocks), then the test inspects the directory.
Regression tests for the label cache, the timezone and stale splits sit at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ubm.cli import main as ubm_main
from ubm.contract import EVENT_TYPES
from ubm.util import is_temp_name

SPLIT_FILES = [f"input/{e}.parquet" for e in EVENT_TYPES] + ["target/train_target.parquet",
                                                              "target/validation_target.parquet"]

KILLER = """
import os, sys, importlib
module, name, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
target = importlib.import_module(module)
*owners, name = name.split(".")
for owner in owners:
    target = getattr(target, owner)
real = getattr(target, name)
calls = [0]
def dying(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth:
        os._exit(9)
    return real(*args, **kwargs)
setattr(target, name, dying)
from ubm.cli import main
main(sys.argv[4:])
"""


def ubm(*args: str) -> None:
    result = CliRunner().invoke(ubm_main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def killed(module: str, name: str, nth: int, *args: str) -> int:
    """Run ``ubm args`` with ``module.name`` dying at its nth call; the exit code (9 = killed)."""
    proc = subprocess.run([sys.executable, "-c", KILLER, module, name, str(nth), *args],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode


def digest(root: Path, names: list[str]) -> dict[str, str | None]:
    return {n: hashlib.sha256((root / n).read_bytes()).hexdigest() if (root / n).is_file() else None
            for n in names}


def litter(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if is_temp_name(p.name)]


def drop_last_purchases(root: Path, n: int = 20) -> None:
    """Change the published product_buy so that a new split differs from the old one."""
    path = root / "product_buy.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - n), path)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "d"
    ubm("generate", "--out", str(root), "--size", "tiny", "--seed", "5")
    return root


@pytest.fixture(scope="module")
def old_and_new(generated: Path, tmp_path_factory) -> tuple[Path, dict, dict]:
    """A split directory whose published files changed since, with both splits' digests."""
    base = tmp_path_factory.mktemp("crash-base")
    old = base / "old"
    shutil.copytree(generated, old)
    ubm("split", "--data-dir", str(old))
    old_digest = digest(old, SPLIT_FILES)
    new = base / "new"
    shutil.copytree(generated, new)
    drop_last_purchases(new)
    ubm("split", "--data-dir", str(new))
    new_digest = digest(new, SPLIT_FILES)
    assert old_digest != new_digest
    drop_last_purchases(old)  # old now holds the changed published file and the old split
    return old, old_digest, new_digest


# os.replace calls of a split's commit: 1 journal, 2..8 the seven outputs, 9 the stamp.
@pytest.mark.parametrize("nth", [1, 2, 4, 8, 9])
def test_split_killed_while_replacing_leaves_old_or_new(old_and_new, nth, tmp_path):
    src, old_digest, new_digest = old_and_new
    root = tmp_path / "d"
    shutil.copytree(src, root)
    assert killed("os", "replace", nth, "split", "--data-dir", str(root)) == 9
    # The next command that reads the split sees one whole split (finishing the renames if the
    # journal was written), or refuses a stale one; never a mix of files.
    result = CliRunner().invoke(ubm_main, ["lists", "--data-dir", str(root), "--force"])
    now = digest(root, SPLIT_FILES)
    assert now in (old_digest, new_digest), f"a mix after a kill at os.replace #{nth}"
    if now == old_digest:
        assert result.exit_code == 1 and "changed since" in result.output
    else:
        assert result.exit_code == 0, result.output
    ubm("split", "--data-dir", str(root))
    assert digest(root, SPLIT_FILES) == new_digest
    assert litter(root) == []


@pytest.mark.parametrize("nth", [1, 3])
def test_split_killed_while_writing_leaves_old(old_and_new, nth, tmp_path):
    src, old_digest, new_digest = old_and_new
    root = tmp_path / "d"
    shutil.copytree(src, root)
    code = killed("ubm.data.sql", "write_parquet", nth, "split", "--data-dir", str(root), "--threads", "1")
    assert code == 9
    assert digest(root, SPLIT_FILES) == old_digest
    ubm("split", "--data-dir", str(root))
    assert digest(root, SPLIT_FILES) == new_digest and litter(root) == []


@pytest.fixture(scope="module")
def split_dir(generated: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash-split") / "d"
    shutil.copytree(generated, root)
    ubm("split", "--data-dir", str(root))
    ubm("lists", "--data-dir", str(root))
    ubm("features", "--data-dir", str(root), "--out", str(root.parent / "entry"))
    return root


ENTRY_FILES = ["client_ids.npy", "embeddings.npy", "columns.json"]


@pytest.mark.parametrize("where", [("ubm.profiles.writer", "ColumnWriter.close", 1),
                                   ("ubm.util", "_exchange", 1),
                                   ("shutil", "rmtree", 1)])
def test_features_killed_leaves_old_or_new_entry(split_dir, where, tmp_path):
    base = tmp_path / "b"
    shutil.copytree(split_dir.parent, base)
    root, entry = base / "d", base / "entry"
    old = digest(entry, ENTRY_FILES)
    # The same recipe with other options: the old entry and the new one differ in every file.
    args = ["features", "--data-dir", str(root), "--top-n", "3", "--windows", "7", "--out", str(entry)]
    code = killed(*where, *args)
    assert code == 9
    now = digest(entry, ENTRY_FILES)

    def top_n() -> int:
        return json.loads((entry / "columns.json").read_text())["options"]["top_n"]
    assert (now == old and top_n() == 10) or (top_n() == 3 and now["embeddings.npy"] != old["embeddings.npy"])
    ubm(*args)
    assert top_n() == 3
    assert litter(base) == []


def test_label_cache_killed_is_cleaned_by_the_next_run(split_dir, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(split_dir, root)
    assert killed("numpy", "save", 4, "targets", "--data-dir", str(root), "--out", str(tmp_path / "t")) == 9
    assert litter(tmp_path) != [] and not (tmp_path / "t").exists()
    ubm("targets", "--data-dir", str(root), "--out", str(tmp_path / "t"))
    assert (tmp_path / "t" / "summary.json").is_file() and litter(tmp_path) == []


@pytest.mark.parametrize("nth", [1, 2])
def test_train_killed_while_writing_keeps_the_old_run(split_dir, nth, tmp_path):
    """Killed in the report (1) or in the swap of the run directory (2): the old run stays."""
    from ubm.evaluation import outputs
    run = tmp_path / "run"
    old_run(run)
    args = ["train", "--data-dir", str(split_dir), "--embeddings-dir", str(split_dir.parent / "entry"),
            "--tasks", "churn", "--out", str(run), "--quiet"]
    where = ("ubm.evaluation.report", "write_report_png") if nth == 1 else ("ubm.util", "_exchange")
    assert killed(*where, 1, *args) == 9
    # The run's outputs stay the old ones (tasks/ may hold what finished, for --resume).
    assert run_files(run) == {n: "old" for n in outputs.RUN_OUTPUTS}
    ubm(*args)
    assert json.loads((run / "scores.json").read_text())["churn"] >= 0
    assert litter(tmp_path) == [] and litter(split_dir.parent) == []


def test_train_outputs_change_as_one_unit(tmp_path, monkeypatch):
    """scores.json, metrics.json and report.png: a failure while writing keeps the old run."""
    from ubm.evaluation import outputs

    run = tmp_path / "run"
    old_run(run)
    monkeypatch.setattr("ubm.evaluation.report.write_report_png",
                        lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        outputs.write_outputs(run, {"churn": 0.5}, {}, tmp_path, tmp_path, False)
    assert run_files(run) == {n: "old" for n in outputs.RUN_OUTPUTS}
    assert litter(tmp_path) == []


def test_atomic_dir_fallback_restores_the_old_directory(tmp_path, monkeypatch):
    """Without an atomic exchange, a death between the two renames is repaired next time."""
    from ubm import ownership, util

    target = tmp_path / "out"
    target.mkdir()
    (target / "f").write_text("old")
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: never a live process
    monkeypatch.setattr(os, "getpid", lambda: dead_pid)
    scratch = ownership.Scratch.beside(target)
    monkeypatch.undo()
    scratch.slot.mkdir()
    os.replace(target, scratch.path / ownership.OLD_SLOT)  # as if killed between the renames
    assert util.clean_litter(tmp_path)
    assert (target / "f").read_text() == "old" and litter(tmp_path) == []


def old_run(run: Path) -> None:
    """A run directory of ubm's holding "old" outputs."""
    from ubm.evaluation import outputs
    from ubm.ownership import write_manifest

    run.mkdir()
    for name in outputs.RUN_OUTPUTS:
        (run / name).write_text("old")
    write_manifest(run, "run")


def run_files(run: Path) -> dict[str, str]:
    from ubm.ownership import MANIFEST

    return {p.name: p.read_text() for p in run.iterdir() if p.is_file() and p.name != MANIFEST}


# -- regression tests: these failed before issue 10 ------------------------------------------

def test_label_cache_follows_the_relevant_clients(split_dir, tmp_path):
    from ubm.data.io import Settings
    from ubm.evaluation.labels import labels_for

    root = tmp_path / "d"
    shutil.copytree(split_dir, root)
    first = labels_for(root, None, root / ".cache", Settings(), lambda m: None)
    relevant = np.load(root / "input" / "relevant_clients.npy")
    active = np.concatenate([pq.read_table(root / "input" / f"{e}.parquet").column("client_id").to_numpy()
                             for e in EVENT_TYPES])
    extra = np.setdiff1d(np.unique(active), relevant)[:10]
    assert len(extra) == 10
    np.save(root / "input" / "relevant_clients.npy", np.concatenate([relevant, extra]))
    ubm("lists", "--data-dir", str(root))  # rebuilds the lists made from the old client set
    second = labels_for(root, None, root / ".cache", Settings(), lambda m: None)
    assert second != first
    assert len(np.load(second / "conversion" / "client_ids.npy")) == len(relevant) + 10


def _with_timestamptz(root: Path) -> None:
    for event in EVENT_TYPES:
        path = root / f"{event}.parquet"
        table = pq.read_table(path)
        ts = pc.strptime(table.column("timestamp"), "%Y-%m-%d %H:%M:%S", "us")
        ts = ts.cast(pa.timestamp("us", tz="UTC"))
        i = table.schema.get_field_index("timestamp")
        pq.write_table(table.set_column(i, "timestamp", ts), path)


def test_split_is_independent_of_the_machine_timezone(generated, tmp_path):
    outputs = {}
    text = tmp_path / "text"
    shutil.copytree(generated, text)
    ubm("split", "--data-dir", str(text))
    for zone in ("UTC", "America/New_York"):
        root = tmp_path / zone.replace("/", "_")
        shutil.copytree(generated, root)
        _with_timestamptz(root)
        env = {**os.environ, "TZ": zone}
        proc = subprocess.run([sys.executable, "-m", "ubm", "split", "--data-dir", str(root)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs[zone] = digest(root, SPLIT_FILES)
    assert outputs["UTC"] == outputs["America/New_York"]
    # and the same instants as the text encoding of the same times
    for name in SPLIT_FILES[:1]:
        a = pq.read_table(text / name).column("timestamp").to_pylist()
        b = pq.read_table(tmp_path / "America_New_York" / name).column("timestamp").to_pylist()
        assert a == b


def test_generate_over_a_split_directory_leaves_no_stale_split(split_dir, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(split_dir, root)
    ubm("generate", "--out", str(root), "--size", "tiny", "--seed", "9")
    result = CliRunner().invoke(ubm_main, ["features", "--data-dir", str(root), "--out", str(tmp_path / "e")])
    assert result.exit_code == 1 and "ubm split" in result.output
    assert not (tmp_path / "e").exists()


def test_published_file_changed_after_split_is_refused(split_dir, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(split_dir, root)
    drop_last_purchases(root, 1)
    for args in (["lists", "--data-dir", str(root), "--force"],
                 ["targets", "--data-dir", str(root), "--out", str(tmp_path / "t")],
                 ["features", "--data-dir", str(root), "--out", str(tmp_path / "e")]):
        result = CliRunner().invoke(ubm_main, args)
        assert result.exit_code == 1, (args, result.output)
        assert "product_buy.parquet changed since `ubm split`" in result.output
