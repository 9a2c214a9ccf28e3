"""What both command lines (``ubm``, ``ubm-sql``) share: the DuckDB resource options and the
one place that turns an exception into a one-line message and an exit code.

Exit codes: 0 success, 1 bad data or a limit of the machine (memory, disk, permissions),
2 bad usage (an option value, an output path that must not be replaced), 130 interrupted
(Ctrl-C, SIGINT), 143 terminated (SIGTERM). Every failure is one ``error: ...`` line, click's
own usage errors included. ``--debug`` or ``UBM_DEBUG=1`` also prints the traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from ubm.data.damage import find_damaged, is_read_failure
from ubm.data.damage import forget as forget_opened
from ubm.data.io import Settings
from ubm.errors import DataError, OutputError, TemplateError
from ubm.guards import out_of_memory
from ubm.ownership import WRITING, unscratch

DATA_ERROR, USAGE_ERROR, INTERRUPTED, TERMINATED = 1, 2, 130, 143
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib|%)\s*$", re.IGNORECASE)


class MemoryLimit(click.ParamType):
    """A positive amount of memory as DuckDB takes it: 4GB, 500MiB, 80%."""

    name = "memory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        m = _MEMORY.match(str(value))
        if not m:
            self.fail(f"{value!r} is not an amount of memory like 4GB, 512MiB or 80%", param, ctx)
        if float(m[1]) <= 0:
            self.fail(f"{value!r} must be more than zero", param, ctx)
        if m[2] == "%" and float(m[1]) > 100:
            self.fail(f"{value!r} is more than 100%", param, ctx)
        return str(value).strip()


def _temp_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.exists() and not value.is_dir():
        raise click.BadParameter(f"{value} exists and is not a directory", ctx, param)
    return value


def key_values(pairs: Iterable[str], option: str, *, strip_values: bool = True) -> dict[str, str]:
    """The KEY=VALUE items of a repeatable option, in order; a malformed item or a key given twice
    is a usage error naming the option (exit 2)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"'{pair}' must look like key=value", param_hint=option)
        if key in out:
            raise click.BadParameter(f"'{key}' is given twice", param_hint=option)
        out[key] = value.strip() if strip_values else value
    return out


def settings_options(func: Callable | None = None, *, engines: bool = True) -> Callable:
    """The engine and DuckDB resource options of every command that runs SQL (--threads,
    --memory-limit, --temp-dir and, with ``engines``, --engine, --master, --spark-conf). The
    command gets them the one way: as a single ``settings`` argument, a
    :class:`ubm.data.io.Settings`, never as separate values or through the click context."""
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, threads: int | None, memory_limit: str, temp_dir: Path | None,
                    engine: str = "duckdb", master: str | None = None, spark_conf: tuple[str, ...] = (),
                    **kwargs: Any) -> Any:
            settings = Settings(threads=threads, memory_limit=memory_limit,
                                temp_directory=str(temp_dir) if temp_dir else None, engine=engine,
                                master=master, spark_conf=tuple(key_values(spark_conf, "--spark-conf").items()))
            return func(*args, settings=settings, **kwargs)
        if engines:
            wrapper = click.option("--spark-conf", multiple=True, metavar="KEY=VALUE",
                                   help="Spark setting (repeatable), e.g. spark.executor.memory=8g")(wrapper)
            wrapper = click.option("--master", default=None,
                                   help="Spark master: local[N] (default local[2]), spark://host:7077, "
                                        "sc://host (Spark Connect)")(wrapper)
            wrapper = click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
                                   show_default=True, help="where the SQL runs; spark needs pip install "
                                                           "'ubm[spark]' (docs/sql.md §2)")(wrapper)
        wrapper = click.option("--threads", type=click.IntRange(min=1), default=None,
                               help="DuckDB threads (default: all cores)")(wrapper)
        wrapper = click.option("--memory-limit", type=MemoryLimit(), default="4GB", show_default=True,
                               help="DuckDB memory limit (e.g. 4GB, 80%); larger work spills to --temp-dir")(wrapper)
        return click.option("--temp-dir", type=click.Path(path_type=Path), default=None, callback=_temp_dir,
                            help="DuckDB spill directory (default: DuckDB's own)")(wrapper)
    return decorate(func) if func is not None else decorate


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def explain(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that reached the command line.

    Every path in the message is the one the user gave, never a scratch directory's; a read
    failure that names no file is traced to the damaged input (:mod:`ubm.data.damage`), and a
    write failure that names no file (a full disk) to the output being written
    (:func:`ubm.ownership.writing`)."""
    code, message = _explain(exc)
    return code, unscratch(message)


def _explain(exc: BaseException) -> tuple[int, str]:
    import duckdb

    if isinstance(exc, (TemplateError, OutputError)):
        return USAGE_ERROR, str(exc)
    if isinstance(exc, DataError):
        return DATA_ERROR, str(exc)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return DATA_ERROR, out_of_memory(exc)
    if isinstance(exc, duckdb.InterruptException):
        return INTERRUPTED, "interrupted"
    writing = getattr(exc, WRITING, None)
    if _may_be_damage(exc) and not _is_full(exc):
        found = find_damaged()
        if found is not None:
            path, reason = found
            return DATA_ERROR, (f"{path}: damaged or not a parquet file ({reason}); replace it with a good "
                                "copy, or rerun the stage that wrote it; nothing was written")
    if isinstance(exc, duckdb.IOException):
        if _is_full(exc):
            return DATA_ERROR, f"no space left on the device ({_first_line(exc)}); free space or write elsewhere"
        return DATA_ERROR, f"DuckDB could not read or write a file: {_first_line(exc)}"
    if isinstance(exc, duckdb.Error):
        return DATA_ERROR, f"DuckDB: {_first_line(exc)}"
    if isinstance(exc, OSError):
        return DATA_ERROR, _os_error(exc, writing)
    if isinstance(exc, MemoryError):
        return DATA_ERROR, "out of memory; use a smaller data set or a machine with more memory"
    return DATA_ERROR, (f"internal error ({type(exc).__name__}: {_first_line(exc)}); "
                        "rerun with --debug for the traceback and report it")


def _may_be_damage(exc: BaseException) -> bool:
    """A read failure a damaged input gives: DuckDB's (damage.is_read_failure) or pyarrow's."""
    import pyarrow as pa

    return is_read_failure(exc) or isinstance(exc, pa.ArrowException)


def _is_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.ENOSPC or "no space left" in str(exc).lower()


def _os_error(exc: OSError, writing: Path | None) -> str:
    """An OSError named by its own file, else by the output it was writing (numpy's short write,
    ``498000 requested and 77760 written``, and a write() that found the disk full name none)."""
    name = exc.filename if exc.filename is not None else writing
    where = f": {name}" if name is not None else ""
    if _is_full(exc):
        return f"no space left on the device{where}; free space or write elsewhere (nothing was written)"
    if isinstance(exc, PermissionError):
        return f"permission denied{where}"
    if exc.filename is None and writing is not None:
        return (f"could not write {writing} ({exc.strerror or _first_line(exc)}); is the disk full? "
                "nothing was written")
    return f"{exc.strerror or _first_line(exc)}{where}"


def debug_wanted(ctx: click.Context | None) -> bool:
    env = os.environ.get("UBM_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    flag = bool(ctx is not None and ctx.find_root().params.get("debug"))
    return env or flag


class Terminated(BaseException):
    """Raised by the SIGTERM handler: like Ctrl-C it unwinds the stack, so every ``finally``
    (temporary directories, half-written files) runs before the process exits 143. A
    BaseException, so that no ``except Exception`` on the way swallows it."""


_TERM_SEEN = False  # a SIGTERM arrived (DuckDB may report it as its own InterruptException)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _TERM_SEEN
    _TERM_SEEN = True
    raise Terminated()


def usage_message(exc: click.ClickException) -> str:
    """Click's usage error as the one line that follows ``error: `` (no Usage: blurb)."""
    text = " ".join(exc.format_message().split())
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


class GuardedGroup(click.Group):
    """A click group whose commands never end in a raw traceback (unless asked for), and whose
    every failure, click's own usage errors and interrupts included, is one ``error:`` line."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        global _TERM_SEEN
        _TERM_SEEN = False
        previous = _install(signal.SIGTERM, _on_sigterm)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(f"error: {usage_message(exc)}", err=True)
            sys.exit(exc.exit_code)
        except Terminated:
            click.echo("error: terminated (SIGTERM); temporary files removed, no output written", err=True)
            sys.exit(TERMINATED)
        except (click.exceptions.Abort, KeyboardInterrupt, EOFError):
            if _TERM_SEEN:
                click.echo("error: terminated (SIGTERM); temporary files removed, no output written", err=True)
                sys.exit(TERMINATED)
            click.echo("error: interrupted; temporary files removed, no output written", err=True)
            sys.exit(INTERRUPTED)
        finally:
            _install(signal.SIGTERM, previous)
        if code == INTERRUPTED and _TERM_SEEN:
            sys.exit(TERMINATED)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        forget_opened()  # a failure is traced only to the files this command opened
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - every other failure gets one line
            code, message = explain(exc)
            if debug_wanted(ctx):
                traceback.print_exc(file=sys.stderr)
            click.echo(f"error: {message}", err=True)
            ctx.exit(code)


def _install(signum: int, handler: Any) -> Any:
    """Set a signal handler where that is possible (only the main thread may); the previous one."""
    if handler is None:
        return None
    try:
        return signal.signal(signum, handler)
    except (ValueError, OSError):  # not the main thread (an embedding caller): leave it
        return None


def command_group(help: str, epilog: str) -> Callable[[Callable], click.Group]:
    """A command group whose failures become one line (GuardedGroup), with --debug."""
    def decorate(func: Callable) -> click.Group:
        return click.group(cls=GuardedGroup, help=help, epilog=epilog)(debug_option(func))
    return decorate


def debug_option(func: Callable) -> Callable:
    return click.option("--debug", is_flag=True, help="print the traceback of a failure (or set UBM_DEBUG=1)")(func)
