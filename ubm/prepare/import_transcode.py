"""CSV sources in an encoding DuckDB cannot read (docs/import.md §2): read through Python's codecs.

DuckDB reads UTF-8, UTF-16 and Latin-1 itself, and its Latin-1 refuses the bytes 0x80-0x9f
that Windows-1252 (what Excel writes on Windows) uses for quotes and dashes. A source with any
other encoding is copied, line by line and streamed, to UTF-8 files in a scratch directory
that is removed afterwards; DuckDB reads the copies. Messages name the original files.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ubm.errors import DataError
from ubm.prepare.import_config import NATIVE_ENCODINGS, Mapping, Source


def _copy(path: str, encoding: str, dst: Path) -> None:
    """``path`` decoded line by line (so a bad byte is named by its line) and written as UTF-8."""
    opener = gzip.open if path.lower().endswith((".gz", ".gzip")) else open
    with opener(path, "rb") as src, open(dst, "w", encoding="utf-8", newline="") as out:
        for number, raw in enumerate(src, 1):
            try:
                out.write(raw.decode(encoding))
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: line {number}: byte {raw[exc.start:exc.start + 1]!r} is not "
                                f"{encoding} text (position {exc.start + 1} of the line)") from exc


def _source(source: Source, scratch: Path, names: dict[str, str]) -> Source:
    if source.format != "csv" or source.encoding in NATIVE_ENCODINGS:
        return source
    copies = []
    for i, path in enumerate(source.paths):
        name = Path(path).name.removesuffix(".gz").removesuffix(".gzip")
        dst = scratch / f"{source.name}-{i}-{name}"
        _copy(path, source.encoding, dst)
        names[str(dst)] = path
        copies.append(str(dst))
    return dataclasses.replace(source, paths=tuple(copies), encoding="utf-8")


@contextmanager
def transcoded(mapping: Mapping, temp_dir: Path | None) -> Iterator[tuple[Mapping, dict[str, str]]]:
    """The mapping with every source of a foreign encoding read from UTF-8 copies, and the
    copies' paths -> the original paths (to name the originals in messages)."""
    foreign = [s for s in mapping.sources.values() if s.format == "csv" and s.encoding not in NATIVE_ENCODINGS]
    if mapping.clients.file is not None and mapping.clients.file.encoding not in NATIVE_ENCODINGS:
        foreign.append(mapping.clients.file)
    if not foreign:
        yield mapping, {}
        return
    scratch = Path(tempfile.mkdtemp(prefix="ubm-import-", dir=temp_dir))
    try:
        names: dict[str, str] = {}
        sources = {n: _source(s, scratch, names) for n, s in mapping.sources.items()}
        clients = mapping.clients
        if clients.file is not None:
            clients = dataclasses.replace(clients, file=_source(clients.file, scratch, names))
        yield dataclasses.replace(mapping, sources=sources, clients=clients), names
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def renamed(text: str, names: dict[str, str]) -> str:
    """``text`` with every copy's path replaced by its original's."""
    for copy, original in names.items():
        text = text.replace(copy, original)
    return text
