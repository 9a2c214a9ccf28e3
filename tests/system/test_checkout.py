"""`python -m ubm` from a plain checkout, nothing installed (issue 24): the SQL templates are
then the repository's top-level sql/, not the package ``ubm.sql`` an install maps them to.

The worktrees and the editable install have ``ubm/sql``; the tests copy the repository
without it, as a fresh clone or the bare device machine sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ubm.data.templating import _sql_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("checkout")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "sql", repo / "sql", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copytree(ROOT / "ubm", repo / "ubm", ignore=lambda d, names: [
        *skip(d, names), *(["sql"] if Path(d).resolve() == (ROOT / "ubm").resolve() else [])])
    assert not (repo / "ubm" / "sql").exists()
    return repo


def _python(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def test_templates_come_from_the_checkouts_sql(checkout):
    code = ("import ubm, sys; from ubm.data.templating import SQL_DIR; from ubm.data.sql import template_names; "
            "print(ubm.__file__); print(SQL_DIR); print(' '.join(template_names()))")
    done = _python(checkout, "-c", code)
    assert done.returncode == 0, done.stderr
    package, sql_dir, names = done.stdout.splitlines()
    assert Path(package).parent == checkout / "ubm"  # not the worktree's copy
    assert Path(sql_dir) == checkout / "sql"
    expected = sorted(str(p.relative_to(ROOT / "sql").with_suffix("")) for p in (ROOT / "sql").rglob("*.sql")
                      if p.parent.name != "macros")
    assert "split/end" in names.split() and sorted(names.split()) == expected


def test_python_m_ubm_runs_from_the_checkout(checkout):
    done = _python(checkout, "-m", "ubm", "--help")
    assert done.returncode == 0, done.stderr
    assert "generate" in done.stdout and "train" in done.stdout


def test_sql_beside_the_package_comes_first(checkout, tmp_path):
    assert _sql_dir(checkout / "ubm") == checkout / "sql"
    (tmp_path / "ubm" / "sql" / "split").mkdir(parents=True)  # an installed package's ubm/sql
    (tmp_path / "sql" / "split").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    assert _sql_dir(tmp_path / "ubm") == tmp_path / "ubm" / "sql"


def test_a_sql_folder_outside_a_checkout_is_not_taken(tmp_path, monkeypatch):
    (tmp_path / "ubm").mkdir()
    (tmp_path / "sql" / "split").mkdir(parents=True)  # no pyproject.toml: not ubm's checkout
    # the mapped package (this venv's editable install) is the last resort...
    assert _sql_dir(tmp_path / "ubm") != tmp_path / "sql"
    # ...and without it, one clear error naming both places
    import importlib.resources

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(ModuleNotFoundError, match=f"neither in {tmp_path / 'ubm' / 'sql'} nor in {tmp_path / 'sql'}"):
        _sql_dir(tmp_path / "ubm")
