"""Atomic writes and the allocator setting used by `ubm train`."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ubm.ownership import MANIFEST, read_manifest
from ubm.util import atomic_dir, atomic_path, keep_freed_memory, save_npy


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_dir_keeps_the_previous_directory_on_failure(tmp_path):
    target = tmp_path / "entry"
    with atomic_dir(target, "entry") as tmp:
        (tmp / "a.npy").write_text("old")
    with pytest.raises(ValueError):
        with atomic_dir(target, "entry") as tmp:
            (tmp / "a.npy").write_text("new")
            raise ValueError("boom")
    assert (target / "a.npy").read_text() == "old"
    with atomic_dir(target, "entry") as tmp:
        (tmp / "b.npy").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, "b.npy"]
    assert read_manifest(target)["files"] == ["b.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_save_npy_round_trip(tmp_path):
    array = np.arange(5, dtype=np.int64)
    save_npy(tmp_path / "x.npy", array)
    assert np.load(tmp_path / "x.npy").tolist() == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert keep_freed_memory() is True
