"""Every validator check (docs/entry.md §2) fails with its name and a useful message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ubm.cli import main
from ubm.data.io import DataError
from ubm.profiles.validate import CHECKS, load_entry, validate_entry

RELEVANT = np.array([7, 3, 9], dtype=np.int64)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    (tmp_path / "data" / "input").mkdir(parents=True)
    np.save(tmp_path / "data" / "input" / "relevant_clients.npy", RELEVANT)
    return tmp_path / "data"


def entry(tmp_path: Path, ids=None, emb=None, name="e") -> Path:
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    ids = RELEVANT[::-1].copy() if ids is None else ids
    emb = np.ones((3, 4), dtype=np.float16) if emb is None else emb
    if ids is not False:
        np.save(out / "client_ids.npy", ids)
    if emb is not False:
        np.save(out / "embeddings.npy", emb)
    return out


def failures(report) -> dict[str, str]:
    got: dict[str, str] = {}
    for name, message in report.failures:
        assert name in CHECKS
        got[name] = got.get(name, "") + message
    return got


def test_valid_entry(data_dir, tmp_path):
    report = validate_entry(data_dir, entry(tmp_path))
    assert report.ok and report.failures == [] and report.shape == (3, 4)
    assert str(report) == "entry ok: 3 clients x 4 columns, float16"


def test_missing_files(data_dir, tmp_path):
    report = validate_entry(data_dir, entry(tmp_path, ids=False, emb=False))
    assert not report.ok
    assert [n for n, _ in report.failures] == ["missing file", "missing file"]
    assert "client ids file not found" in report.failures[0][1]
    assert "embeddings file not found" in report.failures[1][1]


def test_missing_relevant_clients_file(tmp_path):
    report = validate_entry(tmp_path / "no-data", entry(tmp_path))
    assert failures(report) == {"missing file": f"relevant clients file not found: "
                                                f"{tmp_path / 'no-data' / 'input' / 'relevant_clients.npy'}"}


def test_not_loadable(data_dir, tmp_path):
    out = entry(tmp_path)
    (out / "embeddings.npy").write_bytes(b"not numpy at all")
    np.save(out / "client_ids.npy", np.array([{"a": 1}], dtype=object))
    got = failures(validate_entry(data_dir, out))
    assert list(got) == ["not loadable"]
    assert "client_ids.npy: not a loadable .npy array" in got["not loadable"]
    assert "embeddings.npy: not a loadable .npy array" in got["not loadable"]


def test_empty_file_is_not_loadable(data_dir, tmp_path):
    out = entry(tmp_path)
    (out / "embeddings.npy").write_bytes(b"")
    assert list(failures(validate_entry(data_dir, out))) == ["not loadable"]


def test_wrong_dtypes(data_dir, tmp_path):
    out = entry(tmp_path, ids=RELEVANT.astype(np.int32), emb=np.ones((3, 4), dtype=np.float32))
    got = failures(validate_entry(data_dir, out))
    assert list(got) == ["wrong dtype"]
    assert "client ids dtype is int32, must be int64" in got["wrong dtype"]
    assert "embeddings dtype is float32, must be float16" in got["wrong dtype"]


def test_wrong_shapes(data_dir, tmp_path):
    got = failures(validate_entry(data_dir, entry(tmp_path, ids=RELEVANT.reshape(3, 1),
                                                  emb=np.ones(3, dtype=np.float16))))
    assert set(got) == {"wrong shape"}
    assert "client ids have shape (3, 1), must be 1-D" in got["wrong shape"]
    assert "embeddings have shape (3,), must be 2-D" in got["wrong shape"]
    got = failures(validate_entry(data_dir, entry(tmp_path, emb=np.ones((3, 0), dtype=np.float16), name="z")))
    assert got == {"wrong shape": "embeddings have shape (3, 0), need at least 1 column"}


def test_too_wide(data_dir, tmp_path):
    out = entry(tmp_path, emb=np.zeros((3, 2049), dtype=np.float16))
    assert failures(validate_entry(data_dir, out)) == {"too wide": "embeddings have 2049 columns, at most 2048 allowed"}
    assert validate_entry(data_dir, entry(tmp_path, emb=np.zeros((3, 2048), dtype=np.float16), name="w")).ok
    assert not validate_entry(data_dir, entry(tmp_path, name="x"), max_dim=3).ok


def test_nan_and_inf_are_both_reported(data_dir, tmp_path):
    emb = np.ones((3, 4), dtype=np.float16)
    emb[1, 2] = np.nan
    emb[2, 0] = np.inf
    emb[2, 1] = -np.inf
    got = failures(validate_entry(data_dir, entry(tmp_path, emb=emb)))
    assert got == {"NaN": "embeddings hold 1 NaN value(s), first in row 1",
                   "inf": "embeddings hold 2 inf value(s), first in row 2"}


@pytest.mark.parametrize("ids, fragment", [
    ([7, 3, 8], "1 relevant client(s) missing, e.g. 9; 1 id(s) not relevant, e.g. 8"),
    ([7, 3, 3], "1 relevant client(s) missing, e.g. 9; 1 duplicate id(s)"),
    ([7, 3], "2 client ids for 3 relevant clients; 1 relevant client(s) missing, e.g. 9"),
])
def test_not_a_permutation(data_dir, tmp_path, ids, fragment):
    emb = np.ones((len(ids), 2), dtype=np.float16)
    got = failures(validate_entry(data_dir, entry(tmp_path, ids=np.array(ids, dtype=np.int64), emb=emb)))
    assert list(got) == ["not a permutation"]
    assert fragment in got["not a permutation"]


def test_relevant_check_can_be_switched_off(tmp_path):
    out = entry(tmp_path, ids=np.array([1, 2], dtype=np.int64), emb=np.ones((2, 2), dtype=np.float16))
    assert validate_entry(None, out, relevant_check=False).ok


def test_length_mismatch(data_dir, tmp_path):
    got = failures(validate_entry(data_dir, entry(tmp_path, emb=np.ones((4, 2), dtype=np.float16)),
                                  relevant_check=False))
    assert got == {"length mismatch": "4 embedding rows for 3 client ids"}


def test_every_failure_in_one_run(data_dir, tmp_path):
    emb = np.ones((2, 2050), dtype=np.float32)
    emb[0, 0] = np.nan
    emb[1, 1] = np.inf
    report = validate_entry(data_dir, entry(tmp_path, ids=np.array([7, 3, 3], dtype=np.int64), emb=emb))
    assert [n for n, _ in report.failures] == ["wrong dtype", "too wide", "NaN", "inf", "not a permutation",
                                               "length mismatch"]


def test_load_entry(tmp_path):
    ids, emb = load_entry(entry(tmp_path))
    assert ids.tolist() == [9, 3, 7] and emb.shape == (3, 4)
    with pytest.raises(DataError, match="missing file: embeddings file not found"):
        load_entry(entry(tmp_path, emb=False, name="m"))


def test_cli_reports_every_failure_and_exits_1(data_dir, tmp_path):
    emb = np.ones((3, 4), dtype=np.float16)
    emb[0, 0] = np.inf
    out = entry(tmp_path, ids=RELEVANT.astype(np.int32), emb=emb)
    res = CliRunner().invoke(main, ["validate", "--data-dir", str(data_dir), "--embeddings-dir", str(out)])
    assert res.exit_code == 1
    assert "FAILED wrong dtype: client ids dtype is int32" in res.output
    assert "FAILED inf: embeddings hold 1 inf value(s)" in res.output
    out = entry(tmp_path, ids=np.array([1, 2, 4], dtype=np.int64), name="local")
    res = CliRunner().invoke(main, ["validate", "--data-dir", str(data_dir), "--embeddings-dir", str(out),
                                    "--no-relevant-check"])
    assert res.exit_code == 0, res.output
