"""A catalogue of bad inputs and faults, driven through the command lines.

Every case runs one command on a fresh copy of a small split data directory (with its
label lists, labels and a baseline entry) after an optional ``setup`` that breaks
something, and asserts: the exit code, no Python traceback, a message naming the file,
column, value or option, and (for every failing case) that no file under the copy changed,
appeared or disappeared. To add a case, append a :class:`Case` to :data:`CASES`.

Placeholders in ``args``: {D} data dir, {E} entry dir, {T} labels dir, {W} scratch dir.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ubm.cli import main as ubm_main
from ubm.sql_cli import main as sql_main


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    says: list[str]  # substrings the output must hold (after placeholders are filled in)
    setup: Callable[[Path], None] | None = None  # breaks the copy (gets the scratch dir W)
    cli: str = "ubm"
    unchanged: bool = True  # no file under W may change (failing cases)
    skip: Callable[[], str | None] = lambda: None


def _rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(change(pq.read_table(path)), path)


def _set_cell(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.schema.get_field_index(column)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def null_in(rel: str, column: str, row: int = 3) -> Callable[[Path], None]:
    return lambda w: _rewrite(w / "d" / rel, lambda t: _set_cell(t, column, row, None))


def value_in(rel: str, column: str, value, row: int = 3) -> Callable[[Path], None]:
    return lambda w: _rewrite(w / "d" / rel, lambda t: _set_cell(t, column, row, value))


def duplicate_skus(w: Path) -> None:
    _rewrite(w / "d" / "product_properties.parquet", lambda t: pa.concat_tables([t, t.slice(0, 2)]))


def duplicate_relevant(w: Path) -> None:
    path = w / "d" / "input" / "relevant_clients.npy"
    ids = np.load(path)
    np.save(path, np.concatenate([ids, ids[:3]]))


def list_vectors(length: int, top: int = 9) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        path = w / "d" / "product_properties.parquet"
        table = pq.read_table(path)
        vec = [[min(top, 255 + (top > 255))] + [1] * (length - 1)] * table.num_rows
        vec[0] = [top] + [1] * (length - 1)
        i = table.schema.get_field_index("name")
        pq.write_table(table.set_column(i, "name", pa.array(vec, pa.list_(pa.int64()))), path)
    return setup


def damage(path: Path, how: str) -> None:
    """Damage a parquet file: cut it in half, overwrite it with garbage, or garble its data pages
    (header magic and footer kept, so that it opens and fails only when its pages are read)."""
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "garbage":
        data = bytearray(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    else:
        for i in range(8, len(data) // 2):
            data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def file_at(rel: str, text: str = "mine\n") -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        (w / rel).parent.mkdir(parents=True, exist_ok=True)
        (w / rel).write_text(text)
    return setup


def run_dir_with(text: str) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        (w / "run").mkdir()
        (w / "run" / "scores.json").write_text(text)
    return setup


def touch_newer(rel: str) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        _rewrite(w / "d" / rel, lambda t: t.slice(0, t.num_rows - 1))
    return setup


def no_cuda() -> str | None:
    import torch

    return "CUDA is available here" if torch.cuda.is_available() else None


SPLIT = ["split", "--data-dir", "{D}"]
FEATURES = ["features", "--data-dir", "{D}", "--out", "{W}/e2"]
CASES: list[Case] = [
    # -- option values (usage: exit 2, the option named) --------------------------------------
    Case("memory-abc", [*SPLIT, "--memory-limit", "abc"], 2, ["--memory-limit", "abc"]),
    Case("memory-zero", [*SPLIT, "--memory-limit", "0"], 2, ["--memory-limit"]),
    Case("memory-negative", [*SPLIT, "--memory-limit", "-5GB"], 2, ["--memory-limit", "-5GB"]),
    Case("threads-negative", [*SPLIT, "--threads", "-1"], 2, ["--threads"]),
    Case("temp-dir-is-file", [*SPLIT, "--temp-dir", "{W}/afile"], 2, ["--temp-dir", "afile"],
         setup=file_at("afile")),
    Case("sql-memory-abc", ["run", "summary/events", "--data-dir", "{D}", "--memory-limit", "abc"], 2,
         ["--memory-limit"], cli="ubm-sql"),
    Case("sql-param-twice", ["run", "summary/events", "--data-dir", "{D}", "--param", "pattern=%",
                             "--param", "pattern=x"], 2, ["--param", "pattern", "twice"], cli="ubm-sql"),
    Case("sql-structure-kind", ["show", "features/baseline/relevant_events", "--set", "event=[1,2]"], 2,
         ["event", "[1, 2]"], cli="ubm-sql"),
    Case("sql-set-float-for-int", ["show", "features/baseline/query_mean", "--set", "dims=2.5"], 2,
         ["dims", "whole number", "2.5"], cli="ubm-sql"),
    Case("sql-set-range-too-big", ["show", "features/baseline/query_mean", "--set", "dims=100001"], 2,
         ["query_mean", "dims=100001"], cli="ubm-sql"),
    Case("sql-set-window-overflow", ["run", "features/baseline/slot_counts", "--data-dir", "{D}",
                                     "--set", "windows=[1,99999999999]"], 2, ["windows", "99999999999"], cli="ubm-sql"),
    Case("sql-param-huge-int", ["run", "lists/most_bought", "--data-dir", "{D}", "--set", "column=sku",
                                "--param", "limit=99999999999999999999"], 2, ["'limit'", "int64 range"], cli="ubm-sql"),
    Case("sql-limit-huge", ["run", "summary/events", "--data-dir", "{D}", "--param", "pattern=%",
                                       "--limit", "99999999999999999999"], 2, ["--limit"], cli="ubm-sql"),
    Case("sql-input-before-split", ["run", "summary/events", "--data-dir", "{W}/raw", "--window", "input"], 1,
         ["input/product_buy.parquet", "ubm split"], cli="ubm-sql",
         setup=lambda w: _raw_copy(w)),
    Case("train-cuda-without-cuda", ["train", "--data-dir", "{D}", "--embeddings-dir", "{E}", "--out", "{W}/run",
                                     "--device", "cuda"], 2, ["--device", "CUDA"], skip=no_cuda),
    Case("train-out-is-file", ["train", "--data-dir", "{D}", "--embeddings-dir", "{E}", "--out", "{W}/f1"], 2,
         ["--out", "f1"], setup=file_at("f1")),
    Case("train-out-holds-other-files", ["train", "--data-dir", "{D}", "--embeddings-dir", "{E}",
                                         "--out", "{W}/mine"], 2, ["--out", "notes.txt"],
         setup=file_at("mine/notes.txt")),
    Case("leaderboard-json-is-dir", ["leaderboard", "{W}/run", "--json", "{W}/d"], 2, ["--json", "directory"],
         setup=run_dir_with('{"churn": 0.7}')),
    Case("leaderboard-plot-is-dir", ["leaderboard", "{W}/run", "{W}/run", "--names", "a,b", "--ci",
                                     "--plot", "{W}/d"], 2, ["--plot", "directory"], setup=run_dir_with('{"churn": 0.7}')),
    Case("leaderboard-plot-not-png", ["leaderboard", "{W}/run", "{W}/run", "--names", "a,b", "--ci",
                                      "--plot", "{W}/notes.txt"], 2, ["--plot", "notes.txt", "not a PNG"],
         setup=lambda w: (run_dir_with('{"churn": 0.7}')(w), file_at("notes.txt")(w))),
    Case("leaderboard-plot-under-a-file", ["leaderboard", "{W}/run", "{W}/run", "--names", "a,b", "--ci",
                                           "--plot", "{D}/product_buy.parquet/p.png"], 2,
         ["--plot", "not a directory"], setup=run_dir_with('{"churn": 0.7}')),
    Case("leaderboard-json-into-labels", ["leaderboard", "{W}/run", "--json", "{T}/summary.json"], 2,
         ["--json", "part of a labels directory"], setup=run_dir_with('{"churn": 0.7}')),
    Case("sql-out-into-entry", ["run", "summary/events", "--data-dir", "{D}", "--param", "pattern=%",
                                "--format", "json", "--out", "{E}/columns.json"], 2,
         ["--out", "part of an entry"], cli="ubm-sql"),
    Case("leaderboard-malformed-scores", ["leaderboard", "{W}/run"], 1, ["run/scores.json", "JSON"],
         setup=run_dir_with('{"churn": 0.7')),
    Case("leaderboard-scores-not-numbers", ["leaderboard", "{W}/run"], 1, ["run/scores.json", "churn"],
         setup=run_dir_with('{"churn": "high"}')),
    Case("summary-missing-file", ["summary", "--data-dir", "{D}"], 1, ["add_to_cart.parquet"],
         setup=lambda w: (w / "d" / "add_to_cart.parquet").unlink(), unchanged=False),
    Case("out-under-a-file", ["targets", "--data-dir", "{D}", "--out", "{D}/product_buy.parquet/labels"], 2,
         ["--out", "not a directory"]),
    Case("out-dir-of-other-things", ["targets", "--data-dir", "{D}", "--out", "{W}/docs"], 2,
         ["--out", "docs", "not replacing"], setup=file_at("docs/readme.txt")),
    # -- never move or hide a user's file -----------------------------------------------------
    Case("targets-out-is-file", ["targets", "--data-dir", "{D}", "--out", "{W}/f1"], 2, ["f1"],
         setup=file_at("f1")),
    Case("features-out-is-file", [*FEATURES[:-1], "{W}/f1"], 2, ["f1", "not a directory"], setup=file_at("f1")),
    Case("features-option-malformed", [*FEATURES, "-o", "epochs"], 2, ["--option", "epochs", "key=value"]),
    Case("features-option-twice", [*FEATURES, "-o", "top_n=3", "-o", "top_n=4"], 2, ["--option", "top_n", "twice"]),
    # a huge width or count option is refused by name before anything is built (was: killed, out of memory)
    Case("features-top-n-huge", [*FEATURES, "--top-n", "99999999999999999999"], 2, ["--top-n", "top_n", "<="]),
    Case("universal-list-size-huge", [*FEATURES, "--recipe", "universal", "-o", "list_size=100000"], 2,
         ["--option list_size", "2,048"]),
    Case("learned-epochs-huge", [*FEATURES, "--recipe", "learned", "-o", "epochs=99999999999"], 2,
         ["--option epochs", "<="]),
    Case("spark-conf-twice", [*SPLIT, "--spark-conf", "a=1", "--spark-conf", "a=2"], 2,
         ["--spark-conf", "'a'", "twice"]),
    Case("sql-out-is-dir", ["run", "summary/events", "--data-dir", "{D}", "--param", "pattern=%",
                            "--format", "csv", "--out", "{W}/d"],
         2, ["--out", "directory"], cli="ubm-sql"),
    # -- bad values: file, column, count and an example --------------------------------------
    Case("null-timestamp", SPLIT, 1, ["product_buy.parquet", "'timestamp'", "1 NULL"],
         setup=null_in("product_buy.parquet", "timestamp")),
    Case("null-client-id", SPLIT, 1, ["page_visit.parquet", "'client_id'", "1 NULL"],
         setup=null_in("page_visit.parquet", "client_id")),
    Case("null-sku", SPLIT, 1, ["add_to_cart.parquet", "'sku'", "1 NULL"],
         setup=null_in("add_to_cart.parquet", "sku")),
    Case("bad-timestamp", SPLIT, 1, ["product_buy.parquet", "'timestamp'", "2022-13-45"],
         setup=value_in("product_buy.parquet", "timestamp", "2022-13-45 00:00:00")),
    Case("duplicate-skus-after-split", FEATURES, 1, ["product_properties.parquet"], setup=duplicate_skus),
    Case("duplicate-skus-split", SPLIT, 1, ["product_properties.parquet", "sku", "more than once"],
         setup=duplicate_skus),
    Case("duplicate-relevant-targets", ["targets", "--data-dir", "{D}", "--out", "{W}/t2"], 1,
         ["relevant_clients.npy", "more than once"], setup=duplicate_relevant),
    Case("bad-vector-of-anyone", [*FEATURES, "--source", "all"], 1,
         ["search_query.parquet", "'query'", "[1 2 3]"],
         setup=value_in("search_query.parquet", "query", "[1 2 3]", row=0)),
    Case("list-vector-too-short", [*FEATURES, "--source", "all"], 1,
         ["product_properties.parquet", "'name'"], setup=list_vectors(15)),
    Case("list-vector-out-of-range", [*FEATURES, "--source", "all"], 1,
         ["product_properties.parquet", "'name'", "300"], setup=list_vectors(16, top=300)),
    Case("check-reports-all", ["check", "--data-dir", "{D}"], 1,
         ["product_buy.parquet: column 'timestamp': 1 NULL", "relevant_clients.npy: 3 id(s) listed more than once"],
         setup=lambda w: (null_in("product_buy.parquet", "timestamp")(w), duplicate_relevant(w))),
    Case("validate-duplicates-without-relevant-check",
         ["validate", "--data-dir", "{D}", "--embeddings-dir", "{W}/e3", "--no-relevant-check"], 1,
         ["duplicate ids"], setup=lambda w: _entry_with_duplicate(w)),
    # -- damaged files: one line naming the file, whatever the damage ---------------------------
    Case("damaged-page-published", SPLIT, 1, ["{D}/page_visit.parquet", "damaged"],
         setup=lambda w: damage(w / "d" / "page_visit.parquet", "page")),
    Case("damaged-page-summary", ["summary", "--data-dir", "{D}"], 1, ["{D}/product_buy.parquet", "damaged"],
         setup=lambda w: damage(w / "d" / "product_buy.parquet", "page")),
    Case("damaged-page-sql", ["run", "summary/events", "--data-dir", "{D}", "--param", "pattern=%"], 1,
         ["{D}/search_query.parquet", "damaged"], cli="ubm-sql",
         setup=lambda w: damage(w / "d" / "search_query.parquet", "page")),
    Case("truncated-published", SPLIT, 1, ["{D}/add_to_cart.parquet", "parquet"],
         setup=lambda w: damage(w / "d" / "add_to_cart.parquet", "truncate")),
    Case("garbage-published", FEATURES, 1, ["{D}/product_properties.parquet", "parquet"],
         setup=lambda w: damage(w / "d" / "product_properties.parquet", "garbage")),
    Case("truncated-input", FEATURES, 1, ["{D}/input/product_buy.parquet"],
         setup=lambda w: damage(w / "d" / "input" / "product_buy.parquet", "truncate")),
    Case("garbage-input", ["targets", "--data-dir", "{D}", "--out", "{W}/t2"], 1, ["{D}/input/page_visit.parquet"],
         setup=lambda w: damage(w / "d" / "input" / "page_visit.parquet", "garbage")),
    Case("garbage-input-sql", ["run", "summary/events", "--data-dir", "{D}", "--window", "input",
                               "--param", "pattern=%"], 1, ["{D}/input/search_query.parquet"], cli="ubm-sql",
         setup=lambda w: damage(w / "d" / "input" / "search_query.parquet", "garbage")),
    # -- stale derived data: refuse and say what to rerun ------------------------------------
    Case("stale-split", ["lists", "--data-dir", "{D}", "--force"], 1,
         ["product_buy.parquet", "changed since", "ubm split"], setup=touch_newer("product_buy.parquet")),
    Case("stale-labels", ["train", "--data-dir", "{D}", "--embeddings-dir", "{E}", "--labels", "{T}",
                          "--out", "{W}/run"], 1, ["labels", "ubm targets"],
         setup=lambda w: np.save(w / "d" / "target" / "active_clients.npy",
                                 np.load(w / "d" / "target" / "active_clients.npy")[:-1])),
    Case("memory-tiny", [*SPLIT, "--memory-limit", "1KB"], 1, ["memory", "--memory-limit"]),
    Case("memory-tiny-features", [*FEATURES, "--memory-limit", "1KB"], 1, ["memory", "--memory-limit"]),
    Case("memory-tiny-targets", ["targets", "--data-dir", "{D}", "--out", "{W}/t2", "--memory-limit", "1KB"], 1,
         ["memory", "--memory-limit"]),
    Case("memory-tiny-sql", ["run", "summary/events", "--data-dir", "{D}", "--param", "pattern=%",
                             "--memory-limit", "1KB"], 1, ["memory", "--memory-limit"], cli="ubm-sql"),
    Case("summary-input-before-split", ["summary", "--data-dir", "{W}/raw", "--window", "input"], 1,
         ["input/product_buy.parquet", "ubm split"], setup=lambda w: _raw_copy(w)),
    # -- valid runs stay quiet and succeed ---------------------------------------------------
    Case("check-clean", ["check", "--data-dir", "{D}"], 0, ["no problems"], unchanged=False),
]


def _raw_copy(w: Path) -> None:
    (w / "raw").mkdir()
    for path in (w / "d").glob("*.parquet"):
        shutil.copy2(path, w / "raw" / path.name)


def _entry_with_duplicate(w: Path) -> None:
    (w / "e3").mkdir()
    np.save(w / "e3" / "client_ids.npy", np.array([1, 2, 2], dtype=np.int64))
    np.save(w / "e3" / "embeddings.npy", np.zeros((3, 4), dtype=np.float16))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("catalogue")
    runner = CliRunner()
    d = base / "d"
    for args in (["generate", "--out", str(d), "--size", "tiny", "--seed", "3"],
                 ["split", "--data-dir", str(d)], ["lists", "--data-dir", str(d)],
                 ["targets", "--data-dir", str(d), "--out", str(base / "t")],
                 ["features", "--data-dir", str(d), "--out", str(base / "e")]):
        result = runner.invoke(ubm_main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return base


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalogue(case: Case, prepared: Path, tmp_path: Path) -> None:
    reason = case.skip()
    if reason:
        pytest.skip(reason)
    w = tmp_path / "w"
    shutil.copytree(prepared, w, copy_function=shutil.copy2)
    if case.setup:
        case.setup(w)
    before = snapshot(w)
    fill = {"{D}": str(w / "d"), "{E}": str(w / "e"), "{T}": str(w / "t"), "{W}": str(w)}
    args = [_fill(a, fill) for a in case.args]
    result = CliRunner().invoke(ubm_main if case.cli == "ubm" else sql_main, args)
    output = result.output
    assert result.exit_code == case.code, f"{case.id}: exit {result.exit_code}\n{output}"
    assert "Traceback" not in output and result.exception is None or isinstance(result.exception, SystemExit), \
        f"{case.id}: {result.exception!r}\n{output}"
    for needle in case.says:
        assert _fill(needle, fill) in output, f"{case.id}: {needle!r} not in\n{output}"
    if case.code != 0:
        errors = [line for line in output.splitlines() if line.lower().startswith(("error:", "failed"))]
        assert len(errors) == 1 or case.id.startswith("check"), output
    if case.unchanged:
        assert snapshot(w) == before, f"{case.id}: files changed"


def _fill(text: str, fill: dict[str, str]) -> str:
    for key, value in fill.items():
        text = text.replace(key, value)
    return text


def test_debug_flag_shows_the_traceback(prepared: Path, tmp_path: Path) -> None:
    args = ["split", "--data-dir", str(tmp_path / "missing")]
    plain = CliRunner().invoke(ubm_main, args)
    debug = CliRunner().invoke(ubm_main, ["--debug", *args])
    assert plain.exit_code == debug.exit_code == 1
    assert "Traceback" not in plain.output and "Traceback" in debug.output
    env = CliRunner(env={"UBM_DEBUG": "1"}).invoke(ubm_main, args)
    assert "Traceback" in env.output


def test_unexpected_errors_are_one_line(monkeypatch, prepared: Path) -> None:
    import ubm.prepare.summary as summary

    def boom(*a, **k):
        raise ZeroDivisionError("x")
    monkeypatch.setattr(summary, "summarise", boom)
    result = CliRunner().invoke(ubm_main, ["summary", "--data-dir", str(prepared / "d")])
    assert result.exit_code == 1
    assert "internal error (ZeroDivisionError" in result.output and "--debug" in result.output
    assert "Traceback" not in result.output


def test_every_failing_case_has_a_message(prepared: Path) -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.says for c in CASES)
    assert json.dumps([c.id for c in CASES])  # ids are plain names


# -- a full disk: the output named, nothing half-written, no scratch left ------------------------

def _disk_full(how: str, real: Callable) -> Callable:
    """``real`` (a writer taking (path or file, data, ...)) that writes part of its bytes, then
    fails as a full disk does: ENOSPC, or numpy's short write that names no errno nor file."""
    def write(target, *args, **kwargs):
        if hasattr(target, "write"):
            target.write(b"\x93NUMPY partial")
        else:
            Path(target).write_bytes(b"partial") if not isinstance(target, Path) else None
        if how == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise OSError("498000 requested and 77760 written")
    return write


def _copy(prepared: Path, tmp_path: Path) -> Path:
    w = tmp_path / "w"
    shutil.copytree(prepared, w, copy_function=shutil.copy2)
    return w


def _assert_full_disk(result, w: Path, before: dict, out: Path, how: str) -> None:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert str(out) in errors[0] and ".ubm-" not in errors[0], errors[0]
    assert ("no space left" if how == "enospc" else "498000 requested") in errors[0], errors[0]
    assert snapshot(w) == before, "a full disk changed or left files"


@pytest.mark.parametrize("how", ["enospc", "short-write"])
def test_disk_full_writing_labels(prepared, tmp_path, monkeypatch, how):
    w = _copy(prepared, tmp_path)
    before = snapshot(w)
    monkeypatch.setattr(np, "save", _disk_full(how, np.save))
    result = CliRunner().invoke(ubm_main, ["targets", "--data-dir", str(w / "d"), "--out", str(w / "t")])
    _assert_full_disk(result, w, before, w / "t", how)


@pytest.mark.parametrize("how", ["enospc", "short-write"])
def test_disk_full_writing_a_list(prepared, tmp_path, monkeypatch, how):
    w = _copy(prepared, tmp_path)
    before = snapshot(w)
    monkeypatch.setattr(np, "save", _disk_full(how, np.save))
    result = CliRunner().invoke(ubm_main, ["lists", "--data-dir", str(w / "d"), "--force"])
    _assert_full_disk(result, w, before, w / "d" / "target" / "active_clients.npy", how)


@pytest.mark.parametrize("how", ["enospc", "short-write"])
def test_disk_full_writing_an_entry(prepared, tmp_path, monkeypatch, how):
    w = _copy(prepared, tmp_path)
    before = snapshot(w)
    real = Path.write_text

    def write_text(self, text, *args, **kwargs):
        if self.name == "columns.json":
            _disk_full(how, real)(self, text)
        return real(self, text, *args, **kwargs)
    monkeypatch.setattr(Path, "write_text", write_text)
    result = CliRunner().invoke(ubm_main, ["features", "--data-dir", str(w / "d"), "--out", str(w / "e")])
    _assert_full_disk(result, w, before, w / "e", how)


@pytest.mark.parametrize("how", ["enospc", "short-write"])
def test_disk_full_writing_sql_output(prepared, tmp_path, monkeypatch, how):
    w = _copy(prepared, tmp_path)
    (w / "old.json").write_text("[]\n")
    before = snapshot(w)
    real = Path.write_text

    def write_text(self, text, *args, **kwargs):
        if ".ubm-" in str(self.parent):  # the scratch's marker or the output itself: the disk is full
            _disk_full(how, real)(self, text)
        return real(self, text, *args, **kwargs)
    monkeypatch.setattr(Path, "write_text", write_text)
    result = CliRunner().invoke(sql_main, ["run", "summary/events", "--data-dir", str(w / "d"), "--param", "pattern=%",
                                           "--format", "json", "--out", str(w / "old.json")])
    _assert_full_disk(result, w, before, w / "old.json", how)


def test_messages_name_the_users_path_never_a_scratch(tmp_path):
    from ubm.clikit import explain
    from ubm.ownership import writing

    inside = tmp_path / ".E.ubm-0123456789abcdef" / "E" / "embeddings.npy"
    code, message = explain(OSError(errno.EIO, "Input/output error", str(inside)))
    assert code == 1 and message == f"Input/output error: {tmp_path / 'E' / 'embeddings.npy'}"
    with pytest.raises(OSError) as info, writing(tmp_path / "out.csv"):
        raise OSError("12 requested and 3 written")
    code, message = explain(info.value)
    assert code == 1 and f"could not write {tmp_path / 'out.csv'}" in message and "disk full" in message


def test_a_damaged_file_is_found_among_the_opened_ones(prepared, tmp_path):
    from ubm.data.damage import find_damaged

    w = _copy(prepared, tmp_path)
    good, bad = w / "d" / "product_buy.parquet", w / "d" / "page_visit.parquet"
    damage(bad, "page")
    assert find_damaged([good]) is None
    path, reason = find_damaged([good, bad])
    assert path == bad and reason
