"""Per-block accounting: a line per finished block, a bar only on a terminal."""

from __future__ import annotations

import io

from ubm.profiles.progress import BlockMeter, peak_rss_bytes


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream: io.StringIO) -> tuple[BlockMeter, list[str]]:
    lines: list[str] = []
    meter = BlockMeter(2, lines.append, stream=stream)
    for name, width in (("a", 3), ("b", 5)):
        meter.start(name)
        meter.note("12 cells")
        meter.finish(rows=7, columns=width)
    meter.close()
    return meter, lines


def test_lines_and_records_without_a_terminal():
    stream = io.StringIO()
    meter, lines = _run(stream)
    assert lines[0] == "  a: 12 cells" and lines[1].startswith("[1/2] a: 7 x 3 in ")
    assert lines[3].startswith("[2/2] b: 7 x 5 in ") and "peak" in lines[3]
    assert [(r["name"], r["rows"], r["columns"]) for r in meter.table()] == [("a", 7, 3), ("b", 7, 5)]
    assert all(r["peak_rss_mib"] > 0 and r["seconds"] >= 0 for r in meter.table())
    assert stream.getvalue() == ""  # no bar in a log


def test_bar_on_a_terminal():
    stream = _Tty()
    _run(stream)
    shown = stream.getvalue()
    assert "0/2" in shown and "1/2" in shown and "blocks" in shown


def test_peak_rss_is_positive():
    assert peak_rss_bytes() > 10 * 2**20
