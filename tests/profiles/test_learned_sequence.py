"""The learned recipe's sequence block (``-o sequence=on``): its SQL on a hand-made case, leakage,
determinism, the block off leaving the recipe's bytes as they were, options checked by name.

Tiny generated data (600 clients, 60 days), ``base="none"`` and a small, fast setup.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.fixtures import write_dataset
from tests.profiles.test_learned import FAST, SETTINGS, _remove_target_windows, data_dir  # noqa: F401
from ubm.cli import main as ubm_main
from ubm.data import sql
from ubm.data.opener import open_data
from ubm.profiles.features import export_features
from ubm.profiles.recipes import OptionError
from ubm.profiles.recipes.learned import check_options, learned_columns
from ubm.profiles.recipes.learned.prep import use_clients
from ubm.profiles.recipes.learned.sequence import QUERY_BITS

SEQ = {"sequence": "on", "seq_len": 12, "seq_dim": 4, "seq_embed": 8, "seq_epochs": 2, "seq_vocab": 50,
       "seq_urls": 50}


def build(data_dir: Path, out: Path, **options) -> tuple[np.ndarray, dict]:
    export_features(data_dir, out, recipe="learned", options={**FAST, **options}, settings=SETTINGS)
    return np.load(out / "embeddings.npy"), json.loads((out / "columns.json").read_text())


@pytest.fixture(scope="module")
def with_sequence(data_dir, tmp_path_factory) -> tuple[np.ndarray, dict]:
    return build(data_dir, tmp_path_factory.mktemp("seq") / "entry", **SEQ)


def test_seq_events_on_a_hand_made_client(tmp_path):
    """Client 1: a visit, a search, a buy of a listed sku, a cart of an unlisted one; latest 3 kept."""
    q = [200] * 3 + [0] * 13  # high bits of the first 8 numbers: 1, 1, 1, 0, ...: 1 + 7
    root = write_dataset(tmp_path / "d", relevant=[1, 2], properties=[(10, 5, 7)],
                         page_visit=[(1, "2022-06-01 10:00:00", 33)],
                         search_query=[(1, "2022-06-01 10:00:30", q)],
                         product_buy=[(1, "2022-06-01 10:01:30", 10)],
                         add_to_cart=[(1, "2022-06-01 10:01:30", 99), (2, "2022-06-03 00:00:00", 10)])
    data = open_data(root, settings=SETTINGS)
    try:
        use_clients(data, np.array([1, 2], dtype=np.int64))
        got = sql.fetch_numpy(data, "features/learned/seq_events",
                              {"end": dt.datetime(2022, 6, 2), "lo": 0, "hi": 2, "length": 3})
    finally:
        data.close()
    # the buy and the cart share a second: event code (buy 1, cart 2) orders them, latest first
    assert list(got["pos"]) == [0, 0, 0] and list(got["rank"]) == [0, 1, 2]  # client 2's event is after end
    assert list(got["event"]) == [1, 2, 5]
    assert list(got["sku"]) == [10, 99, -1] and list(got["url"]) == [-1, -1, -1]
    assert list(np.ma.filled(got["category"], -9)) == [5, -9, -9]
    assert list(got["query"]) == [0, 0, 1 + 7] and QUERY_BITS == 8
    assert list(got["gap"]) == [0.0, 60.0, 30.0]  # to the previous event: the cart, the search, the visit
    assert np.allclose(got["age"], [(14 * 3600 - 90) / 86400.0] * 2 + [(14 * 3600 - 30) / 86400.0])


def test_block_columns_loss_and_the_encoder_left_as_it_was(data_dir, with_sequence, tmp_path):
    """With the block on, the columns before it are byte for byte those of the recipe without it."""
    emb, meta = with_sequence
    off, off_meta = build(data_dir, tmp_path / "off")
    assert meta["columns"] == off_meta["columns"] + [f"sequence.{i}" for i in range(4)]
    assert emb[:, :off.shape[1]].tobytes() == off.tobytes()
    assert "sequence" not in off_meta["recipe_info"]
    info = meta["recipe_info"]["sequence"]
    assert [e["epoch"] for e in info["epochs"]] == [1, 2] and info["best_epoch"] in (1, 2)
    assert set(info["epochs"][0]["validation"]) == {"event", "sku", "category", "url", "total"}
    assert info["validation_loss"] == min(e["validation"]["total"] for e in info["epochs"])
    constant = info["validation_constant"]  # what the GRU must beat (2 epochs on 324 clients do not)
    assert constant["total"] == pytest.approx(sum(constant[t] for t in ("event", "sku", "category", "url")), abs=1e-3)
    assert 0 < info["validation_loss"] and 0 < constant["event"] <= np.log(5)
    block = emb[:, off.shape[1]:].astype(np.float64)
    assert np.isfinite(block).all() and (block.std(axis=0) > 0).all()
    idle = ~off.any(axis=1)  # clients without events: the zero row in the sequence block too
    assert idle.any() and not block[idle].any()


def test_same_seed_same_block(data_dir, with_sequence, tmp_path):
    again, _ = build(data_dir, tmp_path / "again", **SEQ)
    assert again.tobytes() == with_sequence[0].tobytes()


def test_block_unchanged_without_target_window_events(data_dir, with_sequence, tmp_path):
    stripped = tmp_path / "stripped"
    assert _remove_target_windows(data_dir, stripped) > 0
    emb, _ = build(stripped, tmp_path / "entry", **SEQ)
    assert emb.tobytes() == with_sequence[0].tobytes()


def test_options_checked_by_name():
    assert check_options({})["sequence"] == "off"
    assert learned_columns(check_options({"base": "none", "dim": 4, "heads": "binary"})) == \
        [*(f"encoder.rep.{i}" for i in range(4)), "encoder.churn", "encoder.conversion"]
    on = check_options({"base": "none", "dim": 4, "heads": "binary", "sequence": "ON", "seq_dim": "3"})
    assert on["sequence"] == "on" and learned_columns(on)[-3:] == ["sequence.0", "sequence.1", "sequence.2"]
    assert check_options({"sequence": "true", "heads": "binary"})["sequence"] == "on"
    assert check_options({"sequence": False})["sequence"] == "off"
    with pytest.raises(OptionError, match="sequence must be on or off, got 'maybe'") as err:
        check_options({"sequence": "maybe"})
    assert err.value.key == "sequence"
    with pytest.raises(OptionError, match="seq_len must be >= 1, got 0") as err:
        check_options({"seq_len": 0})
    assert err.value.key == "seq_len"
    with pytest.raises(OptionError, match="seq_dim takes a whole number, got '2.5'"):
        check_options({"seq_dim": "2.5"})
    with pytest.raises(OptionError, match="2080 columns") as err:  # the default heads leave no room
        check_options({"sequence": "on"})
    assert "need room: e.g. -o heads=binary,sku" in str(err.value)


def test_bad_option_on_the_command_line_is_a_usage_error(data_dir, tmp_path):
    result = CliRunner().invoke(ubm_main, ["features", "--data-dir", str(data_dir), "--recipe", "learned",
                                           "--out", str(tmp_path / "e"), "-o", "seq_epochs=none"])
    assert result.exit_code == 2 and "seq_epochs" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "e").exists()


def test_a_profile_model_keeps_the_block(data_dir, with_sequence, tmp_path):
    """`ubm fit` keeps the GRU's weights, url vocabulary and column scales: applied to the
    fitted data, the model gives the bytes of `ubm features` with the block (not a retrained block)."""
    from ubm.profiles.model import apply_model, fit_model, load_model

    fit_model(data_dir, "learned", tmp_path / "m", {**FAST, **SEQ}, settings=SETTINGS)
    arrays = load_model(tmp_path / "m").arrays
    assert any(k.startswith("sequence/gru.") for k in arrays) and "sequence/urls" in arrays
    apply_model(tmp_path / "m", data_dir, tmp_path / "e", settings=SETTINGS)
    assert np.load(tmp_path / "e" / "embeddings.npy").tobytes() == with_sequence[0].tobytes()


def test_export_batches_cut_to_their_longest_sequence_give_the_full_width_bytes():
    # the export sorts a chunk's clients by length and cuts each batch to its longest sequence;
    # the GRU reads left to right and padding is on the right, so the state after each client's
    # last event must be bit for bit the state of the full-width batch in chunk order
    import torch

    from ubm.profiles.recipes.learned.seq_model import FIELDS, SequenceEncoder
    from ubm.profiles.recipes.learned.seq_train import BATCH, _encode_chunk
    from ubm.profiles.recipes.learned.sequence import Sequences

    rng = np.random.default_rng(3)
    n, width = BATCH * 4 + 300, 12  # two batches, the second part-full
    lengths = rng.integers(0, width + 1, n)
    lengths[:5] = [0, 1, width, 3, 0]
    sizes = {f: 7 for f in FIELDS}
    tokens = {f: np.where(np.arange(width) < lengths[:, None], rng.integers(1, 7, (n, width)), 0) for f in FIELDS}
    torch.manual_seed(0)
    model = SequenceEncoder(sizes, embed=4, dim=3).eval()
    cut = np.full((n, 3), np.nan, dtype=np.float32)
    with torch.no_grad():
        _encode_chunk(model, Sequences(tokens, lengths), cut)
        whole = torch.cat([model.encode({f: torch.from_numpy(v[s:s + BATCH * 4]) for f, v in tokens.items()},
                                        torch.from_numpy(lengths[s:s + BATCH * 4]))
                           for s in range(0, n, BATCH * 4)]).numpy()
    assert cut.tobytes() == whole.tobytes()
    assert not cut[lengths == 0].any() and cut[lengths > 0].any(axis=1).all()
