"""The SQL template runner (ubm.data.sql) and the ubm-sql command line."""

from __future__ import annotations

import json

import numpy as np

import pytest
from click.testing import CliRunner

from tests import split_fixture as fx
from ubm.data import sql
from ubm.data.opener import open_data
from ubm.sql_cli import main as sql_main


@pytest.fixture
def data(tmp_path):
    root = fx.make(tmp_path / "d")
    opened = open_data(root)
    yield opened
    opened.close()


def events(data, pattern):
    return sql.fetch_numpy(data, "summary/events", {"pattern": pattern})


def test_every_template_has_a_purpose_and_documents_its_parameters():
    templates = sql.list_templates()
    names = {t.name for t in templates}
    assert {"split/input_chunk", "lists/most_bought", "targets/propensity", "summary/events"} <= names
    for tpl in templates:
        assert tpl.purpose, tpl.name
        rendered = sql.render(tpl)
        used = set(sql._PARAM_USE.findall(sql._strip_comments(rendered)))
        assert used <= set(tpl.params), (tpl.name, used - set(tpl.params))
        assert all(p.doc for p in tpl.params.values()), tpl.name


def test_runs_with_values(data):
    assert list(events(data, "%")["event_type"]) == list(fx.INPUT_ROWS)
    assert list(events(data, "product%")["events"]) == [len(fx.PRODUCT_BUY)]


def test_unknown_template(data):
    with pytest.raises(sql.TemplateError, match="unknown template 'summary/nope'.*summary/events"):
        sql.run(data, "summary/nope")
    with pytest.raises(sql.TemplateError, match="unknown template"):
        sql.run(data, "../ubm/io")


def test_missing_unknown_and_wrong_type_parameters(data):
    with pytest.raises(sql.TemplateError, match="missing parameter 'pattern'"):
        sql.run(data, "summary/events")
    with pytest.raises(sql.TemplateError, match="unknown parameter 'patern'"):
        sql.run(data, "summary/events", {"pattern": "%", "patern": "%"})
    with pytest.raises(sql.TemplateError, match="parameter 'since' expects TIMESTAMP"):
        sql.run(data, "summary/clients", {"since": "yesterday", "until": "2022-01-01"})
    with pytest.raises(sql.TemplateError, match="parameter 'limit' expects BIGINT"):
        sql.run(data, "lists/most_bought", {"limit": "100; DROP TABLE x"})
    with pytest.raises(sql.TemplateError, match="unknown structure variable 'tables'"):
        sql.run(data, "summary/events", {"pattern": "%"}, {"tables": ["product_buy"]})


@pytest.mark.parametrize("evil", ["1; DROP TABLE x", "' OR 1=1 --", "%'; DROP VIEW product_buy; --"])
def test_values_stay_values(data, evil):
    data.con.sql("CREATE TABLE x AS SELECT 1 AS a")
    result = events(data, evil)
    assert len(result["event_type"]) == 0  # no event type is LIKE that text
    assert data.con.sql("SELECT count(*) FROM x").fetchall() == [(1,)]
    assert list(events(data, "%")["events"])[0] == len(fx.PRODUCT_BUY)  # views intact


def test_structure_only_takes_known_identifiers(data):
    with pytest.raises(sql.TemplateError, match="not an allowed identifier"):
        sql.run(data, "summary/events", {"pattern": "%"}, {"events": ["product_buy; DROP TABLE x"]})
    with pytest.raises(sql.TemplateError, match="not an allowed identifier"):
        sql.render("lists/most_bought", {"column": "sku FROM x --"})


def test_cli_exit_codes(tmp_path):
    root = fx.make(tmp_path / "d")
    runner = CliRunner()
    ok = runner.invoke(sql_main, ["run", "summary/events", "--data-dir", str(root),
                                  "--param", "pattern=%", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)[0]["events"] == len(fx.PRODUCT_BUY)
    for args in (["run", "summary/nope", "--data-dir", str(root)],
                 ["run", "summary/events", "--data-dir", str(root)],
                 ["run", "summary/events", "--data-dir", str(root), "--param", "pattern=%", "--param", "x=1"],
                 ["run", "summary/clients", "--data-dir", str(root), "--param", "since=soon",
                  "--param", "until=2022-01-01"],
                 ["show", "summary/nope"]):
        result = runner.invoke(sql_main, args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output
    missing = runner.invoke(sql_main, ["run", "summary/events", "--data-dir", str(tmp_path / "none"),
                                       "--param", "pattern=%"])
    assert missing.exit_code == 1 and "none" in missing.output


def test_cli_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(sql_main, ["list"])
    assert listed.exit_code == 0 and "split/input_chunk" in listed.output and "$train_target_start" in listed.output
    shown = runner.invoke(sql_main, ["show", "split/input_chunk", "--set", "event=page_visit",
                                     "--set", "value_column=url"])
    assert shown.exit_code == 0
    assert "FROM raw_page_visit" in shown.output and "$train_target_start" in shown.output


# Known ways out of a Jinja template into Python; each must stop in the sandbox.
ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('echo PWNED').read() }}",
    "{{ joiner.__init__.__globals__.os.system('echo PWNED') }}",
    "{{ lipsum.__globals__['os'].popen('echo PWNED').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('echo PWNED').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ range.__self__.__import__('os').popen('echo PWNED').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{% set x = [].__class__.__base__.__subclasses__() %}{{ x }}",
    "{{ dict.mro()[-1].__subclasses__() }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_blocks_known_escapes(payload, tmp_path):
    marker = tmp_path / "ran"
    source = f"-- A hostile template.\nSELECT '{payload.replace('echo PWNED', f'touch {marker}')}'\n"
    tpl = sql.Template("evil/x", tmp_path / "x.sql", "A hostile template.", {}, {}, source)
    with pytest.raises(sql.TemplateError, match="sandbox|undefined|has no attribute"):
        sql.render(tpl)
    assert not marker.exists()


def test_sandbox_keeps_the_shipped_templates_working():
    for tpl in sql.list_templates():
        assert sql.render(tpl).strip()  # every shipped template renders with its defaults


def _outside_names(tmp_path):
    evil = tmp_path / "evil.sql"
    evil.write_text("-- Runs what it should not.\nSELECT '{{ cycler.__init__.__globals__.os.getcwd() }}' AS x\n")
    link = sql.SQL_DIR / "summary" / "linked_out.sql"
    return evil, [str(evil.with_suffix("")), str(evil), "../" * 12 + str(evil.with_suffix("")).lstrip("/"),
                  "summary/../../" + "x", "macros/parse", "Summary/Events", "summary/events.sql",
                  "summary//events", "", " summary/events"], link


def test_only_shipped_templates_load(tmp_path):
    evil, names, _ = _outside_names(tmp_path)
    for name in names:
        with pytest.raises(sql.TemplateError, match="unknown template"):
            sql.load(name)


def test_a_link_out_of_sql_is_refused(tmp_path):
    evil, _, link = _outside_names(tmp_path)
    try:
        link.symlink_to(evil)
    except OSError:
        pytest.skip("sql/ is not writable here (an installed package)")
    try:
        with pytest.raises(sql.TemplateError, match="unknown template"):
            sql.load("summary/linked_out")
    finally:
        link.unlink()


def test_cli_refuses_a_file_outside_sql(tmp_path):
    root = fx.make(tmp_path / "d")
    evil, names, _ = _outside_names(tmp_path)
    for name in names[:3]:
        for command in (["run", name, "--data-dir", str(root)], ["show", name]):
            result = CliRunner().invoke(sql_main, command)
            assert result.exit_code == 2, (command, result.output)
            assert result.output.count("error:") == 1 and "Traceback" not in result.output
            assert str(tmp_path / "d") not in result.output.split("error:")[0]


# Structure values of the wrong shape or size: each is a TemplateError naming the variable,
# never a Python error from inside the sandbox (range(2.5), range(10**20), inf days).
BAD_STRUCTURE = [
    ("features/baseline/query_mean", "dims", 2.5, "whole number"),
    ("features/baseline/query_mean", "dims", True, "whole number"),
    ("features/baseline/query_mean", "dims", "product_buy", "whole number"),
    ("features/baseline/query_mean", "dims", float("inf"), "whole number"),
    ("features/baseline/query_mean", "dims", -1, "outside 0.."),
    ("features/baseline/query_mean", "dims", 10**20, "outside 0.."),
    ("features/baseline/query_mean", "dims", 100_001, "MAX_RANGE"),  # the sandbox's range limit
    ("features/baseline/slot_counts", "windows", [1.5, 7], "list of whole numbers"),
    ("features/baseline/slot_counts", "windows", [[1]], "list of whole numbers"),
    ("features/baseline/slot_counts", "windows", [1, 2**40], "outside 0.."),
    ("features/baseline/slot_counts", "windows", {"a": 1}, "list"),
    ("check/column_problems", "list_vectors", [[[["name"]]]], "nested"),
]


@pytest.mark.parametrize("name,key,value,says", BAD_STRUCTURE, ids=[f"{k}={v!r}"[:40] for _, k, v, _ in BAD_STRUCTURE])
def test_bad_structure_values_are_template_errors(name, key, value, says):
    with pytest.raises(sql.TemplateError, match=f"{name}.*'?{key}'?|{name}.*{key}=") as info:
        sql.render(name, {key: value})
    assert says in str(info.value)


@pytest.mark.parametrize("body", ["{{ 1 // 0 }}", "{{ range(none_given) }}", "{{ [1][5] }}",
                                  "{{ {}['x'] }}", "{% for i in range(3.5) %}{% endfor %}", "{{ x }"])
def test_any_python_error_while_rendering_is_a_template_error(body, tmp_path):
    tpl = sql.Template("evil/x", tmp_path / "x.sql", "Fails while rendering.", {}, {"none_given": "a"},
                       f"-- Fails while rendering.\nSELECT {body}\n")
    with pytest.raises(sql.TemplateError, match="template evil/x"):
        sql.render(tpl)


@pytest.mark.parametrize("value", ["2.5", "1e400", "NaN", "-1", "99999999999999999999", "[1]", "true",
                                   "[" * 5000])
def test_cli_set_bad_numbers_is_one_line_exit_2(value):
    result = CliRunner().invoke(sql_main, ["show", "features/baseline/query_mean", "--set", f"dims={value}"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "dims" in lines[0], result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("value,says", [
    ("99999999999999999999", "int64 range"), ("-9223372036854775809", "int64 range"),
    ("9" * 5000, "expects BIGINT"), ("1e3", "expects BIGINT"), ("0x10", "expects BIGINT"), ("", "expects BIGINT")])
def test_param_int_out_of_range_names_the_parameter(data, value, says):
    with pytest.raises(sql.TemplateError, match=f"parameter 'limit' expects BIGINT.*{says}|{says}"):
        sql.fetch_numpy(data, "lists/most_bought", {"limit": value}, {"column": "sku"})


def test_param_int_at_the_edges_of_int64_binds():
    tpl = sql.load("lists/most_bought")
    text = sql.render(tpl, {"column": "sku"})
    for value in (2**63 - 1, -2**63, np.int64(5), "+7", " 12 "):
        assert sql.bind(tpl, text, {"limit": value})["limit"] == int(str(value).strip())


def test_int32_and_double_and_text_ranges():
    assert sql._to_int(2**31 - 1, bits=32) == 2**31 - 1
    with pytest.raises(ValueError, match="int32 range"):
        sql._CONVERTERS["INTEGER"](str(2**31))
    for bad in ("1e400", "nan", "-inf"):
        with pytest.raises(ValueError, match="finite"):
            sql._CONVERTERS["DOUBLE"](bad)
    with pytest.raises(ValueError, match="UTF-8"):
        sql._CONVERTERS["VARCHAR"]("caf\udce9")  # a byte of Latin-1 on a UTF-8 command line


@pytest.mark.parametrize("args", [["--param", "pattern=%", "--limit", "99999999999999999999"],
                                  ["--param", "pattern=%", "--limit", "-1"],
                                  ["--param", "pattern=\udcff"]])
def test_cli_run_bad_values_are_one_line_exit_2(data, args):
    result = CliRunner().invoke(sql_main, ["run", "summary/events", "--data-dir", str(data.root), *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def test_ubm_sql_failures_take_the_one_error_path(data, monkeypatch):
    """ubm-sql has no error handling of its own: GuardedGroup maps every failure, --debug included."""
    args = ["run", "summary/events", "--data-dir", str(data.root / "missing"), "--param", "pattern=%"]
    plain, debug = CliRunner().invoke(sql_main, args), CliRunner().invoke(sql_main, ["--debug", *args])
    assert plain.exit_code == debug.exit_code == 1
    assert "Traceback" not in plain.output and "Traceback" in debug.output
    monkeypatch.setattr(sql, "run_standalone", lambda *a, **k: 1 // 0)
    boom = CliRunner().invoke(sql_main, args[:3] + [str(data.root)] + args[4:])
    assert boom.exit_code == 1 and boom.output.count("error:") == 1
    assert "internal error (ZeroDivisionError" in boom.output
    usage = CliRunner().invoke(sql_main, ["run", "summary/events", "--data-dir", str(data.root), "--format", "parquet"])
    assert usage.exit_code == 2 and usage.output.strip() == "error: --format parquet needs --out FILE"
