"""Per-block accounting of a feature export: one line per finished block (name, rows, columns,
seconds, peak memory), and a progress bar when stderr is a terminal.

Peak memory is the process's resident high-water mark (DuckDB, NumPy and PyTorch together).
On Linux it is reset at the start of each block (``/proc/self/clear_refs``), so a block's
figure is that block's own peak; elsewhere it is the peak of the run so far.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from ubm.console import TerminalBar

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_rss() -> bool:
    """Reset the resident high-water mark (Linux); False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """The resident high-water mark since the last reset (or since start)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


@dataclass
class BlockRecord:
    name: str
    rows: int
    columns: int
    seconds: float
    cpu_seconds: float  # all threads of the process (DuckDB's and PyTorch's included)
    peak_rss_mib: float


class BlockMeter:
    """Times the blocks of a recipe and reports each as it finishes through ``say``."""

    def __init__(self, total: int, say: Callable[[str], None] | None = None, stream: TextIO | None = None) -> None:
        self.total = total
        self.say = say or (lambda _msg: None)
        self.bar = TerminalBar(say is not None, stream, unit="blocks")
        self.records: list[BlockRecord] = []
        self._start = time.perf_counter()
        self._block_start = self._start
        self._block_cpu = time.process_time()
        self._name = ""

    def start(self, name: str) -> None:
        self._name = name
        reset_peak_rss()
        self._block_start = time.perf_counter()
        self._block_cpu = time.process_time()
        self._draw()

    def note(self, message: str) -> None:
        """A line about the running block (a large intermediate's size, say)."""
        self._clear()
        self.say(f"  {self._name}: {message}")
        self._draw()

    def finish(self, rows: int, columns: int) -> BlockRecord:
        seconds = time.perf_counter() - self._block_start
        cpu = time.process_time() - self._block_cpu
        peak = peak_rss_bytes()
        record = BlockRecord(self._name, rows, columns, round(seconds, 3), round(cpu, 3), round(peak / 2**20, 1))
        self.records.append(record)
        self._clear()
        self.say(f"[{len(self.records)}/{self.total}] {record.name}: {rows:,} x {columns} in {seconds:.1f}s "
                 f"(cpu {cpu:.1f}s), peak {mib(peak)}")
        self._name = ""
        self._draw()
        return record

    def table(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.records]

    def close(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.bar.clear()

    def _draw(self) -> None:
        if len(self.records) < self.total:
            self.bar.update(self._name, len(self.records), self.total)
