"""Property-based tests (Hypothesis) of the contract of issue 21: whatever the input, a correct
result, or one ``error:`` line with exit 1 or 2 and nothing half-written; never a traceback.

* damaged input files (random bytes, a cut, flipped bytes) in every kind of file a stage reads;
* random ``--param`` / ``--set`` text for ubm-sql;
* random small event tables: the labels ``ubm targets`` writes are those of docs/tasks.md §2,
  recomputed here by hand from the events.

Examples are few and small (the whole file runs in well under a minute); deadline is off
because a stage's first run in a process pays for imports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from tests import split_fixture as fx
from tests.fixtures import default_vec, write_dataset
from ubm.cli import main as ubm_main
from ubm.contract import boundaries_for
from ubm.prepare.lists import build_lists
from ubm.prepare.split import split
from ubm.prepare.targets import build_targets
from ubm.sql_cli import main as sql_main

FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def one_error_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The worked example of tests/split_fixture.py, split, listed, with labels in base/t."""
    root = tmp_path_factory.mktemp("props")
    data = fx.make(root / "d")
    split(data)
    build_lists(data)
    build_targets(data, root / "t")
    return root


# -- damaged inputs ----------------------------------------------------------------------------

# file -> the command that reads it (and writes an output that must stay as it was)
READERS = {
    "d/product_buy.parquet": ["split", "--data-dir", "{D}"],
    "d/product_properties.parquet": ["split", "--data-dir", "{D}"],
    "d/search_query.parquet": ["split", "--data-dir", "{D}"],
    "d/input/relevant_clients.npy": ["targets", "--data-dir", "{D}", "--out", "{W}/t"],
    "d/target/propensity_sku.npy": ["targets", "--data-dir", "{D}", "--out", "{W}/t"],
    "d/target/popularity_propensity_price.npy": ["targets", "--data-dir", "{D}", "--out", "{W}/t"],
    "d/target/active_clients.npy": ["targets", "--data-dir", "{D}", "--out", "{W}/t"],
}

damages = st.one_of(
    st.tuples(st.just("garbage"), st.binary(max_size=3000)),
    st.tuples(st.just("cut"), st.floats(0, 0.95)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                                        min_size=1, max_size=8)),
)


def _damaged(data: bytes, damage: tuple) -> bytes:
    how, arg = damage
    if how == "garbage":
        return arg
    if how == "cut":
        return data[: int(len(data) * arg)]
    out = bytearray(data)
    for where, byte in arg:
        out[int(where * len(out))] = byte
    return bytes(out)


@FEW
@given(rel=st.sampled_from(sorted(READERS)), damage=damages)
def test_a_damaged_input_is_one_error_line_and_nothing_written(base, rel, damage):
    with tempfile.TemporaryDirectory() as scratch:
        w = Path(scratch) / "w"
        shutil.copytree(base, w)
        path = w / rel
        new = _damaged(path.read_bytes(), damage)
        path.write_bytes(new)
        before = snapshot(w)
        args = [a.replace("{D}", str(w / "d")).replace("{W}", str(w)) for a in READERS[rel]]
        result = CliRunner().invoke(ubm_main, args)
        if result.exit_code == 0:
            # Only flipped bytes may leave a file readable (a changed value, not a broken file).
            assert damage[0] == "flip" or new == (base / rel).read_bytes(), result.output
            return
        line = one_error_line(result)
        assert result.exit_code == 1, result.output
        assert Path(rel).name in line or "relevant_clients.npy" in line, line
        assert snapshot(w) == before, "a failing stage changed files"


# -- random option text ------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
JSONISH = st.one_of(TEXT, st.integers().map(str), st.floats(allow_nan=True).map(repr),
                    st.recursive(st.integers() | st.floats() | st.booleans() | st.none() | TEXT,
                                 lambda inner: st.lists(inner, max_size=3), max_leaves=6).map(repr))


@FEW
@given(key=st.sampled_from(["dims", "windows", "columns", "event", "nope"]), value=JSONISH)
def test_random_set_values_never_give_a_traceback(key, value):
    template = "features/baseline/query_mean" if key == "dims" else "features/baseline/slot_counts"
    result = CliRunner().invoke(sql_main, ["show", template, "--set", f"{key}={value}"])
    assert result.exit_code in (0, 2), result.output
    if result.exit_code:
        one_error_line(result)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["pattern", "limit", "since", "nope"]), value=JSONISH)
def test_random_param_values_never_give_a_traceback(base, name, value):
    template = {"pattern": "summary/events", "limit": "lists/most_bought", "since": "summary/clients",
                "nope": "summary/events"}[name]
    extra = {"summary/events": ["--param", "pattern=%"] if name != "pattern" else [],
             "lists/most_bought": ["--set", "column=sku"],
             "summary/clients": ["--param", "until=2023-01-01"]}[template]
    result = CliRunner().invoke(sql_main, ["run", template, "--data-dir", str(base / "d"), "--format", "csv",
                                           "--param", f"{name}={value}", *extra])
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        one_error_line(result)


# -- labels of random event tables -------------------------------------------------------------

START = dt.datetime(2022, 1, 1)
END = START + dt.timedelta(days=39, hours=23)  # an anchor purchase sets the split's end here
RELEVANT = [1, 2, 3, 4, 5, 6]
SKUS = [1, 2, 3, 4, 5]
NEW_SKU = 9  # bought only in the train window (by client 99): the new-sku list is never empty

purchases = st.lists(st.tuples(st.sampled_from([*RELEVANT, 7, 8]), st.integers(0, 38 * 86400 + 86399),
                               st.sampled_from(SKUS)), max_size=40)


def _ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


@settings(max_examples=6, deadline=None)  # each example splits, lists and labels: ~3 s
@given(rows=purchases)
def test_labels_are_those_of_the_events(rows):
    b = boundaries_for(END)
    events = [(c, START + dt.timedelta(seconds=s), sku) for c, s, sku in rows]
    anchors = [(1, START + dt.timedelta(days=1), 1),  # client 1 is active
               (99, b.train_target_start + dt.timedelta(days=2), NEW_SKU),
               (99, b.validation_target_start + dt.timedelta(days=2), 2), (99, END, 3)]
    events += anchors
    with tempfile.TemporaryDirectory() as scratch:
        root = write_dataset(Path(scratch) / "d", relevant=RELEVANT,
                             properties=[(s, 100 + s % 3, s % 4) for s in [*SKUS, NEW_SKU]],
                             product_buy=[(c, _ts(t), sku) for c, t, sku in events],
                             search_query=[(1, "2022-01-02 00:00:00", default_vec(1))])
        split(root)
        build_lists(root)
        build_targets(root, Path(scratch) / "t")
        t = Path(scratch) / "t"

        def window(name: str) -> list[tuple]:
            lo, hi = ((b.train_target_start, b.validation_target_start) if name == "train"
                      else (b.validation_target_start, END + dt.timedelta(seconds=1)))
            return [(c, sku) for c, ts, sku in events if lo <= ts < hi]

        active = [c for c in RELEVANT if any(cc == c and ts < b.train_target_start for cc, ts, _ in events)]
        churn_ids = np.load(t / "churn" / "client_ids.npy").tolist()
        assert churn_ids == active
        for name in ("train", "validation"):
            buyers = {c for c, _ in window(name)}
            churn = np.load(t / "churn" / f"{name}.npy")[:, 0].tolist()
            assert churn == [int(c not in buyers) for c in active]  # 1 = no purchase in the window
            conversion = np.load(t / "conversion" / f"{name}.npy")[:, 0].tolist()
            assert conversion == [int(c not in buyers) for c in RELEVANT]
            listed = np.load(t / "propensity_sku" / "labels.npy").tolist()
            bought = set(window(name))
            expected = [[int((c, sku) in bought) for sku in listed] for c in RELEVANT]
            assert np.load(t / "propensity_sku" / f"{name}.npy").tolist() == expected
        counts: dict[int, int] = {}
        for _, sku in window("train"):
            counts[sku] = counts.get(sku, 0) + 1
        assert listed == sorted(counts, key=lambda s: (-counts[s], s))[:100]  # most bought, ties: smaller id
