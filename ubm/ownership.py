"""What ubm made, and only that, is what ubm replaces or deletes.

Two marks (docs/commands.md, "What happens to an existing --out"):

* A directory ubm writes as a whole (an entry, a labels directory, a run, a generated data
  directory) holds :data:`MANIFEST`: the kind of output and every file and folder in it.
  An existing ``--out`` is replaced only when it is empty, or when its manifest is of the
  same kind and lists everything it holds; anything else is refused untouched.
* Temporaries and backups live in *scratch* directories beside the output, named
  ``.NAME.ubm-<16 random hex digits>`` and holding :data:`MARKER`, which repeats the token
  and names the owning process. Cleanup (:func:`clean_litter`) touches only scratch whose
  marker matches its name and whose process is gone: a user's ``.photos.old-2019`` or
  ``.x.tmp-1`` is never ubm's, however it is named.

A symbolic link given as an output is written through: the directory or file it points to
is replaced, the link itself is kept (:func:`through_link`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable, Iterator

from ubm.errors import OutputError

MANIFEST = ".ubm-manifest.json"
MARKER = ".ubm-scratch.json"
OLD_SLOT = ".ubm-previous"  # inside a scratch: the previous output, moved aside during a swap
KINDS = {"entry": "an entry (`ubm features`)", "labels": "a labels directory (`ubm targets`)",
         "run": "a run directory (`ubm train`)", "data": "a data directory (`ubm generate`)",
         "ablation": "a study directory (`ubm ablate`)",
         "model": "a profile model (`ubm fit`)"}
_NAME_CHARS = 100  # of the output's name kept in its scratch's name (the marker has it all)
_SCRATCH = re.compile(r"^\.(?P<name>.+)\.ubm-(?P<token>[0-9a-f]{16})$")


def _own_json(path: Path) -> Any:
    """The JSON of a regular file (a link is never ubm's own mark); None if absent or unreadable."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("ubm")
    except PackageNotFoundError:
        return "unknown"


# -- scratch ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scratch:
    """A marked temporary directory beside ``target``; ``slot`` is where the new file or
    directory is built before it is renamed over ``target``."""

    path: Path
    target: Path

    @classmethod
    def beside(cls, target: Path) -> "Scratch":
        token = secrets.token_hex(8)
        path = target.with_name(f".{target.name[:_NAME_CHARS]}.ubm-{token}")
        path.mkdir()  # fails rather than reuse anything that exists
        marker = {"ubm": "scratch", "token": token, "for": target.name, "pid": os.getpid()}
        try:
            (path / MARKER).write_text(json.dumps(marker) + "\n")
        except BaseException:  # a full disk: no unmarked directory (that no cleanup may touch) is left
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, target)

    @property
    def slot(self) -> Path:
        return self.path / self.target.name

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is shaped like a scratch directory's (see :func:`scratch_marker`
    for whether it is one)."""
    return _SCRATCH.match(name) is not None


def scratch_marker(entry: Path) -> dict[str, Any] | None:
    """The marker of ``entry`` when it is ubm's scratch (a real directory whose marker repeats
    its name's token), else None."""
    m = _SCRATCH.match(entry.name)
    if not m or entry.is_symlink() or not entry.is_dir():
        return None
    marker = _own_json(entry / MARKER)
    if (not isinstance(marker, dict) or marker.get("ubm") != "scratch" or marker.get("token") != m["token"]
            or not isinstance(marker.get("for"), str) or marker["for"][:_NAME_CHARS] != m["name"]
            or "/" in marker["for"] or marker["for"] in ("", ".", "..") or not isinstance(marker.get("pid"), int)):
        return None
    return marker


def clean_litter(directory: Path) -> list[Path]:
    """Remove the scratch that dead processes left in ``directory``.

    A scratch holding a previous output (:data:`OLD_SLOT`) whose output is missing (the
    process died between the two renames of a swap) gives it back first. Anything without
    ubm's marker, and the scratch of live processes, is left alone. Returns what was removed.
    """
    directory = Path(directory)
    done: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return done
    for entry in entries:
        marker = scratch_marker(entry)
        if marker is None or pid_alive(marker["pid"]):
            continue
        original, old = directory / marker["for"], entry / OLD_SLOT
        if old.is_dir() and not old.is_symlink() and not os.path.lexists(original):
            os.replace(old, original)
        shutil.rmtree(entry, ignore_errors=True)
        done.append(entry)
    return done


_SCRATCH_IN_PATH = re.compile(r"\.[^/\s'\"]+\.ubm-[0-9a-f]{16}/")
WRITING = "ubm_writing"  # attribute of an exception raised while an output was being written


def unscratch(text: str) -> str:
    """``text`` with every scratch directory left out of the paths it names: a failure inside
    ``.E.ubm-<token>/E/embeddings.npy`` is reported at ``E/embeddings.npy``, the path the user gave."""
    return _SCRATCH_IN_PATH.sub("", text)


@contextmanager
def writing(target: Path) -> Iterator[None]:
    """Tag any exception raised in the block with ``target`` (attribute :data:`WRITING`; the
    innermost output wins), so that a failure that names no file (a write() that found the disk
    full) is still reported at the output it was writing (:func:`ubm.clikit.explain`)."""
    try:
        yield
    except Exception as exc:
        note_writing(exc, target)
        raise


def note_writing(exc: BaseException, target: Path) -> None:
    """What :func:`writing` does, for a caller that handles the exception itself."""
    if getattr(exc, WRITING, None) is None:
        try:
            setattr(exc, WRITING, Path(target))
        except (AttributeError, TypeError):  # an exception type without a __dict__
            pass


# -- links -----------------------------------------------------------------------------------

def through_link(path: Path, option: str = "--out") -> Path:
    """Where writing ``path`` lands: a symlink's target (the link itself is kept), else ``path``.
    A link to nothing is refused: following it could create a path anywhere."""
    path = Path(path)
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise OutputError(f"{option} {path} is a symbolic link to a missing path ({os.readlink(path)}); "
                          "not following it") from None


# -- manifests -------------------------------------------------------------------------------

def contents(directory: Path) -> list[str]:
    """Every file and folder under ``directory`` (folders end in "/"), relative, sorted; the
    top-level manifest and ubm's scratch are not counted. Links are listed, not followed."""
    found: list[str] = []
    for parent, dirs, files in os.walk(directory, onerror=_unreadable):
        rel = Path(parent).relative_to(directory)
        keep = []
        for d in dirs:
            if (Path(parent) / d).is_symlink():
                files.append(d)
            elif scratch_marker(Path(parent) / d) is None:
                keep.append(d)
                found.append(f"{(rel / d).as_posix()}/")
        dirs[:] = keep
        found += [(rel / f).as_posix() for f in files if not (parent == str(directory) and f == MANIFEST)]
    return sorted(found)


def _unreadable(exc: OSError) -> None:
    raise OutputError(f"cannot read {exc.filename}: {exc.strerror}; not replacing it")


def read_manifest(directory: Path) -> dict[str, Any] | None:
    manifest = _own_json(Path(directory) / MANIFEST)
    ok = (isinstance(manifest, dict) and manifest.get("ubm") == "manifest" and manifest.get("kind") in KINDS
          and isinstance(manifest.get("files"), list))
    return manifest if ok else None


def write_manifest(directory: Path, kind: str, also: Iterable[str] = (), scan: bool = True) -> None:
    """Record ``kind`` and what ``directory`` holds now (unless not ``scan``) plus ``also``,
    names it will hold."""
    files = sorted((set(contents(directory)) if scan else set()) | set(also))
    manifest = {"ubm": "manifest", "kind": kind, "version": version(), "files": files}
    path = Path(directory) / MANIFEST
    scratch = Scratch.beside(path)  # renamed into place: a kill never leaves half a manifest
    try:
        scratch.slot.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(scratch.slot, path)
    finally:
        scratch.remove()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_writable_parent(path: Path, option: str = "--out") -> None:
    """Refuse early when ``path`` cannot be created: its nearest existing ancestor must be a
    writable directory."""
    path = Path(path)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write in {parent} (permission denied)")


def file_target(path: Path, option: str = "--out") -> Path:
    """Where a single-file output lands (through a link): refused (OutputError) when it is a
    directory or a place that cannot be created."""
    path = Path(path)
    real = through_link(path, option)
    if real.is_dir():
        raise OutputError(f"{option} {path} is a directory; give a file name")
    check_writable_parent(real, option)
    return real


def check_file_out(path: Path, option: str = "--out", signature: bytes | None = None,
                   what: str = "") -> None:
    """Refuse (OutputError, nothing touched) a single-file output before any work is done: a
    directory, a place that cannot be created, a file that belongs to a directory ubm wrote
    (listed in its manifest: a run's scores.json, an entry's columns.json) and, with
    ``signature``, an existing file that does not start with it (``what`` names the format):
    ``--plot`` replaces a PNG image, never a user's notes that happen to sit at that path."""
    real = file_target(path, option)
    manifest = read_manifest(real.parent)
    if manifest is not None and real.name in manifest["files"]:
        raise OutputError(f"{option} {path} is part of {KINDS[manifest['kind']]} in {real.parent}; "
                          "not replacing it: give another file name")
    if signature is None or not os.path.lexists(real):
        return
    if not real.is_file():
        raise OutputError(f"{option} {path} exists and is not a regular file; not replacing it")
    try:
        with open(real, "rb") as fh:
            head = fh.read(len(signature))
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot read it to check it is {what} ({exc.strerror})") from None
    if head != signature:
        raise OutputError(f"{option} {path} exists and is not {what}; not replacing it "
                          "(give a new file name, or remove it first)")


def check_replaceable(path: Path, kind: str, option: str = "--out", derived: Collection[str] = ()) -> None:
    """Refuse (OutputError, nothing touched) an existing ``path`` that ubm may not replace with
    an output of ``kind``: anything but an empty directory, or one whose manifest is of that
    kind and lists every file and folder in it but the ``derived`` ones (what later stages
    made from it, named by the caller, that go with it)."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    real = through_link(path, option)
    if not real.is_dir():
        raise OutputError(f"{option} {path} exists and is not a directory; not replacing it")
    found = contents(real)
    manifest = read_manifest(real)
    if manifest is None:
        if found:
            raise OutputError(f"{option} {path} is not a directory ubm wrote (no {MANIFEST}) and holds "
                              f"{found[0]}; not replacing it: give a new or empty directory")
        return
    if manifest["kind"] != kind:
        raise OutputError(f"{option} {path} is {KINDS[manifest['kind']]}, not {KINDS[kind]}; not replacing it")
    foreign = sorted(set(found) - set(manifest["files"]) - set(derived))
    if foreign:
        raise OutputError(f"{option} {path} holds {foreign[0]}, which ubm did not write; not replacing it "
                          "(move it out, or give a new or empty directory)")


def check_out(out: Path, kind: str, data_root: Path | None = None, option: str = "--out",
              derived: Collection[str] = ()) -> None:
    """The one guard of a command's output directory, called before any work: refuse
    (OutputError, a usage error, exit 2; nothing touched) an ``out`` that is or holds the data
    directory ``data_root`` (a typo must not wipe the data), or that ubm may not replace with
    an output of ``kind`` (:func:`check_replaceable`)."""
    out = Path(out)
    if data_root is not None and out.exists() and Path(data_root).resolve().is_relative_to(out.resolve()):
        raise OutputError(f"{option} {out} would replace the data directory")
    check_replaceable(out, kind, option, derived)


__all__ = ["MANIFEST", "MARKER", "WRITING", "file_target", "note_writing", "unscratch", "writing", "OutputError", "PNG_SIGNATURE", "Scratch", "check_file_out", "check_out", "check_replaceable",
           "check_writable_parent", "clean_litter", "contents",
           "is_temp_name", "pid_alive", "read_manifest", "scratch_marker", "through_link", "write_manifest"]
