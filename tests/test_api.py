"""The Python API (docs/python.md): its example runs as written, `import ubm` stays cheap,
and the public names are exactly those the page lists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import ubm

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "docs/python.md §1 holds one python example"
    return blocks[0]


def test_the_documented_example_runs(tmp_path):
    # run as a user would: a fresh interpreter, the repository on the path
    script = tmp_path / "example.py"
    script.write_text(_example())
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "{'churn': " in done.stdout and "'run': 'baseline', 'task': 'churn'" in done.stdout


def test_import_ubm_loads_nothing_heavy():
    code = "import sys, ubm; print(sorted(m for m in ('duckdb', 'torch', 'numpy', 'pyarrow', 'ubm.api') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_every_public_name_resolves_and_the_page_lists_every_function():
    text = PAGE.read_text(encoding="utf-8")
    for name in ubm.__all__:
        value = getattr(ubm, name)
        assert value is not None
        if callable(value) and not isinstance(value, type):
            assert f"`{name}(" in text, f"docs/python.md does not list {name}"
    with pytest.raises(AttributeError):
        ubm.export_features  # private: not part of the API


def test_parse_end_takes_a_time_or_a_whole_day():
    assert str(ubm.parse_end("2022-06-01 10:00:00")) == "2022-06-01 10:00:00"
    assert str(ubm.parse_end(" 2022-06-01 ")) == "2022-06-01 23:59:59"
    with pytest.raises(ValueError, match="not YYYY-MM-DD"):
        ubm.parse_end("01/06/2022")


def test_original_ids_join_an_imported_entry_back_to_the_users_ids(tmp_path):
    from click.testing import CliRunner

    from ubm.cli import main

    data, entry = tmp_path / "d", tmp_path / "e"
    ubm.import_data(ROOT / "tests/files/import/invoices.toml", data)
    entry.mkdir()
    # a hand-made entry: dense ids 3, 0, 1 in this order
    np.save(entry / "client_ids.npy", np.array([3, 0, 1], dtype=np.int64))
    np.save(entry / "embeddings.npy", np.zeros((3, 2), dtype=np.float16))
    table = ubm.original_ids(data, entry)
    # the fixture's customers 12583.0, 13047.0, 15100.0, 15291.0, 17850.0 get 0..4 in numeric order
    assert table.column_names == ["row", "client_id", "original_id"]
    assert table.to_pydict() == {"row": [0, 1, 2], "client_id": [3, 0, 1],
                                 "original_id": ["15291", "12583", "13047"]}
    out = tmp_path / "ids.parquet"
    result = CliRunner().invoke(main, ["export-ids", "--data-dir", str(data), "--embeddings-dir", str(entry),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).to_pydict() == table.to_pydict()
    # an id the map lacks, and a data directory ubm import did not write: refused by name
    np.save(entry / "client_ids.npy", np.array([0, 999], dtype=np.int64))
    result = CliRunner().invoke(main, ["export-ids", "--data-dir", str(data), "--embeddings-dir", str(entry),
                                       "--out", str(out)])
    assert result.exit_code == 1 and "1 client id(s) are not in" in result.output and "999" in result.output
    (data / ".ubm/maps/client_id.parquet").unlink()
    result = CliRunner().invoke(main, ["export-ids", "--data-dir", str(data), "--embeddings-dir", str(entry),
                                       "--out", str(out)])
    assert result.exit_code == 1 and "was not written by `ubm import`" in result.output
    assert pq.read_table(out).num_rows == 3  # the earlier file was left as it was
