"""``ubm``: the command line of the toolkit.

Each command is a thin shell: parse options, call one function of a ``ubm`` module,
print what it returned. Failures become one line (see :mod:`ubm.clikit`): bad data or a
limit of the machine exits with 1, bad usage with 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click

from ubm.clikit import MemoryLimit, command_group, key_values, make_settings, settings_options
from ubm.contract import MAX_COLUMNS
from ubm.errors import DataError

DATA_DIR = click.option(
    "--data-dir", required=True, type=click.Path(path_type=Path), help="data directory (layout: docs/data.md)"
)


def echo(message: str) -> None:
    click.echo(message, err=True)


def ci_options(func: Callable) -> Callable:
    """Bootstrap options shared by `ubm train --ci` and `ubm leaderboard --ci`."""
    from ubm.evaluation.significance import DEFAULT_BLOCKS, DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED

    func = click.option("--blocks", type=click.IntRange(min=1), default=DEFAULT_BLOCKS, show_default=True,
                        help="resample clients in this many random groups (each client alone when there "
                             "are fewer clients); see BENCHMARKS.md")(func)
    func = click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="bootstrap seed")(func)
    func = click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                        default=DEFAULT_LEVEL, show_default=True, help="confidence level of the intervals")(func)
    func = click.option("--resamples", type=click.IntRange(min=1), default=DEFAULT_RESAMPLES, show_default=True,
                        help="bootstrap resamples of the evaluated clients")(func)
    func = click.option("--ci", is_flag=True,
                        help="bootstrap intervals of each task score from the stored predictions")(func)
    return func


@command_group("ubm: Universal Behavioral Profiles, SQL-first.",
               "Reference: docs/README.md in the ubm repository (data layout, split, tasks, entry "
               "checks, model, metrics, baseline); help texts cite its pages as docs/<page>.md §N.")
def main(debug: bool) -> None:
    pass


@main.command(help="Write a generated data directory in the published format.")
@click.option("--out", required=True, type=click.Path(path_type=Path))
@click.option("--size", type=click.Choice(["tiny", "small", "medium", "full"]), default="small", show_default=True)
@click.option("--clients", type=int, default=None, help="override the preset's number of clients (1..100,000,000)")
@click.option("--days", type=int, default=None,
              help="override the preset's time span in days (29..36600: two 14-day target windows and some input)")
@click.option("--seed", type=int, default=0, show_default=True, help="0..2^63-1")
def generate(out: Path, size: str, clients: int | None, days: int | None, seed: int) -> None:
    from ubm.data.generate import generate as run_generate
    from ubm.data.generate.write import resolve_options

    try:  # every value is checked before anything is written
        resolve_options(size, clients, days, seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{str(exc).split()[0]}") from None
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a directory", param_hint="--out")

    summary = run_generate(out, size, clients=clients, days=days, seed=seed, progress=echo)
    echo(f"generated {size} data in {out} ({summary.seconds:.1f}s)")


@main.command("import", help="Turn your own event files into a data directory, as a mapping file says "
                             "(docs/import.md).")
@click.option("--config", required=True, type=click.Path(path_type=Path), help="mapping file (TOML; docs/import.md)")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="data directory to write (new, empty, or a previous import of the same mapping)")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="DuckDB threads (default: all cores)")
@click.option("--memory-limit", type=MemoryLimit(), default="4GB", show_default=True,
              help="DuckDB memory limit (e.g. 4GB, 80%)")
@click.option("--temp-dir", type=click.Path(path_type=Path), default=None, help="DuckDB spill directory")
def import_(config: Path, out: Path, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.importer import run_command

    run_command(config, out, make_settings(threads, memory_limit, temp_dir))


@main.command(help="Summarise a data directory: events per type, clients, catalogue, date range.")
@DATA_DIR
@click.option("--window", type=click.Choice(["all", "input"]), default="all", show_default=True)
@settings_options
def summary(data_dir: Path, window: str, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.summary import summarise

    click.echo(summarise(data_dir, window, make_settings(threads, memory_limit, temp_dir)))


@main.command(help="Check every file of a data directory and report every problem with counts "
                   "(types, NULLs, unparseable timestamps and vectors, duplicate skus and ids, target "
                   "skus without properties, a stale split); exit 1 when there is any.")
@DATA_DIR
@settings_options
def check(data_dir: Path, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.check import check_data_dir

    report = check_data_dir(data_dir, make_settings(threads, memory_limit, temp_dir))
    click.echo(report.describe(), err=not report.ok)
    if not report.ok:
        sys.exit(1)


@main.command(help="Split events in time (docs/split.md): D/input/<event>.parquet and D/target/*_target.parquet.")
@DATA_DIR
@click.option("--end", "end_text", default=None, metavar="TIMESTAMP",
              help="end of the validation window, 'YYYY-MM-DD HH:MM:SS' (default: the latest purchase; "
                   "docs/split.md §5)")
@click.option("--outliers", type=click.Choice(["refuse", "drop"]), default="refuse", show_default=True,
              help="latest purchases far after all others: refuse to split, or leave them out of the targets")
@settings_options
def split(data_dir: Path, end_text: str | None, outliers: str, threads: int | None, memory_limit: str,
          temp_dir: Path | None) -> None:
    import datetime as dt

    from ubm.contract import TIMESTAMP_FORMAT
    from ubm.prepare.split import split as run_split

    end = None
    if end_text is not None:
        try:
            end = dt.datetime.strptime(end_text.strip(), TIMESTAMP_FORMAT)
        except ValueError:
            try:
                end = dt.datetime.strptime(end_text.strip(), "%Y-%m-%d").replace(hour=23, minute=59, second=59)
            except ValueError:
                raise click.BadParameter(f"{end_text!r} is not YYYY-MM-DD HH:MM:SS (nor YYYY-MM-DD)",
                                         param_hint="--end") from None
    result = run_split(data_dir, make_settings(threads, memory_limit, temp_dir), progress=echo,
                       end=end, outliers=outliers)
    click.echo(result.describe())


@main.command(help="Build the label lists of docs/tasks.md §3 in D/target (only absent files unless --force).")
@DATA_DIR
@click.option("--force", is_flag=True, help="rebuild every list, even those already there")
@settings_options
def lists(data_dir: Path, force: bool, threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.prepare.lists import build_lists

    result = build_lists(data_dir, make_settings(threads, memory_limit, temp_dir), force=force)
    click.echo(result.describe())
    for warning in result.warnings:
        echo(f"warning: {warning}")


@main.command(help="Write per-task label matrices (train and validation windows) into --out.")
@DATA_DIR
@click.option("--out", required=True, type=click.Path(path_type=Path), help="targets directory to write")
@click.option("--client-ids", type=click.Path(path_type=Path), default=None,
              help="int64 .npy of clients to label, in this order (default: input/relevant_clients.npy)")
@settings_options
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
@click.option("--windows", default=None, help="window lengths in days, e.g. 1,7,30 (baseline and universal)")
@click.option("--top-n", type=int, default=None, help="baseline: top values counted per column (default 10)")
@click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE",
              help="any recipe option, e.g. -o epochs=4 -o base=none (learned); repeatable")
@settings_options
def features(data_dir: Path, recipe: str, out: Path, source: str, windows: str | None, top_n: int | None,
             extra: tuple[str, ...], threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    import warnings

    from ubm.profiles.features import export_features
    from ubm.profiles.recipes import OptionError

    options: dict = {"windows": windows, "top_n": top_n, **key_values(extra, "--option")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = export_features(data_dir, out, recipe=recipe, options=options, source=source,
                                     settings=make_settings(threads, memory_limit, temp_dir), progress=echo)
        except OptionError as exc:  # only the recipe's option checks: any other ValueError is a bug
            raise click.BadParameter(str(exc), param_hint=_option_hint(exc.key, windows, top_n)) from None
    for warning in caught:
        echo(f"warning: {warning.message}")
    click.echo(f"wrote {result.out}: {result.n_rows:,} clients x {result.n_columns} columns float16 "
               f"({result.seconds:.1f}s)")


def _option_hint(key: str | None, windows: str | None, top_n: int | None) -> str:
    """The option of `ubm features` that carried a refused recipe option."""
    if key in ("recipe", "source"):
        return f"--{key}"
    if key == "windows" and windows is not None:
        return "--windows"
    if key == "top_n" and top_n is not None:
        return "--top-n"
    return f"--option {key}" if key else "--option"


@main.command(help="Check an entry (docs/entry.md §2); reports every failed check by name, exit 1 on failure.")
@DATA_DIR
@click.option("--embeddings-dir", required=True, type=click.Path(path_type=Path), help="entry directory")
@click.option("--no-relevant-check", is_flag=True,
              help="skip 'client ids are a permutation of relevant clients' (local split experiments)")
@click.option("--max-dim", type=int, default=MAX_COLUMNS, show_default=True, help="most columns allowed")
def validate(data_dir: Path, embeddings_dir: Path, no_relevant_check: bool, max_dim: int) -> None:
    from ubm.profiles.validate import validate_entry

    report = validate_entry(data_dir, embeddings_dir, relevant_check=not no_relevant_check, max_dim=max_dim)
    click.echo(str(report), err=not report.ok)
    if not report.ok:
        sys.exit(1)


@main.command(help="Train the fixed evaluation model on each task and score the entry (docs/evaluation.md). "
                   "Finished tasks are saved in OUT/tasks at once; a rerun with the same entry, labels "
                   "and options reuses them.")
@DATA_DIR
@click.option("--embeddings-dir", required=True, type=click.Path(path_type=Path), help="entry directory")
@click.option("--tasks", multiple=True, default=("all",), show_default=True,
              help="task name (repeatable) or 'all': churn, conversion, propensity_category, "
                   "propensity_sku, propensity_new_sku, propensity_price")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="run directory for scores and report")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--devices", default=None,
              help="comma-separated devices, one process each, tasks spread over them "
                   "(e.g. cuda:0,cuda:1; cpu,cpu runs CPU worker processes); overrides --device")
@click.option("--trainer", type=click.Choice(["auto", "multi", "single"]), default="auto", show_default=True,
              help="multi: a device's tasks trained together (same numbers); single: one after another; "
                   "auto: multi on CUDA, single on CPU")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="reuse tasks already finished in --out with the same entry, labels and options")
@click.option("--cuda-graphs/--no-cuda-graphs", default=True, show_default=True,
              help="multi engine on CUDA: replay full batches from CUDA graphs")
@click.option("--no-relevant-check", is_flag=True,
              help="evaluate exactly the entry's clients, in its order (local split experiments)")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="labels written by `ubm targets` (default: computed once and cached in D/.cache)")
@click.option("--fast", is_flag=True, help="CUDA only: TF32/bf16 and fused optimiser; scores marked unofficial")
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.option("--no-predictions", is_flag=True,
              help="do not store the best epoch's validation outputs in OUT/predictions (needed by --ci)")
@ci_options
@settings_options
def train(data_dir: Path, embeddings_dir: Path, tasks: tuple[str, ...], out: Path, device: str,
          devices: str | None, trainer: str, resume: bool, cuda_graphs: bool,
          no_relevant_check: bool, labels: Path | None, fast: bool, quiet: bool, no_predictions: bool,
          ci: bool, resamples: int, level: float, seed: int, blocks: int,
          threads: int | None, memory_limit: str, temp_dir: Path | None) -> None:
    from ubm.evaluation.train import evaluate, format_scores, parse_devices, resolve_tasks

    if ci and no_predictions:
        raise click.UsageError("--ci needs the stored predictions; drop --no-predictions")
    names = [t for item in tasks for t in item.split(",") if t]
    if labels is not None and not (labels / "summary.json").is_file():
        raise click.BadParameter(f"{labels} is not a labels directory written by `ubm targets` "
                                 "(no summary.json)", param_hint="--labels")
    try:
        parse_devices(devices, device)  # refused here as a usage error, before any work
    except DataError as exc:
        raise click.BadParameter(str(exc).removeprefix("--devices: "),
                                 param_hint="--devices" if devices else "--device") from None
    try:
        result = evaluate(data_dir, embeddings_dir, out, tasks=resolve_tasks(names), device=device,
                          devices=devices, engine=trainer, resume=resume, graphs=cuda_graphs,
                          relevant_check=not no_relevant_check, fast=fast, labels=labels,
                          settings=make_settings(threads, memory_limit, temp_dir), progress=not quiet, log=echo,
                          predictions=not no_predictions)
    except KeyboardInterrupt:  # one error line like every failure; finished tasks stay for a rerun
        echo(f"error: interrupted; tasks finished so far are kept in {out / 'tasks'} and reused by a rerun")
        sys.exit(130)
    click.echo(format_scores(result.results, result.unofficial))
    if ci:
        from ubm.evaluation.leaderboard import format_comparison, leaderboard as board_of
        from ubm.evaluation.significance import compare, load_run

        name = out.name or str(out)
        comparison = compare({name: load_run(out, list(result.scores))}, resamples=resamples, level=level,
                             seed=seed, blocks=blocks)
        click.echo("")
        click.echo(format_comparison(board_of({name: result.scores}), comparison))
    click.echo(f"scores: {out / 'scores.json'}  metrics: {out / 'metrics.json'}  report: {out / 'report.png'}")


@main.command(help="Compare runs of `ubm train`: per-task scores and Borda points (docs/evaluation.md §4); "
                   "with --ci, bootstrap intervals and paired differences with a verdict per task.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", default=None, help="comma-separated names for the runs (default: directory names)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="also write JSON here")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="with --ci and two or more runs: forest plot (PNG) of the paired differences")
@ci_options
def leaderboard(runs: tuple[Path, ...], names: str | None, json_out: Path | None, plot: Path | None,
                ci: bool, resamples: int, level: float, seed: int, blocks: int) -> None:
    from ubm.evaluation.leaderboard import (check_same_clients, format_comparison, format_table,
                                            leaderboard as board_of, read_run, to_json)
    from ubm.util import PNG_SIGNATURE, atomic_path, check_file_out

    if plot and not (ci and len(runs) >= 2):
        raise click.UsageError("--plot needs --ci and at least two runs")

    labels = [n.strip() for n in names.split(",")] if names else [r.name for r in runs]
    if len(labels) != len(runs) or len(set(labels)) != len(labels):
        raise click.UsageError("--names must give one distinct name per run")
    # Both outputs are checked before any run is read: a refusal costs nothing.
    if json_out is not None:
        check_file_out(json_out, "--json")
    if plot is not None:
        check_file_out(plot, "--plot", PNG_SIGNATURE, "a PNG image")
    read = {label: read_run(run) for label, run in zip(labels, runs)}
    check_same_clients(read)
    scores = {label: r.scores for label, r in read.items()}
    unofficial = {label: r.unofficial for label, r in read.items()}
    board = board_of(scores)
    comparison = None
    if ci:
        from ubm.evaluation.significance import check_scores, compare, load_run

        shared = [t for t in board.tasks if all(t in scores[name] for name in labels)]
        comparison = compare({name: load_run(run, shared) for name, run in zip(labels, runs)},
                             resamples=resamples, level=level, seed=seed, blocks=blocks, order=board.order)
        check_scores(comparison, scores)
    click.echo(format_table(board, unofficial))
    if comparison is not None:
        click.echo("")
        click.echo(format_comparison(board, comparison))
    if json_out:
        with atomic_path(json_out) as tmp:
            tmp.write_text(to_json(board, comparison=comparison, unofficial=unofficial))
        click.echo(f"wrote {json_out}", err=True)
    if plot:
        from ubm.evaluation.report import write_forest_png

        write_forest_png(comparison, plot)
        click.echo(f"wrote {plot}", err=True)


if __name__ == "__main__":
    main()
