"""The errors ubm raises on purpose, at the ground floor so that every floor can raise them
and the command line (:mod:`ubm.clikit`) can map them to exit codes without reaching upward.

Exit codes (docs/commands.md): usage errors 2 (:class:`TemplateError`, :class:`OutputError`,
:class:`UnknownTask`), data errors 1 (:class:`DataError` and :class:`EntryError`).
"""

from __future__ import annotations


class DataError(Exception):
    """Bad or missing input data; the message names the file, column and value."""


class EntryError(DataError):
    """The entry failed validation; the message lists every failed check."""


class OutputError(Exception):
    """An output path that cannot be written or must not be replaced (nothing was touched)."""


class TemplateError(Exception):
    """Unknown template, missing/unknown parameter, wrong value type."""


class UnknownTask(ValueError):
    """A task name outside :data:`ubm.contract.TASKS`."""
