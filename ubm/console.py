"""One progress bar for every long job (training epochs, feature blocks), drawn by rich.

Drawn only when the stream is a terminal: in a log file a bar's redraws would pile up, and
the per-epoch and per-block summary lines already say how the work went.
"""

from __future__ import annotations

import sys
from typing import TextIO


class TerminalBar:
    """A single-line bar (label, bar, done/total unit, detail, elapsed) on a terminal stream;
    a no-op elsewhere. ``update`` may be called as often as wanted: rich redraws at its own pace."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, unit: str = "") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.unit = unit
        self._progress = None
        self._task = None

    def update(self, label: str, done: int, total: int, detail: str = "") -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._start()
        self._progress.update(self._task, description=label, completed=done, total=max(total, 1),
                              detail=detail)

    def clear(self) -> None:
        """Take the bar off the screen (before a summary line, or at the end)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=self.stream, force_terminal=True)
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=28),
                                  MofNCompleteColumn(), TextColumn(self.unit),
                                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                  console=console, transient=True)
        self._task = self._progress.add_task("", total=1, detail="")
        self._progress.start()
