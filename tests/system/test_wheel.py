"""The package as users install it: the wheel carries every SQL template and macro, and the
installed copy (not the checkout) lists and renders them from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "sql"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: setuptools is already in the venv and the build needs no network.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(out), str(ROOT)],
                   check=True, cwd=out, capture_output=True)
    wheels = list(out.glob("ubm-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    return target


def _shipped_sql() -> set[str]:
    return {str(p.relative_to(SQL)) for p in SQL.rglob("*.sql")}


def _run_installed(installed: Path, cwd: Path, code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    got = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                         capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    return got.stdout


def test_wheel_holds_every_template_and_macro(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    inside = {n.removeprefix("ubm/sql/") for n in names if n.startswith("ubm/sql/") and n.endswith(".sql")}
    assert _shipped_sql() and _shipped_sql() <= inside, sorted(_shipped_sql() - inside)
    assert any(n.startswith("ubm/sql/macros/") for n in names)


def test_installed_copy_lists_and_renders_every_template_from_another_directory(installed, tmp_path):
    code = (
        "import ubm, ubm.data.sql as s, sys\n"
        "print(ubm.__file__)\n"
        "for t in s.list_templates(): s.render(t); print(t.name)\n"
    )
    out = _run_installed(installed, tmp_path, code).split()
    assert out[0].startswith(str(installed)), f"imported {out[0]}, not the installed copy"
    expected = {p.removesuffix(".sql") for p in _shipped_sql() if not p.startswith("macros/")}
    assert set(out[1:]) == expected


def test_installed_ubm_sql_list_names_every_template(installed, tmp_path):
    code = "import sys; sys.argv = ['ubm-sql', 'list']; from ubm.sql_cli import main; main()"
    env = {**os.environ, "PYTHONPATH": str(installed)}
    got = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    listed = {line.split()[0] for line in got.stdout.splitlines() if line.strip()}
    expected = {p.removesuffix(".sql") for p in _shipped_sql() if not p.startswith("macros/")}
    assert listed == expected
