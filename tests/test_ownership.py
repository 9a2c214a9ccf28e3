"""Ownership of outputs (issue 21 §1): ubm replaces or deletes only what it made.

A "decoy home" of user files named like ubm's own is the target of every command that writes;
afterwards every decoy must be byte-for-byte the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ubm.cli import main
from ubm.sql_cli import main as sql_main
from ubm.ownership import MANIFEST, OLD_SLOT, Scratch, clean_litter, is_temp_name, read_manifest

DEAD_PID = 2 ** 22 + 12345  # above the default pid_max: never a live process


def run(*args: str, cli=main) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def ok(*args: str, cli=main) -> str:
    code, out = run(*args, cli=cli)
    assert code == 0, out
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("own") / "D"
    ok("generate", "--out", str(root), "--size", "tiny", "--seed", "3")
    ok("split", "--data-dir", str(root))
    ok("lists", "--data-dir", str(root))
    return root


def make_home(home: Path) -> None:
    """User files whose names could collide with ubm's."""
    (home / "src").mkdir(parents=True)
    (home / ".photos.old-2019").mkdir()
    (home / ".photos.old-2019" / "a.jpg").write_bytes(b"\xff\xd8 jpeg")
    (home / "photos").mkdir()
    (home / ".x.old-1").write_text("x old")
    (home / ".y.tmp-2").mkdir()
    (home / ".y.tmp-2" / "f").write_text("y tmp")
    (home / ".z.ubm-0123456789abcdef").mkdir()  # shaped like scratch, no marker
    (home / ".z.ubm-0123456789abcdef" / "keep").write_text("z")
    for name, text in (("columns.json", "{}"), ("summary.json", "{}"), ("client_ids.npy", "ids"),
                       ("notes.txt", "keep"), ("src/a.py", "x = 1\n")):
        (home / name).write_text(text)
    os.symlink("notes.txt", home / "link")


def snapshot(home: Path) -> dict[str, str]:
    out = {}
    for p in sorted(home.rglob("*")):
        rel = str(p.relative_to(home))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def test_decoy_home_is_untouched_by_every_command(data, tmp_path):
    home = tmp_path / "H"
    make_home(home)
    before = snapshot(home)
    refused = [
        ("features", "--data-dir", str(data), "--out", str(home)),
        ("targets", "--data-dir", str(data), "--out", str(home)),
        ("generate", "--out", str(home), "--size", "tiny"),
        ("features", "--data-dir", str(data), "--out", str(home / "src")),
    ]
    for args in refused:
        code, out = run(*args)
        assert code == 2, (args, out)
        assert out.strip().splitlines()[-1].startswith("error: --out ") and "not" in out, out
    # Beside the decoys: new outputs in the same folder, each of which cleans litter there.
    ok("features", "--data-dir", str(data), "--out", str(home / "entry"))
    ok("features", "--data-dir", str(data), "--out", str(home / "entry"))  # ubm's own: replaced
    ok("targets", "--data-dir", str(data), "--out", str(home / "labels"))
    ok("targets", "--data-dir", str(data), "--out", str(home / "labels"))
    ok("generate", "--out", str(home / "D2"), "--size", "tiny", "--seed", "4")
    ok("generate", "--out", str(home / "D2"), "--size", "tiny", "--seed", "5")
    ok("run", "summary/events", "--data-dir", str(data), "--param", "pattern=%", "--format", "csv",
       "--out", str(home / "x.csv"), cli=sql_main)
    after = snapshot(home)
    assert {k: v for k, v in after.items() if k in before} == before
    new = {k.split("/")[0] for k in after if k not in before}
    assert new == {"entry", "labels", "D2", "x.csv"}
    assert read_manifest(home / "entry")["kind"] == "entry"
    assert not [p for p in home.iterdir() if is_temp_name(p.name) and p.name != ".z.ubm-0123456789abcdef"]


def test_refusals_name_the_path_and_the_foreign_file(data, tmp_path):
    entry = tmp_path / "E"
    ok("features", "--data-dir", str(data), "--out", str(entry))
    (entry / "notes.txt").write_text("mine")
    code, out = run("features", "--data-dir", str(data), "--out", str(entry))
    assert code == 2 and f"--out {entry} holds notes.txt, which ubm did not write" in out
    (entry / "notes.txt").unlink()
    (entry / "sub").mkdir()
    code, out = run("features", "--data-dir", str(data), "--out", str(entry))
    assert code == 2 and "holds sub/" in out
    (entry / "sub").rmdir()
    labels = tmp_path / "L"
    ok("targets", "--data-dir", str(data), "--out", str(labels))
    code, out = run("features", "--data-dir", str(data), "--out", str(labels / "churn"))
    assert code == 2 and "holds client_ids.npy" in out and (labels / "churn" / "labels.npy").is_file()
    code, out = run("features", "--data-dir", str(data), "--out", str(labels))
    assert code == 2 and "is a labels directory" in out
    code, out = run("targets", "--data-dir", str(data), "--out", str(entry))
    assert code == 2 and "is an entry" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    ok("features", "--data-dir", str(data), "--out", str(empty))  # an empty directory may be used
    assert (empty / "embeddings.npy").is_file()


def test_symlinked_out_is_written_through_and_kept(data, tmp_path):
    real = tmp_path / "real"
    link = tmp_path / "link"
    ok("features", "--data-dir", str(data), "--out", str(real))
    os.symlink(real, link)
    ok("features", "--data-dir", str(data), "--out", str(link), "--top-n", "3")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads((real / "columns.json").read_text())["options"]["top_n"] == 3
    ok("features", "--data-dir", str(data), "--out", str(tmp_path / "other"))  # cleans litter beside
    assert link.is_symlink()
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    code, out = run("features", "--data-dir", str(data), "--out", str(tmp_path / "dangling"))
    assert code == 2 and "symbolic link to a missing path" in out
    assert not (tmp_path / "nowhere").exists()


def test_only_marked_litter_of_dead_processes_is_cleaned(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "f").write_text("old")
    monkeypatch.setattr(os, "getpid", lambda: DEAD_PID)
    dead = Scratch.beside(tmp_path / "x.csv")
    backup = Scratch.beside(out)
    monkeypatch.undo()
    alive = Scratch.beside(tmp_path / "y.csv")
    os.replace(out, backup.path / OLD_SLOT)  # killed between the two renames of a swap
    forged = tmp_path / ".w.ubm-0123456789abcdef"  # right shape, marker with another token
    forged.mkdir()
    (forged / ".ubm-scratch.json").write_text(json.dumps(
        {"ubm": "scratch", "token": "fedcba9876543210", "for": "w", "pid": DEAD_PID}))
    for name in (".x.old-1", ".out.old-7", ".y.tmp-2"):
        (tmp_path / name).mkdir()
    removed = clean_litter(tmp_path)
    assert sorted(removed) == sorted([dead.path, backup.path])
    assert (out / "f").read_text() == "old"  # the backup was given back
    assert alive.path.is_dir() and forged.is_dir()
    assert all((tmp_path / n).is_dir() for n in (".x.old-1", ".out.old-7", ".y.tmp-2"))


def test_rerun_of_train_over_its_own_run_is_allowed_and_foreign_is_refused(tmp_path, monkeypatch):
    from ubm.evaluation.outputs import RUN_KIND, claim_out as _claim_out, write_outputs
    from ubm.ownership import check_out
    from ubm.util import OutputError

    monkeypatch.setattr("ubm.evaluation.report.write_report_png", lambda m, path: Path(path).write_bytes(b"png"))
    out = tmp_path / "run"
    _claim_out(out, ["churn"])
    write_outputs(out, {"churn": 0.5}, {}, tmp_path, tmp_path, False)
    assert {"scores.json", MANIFEST} <= {p.name for p in out.iterdir()}
    check_out(out, RUN_KIND)  # ubm's own run: may be replaced
    write_outputs(out, {"churn": 0.6}, {}, tmp_path, tmp_path, False)
    assert json.loads((out / "scores.json").read_text()) == {"churn": 0.6}
    (out / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match="holds mine.txt"):
        check_out(out, RUN_KIND)


@pytest.mark.parametrize("kind", ["entry", "labels", "run"])
def test_one_output_guard_refuses_an_out_that_is_or_holds_the_data_directory(tmp_path, kind):
    from ubm.ownership import check_out
    from ubm.util import OutputError

    data = tmp_path / "shop" / "data"
    data.mkdir(parents=True)
    for out in (data, tmp_path / "shop"):
        with pytest.raises(OutputError, match="would replace the data directory"):
            check_out(out, kind, data)
    check_out(tmp_path / "new", kind, data)  # absent: nothing to refuse
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", kind, data)  # empty and not above the data: fine


def test_an_output_error_is_a_usage_error_exit_2():
    from ubm.clikit import explain
    from ubm.errors import OutputError

    assert explain(OutputError("--out x would replace the data directory"))[0] == 2


# -- single-file outputs (--plot, --json, ubm-sql --out) ---------------------------------------

def test_check_file_out_refuses_what_it_must_not_replace(tmp_path, monkeypatch):
    from ubm.ownership import PNG_SIGNATURE, OutputError, check_file_out, write_manifest

    png = tmp_path / "old.png"
    png.write_bytes(PNG_SIGNATURE + b"rest")
    check_file_out(png, "--plot", PNG_SIGNATURE, "a PNG image")  # a PNG is replaced
    check_file_out(tmp_path / "new.png", "--plot", PNG_SIGNATURE, "a PNG image")  # a new name is fine
    (tmp_path / "short.png").write_bytes(b"\x89P")  # shorter than the signature: not a PNG
    (tmp_path / "notes.png").write_text("my notes\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "to-folder").symlink_to(tmp_path / "folder")
    (tmp_path / "to-nothing").symlink_to(tmp_path / "missing")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.png").write_bytes(PNG_SIGNATURE)
    write_manifest(run_dir, "run")
    cases = {"short.png": "not a PNG", "notes.png": "not a PNG", "folder": "directory",
             "to-folder": "directory", "to-nothing": "missing path", "run/report.png": "part of a run directory",
             "notes.png/x.png": "not a directory"}
    for rel, says in cases.items():
        with pytest.raises(OutputError, match=says):
            check_file_out(tmp_path / rel, "--plot", PNG_SIGNATURE, "a PNG image")
    assert (tmp_path / "notes.png").read_text() == "my notes\n"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # an unwritable directory (even for root)
    with pytest.raises(OutputError, match="permission denied"):
        check_file_out(tmp_path / "new.png", "--plot")
