"""``ubm``: the command line of the toolkit.

Each command is a thin shell: parse options, call one function of the Python API
(:mod:`ubm.api`, docs/python.md), print what it returned. Failures become one line (see
:mod:`ubm.clikit`): bad data or a limit of the machine exits with 1, bad usage with 2;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click

from ubm import api
from ubm.clikit import command_group, key_values, settings_options
from ubm.contract import MAX_COLUMNS
from ubm.data.io import Settings
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
    from ubm.data.generate.write import resolve_options

    try:  # every value is checked before anything is written
        resolve_options(size, clients, days, seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{str(exc).split()[0]}") from None
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a directory", param_hint="--out")

    summary = api.generate(out, size, clients=clients, days=days, seed=seed, progress=echo)
    echo(f"generated {size} data in {out} ({summary.seconds:.1f}s)")


@main.command("import", help="Turn your own event files into a data directory, as a mapping file says "
                             "(docs/import.md).")
@click.option("--config", required=True, type=click.Path(path_type=Path), help="mapping file (TOML; docs/import.md)")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="data directory to write (new, empty, or a previous import of the same mapping)")
@settings_options(engines=False)  # the import runs on DuckDB only
def import_(config: Path, out: Path, settings: Settings) -> None:
    from ubm.prepare.importer import run_command

    run_command(config, out, settings)


@main.command(help="Summarise a data directory: events per type, clients, catalogue, date range.")
@DATA_DIR
@click.option("--window", type=click.Choice(["all", "input"]), default="all", show_default=True)
@settings_options
def summary(data_dir: Path, window: str, settings: Settings) -> None:
    click.echo(api.summary(data_dir, window, settings=settings))


@main.command(help="Check every file of a data directory and report every problem with counts "
                   "(types, NULLs, unparseable timestamps and vectors, duplicate skus and ids, target "
                   "skus without properties, a stale split); exit 1 when there is any.")
@DATA_DIR
@settings_options
def check(data_dir: Path, settings: Settings) -> None:
    report = api.check(data_dir, settings=settings)
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
@click.option("--lists/--no-lists", "with_lists", default=None,
              help="also build the absent label lists, as `ubm lists` (default: only for a directory "
                   "`ubm import` made)")
@settings_options
def split(data_dir: Path, end_text: str | None, outliers: str, with_lists: bool | None,
          settings: Settings) -> None:
    end = None
    if end_text is not None:
        try:
            end = api.parse_end(end_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--end") from None
    result = api.split(data_dir, end=end, outliers=outliers, settings=settings,
                       progress=echo, with_lists=with_lists)
    click.echo(result.describe())
    for warning in result.lists.warnings if result.lists is not None else ():
        echo(f"warning: {warning}")


@main.command(help="Build the label lists of docs/tasks.md §3 in D/target (only absent files unless --force).")
@DATA_DIR
@click.option("--force", is_flag=True, help="rebuild every list, even those already there")
@settings_options
def lists(data_dir: Path, force: bool, settings: Settings) -> None:
    result = api.lists(data_dir, force=force, settings=settings)
    click.echo(result.describe())
    for warning in result.warnings:
        echo(f"warning: {warning}")


@main.command(help="Write per-task label matrices (train and validation windows) into --out.")
@DATA_DIR
@click.option("--out", required=True, type=click.Path(path_type=Path), help="targets directory to write")
@click.option("--client-ids", type=click.Path(path_type=Path), default=None,
              help="int64 .npy of clients to label, in this order (default: input/relevant_clients.npy)")
@settings_options
def targets(data_dir: Path, out: Path, client_ids: Path | None, settings: Settings) -> None:
    result = api.targets(data_dir, out, client_ids=client_ids, settings=settings)
    click.echo(result.describe())


def recipe_options(func: Callable) -> Callable:
    """--recipe, --windows, --top-n and -o, shared by `ubm features` and `ubm fit`."""
    func = click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE",
                        help="any recipe option, e.g. -o epochs=4 -o base=none (learned); repeatable")(func)
    func = click.option("--top-n", type=int, default=None,
                        help="baseline: top values counted per column (default 10)")(func)
    func = click.option("--windows", default=None,
                        help="window lengths in days, e.g. 1,7,30 (baseline and universal)")(func)
    return click.option("--recipe", default=None, help="feature recipe: baseline (default), universal, learned")(func)


SOURCE = click.option("--source", type=click.Choice(["input", "all"]), default="input", show_default=True,
                      help="input: the split's input window (D/input); all: every event (an official entry)")


def _with_recipe_options(run: Callable[[dict], object], windows: str | None, top_n: int | None) -> object:
    """Run with the recipe options; a refused option is a usage error naming the flag that carried it,
    and each float16 warning becomes a `warning:` line."""
    import warnings

    from ubm.profiles.recipes import OptionError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run({"windows": windows, "top_n": top_n})
        except OptionError as exc:  # only the recipe's option checks: any other ValueError is a bug
            raise click.BadParameter(str(exc), param_hint=_option_hint(exc.key, windows, top_n)) from None
    for warning in caught:
        echo(f"warning: {warning.message}")
    return result


@main.command(help="Write a competition entry (client_ids.npy, embeddings.npy float16, columns.json) "
                   "from a feature recipe, or from a profile model (--model, `ubm fit`); an existing entry "
                   "is replaced only by a complete new one.")
@DATA_DIR
@recipe_options
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="profile model written by `ubm fit`: its recipe, options and learnt state (no --recipe/-o)")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="entry directory to write")
@click.option("--refreshable", is_flag=True,
              help="with --model: keep the recipe's per-client state in OUT/refresh/, so that `ubm refresh` "
                   "reads only new events (baseline)")
@SOURCE
@settings_options
def features(data_dir: Path, recipe: str | None, model: Path | None, out: Path, refreshable: bool, source: str,
             windows: str | None, top_n: int | None, extra: tuple[str, ...], settings: Settings) -> None:
    if refreshable and model is None:
        raise click.UsageError("--refreshable keeps the state of a profile model's entry: give --model "
                               "(write one with `ubm fit`)")
    if model is not None:
        given = [flag for flag, value in (("--recipe", recipe), ("--windows", windows), ("--top-n", top_n),
                                          ("--option", extra)) if value]
        if given:
            raise click.UsageError(f"--model fixes the recipe and its options; drop {given[0]}")
        from ubm.profiles.model import NotAModel

        try:
            applied = api.apply(model, data_dir, out, source=source, settings=settings, progress=echo,
                                refreshable=refreshable)
        except NotAModel as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint="--model") from None
        for block in applied.drift:
            echo(block.describe())
        click.echo(applied.describe())
        return
    result = _with_recipe_options(lambda opts: api.features(
        data_dir, out, recipe or "baseline", options={**opts, **key_values(extra, "--option")},
        source=source, settings=settings, progress=echo), windows, top_n)
    click.echo(f"wrote {result.out}: {result.n_rows:,} clients x {result.n_columns} columns float16 "
               f"({result.seconds:.1f}s)")


@main.command(help="Fit a feature recipe on a data directory and write a profile model (JSON and npz arrays: "
                   "what the recipe learnt), to apply with `ubm features --model`.")
@DATA_DIR
@recipe_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="profile model directory to write")
@SOURCE
@settings_options
def fit(data_dir: Path, recipe: str | None, out: Path, source: str, windows: str | None, top_n: int | None,
        extra: tuple[str, ...], settings: Settings) -> None:
    result = _with_recipe_options(lambda opts: api.fit(
        data_dir, out, recipe or "baseline", options={**opts, **key_values(extra, "--option")}, source=source,
        settings=settings, progress=echo), windows, top_n)
    click.echo(result.describe())


@main.command(help="Bring an entry of a profile model up to date with the events that arrived since it was "
                   "built: from its kept state and the new events where it has one (`ubm features --model M "
                   "--refreshable`), else by applying the model in full; ENTRY is replaced only by a complete one.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="data directory with all events, the entry's and the new ones")
@click.option("--new-events", type=click.Path(path_type=Path), default=None,
              help="instead of --data-dir: a data directory holding only the new events (and the entry's product "
                   "table and relevant clients); reads nothing else")
@click.option("--model", required=True, type=click.Path(path_type=Path), help="the profile model ENTRY was applied from")
@click.option("--entry", required=True, type=click.Path(path_type=Path), help="the entry directory to refresh")
@settings_options
def refresh(data_dir: Path | None, new_events: Path | None, model: Path, entry: Path, settings: Settings) -> None:
    from ubm.profiles.model import NotAModel

    if (data_dir is None) == (new_events is None):
        raise click.UsageError("give one of --data-dir (all events) or --new-events (only the new ones)")
    try:
        result = api.refresh(model, data_dir or new_events, entry, new_only=new_events is not None,
                             settings=settings, progress=echo)
    except NotAModel as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint="--model") from None
    for block in result.applied.drift:
        echo(block.describe())
    click.echo(result.describe())


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
    report = api.validate(data_dir, embeddings_dir, relevant_check=not no_relevant_check, max_dim=max_dim)
    click.echo(str(report), err=not report.ok)
    if not report.ok:
        sys.exit(1)


@main.command("export-ids", help="Write the user's own client id of each row of an entry built from a "
                                 "`ubm import` directory, from its id map (docs/import.md §10).")
@DATA_DIR
@click.option("--embeddings-dir", required=True, type=click.Path(path_type=Path), help="entry directory")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="parquet file to write: row, client_id, original_id (in the entry's row order)")
@settings_options
def export_ids(data_dir: Path, embeddings_dir: Path, out: Path, settings: Settings) -> None:
    from ubm.prepare.original_ids import write_original_ids

    result = write_original_ids(data_dir, embeddings_dir, out, settings)
    click.echo(f"wrote {result.out}: {result.rows:,} rows (row, client_id, original_id)")


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
              help="multi trainer on CUDA: replay full batches from CUDA graphs")
@click.option("--no-relevant-check", is_flag=True,
              help="evaluate exactly the entry's clients, in its order (local split experiments)")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="labels written by `ubm targets` (default: computed once and cached in D/.cache)")
@click.option("--fast", is_flag=True, help="CUDA only: TF32/bf16 and fused optimiser; scores marked unofficial")
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.option("--no-predictions", is_flag=True,
              help="do not store the best epoch's validation outputs in OUT/predictions (needed by --ci)")
@click.option("--seeds", "seeds_text", default=None, metavar="K|S1,S2,...",
              help="train each task from K seeds (the official 1278, then 1279, ...) or from the listed "
                   "seeds (the official first); scores.json keeps the official seed's; K times the training")
@ci_options
@settings_options
def train(data_dir: Path, embeddings_dir: Path, tasks: tuple[str, ...], out: Path, device: str,
          devices: str | None, trainer: str, resume: bool, cuda_graphs: bool,
          no_relevant_check: bool, labels: Path | None, fast: bool, quiet: bool, no_predictions: bool,
          seeds_text: str | None, ci: bool, resamples: int, level: float, seed: int, blocks: int,
          settings: Settings) -> None:
    from ubm.evaluation.labels import resolve_tasks
    from ubm.evaluation.outputs import format_scores
    from ubm.evaluation.store import parse_seeds
    from ubm.evaluation.workers import parse_devices

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
        seeds = parse_seeds(seeds_text)
    except DataError as exc:
        raise click.BadParameter(str(exc).removeprefix("--seeds: "), param_hint="--seeds") from None
    try:
        result = api.train(data_dir, embeddings_dir, out, resolve_tasks(names), device=device,
                           devices=devices, trainer=trainer, resume=resume, graphs=cuda_graphs,
                           relevant_check=not no_relevant_check, fast=fast, labels=labels,
                           settings=settings, progress=not quiet, log=echo,
                           predictions=not no_predictions, seeds=seeds)
    except KeyboardInterrupt:  # one error line like every failure; finished tasks stay for a rerun
        echo(f"error: interrupted; tasks finished so far are kept in {out / 'tasks'} and reused by a rerun")
        sys.exit(130)
    click.echo(format_scores(result.results, result.unofficial, result.seeds, result.seed_scores))
    if ci:
        from ubm.evaluation.leaderboard import format_comparison
        from ubm.evaluation.seeds import spread

        name = out.name or str(out)
        board = api.leaderboard({name: out}, ci=True, resamples=resamples, level=level, seed=seed, blocks=blocks)
        spreads = ({name: {t: spread(v) for t, v in result.seed_scores.items()}}
                   if len(result.seeds) > 1 and result.seed_scores else None)
        click.echo("")
        click.echo(format_comparison(board.leaderboard, board.comparison, spreads))
    click.echo(f"scores: {out / 'scores.json'}  metrics: {out / 'metrics.json'}  report: {out / 'report.png'}")


@main.command(help="Compare runs of `ubm train`: per-task scores and Borda points (docs/evaluation.md §4); "
                   "with --ci, bootstrap intervals and paired differences with a verdict per task.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--names", default=None, help="comma-separated names for the runs (default: directory names)")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="also write JSON here")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="with --ci and two or more runs: forest plot (PNG) of the paired differences")
@click.option("--html", "html_out", type=click.Path(path_type=Path), default=None,
              help="also write a self-contained HTML report here (tables, the forest plot embedded)")
@ci_options
def leaderboard(runs: tuple[Path, ...], names: str | None, json_out: Path | None, plot: Path | None,
                html_out: Path | None, ci: bool, resamples: int, level: float, seed: int, blocks: int) -> None:
    from ubm.util import atomic_path

    if plot and not (ci and len(runs) >= 2):
        raise click.UsageError("--plot needs --ci and at least two runs")

    labels = [n.strip() for n in names.split(",")] if names else [r.name for r in runs]
    if len(labels) != len(runs) or len(set(labels)) != len(labels):
        raise click.UsageError("--names must give one distinct name per run")
    _check_file_outs({"--json": json_out, "--plot": plot, "--html": html_out})
    board = api.leaderboard(dict(zip(labels, runs)), ci=ci, resamples=resamples, level=level, seed=seed,
                            blocks=blocks)
    click.echo(board.describe())
    payload = board.to_json()
    if json_out:
        with atomic_path(json_out, "--json") as tmp:
            tmp.write_text(payload)
        click.echo(f"wrote {json_out}", err=True)
    if plot:
        board.plot(plot)
        click.echo(f"wrote {plot}", err=True)
    if html_out:
        import json

        from ubm.evaluation.html_report import leaderboard_html, write_html
        from ubm.evaluation.report import forest_png

        comparison = board.comparison
        forest = forest_png(comparison) if comparison is not None and comparison.differences else None
        notes = [board.seeded_text] if board.seeded is None and board.seeded_text else None  # why no seed verdicts
        write_html(html_out, leaderboard_html(json.loads(payload), forest, notes), "--html")
        click.echo(f"wrote {html_out}", err=True)


def _check_file_outs(outs: dict[str, Path | None]) -> None:
    """Single-file outputs refused before any work (ubm.ownership.check_file_out: a directory,
    a place that cannot be created, a file of a directory ubm wrote, a --plot that is no PNG),
    and one path given to two options (the second write would replace the first)."""
    from ubm.util import PNG_SIGNATURE, check_file_out, through_link

    seen: dict[Path, str] = {}
    for option, path in outs.items():
        if path is None:
            continue
        check_file_out(path, option, *((PNG_SIGNATURE, "a PNG image") if option == "--plot" else ()))
        real = through_link(path, option).resolve()
        if real in seen:
            raise click.UsageError(f"{seen[real]} and {option} are both {path}; give each its own file")
        seen[real] = option


@main.command(help="Which block earns its columns: build an entry once, train the fixed model on it and on "
                   "variants with a block's columns zeroed (or only a block's kept), and report each block's "
                   "contribution per task with paired intervals (docs/evaluation.md §5). Resumable.")
@DATA_DIR
@click.option("--recipe", default="universal", show_default=True, help="a recipe that records its blocks")
@click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE", help="recipe option; repeatable")
@click.option("--source", type=click.Choice(["input", "all"]), default="input", show_default=True,
              help="events the entry is built from, as for `ubm features`")
@click.option("--blocks", "block_names", default=None,
              help="comma-separated blocks or prefixes (e.g. activity,list.propensity_sku); default: one per "
                   "prefix of the recipe's block names")
@click.option("--tasks", multiple=True, default=("all",), show_default=True, help="task name (repeatable) or all")
@click.option("--alone", is_flag=True, help="also train each block alone (every other column zeroed)")
@click.option("--seeds", "seeds_text", default=None, metavar="K|S1,S2,...", help="as for `ubm train --seeds`")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="study directory (resumable)")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--labels", type=click.Path(path_type=Path), default=None, help="labels written by `ubm targets`")
@click.option("--resamples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="bootstrap resamples of the evaluated clients")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="confidence level of the intervals")
@click.option("--quiet", is_flag=True, help="no progress bars")
@settings_options
def ablate(data_dir: Path, recipe: str, extra: tuple[str, ...], source: str, block_names: str | None,
           tasks: tuple[str, ...], alone: bool, seeds_text: str | None, out: Path, device: str,
           labels: Path | None, resamples: int, level: float, quiet: bool, settings: Settings) -> None:
    from ubm.evaluation.ablate import ablate as run_ablate, check_blocks
    from ubm.evaluation.labels import resolve_tasks
    from ubm.evaluation.store import parse_seeds
    from ubm.profiles.recipes import OptionError

    try:
        seeds = parse_seeds(seeds_text)
    except DataError as exc:
        raise click.BadParameter(str(exc).removeprefix("--seeds: "), param_hint="--seeds") from None
    names = [b.strip() for b in block_names.split(",") if b.strip()] if block_names else None
    if block_names is not None and not names:
        raise click.BadParameter("no block given", param_hint="--blocks")
    try:
        chosen = resolve_tasks([t for item in tasks for t in item.split(",") if t])
    except DataError as exc:
        raise click.BadParameter(str(exc), param_hint="--tasks") from None
    try:
        check_blocks(recipe, key_values(extra, "--option"), names)
    except OptionError as exc:
        raise click.BadParameter(str(exc), param_hint="--recipe" if exc.key == "recipe" else
                                 f"--option {exc.key}" if exc.key else "--option") from None
    except DataError as exc:
        raise click.BadParameter(str(exc).removeprefix("--blocks: "), param_hint="--blocks") from None
    try:
        result = run_ablate(data_dir, out, recipe=recipe, options=key_values(extra, "--option"), blocks=names,
                            tasks=chosen, alone=alone, seeds=seeds, source=source, device=device, labels=labels,
                            settings=settings, resamples=resamples,
                            level=level, progress=not quiet, log=echo)
    except OptionError as exc:
        raise click.BadParameter(str(exc), param_hint="--recipe" if exc.key == "recipe" else
                                 f"--option {exc.key}" if exc.key else "--option") from None
    except KeyboardInterrupt:
        echo("interrupted; rerun the same command to finish the study")
        sys.exit(130)
    click.echo(result.table)
    click.echo(f"study: {out / 'ablation.json'}  heatmap: {out / 'ablation.png'}  report: {out / 'ablation.html'}")



if __name__ == "__main__":
    main()
