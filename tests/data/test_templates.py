"""Every template runs on its own through `ubm-sql run`, with values of its declared types.

A template added later is covered automatically; a template that needs a temp table or view
from an earlier step must say so with a `-- requires:` header line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from ubm.data import sql
from ubm.cli import main as ubm_main
from ubm.sql_cli import main as sql_main

SAMPLE = {
    "TIMESTAMP": "2022-06-10 00:00:00",
    "DATE": "2022-06-10",
    "BIGINT": "10",
    "INTEGER": "10",
    "DOUBLE": "1.5",
    "BIGINT[]": "1,2,3",
    "BOOLEAN": "true",
}


@pytest.fixture(scope="module")
def split_tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("templates") / "data"
    runner = CliRunner()
    for args in (["generate", "--out", str(root), "--size", "tiny", "--seed", "4"],
                 ["split", "--data-dir", str(root)], ["lists", "--data-dir", str(root)]):
        result = runner.invoke(ubm_main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


def _params(tpl: sql.Template, out: Path) -> list[str]:
    args = []
    for name, param in tpl.params.items():
        if param.type == "VARCHAR":
            value = str(out / f"{name}.parquet") if name == "path" else "%"
        else:
            value = SAMPLE[param.type]
        args += ["--param", f"{name}={value}"]
    return args


# import/* read the user's own files named by a mapping, not a data directory: tests/prepare/test_importer.py runs them.
@pytest.mark.parametrize("name", [n for n in sql.template_names() if not n.startswith("import/")])
def test_template_runs_alone(name, split_tiny, tmp_path):
    tpl = sql.load(name)
    window = "all" if name.startswith("split/") else "input"  # the split reads the published files
    result = CliRunner().invoke(sql_main, [
        "run", name, "--data-dir", str(split_tiny), "--window", window, "--format", "csv",
        *_params(tpl, tmp_path),
    ])
    assert result.exit_code == 0, f"{name}: {result.output}"
    if "executed" not in result.output:
        header = next(csv.reader(io.StringIO(result.stdout)))
        assert header and all(header), f"{name}: no columns in {result.stdout[:200]!r}"


def test_every_template_has_a_purpose_and_documents_its_parameters():
    for tpl in sql.list_templates():
        assert len(tpl.purpose) > 20, tpl.name
        assert "returns:" in tpl.source.split("\n\n")[0] or "-- returns:" in tpl.source, tpl.name
        for param in tpl.params.values():
            assert param.type in SAMPLE or param.type in ("VARCHAR", "VARCHAR[]", "STRUCT"), (tpl.name, param)
            assert param.doc, (tpl.name, param.name)
        for required in tpl.requires:
            assert required in sql.template_names(), (tpl.name, required)
