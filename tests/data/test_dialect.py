"""Every template rendered for Spark (no JVM needed): only functions from an allow-list, and
the rules for what sqlglot gets wrong (ubm.data.dialect)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("sqlglot")

from ubm.data import sql  # noqa: E402
from ubm.data.dialect import functions_used, transpile, transpile_expression  # noqa: E402

# Spark SQL functions the templates may call: each has the same meaning as the DuckDB
# function it comes from (checked against DuckDB by tests/system/test_spark_parity.py).
ALLOWED = {
    "AVG", "CAST", "COALESCE", "COUNT", "DATEDIFF", "FILTER", "HOUR", "LAG", "LEAD", "LENGTH", "MAX",
    "MAX_BY", "MIN", "NULLIF", "ROW_NUMBER", "STDDEV_POP", "SUM", "TO_TIMESTAMP",
    "UNIX_TIMESTAMP", "WEEKDAY",
}

# Structure variants beyond the header defaults, so every Jinja branch is rendered.
VARIANTS = {
    "features/universal/activity": [{"event": "page_visit", "value": "url", "categories": False},
                                    {"event": "search_query", "value": "query", "categories": False}],
    "features/universal/interactions": [{"column": "category"}, {"column": "url", "events": {"page_visit": 1}}],
    "features/universal/label_counts": [{"column": "price"}, {"event": "page_visit", "column": "url"}],
    "features/universal/most_frequent": [{"column": "category", "never_bought": True},
                                         {"never_bought": True}],
    "features/universal/name_vectors": [{"event": "search_query", "vector": "query"}],
    "features/baseline/relevant_events": [{"event": "page_visit", "columns": ["url"]}],
    "features/baseline/slot_counts": [{"event": "page_visit", "columns": ["url"]}],
    "split/input_chunk": [{"ts_text": False}, {"event": "search_query", "value_column": "query",
                                               "value_is_id": False}],
    "lists/most_bought": [{"column": "sku", "new_only": True}],
}


def _renderings():
    for name in sql.template_names():
        if name.startswith("import/"):  # DuckDB only: ubm import reads files with DuckDB's readers
            continue
        for structure in [{}, *VARIANTS.get(name, [])]:
            yield name, structure


@pytest.mark.parametrize("name,structure", list(_renderings()))
def test_every_template_transpiles_to_allowed_spark_functions(name, structure):
    text = sql.render(sql.load(name), structure, dialect="spark")
    used = functions_used(text)
    assert used <= ALLOWED, f"{name}: {sorted(used - ALLOWED)} outside the allow-list"
    code = re.sub(r"'(?:[^']|'')*'", "''", text.split("*/")[-1])  # a regexp literal may hold a $
    assert not re.search(r"\$[A-Za-z_]", code), f"{name}: a DuckDB parameter survived"


def test_parameters_become_spark_named_parameters():
    text = sql.render(sql.load("split/missing_skus"), dialect="spark")
    assert ":since" in text and ":until" in text


def test_isodow_is_monday_one_not_sqlglots_shift():
    out = transpile("SELECT isodow(ts) AS d FROM t", "spark")
    assert "WEEKDAY(ts) + 1" in out and "DAYOFWEEK" not in out


def test_decimal_literals_become_doubles():
    out = transpile("SELECT x / 86400.0 AS d FROM t", "spark")
    assert "CAST(86400.0 AS DOUBLE)" in out


def test_temp_table_is_materialised_with_cache_table():
    out = transpile("CREATE OR REPLACE TEMP TABLE relevant_x AS SELECT 1 AS a", "spark")
    assert out.startswith("CACHE TABLE relevant_x AS SELECT")


@pytest.mark.parametrize("query", [
    "SELECT list_position($v, x) FROM t",           # Spark's array_position: 0, not NULL
    "SELECT ts - to_days(3) FROM t",
    "SELECT unnest($v) AS a, unnest(range(3)) AS b",
])
def test_functions_without_a_faithful_twin_are_refused(query):
    with pytest.raises(sql.TemplateError, match="no faithful Spark twin"):
        transpile(query, "spark", "t")


def test_shared_timestamp_macro_transpiles_for_the_typed_views():
    from ubm.data.templating import macro
    out = transpile_expression(macro("parse", "timestamp_from_text")('"timestamp"'))
    assert out.startswith("CASE WHEN LENGTH(`timestamp`) = 19") and "TO_TIMESTAMP" in out
    # The Spark body the typed views use is the transpiled DuckDB one, so the two cannot drift.
    assert macro("parse", "timestamp_from_text")("`timestamp`", "spark") == out


def test_spark_engine_without_pyspark_says_how_to_install(tmp_path, monkeypatch):
    import sys

    from click.testing import CliRunner

    from ubm.cli import main as ubm_main
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    (tmp_path / "d").mkdir()
    got = CliRunner().invoke(ubm_main, ["split", "--data-dir", str(tmp_path / "d"), "--engine", "spark"])
    assert got.exit_code == 1
    assert "pip install 'ubm[spark]'" in got.output and "Traceback" not in got.output


def test_spark_conf_must_be_key_value(tmp_path):
    from click.testing import CliRunner

    from ubm.cli import main as ubm_main
    got = CliRunner().invoke(ubm_main, ["split", "--data-dir", str(tmp_path), "--engine", "spark",
                                        "--spark-conf", "no-equals-sign"])
    assert got.exit_code == 2 and "--spark-conf" in got.output and "key=value" in got.output


def test_ubm_sql_show_engine_spark_prints_the_transpiled_sql():
    from click.testing import CliRunner

    from ubm.sql_cli import main as sql_main
    duck = CliRunner().invoke(sql_main, ["show", "features/universal/rhythm"])
    spark = CliRunner().invoke(sql_main, ["show", "features/universal/rhythm", "--engine", "spark"])
    assert duck.exit_code == 0 and spark.exit_code == 0
    assert "isodow(" in duck.output and "WEEKDAY(" in spark.output and "isodow" not in spark.output.lower().split("*/")[-1]
