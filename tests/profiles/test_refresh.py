"""`ubm refresh`: an entry of a profile model brought up to date with new events.

The refreshed entry must be the bytes a full apply of the model to all events writes: on a case
worked on paper (a window that moves past an old event), on generated data grown in steps (any
windows and top-N, from the grown directory or from the new events only, hypothesis), with new
events that are not all later than the old ones, and where the incremental path cannot hold (an
old event removed, another product table, a recipe without state, an entry without state)
through a full apply that says why, or (new events only: no history to apply) a named refusal.
What is not an entry of the model is refused by name and left untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tests.fixtures import latest, upto, write_dataset
from ubm.cli import main as ubm_main
from ubm.contract import EVENT_TYPES
from ubm.data.io import Settings
from ubm.errors import OutputError
from ubm.profiles.model import apply_model, fit_model
from ubm.profiles.refresh import refresh_entry
from ubm.profiles.state import ModelError

SETTINGS = Settings(threads=1, progress_bar=False)


def ubm(*args: object, code: int = 0) -> str:
    result = CliRunner().invoke(ubm_main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def only(raw: Path, dst: Path, keep) -> Path:
    """A copy of ``raw`` holding the events for which ``keep(table)`` (a boolean array) holds."""
    shutil.copytree(raw, dst)
    for event in EVENT_TYPES:
        table = pq.read_table(raw / f"{event}.parquet")
        pq.write_table(table.filter(keep(table)), dst / f"{event}.parquet")
    return dst


def stamps(table) -> np.ndarray:
    return np.array([dt.datetime.fromisoformat(str(s)) for s in table["timestamp"].to_pylist()], dtype="datetime64[us]")


def new_since(raw: Path, dst: Path, start: dt.datetime, end: dt.datetime) -> Path:
    """The events of ``raw`` after ``start``, up to ``end``: what arrived between two builds."""
    return only(raw, dst, lambda t: (stamps(t) > np.datetime64(start)) & (stamps(t) <= np.datetime64(end)))


def same_entry(a: Path, b: Path) -> None:
    for name in ("embeddings.npy", "client_ids.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("refresh") / "raw"
    ubm("generate", "--out", root, "--size", "tiny", "--days", "40", "--seed", "8")
    return root


@pytest.fixture(scope="module")
def model(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refresh-model") / "m"
    fit_model(raw, "baseline", out, source="all", settings=SETTINGS)
    return out


def test_a_window_that_moves_past_an_old_event_worked_on_paper(tmp_path):
    # Two clients, one sku in the top-1 list (7), a 1-day window. At the build the window ends at
    # client 2's buy (Jan 11 11:00) and holds client 1's buy of Jan 10 12:00; a buy on Jan 12
    # 00:00 moves the end, and Jan 10 12:00 falls out: client 1 keeps its total only.
    props = [(7, 1, 5), (8, 2, 6)]
    buys = [(1, "2022-01-10 12:00:00", 7), (2, "2022-01-11 11:00:00", 7), (2, "2022-01-11 11:30:00", 8)]
    before = write_dataset(tmp_path / "before", relevant=[1, 2], properties=props, product_buy=buys)
    after = write_dataset(tmp_path / "after", relevant=[1, 2], properties=props,
                          product_buy=[*buys, (2, "2022-01-12 00:00:00", 8)])
    ubm("fit", "--data-dir", before, "--source", "all", "--windows", "1", "--top-n", "1", "--out", tmp_path / "m")
    ubm("features", "--data-dir", before, "--source", "all", "--model", tmp_path / "m", "--refreshable",
        "--out", tmp_path / "e")
    names = json.loads((tmp_path / "e" / "columns.json").read_text())["columns"]
    col = {n: i for i, n in enumerate(names)}
    emb = np.load(tmp_path / "e" / "embeddings.npy").astype(int)
    assert emb[:, col["product_buy.count"]].tolist() == [1, 2]
    assert emb[:, col["product_buy.1d.sku.top1"]].tolist() == [1, 1]
    out = ubm("refresh", "--data-dir", after, "--model", tmp_path / "m", "--entry", tmp_path / "e")
    assert "from the new events and the kept state" in out
    emb = np.load(tmp_path / "e" / "embeddings.npy").astype(int)
    assert emb[:, col["product_buy.count"]].tolist() == [1, 3]
    assert emb[:, col["product_buy.1d.sku.top1"]].tolist() == [0, 1]
    assert emb[:, col["product_buy.1d.category.top1"]].tolist() == [0, 1]  # category 1 (sku 7) tops


def test_refresh_in_steps_gives_the_bytes_of_a_full_apply(raw, model, tmp_path):
    end = latest(raw)
    stages = [upto(raw, tmp_path / f"d{i}", end - dt.timedelta(hours=h)) for i, h in enumerate((80, 30, 5))]
    stages.append(raw)
    apply_model(model, stages[0], tmp_path / "e", source="all", settings=SETTINGS, refreshable=True)
    tail = pq.read_table(tmp_path / "e" / "refresh" / "product_buy.tail.parquet")
    assert 0 < tail.num_rows < pq.read_metadata(stages[0] / "product_buy.parquet").num_rows
    for i, data in enumerate(stages[1:], 1):
        result = refresh_entry(model, data, tmp_path / "e", settings=SETTINGS)
        assert result.incremental, result.reason
        apply_model(model, data, tmp_path / f"full{i}", source="all", settings=SETTINGS)
        same_entry(tmp_path / "e", tmp_path / f"full{i}")
    ubm("validate", "--data-dir", raw, "--embeddings-dir", tmp_path / "e")
    info = json.loads((tmp_path / "e" / "columns.json").read_text())
    full = json.loads((tmp_path / f"full{len(stages) - 1}" / "columns.json").read_text())
    assert info["recipe_info"] == full["recipe_info"] and info["refreshable"] and not full["refreshable"]


@hsettings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(windows=st.lists(st.integers(1, 9), min_size=1, max_size=3, unique=True),
       top_n=st.integers(1, 4), hours=st.lists(st.integers(1, 200), min_size=1, max_size=3, unique=True),
       new_only=st.lists(st.booleans(), min_size=3, max_size=3))
def test_any_windows_and_steps_refresh_exactly(raw, tmp_path_factory, windows, top_n, hours, new_only):
    work = tmp_path_factory.mktemp("steps")
    fit_model(raw, "baseline", work / "m", {"windows": windows, "top_n": top_n}, source="all", settings=SETTINGS)
    end = latest(raw)
    ends = [end - dt.timedelta(hours=h) for h in sorted(hours, reverse=True)] + [end]
    apply_model(work / "m", upto(raw, work / "d0", ends[0]), work / "e", source="all", settings=SETTINGS,
                refreshable=True)
    for i, (start, stop) in enumerate(zip(ends, ends[1:]), 1):
        data = (new_since(raw, work / f"new{i}", start, stop) if new_only[i - 1]
                else upto(raw, work / f"d{i}", stop))
        assert refresh_entry(work / "m", data, work / "e", new_only=new_only[i - 1], settings=SETTINGS).incremental
    apply_model(work / "m", raw, work / "full", source="all", settings=SETTINGS)
    same_entry(work / "e", work / "full")


def test_new_events_older_than_the_entry_refresh_exactly(raw, model, tmp_path):
    # every third event arrives late, whatever its time: the new events are not all after the old
    def late(table) -> np.ndarray:
        return np.arange(table.num_rows) % 3 == 0

    on_time = only(raw, tmp_path / "on-time", lambda t: ~late(t))
    apply_model(model, on_time, tmp_path / "e", source="all", settings=SETTINGS, refreshable=True)
    result = refresh_entry(model, only(raw, tmp_path / "late", late), tmp_path / "e", new_only=True, settings=SETTINGS)
    assert result.incremental
    apply_model(model, raw, tmp_path / "full", source="all", settings=SETTINGS)
    same_entry(tmp_path / "e", tmp_path / "full")


def test_new_events_only_cannot_fall_back_and_say_so(raw, model, tmp_path):
    start = latest(raw) - dt.timedelta(days=2)
    apply_model(model, upto(raw, tmp_path / "start", start), tmp_path / "e", source="all", settings=SETTINGS)
    before = (tmp_path / "e" / "embeddings.npy").read_bytes()
    new = new_since(raw, tmp_path / "new", start, latest(raw))
    out = ubm("refresh", "--new-events", new, "--model", model, "--entry", tmp_path / "e", code=1)
    assert out.count("\n") == 1 and "keeps no refresh state" in out and "--data-dir" in out
    ubm("features", "--data-dir", tmp_path / "start", "--source", "all", "--model", model, "--refreshable",
        "--out", tmp_path / "e")
    kept = (tmp_path / "e" / "embeddings.npy").read_bytes()
    out = ubm("refresh", "--new-events", _other_prices(new, tmp_path / "other"), "--model", model,
              "--entry", tmp_path / "e", code=1)
    assert "product_properties" in out and (tmp_path / "e" / "embeddings.npy").read_bytes() == kept == before
    ubm("refresh", "--new-events", new, "--model", model, "--entry", tmp_path / "e")
    out = ubm("refresh", "--new-events", new, "--model", model, "--entry", tmp_path / "e", code=1)
    assert "already added" in out and "twice" in out
    ubm("refresh", "--model", model, "--entry", tmp_path / "e", code=2)
    ubm("refresh", "--data-dir", raw, "--new-events", new, "--model", model, "--entry", tmp_path / "e", code=2)


def _drop_first_buy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    table = pq.read_table(src / "product_buy.parquet")
    pq.write_table(table.slice(1), dst / "product_buy.parquet")
    return dst


def _other_prices(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    table = pq.read_table(src / "product_properties.parquet")
    price = pc.subtract(pc.max(table["price"]), table["price"])
    pq.write_table(table.set_column(table.schema.get_field_index("price"), "price", price),
                   dst / "product_properties.parquet")
    return dst


@pytest.mark.parametrize("change,why", [(_drop_first_buy, "product_buy: "), (_other_prices, "product_properties")])
def test_a_changed_history_is_applied_in_full_and_says_why(raw, model, tmp_path, change, why):
    start = upto(raw, tmp_path / "start", latest(raw) - dt.timedelta(days=2))
    apply_model(model, start, tmp_path / "e", source="all", settings=SETTINGS, refreshable=True)
    grown = change(raw, tmp_path / "grown")
    seen: list[str] = []
    result = refresh_entry(model, grown, tmp_path / "e", settings=SETTINGS, progress=seen.append)
    assert not result.incremental and why in result.reason
    assert any(line.startswith("refresh: ") and "in full" in line for line in seen)
    apply_model(model, grown, tmp_path / "full", source="all", settings=SETTINGS)
    same_entry(tmp_path / "e", tmp_path / "full")
    assert refresh_entry(model, grown, tmp_path / "e", settings=SETTINGS).incremental  # the state was rebuilt


def test_an_entry_without_state_and_a_recipe_without_one_apply_in_full(raw, model, tmp_path):
    apply_model(model, raw, tmp_path / "plain", source="all", settings=SETTINGS)
    result = refresh_entry(model, raw, tmp_path / "plain", settings=SETTINGS)
    assert not result.incremental and "--refreshable" in result.reason
    assert (tmp_path / "plain" / "refresh" / "state.json").is_file()
    (tmp_path / "plain" / "refresh" / "state.json").write_text("{ not json")  # a damaged state
    result = refresh_entry(model, raw, tmp_path / "plain", settings=SETTINGS)
    assert not result.incremental and "unreadable refresh state" in result.reason
    assert refresh_entry(model, raw, tmp_path / "plain", settings=SETTINGS).incremental
    fit_model(raw, "universal", tmp_path / "mu", source="all", settings=SETTINGS)
    said: list[str] = []
    apply_model(tmp_path / "mu", raw, tmp_path / "eu", source="all", settings=SETTINGS, refreshable=True,
                progress=said.append)
    assert not (tmp_path / "eu" / "refresh").exists()
    assert any("universal keeps no refresh state" in line for line in said)
    before = (tmp_path / "eu" / "embeddings.npy").read_bytes()
    result = refresh_entry(tmp_path / "mu", raw, tmp_path / "eu", settings=SETTINGS)
    assert not result.incremental and "universal keeps no refresh state" in result.reason
    assert (tmp_path / "eu" / "embeddings.npy").read_bytes() == before


def test_what_is_not_an_entry_of_the_model_is_refused_untouched(raw, model, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an entry written by ubm"):
        refresh_entry(model, raw, mine, settings=SETTINGS)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    ubm("fit", "--data-dir", raw, "--source", "all", "--top-n", "3", "--out", tmp_path / "other")
    apply_model(tmp_path / "other", raw, tmp_path / "e", source="all", settings=SETTINGS, refreshable=True)
    before = (tmp_path / "e" / "embeddings.npy").read_bytes()
    with pytest.raises(ModelError, match="not an entry of profile model"):
        refresh_entry(model, raw, tmp_path / "e", settings=SETTINGS)
    assert (tmp_path / "e" / "embeddings.npy").read_bytes() == before
    ubm("features", "--data-dir", raw, "--source", "all", "--out", tmp_path / "recipe")
    with pytest.raises(ModelError, match="not applied from a model"):
        refresh_entry(model, raw, tmp_path / "recipe", settings=SETTINGS)
    out = ubm("refresh", "--data-dir", raw, "--model", tmp_path / "e", "--entry", tmp_path / "e", code=2)
    assert "--model" in out and "Traceback" not in out
    out = ubm("refresh", "--data-dir", raw, "--model", model, "--entry", mine, code=2)
    assert out.count("\n") == 1 and "not an entry written by ubm" in out
    ubm("features", "--data-dir", raw, "--out", tmp_path / "x", "--refreshable", code=2)
