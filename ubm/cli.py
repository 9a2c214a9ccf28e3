"""``ubm``: the command line of the toolkit.

Each command is a thin shell: parse options, call one function of a ``ubm`` module,
print what it returned. Bad input exits with code 1 and a message naming the file,
column or value; bad usage exits with 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from ubm.contract import MAX_COLUMNS
from ubm.data.io import DataError, Settings
from ubm.data.sql import TemplateError

DATA_DIR = click.option(
    "--data-dir", required=True, type=click.Path(path_type=Path), help="data directory (SPEC §2 layout)"
)


def settings_options(func: Callable) -> Callable:
    """DuckDB resource options shared by every command that runs SQL."""
    func = click.option("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")(func)
    func = click.option("--memory-limit", default="4GB", show_default=True,
                        help="DuckDB memory limit; larger work spills to --temp-dir")(func)
    func = click.option("--temp-dir", type=click.Path(path_type=Path), default=None,
                        help="DuckDB spill directory (default: DuckDB's own)")(func)
    return func


def make_settings(threads: int | None, memory_limit: str, temp_dir: Path | None) -> Settings:
    return Settings(threads=threads, memory_limit=memory_limit,
                    temp_directory=str(temp_dir) if temp_dir else None)


def friendly_errors(func: Callable) -> Callable:
    """Turn expected failures into one-line messages and exit codes, not tracebacks."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TemplateError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except DataError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
    return wrapper


def echo(message: str) -> None:
    click.echo(message, err=True)


@click.group(help="ubm: Universal Behavioral Profiles, SQL-first.")
def main() -> None:
    pass


@main.command(help="Write a generated data directory in the published format.")
@click.option("--out", required=True, type=click.Path(path_type=Path))
@click.option("--size", type=click.Choice(["tiny", "small", "medium", "full"]), default="small", show_default=True)
@click.option("--clients", type=int, default=None, help="override the preset's number of clients")
@click.option("--days", type=int, default=None, help="override the preset's time span in days")
@click.option("--seed", type=int, default=0, show_default=True)
@friendly_errors
def generate(out: Path, size: str, clients: int | None, days: int | None, seed: int) -> None:
    from ubm.data.generate import generate as run_generate

    summary = run_generate(out, size, clients=clients, days=days, seed=seed, progress=echo)
    echo(f"generated {size} data in {out} ({summary.seconds:.1f}s)")


@main.command(help="Summarise a data directory: events per type, clients, catalogue, date range.")
@DATA_DIR
@click.option("--window", type=click.Choice(["all", "input"]), default="all", show_default=True)
@settings_options
@friendly_errors
def summary(data_dir: Path, window: str, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.summary import summarise

    click.echo(summarise(data_dir, window, make_settings(threads, memory_limit, temp_dir)))


@main.command(help="Split events in time (SPEC §3): D/input/<event>.parquet and D/target/*_target.parquet.")
@DATA_DIR
@settings_options
@friendly_errors
def split(data_dir: Path, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.split import split as run_split

    result = run_split(data_dir, make_settings(threads, memory_limit, temp_dir), progress=echo)
    click.echo(result.describe())


@main.command(help="Build the label lists of SPEC §4 in D/target (only absent files unless --force).")
@DATA_DIR
@click.option("--force", is_flag=True, help="rebuild every list, even those already there")
@settings_options
@friendly_errors
def lists(data_dir: Path, force: bool, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.lists import build_lists

    click.echo(build_lists(data_dir, make_settings(threads, memory_limit, temp_dir), force=force).describe())


@main.command(help="Write per-task label matrices (train and validation windows) into --out.")
@DATA_DIR
@click.option("--out", required=True, type=click.Path(path_type=Path), help="targets directory to write")
@click.option("--client-ids", type=click.Path(path_type=Path), default=None,
              help="int64 .npy of clients to label, in this order (default: input/relevant_clients.npy)")
@settings_options
@friendly_errors
def targets(data_dir: Path, out: Path, client_ids: Path | None, threads: int | None, memory_limit: str,
            temp_dir: Path | None) -> None:
    from ubm.prepare.targets import build_targets

    result = build_targets(data_dir, out, make_settings(threads, memory_limit, temp_dir), client_ids=client_ids)
    click.echo(result.describe())


@main.command(help="Write a competition entry (client_ids.npy, embeddings.npy float16, columns.json) "
                   "from a feature recipe; an existing entry is replaced only by a complete new one.")
@DATA_DIR
@click.option("--recipe", default="baseline", show_default=True, help="feature recipe (see ubm.profiles.writer)")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="entry directory to write")
@click.option("--source", type=click.Choice(["input", "all"]), default="input", show_default=True,
              help="input: the split's input window (D/input); all: every event (an official entry)")
@click.option("--windows", default=None, help="baseline: window lengths in days, e.g. 1,7,30")
@click.option("--top-n", type=int, default=None, help="baseline: top values counted per column (default 10)")
@click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE",
              help="any recipe option, e.g. -o epochs=4 -o base=none (learned); repeatable")
@settings_options
@friendly_errors
def features(data_dir: Path, recipe: str, out: Path, source: str, windows: str | None, top_n: int | None,
             extra: tuple[str, ...], threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    import warnings

    from ubm.profiles.features import export_features

    options: dict = {"windows": windows, "top_n": top_n}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--option expects KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = export_features(data_dir, out, recipe=recipe, options=options, source=source,
                                     settings=make_settings(threads, memory_limit, temp_dir), progress=echo)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    for warning in caught:
        echo(f"warning: {warning.message}")
    click.echo(f"wrote {result.out}: {result.n_rows:,} clients x {result.n_columns} columns float16 "
               f"({result.seconds:.1f}s)")


@main.command(help="Check an entry (SPEC §7); reports every failed check by name, exit 1 on failure.")
@DATA_DIR
@click.option("--embeddings-dir", required=True, type=click.Path(path_type=Path), help="entry directory")
@click.option("--no-relevant-check", is_flag=True,
              help="skip 'client ids are a permutation of relevant clients' (local split experiments)")
@click.option("--max-dim", type=int, default=MAX_COLUMNS, show_default=True, help="most columns allowed")
@friendly_errors
def validate(data_dir: Path, embeddings_dir: Path, no_relevant_check: bool, max_dim: int) -> None:
    from ubm.profiles.validate import validate_entry

    report = validate_entry(data_dir, embeddings_dir, relevant_check=not no_relevant_check, max_dim=max_dim)
    click.echo(str(report), err=not report.ok)
    if not report.ok:
        sys.exit(1)


@main.command(help="Train the fixed evaluation model on each task and score the entry (SPEC §5-6).")
@DATA_DIR
@click.option("--embeddings-dir", required=True, type=click.Path(path_type=Path), help="entry directory")
@click.option("--tasks", multiple=True, default=("all",), show_default=True,
              help="task name (repeatable) or 'all': churn, conversion, propensity_category, "
                   "propensity_sku, propensity_new_sku, propensity_price")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="run directory for scores and report")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--no-relevant-check", is_flag=True,
              help="evaluate exactly the entry's clients, in its order (local split experiments)")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="labels written by `ubm targets` (default: computed once and cached in D/.cache)")
@click.option("--fast", is_flag=True, help="CUDA only: TF32/bf16 and fused optimiser; scores marked unofficial")
@click.option("--quiet", is_flag=True, help="no progress bars")
@settings_options
@friendly_errors
def train(data_dir: Path, embeddings_dir: Path, tasks: tuple[str, ...], out: Path, device: str,
          no_relevant_check: bool, labels: Path | None, fast: bool, quiet: bool,
          threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.evaluation.train import evaluate, format_scores, resolve_tasks

    names = [t for item in tasks for t in item.split(",") if t]
    result = evaluate(data_dir, embeddings_dir, out, tasks=resolve_tasks(names), device=device,
                      relevant_check=not no_relevant_check, fast=fast, labels=labels,
                      settings=make_settings(threads, memory_limit, temp_dir), progress=not quiet, log=echo)
    click.echo(format_scores(result.results))
    if fast:
        click.echo("note: --fast scores are unofficial (TF32/bf16 numerics)")
    click.echo(f"scores: {out / 'scores.json'}  metrics: {out / 'metrics.json'}  report: {out / 'report.png'}")


@main.command(help="Compare runs of `ubm train`: per-task scores and Borda points (SPEC §6).")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", default=None, help="comma-separated names for the runs (default: directory names)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="also write JSON here")
@friendly_errors
def leaderboard(runs: tuple[Path, ...], names: str | None, json_out: Path | None) -> None:
    import json

    from ubm.evaluation.leaderboard import format_table, leaderboard as board_of, to_json
    from ubm.util import atomic_path

    labels = [n.strip() for n in names.split(",")] if names else [r.name for r in runs]
    if len(labels) != len(runs) or len(set(labels)) != len(labels):
        raise click.UsageError("--names must give one distinct name per run")
    scores = {}
    for label, run in zip(labels, runs):
        path = run / "scores.json"
        if not path.is_file():
            raise DataError(f"missing scores file: {path} (run `ubm train --out {run}` first)")
        scores[label] = {k: v for k, v in json.loads(path.read_text()).items() if k != "placeholder"}
    board = board_of(scores)
    click.echo(format_table(board))
    if json_out:
        with atomic_path(json_out) as tmp:
            tmp.write_text(to_json(board))
        click.echo(f"wrote {json_out}", err=True)


if __name__ == "__main__":
    main()
