"""What a derived output was made from, so a later stage can refuse stale or mixed outputs.

Each stage that derives files from a data directory ``D`` records a small stamp:

* ``D/.ubm/split.json``: the split's inputs (the published files) and its seven outputs;
* ``D/.ubm/lists.json``: the split outputs and ``relevant_clients.npy`` the lists came from;
* ``T/stamp.json`` in a labels directory of ``ubm targets`` (and the label cache).

A file is identified by (size, mtime_ns), plus a sha256 of its bytes when it is small (the
``.npy`` arrays); the inode is recorded too, but a copy that keeps mtimes counts as the same. A stage whose recorded inputs no longer match refuses with a message saying
what to rerun. Directories without stamps (made by hand or by other tools) are trusted.

The split replaces seven files, which no single rename can do. It writes every file under
a temporary name first, then a journal listing the renames, then renames, then its stamp,
then deletes the journal. If the process dies in between, the next command that opens the
directory finishes the renames from the journal (:func:`finish_split`), so readers see
either the old split or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ubm.errors import DataError
from ubm.layout import RELEVANT_CLIENTS, TARGET_DIR, split_files
from ubm.ownership import scratch_marker
from ubm.util import atomic_path, pid_alive

STAMP_DIR = ".ubm"
IMPORT_RECORD = f"{STAMP_DIR}/import.json"  # written by `ubm import`: what the directory was made from
SMALL_FILE = 64 << 20  # bytes: files up to this size are also identified by their content
SPLIT_VERSION = 1  # bump when the split's outputs change for the same inputs
LISTS_VERSION = 1
LABELS_VERSION = 1


def made_by_import(root: Path) -> bool:
    """A data directory `ubm import` wrote: it can have no organiser label lists."""
    return (Path(root) / IMPORT_RECORD).is_file()


def file_id(path: Path) -> dict[str, Any]:
    """Identity of one file: size, mtime, inode, and sha256 of small ``.npy`` files."""
    st = Path(path).stat()
    out: dict[str, Any] = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
    if Path(path).suffix == ".npy" and st.st_size <= SMALL_FILE:
        out["sha256"] = content_hash(path)
    return out


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ids_of(root: Path, paths: list[Path]) -> dict[str, dict[str, Any]]:
    """file_id of each path that exists, keyed by its path relative to ``root``."""
    return {_rel(root, p): file_id(p) for p in paths if Path(p).is_file()}


def _rel(root: Path, path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def changed_files(root: Path, recorded: dict[str, dict[str, Any]]) -> list[str]:
    """Recorded files that are missing or no longer the same file (relative names)."""
    bad = []
    for name, want in recorded.items():
        path = root / name
        if not path.is_file():
            bad.append(name)
            continue
        now = file_id(path) if "sha256" in want else _stat_id(path)
        # The inode is recorded but not compared: a copy that keeps mtimes (cp -a) is the same data.
        if any(now.get(k) != v for k, v in want.items() if k != "inode"):
            bad.append(name)
    return bad


def changed_during(root: Path, taken: dict[str, dict[str, Any]]) -> list[str]:
    """Files of ``taken`` (file_id before a stage read them) that are not the same file now.

    Unlike :func:`changed_files` the inode counts: within one run a file replaced by a rename
    (as ``ubm split`` and ``ubm lists`` replace theirs) is another file even with the same
    size and mtime. ``.npy`` files are compared by content as well.
    """
    bad = []
    for name, want in taken.items():
        path = Path(root) / name
        if not path.is_file() or file_id(path) != want:
            bad.append(name)
    return bad


def _stat_id(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def stamp_path(root: Path, stage: str) -> Path:
    return Path(root) / STAMP_DIR / f"{stage}.json"


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise DataError(f"{path}: unreadable stamp; delete it and rerun the stage that wrote it") from None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` under a temporary name and rename it into place (fsynced)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# -- the split -------------------------------------------------------------------------------

def journal_path(root: Path) -> Path:
    return stamp_path(root, "split.journal")


def commit_split(root: Path, moves: list[tuple[Path, Path]], inputs: dict[str, Any]) -> None:
    """Rename the split's finished temporaries into place as one unit (see module doc)."""
    root = Path(root)
    journal = {"pid": os.getpid(), "moves": [[_rel(root, t), _rel(root, f)] for t, f in moves],
               "inputs": inputs}
    write_json(journal_path(root), journal)
    stamp_path(root, "split").unlink(missing_ok=True)
    _apply_journal(root, journal)


def _apply_journal(root: Path, journal: dict[str, Any]) -> None:
    finals = []
    for tmp, final in journal["moves"]:
        if (root / tmp).exists():
            os.replace(root / tmp, root / final)
        if scratch_marker((root / tmp).parent) is not None:  # the emptied scratch it came from
            shutil.rmtree((root / tmp).parent, ignore_errors=True)
        finals.append(root / final)
    missing = [str(f) for f in finals if not f.is_file()]
    if missing:
        raise DataError(f"interrupted split of {root} cannot be completed ({missing[0]} is missing); "
                        f"rerun `ubm split --data-dir {root}`")
    write_json(stamp_path(root, "split"), {
        "stage": "split", "version": SPLIT_VERSION, "inputs": journal["inputs"],
        "outputs": ids_of(root, finals)})
    journal_path(root).unlink(missing_ok=True)


def finish_split(root: Path) -> None:
    """Complete the renames of a split whose process died after writing its journal."""
    journal = read_json(journal_path(Path(root)))
    if journal is None:
        return
    if pid_alive(int(journal.get("pid", -1))):
        raise DataError(f"a split of {root} is in progress (process {journal['pid']}); wait for it to finish")
    _apply_journal(Path(root), journal)


def verify_split(root: Path) -> None:
    """Refuse a split whose inputs changed since, or whose outputs are not the ones written."""
    root = Path(root)
    finish_split(root)
    stamp = read_json(stamp_path(root, "split"))
    if stamp is None:
        return
    rerun = f"rerun `ubm split --data-dir {root}`"
    if stamp.get("version") != SPLIT_VERSION:
        raise DataError(f"{root}: the split was made by another version of ubm; {rerun}")
    stale = changed_files(root, stamp.get("inputs", {}))
    if stale:
        raise DataError(f"{root / stale[0]} changed since `ubm split` made input/ and target/ from it; {rerun}")
    mixed = changed_files(root, stamp.get("outputs", {}))
    if mixed:
        raise DataError(f"{root / mixed[0]} is not the file `ubm split` wrote (replaced or changed since); {rerun}")


def split_outputs(root: Path) -> dict[str, dict[str, Any]]:
    """The recorded outputs of the split, or the identity of the split files now (no stamp)."""
    stamp = read_json(stamp_path(root, "split"))
    if stamp is not None:
        return stamp.get("outputs", {})
    files = [root / rel for rel in split_files()]
    return {_rel(root, p): _stat_id(p) for p in files if p.is_file()}


# -- the label lists -------------------------------------------------------------------------

def lists_inputs(root: Path) -> dict[str, Any]:
    relevant = root / RELEVANT_CLIENTS
    return {"split": split_outputs(root), "relevant_clients": ids_of(root, [relevant])}


def write_lists_stamp(root: Path, built: list[Path]) -> None:
    old = read_json(stamp_path(root, "lists")) or {}
    ours = set(old.get("built", [])) | {_rel(root, p) for p in built}
    write_json(stamp_path(root, "lists"), {"stage": "lists", "version": LISTS_VERSION,
                                           "inputs": lists_inputs(root), "built": sorted(ours)})


def stale_lists(root: Path) -> list[str]:
    """Lists built by ubm from a split or client set that is no longer there (relative names)."""
    stamp = read_json(stamp_path(root, "lists"))
    if stamp is None:
        return []
    recorded = stamp.get("inputs", {})
    same = stamp.get("version") == LISTS_VERSION and not (
        changed_files(root, recorded.get("split", {})) or changed_files(root, recorded.get("relevant_clients", {})))
    if same and set(recorded.get("split", {})) == set(split_outputs(root)):
        return []
    return [name for name in stamp.get("built", []) if (root / name).is_file()]


def verify_lists(root: Path) -> None:
    stale = stale_lists(Path(root))
    if stale:
        raise DataError(f"{Path(root) / stale[0]} was built from another split or relevant_clients.npy; "
                        f"rerun `ubm lists --data-dir {root} --force`")


def remove_derived(root: Path) -> list[Path]:
    """Delete what ubm derived from the published files of ``root`` (split outputs, lists it
    built, stamps, label cache): called when those files are about to be replaced."""
    root = Path(root)
    lists = read_json(stamp_path(root, "lists")) or {}
    doomed = [root / rel for rel in split_files()]
    doomed += [root / name for name in lists.get("built", [])]
    removed = [p for p in doomed if p.is_file()]
    for path in removed:
        path.unlink()
    for directory in (root / ".cache", root / STAMP_DIR):
        if directory.is_dir():
            shutil.rmtree(directory)
            removed.append(directory)
    target = root / TARGET_DIR
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    return removed


# -- labels (``ubm targets`` and the label cache of ``ubm train``) ------------------------------

def code_hash(files: list[Path], version: int) -> str:
    """sha256 of the given source files (name and bytes, in order) and a stage version."""
    h = hashlib.sha256(f"labels v{version}".encode())
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def labels_inputs(root: Path, client_ids: Path | None, code: str) -> dict[str, Any]:
    """Everything labels are computed from: the split, the lists, the clients, the code
    (``code``: :func:`ubm.prepare.targets.labels_code_version`, passed in so that this floor
    does not import the stage above it)."""
    root = Path(root).resolve()
    clients = Path(client_ids) if client_ids is not None else root / RELEVANT_CLIENTS
    lists = sorted(p for p in (root / TARGET_DIR).glob("*.npy"))
    return {"data_dir": str(root), "split": split_outputs(root), "lists": ids_of(root, lists),
            "clients": {"path": str(clients), "sha256": content_hash(clients) if clients.is_file() else None},
            "code": code}


def _content_view(inputs: dict[str, Any]) -> dict[str, Any]:
    """The parts of labels_inputs that identify content (lists by their sha256, not inode)."""
    return {"split": inputs.get("split"),
            "lists": {n: (f.get("bytes"), f.get("sha256")) for n, f in (inputs.get("lists") or {}).items()},
            "clients": (inputs.get("clients") or {}).get("sha256"), "code": inputs.get("code")}


def labels_key(inputs: dict[str, Any]) -> str:
    """Cache key of labels: the content identity of every input, not their names."""
    return hashlib.sha256(json.dumps(_content_view(inputs), sort_keys=True).encode()).hexdigest()[:20]


def write_labels_stamp(out_dir: Path, inputs: dict[str, Any]) -> None:
    write_json(Path(out_dir) / "stamp.json", {"stage": "labels", "version": LABELS_VERSION, "inputs": inputs})


def verify_labels(labels_dir: Path, root: Path, client_ids: Path | None, code: str) -> None:
    """Refuse labels whose stamp says they were made from other data or code."""
    stamp = read_json(Path(labels_dir) / "stamp.json")
    if stamp is None:
        return
    recorded = stamp.get("inputs", {})
    now = labels_inputs(root, client_ids, code)
    given = Path((recorded.get("clients") or {}).get("path", ""))
    if client_ids is None and given != Path(now["clients"]["path"]) and given.is_file() \
            and given.name != Path(RELEVANT_CLIENTS).name:
        now = labels_inputs(root, given, code)  # labels of an explicit --client-ids file
    rec, cur = _content_view(recorded), _content_view(now)
    for part, what in (("split", "the split"), ("lists", "the label lists"), ("clients", "the client ids"),
                       ("code", "the label code")):
        if rec[part] != cur[part]:
            raise DataError(f"labels in {labels_dir} were made from other data ({what} changed since); "
                            f"rerun `ubm targets --data-dir {root} --out {labels_dir}`")


# -- entries (``ubm features``) -----------------------------------------------------------------

def verify_entry(entry_dir: Path, root: Path) -> None:
    """Refuse an entry whose columns.json says it was built from files of ``root`` that changed."""
    meta_path = Path(entry_dir) / "columns.json"
    if not meta_path.is_file():
        return  # an entry from elsewhere: the validation checks are all we can do
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{meta_path}: not valid JSON; rerun `ubm features` for this entry") from None
    files = (meta.get("fingerprint") or {}).get("files") if isinstance(meta, dict) else None
    if not files or Path(str(meta.get("data_dir", ""))) != Path(root).resolve():
        return
    rerun = f"rerun `ubm features --data-dir {root} --recipe {meta.get('recipe', '...')} --out {entry_dir}`"
    for view, want in files.items():
        path = Path(root) / want["path"]
        if not path.is_file():
            raise DataError(f"entry {entry_dir} was built from {path}, which is gone; {rerun}")
        # Label lists and other small arrays are recorded with their content hash and compared
        # by it (a list rebuilt with the same values is the same list; one rewritten within the
        # same mtime tick is not); parquet files by size and mtime.
        same = path.stat().st_size == want.get("bytes") and (
            content_hash(path) == want["sha256"] if "sha256" in want
            else path.stat().st_mtime_ns == want.get("mtime_ns"))
        if not same:
            raise DataError(f"entry {entry_dir} was built from an earlier {path} (changed since); {rerun}")
