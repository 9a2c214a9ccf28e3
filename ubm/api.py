"""The Python API (docs/python.md): the pipeline as functions over a data directory.

Each function is one stage of the command line (``ubm/cli.py`` calls the same function and
only prints what it returns) and gives back a plain result: a dataclass with a ``describe()``
text, numpy arrays, or a pyarrow table. Failures raise the errors of :mod:`ubm.errors`
(``DataError`` for bad data, ``OutputError`` for an output path that must not be replaced),
with the message the command line would print.

Heavy modules (DuckDB, torch, the recipes) are imported inside the functions, so that
``import ubm`` stays cheap. What is public is listed in ``ubm/__init__.py``; every other
module of the package is private and may change.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # only for the annotations: importing them costs DuckDB, torch, ...
    import numpy as np
    import pyarrow as pa

    from ubm.data.io import Data, Settings
    from ubm.evaluation.leaderboard import Leaderboard, Run
    from ubm.evaluation.significance import Comparison
    from ubm.evaluation.train import RunResult
    from ubm.prepare.check import CheckReport
    from ubm.prepare.importer import ImportResult
    from ubm.prepare.lists import ListsResult
    from ubm.prepare.split import SplitResult
    from ubm.prepare.targets import TargetsResult
    from ubm.profiles.features import ExportSummary
    from ubm.profiles.model import ApplyResult, ModelResult
    from ubm.profiles.refresh import RefreshResult
    from ubm.profiles.validate import ValidationReport

Progress = Callable[[str], None] | None  # called with one line per step; None: silent


def _settings(settings: Settings | None) -> Settings:
    from ubm.data.io import Settings

    return settings if settings is not None else Settings()


# --- data --------------------------------------------------------------------------------

def generate(out: str | Path, size: str = "tiny", *, clients: int | None = None, days: int | None = None,
             seed: int = 0, progress: Progress = None) -> Any:
    """Write a generated data directory in the published format (``ubm generate``); a bad
    ``clients``/``days``/``seed`` is a ValueError before anything is written."""
    from ubm.data.generate import generate as run_generate
    from ubm.data.generate.write import resolve_options

    resolve_options(size, clients, days, seed)
    return run_generate(Path(out), size, clients=clients, days=days, seed=seed,
                        progress=progress or (lambda _m: None))


def import_data(config: str | Path, out: str | Path, *, settings: Settings | None = None,
                progress: Progress = None) -> ImportResult:
    """Your own event files into a data directory, as a mapping file says (``ubm import``,
    docs/import.md); the id maps land in ``out/.ubm/maps``."""
    from ubm.prepare.importer import import_data as run_import

    return run_import(Path(config), Path(out), _settings(settings), progress=progress or (lambda _m: None))


def check(data_dir: str | Path, *, settings: Settings | None = None) -> CheckReport:
    """Every problem of every file of ``data_dir`` (``ubm check``); ``report.ok`` is False if any."""
    from ubm.prepare.check import check_data_dir

    return check_data_dir(Path(data_dir), _settings(settings))


def summary(data_dir: str | Path, window: str = "all", *, settings: Settings | None = None) -> str:
    """Events per type, clients, catalogue and date range (``ubm summary``), as text."""
    from ubm.prepare.summary import summarise

    return summarise(Path(data_dir), window, _settings(settings))


def open_data(data_dir: str | Path, window: str = "all", *, settings: Settings | None = None) -> Data:
    """The typed views of ``data_dir`` on DuckDB (docs/data.md): ``data.con.execute("SELECT ...
    FROM product_buy").fetchall()``; ``window="input"`` reads the split's input window. Close it with
    ``data.close()``."""
    from ubm.data.opener import open_data as run_open

    return run_open(Path(data_dir), window=window, settings=_settings(settings))


# --- split, lists, labels ----------------------------------------------------------------

def parse_end(text: str) -> dt.datetime:
    """``'YYYY-MM-DD HH:MM:SS'`` or ``'YYYY-MM-DD'`` (the end of that day); else a ValueError."""
    from ubm.contract import TIMESTAMP_FORMAT

    try:
        return dt.datetime.strptime(text.strip(), TIMESTAMP_FORMAT)
    except ValueError:
        try:
            return dt.datetime.strptime(text.strip(), "%Y-%m-%d").replace(hour=23, minute=59, second=59)
        except ValueError:
            raise ValueError(f"{text!r} is not YYYY-MM-DD HH:MM:SS (nor YYYY-MM-DD)") from None


def split(data_dir: str | Path, *, end: str | dt.datetime | None = None, outliers: str = "refuse",
          settings: Settings | None = None, progress: Progress = None,
          with_lists: bool | None = None) -> SplitResult:
    """Cut the events in time (``ubm split``, docs/split.md): ``D/input`` and ``D/target``.

    ``with_lists``: also build the absent label lists (``ubm lists``) from the new split; by
    default only for a directory ``ubm import`` made, which has no organiser lists to wait for
    (docs/import.md §9). The lists' result is the split result's ``lists``."""
    from ubm.prepare.split import split as run_split
    from ubm.provenance import made_by_import

    when = parse_end(end) if isinstance(end, str) else end
    root = Path(data_dir)
    result = run_split(root, _settings(settings), progress=progress, end=when, outliers=outliers)
    if with_lists if with_lists is not None else made_by_import(root):
        result.lists = lists(root, settings=settings, progress=progress)
    return result


def lists(data_dir: str | Path, *, force: bool = False, settings: Settings | None = None,
          progress: Progress = None) -> ListsResult:
    """The label lists of docs/tasks.md §3 in ``D/target`` (``ubm lists``)."""
    from ubm.prepare.lists import build_lists

    return build_lists(Path(data_dir), _settings(settings), force=force, progress=progress)


def targets(data_dir: str | Path, out: str | Path, *, client_ids: str | Path | None = None,
            tasks: Sequence[str] | None = None, settings: Settings | None = None,
            progress: Progress = None) -> TargetsResult:
    """Per-task label matrices of the train and validation windows (``ubm targets``)."""
    from ubm.contract import TASKS
    from ubm.prepare.targets import build_targets

    return build_targets(Path(data_dir), Path(out), _settings(settings), client_ids=client_ids,
                         tasks=tuple(tasks or TASKS), progress=progress)


@dataclass
class Labels:
    """One task of a labels directory written by :func:`targets` (docs/tasks.md §6)."""

    task: str
    client_ids: np.ndarray  # int64, the task's clients
    train: np.ndarray  # uint8 clients x labels, the train target window
    validation: np.ndarray  # uint8 clients x labels, the validation target window
    labels: np.ndarray  # the listed values (a single 0 for a binary task)


def read_labels(targets_dir: str | Path, task: str) -> Labels:
    """The arrays :func:`targets` wrote for ``task``."""
    import numpy as np

    from ubm.errors import DataError

    folder = Path(targets_dir) / task
    if not folder.is_dir():
        raise DataError(f"{folder} is missing: no labels of task {task!r} in {targets_dir}")
    arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False)
              for name in ("client_ids", "train", "validation", "labels")}
    return Labels(task, **arrays)


# --- profiles ----------------------------------------------------------------------------

def features(data_dir: str | Path, out: str | Path, recipe: str = "baseline", *, source: str = "input",
             options: Mapping[str, Any] | None = None, settings: Settings | None = None,
             progress: Progress = None) -> ExportSummary:
    """Write an entry from a recipe (``ubm features``, docs/entry.md §3): ``options`` are the
    recipe's (``{"windows": "1,7"}``, ``{"epochs": 2}``); a bad one is ``OptionError``."""
    from ubm.profiles.features import export_features

    return export_features(Path(data_dir), Path(out), recipe=recipe, options=dict(options or {}),
                           source=source, settings=_settings(settings), progress=progress)


def fit(data_dir: str | Path, out: str | Path, recipe: str = "baseline", *, source: str = "input",
        options: Mapping[str, Any] | None = None, settings: Settings | None = None,
        progress: Progress = None) -> ModelResult:
    """Fit a recipe and write a profile model (``ubm fit``, docs/recipes.md §6): what the recipe
    learnt, to apply to other data in the same space with :func:`apply`."""
    from ubm.profiles.model import fit_model

    return fit_model(Path(data_dir), recipe, Path(out), dict(options or {}), source=source,
                     settings=_settings(settings), progress=progress)


def apply(model: str | Path, data_dir: str | Path, out: str | Path, *, source: str = "input",
          settings: Settings | None = None, progress: Progress = None, refreshable: bool = False) -> ApplyResult:
    """Write an entry from a profile model (``ubm features --model``): same columns, same scaling;
    ``result.drift`` says per block how far the new profiles moved from the fitted ones.
    ``refreshable``: keep the recipe's per-client state for :func:`refresh` (baseline)."""
    from ubm.profiles.model import apply_model

    return apply_model(Path(model), Path(data_dir), Path(out), source=source, settings=_settings(settings),
                       progress=progress, refreshable=refreshable)


def refresh(model: str | Path, data_dir: str | Path, entry: str | Path, *, new_only: bool = False,
            settings: Settings | None = None, progress: Progress = None) -> RefreshResult:
    """Bring an entry of ``model`` up to date with ``data_dir`` (``ubm refresh``): the entry a full
    :func:`apply` to all events would write, from the kept state and the new events where the
    entry has one (``result.incremental``; else ``result.reason`` says why it was applied in
    full). ``new_only``: ``data_dir`` holds only the new events (``--new-events``)."""
    from ubm.profiles.refresh import refresh_entry

    return refresh_entry(Path(model), Path(data_dir), Path(entry), new_only=new_only, settings=_settings(settings),
                         progress=progress)


@dataclass
class Entry:
    """An entry read back: row i of ``embeddings`` is the profile of ``client_ids[i]``."""

    client_ids: np.ndarray  # int64
    embeddings: np.ndarray  # float16, clients x columns
    columns: list[str]  # column names (columns.json); "0", "1", ... when it has none
    info: dict[str, Any] = field(default_factory=dict)  # the rest of columns.json


def read_entry(embeddings_dir: str | Path, *, mmap: bool = False) -> Entry:
    """``client_ids.npy``, ``embeddings.npy`` and ``columns.json`` of an entry."""
    from ubm.profiles.validate import load_entry

    ids, embeddings = load_entry(Path(embeddings_dir), mmap=mmap)
    path = Path(embeddings_dir) / "columns.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    names = info.pop("columns", None) or [str(i) for i in range(embeddings.shape[1])]
    return Entry(ids, embeddings, list(names), info)


def original_ids(data_dir: str | Path, embeddings_dir: str | Path, *, settings: Settings | None = None) -> pa.Table:
    """(row, client_id, original_id) of every row of an entry built from a ``ubm import``
    directory: the user's own client ids, in the entry's row order (docs/import.md §10)."""
    from ubm.prepare.original_ids import original_ids as run

    return run(Path(data_dir), Path(embeddings_dir), _settings(settings))


def validate(data_dir: str | Path | None, embeddings_dir: str | Path, *, relevant_check: bool = True,
             max_dim: int | None = None) -> ValidationReport:
    """Every check of docs/entry.md §2 (``ubm validate``); ``report.ok``, ``report.failures``."""
    from ubm.contract import MAX_COLUMNS
    from ubm.profiles.validate import validate_entry

    return validate_entry(data_dir, Path(embeddings_dir), relevant_check=relevant_check,
                          max_dim=MAX_COLUMNS if max_dim is None else max_dim)


# --- evaluation --------------------------------------------------------------------------

def train(data_dir: str | Path, embeddings_dir: str | Path, out: str | Path, tasks: str | Sequence[str] = "all",
          *, device: str = "auto", relevant_check: bool = True, labels: str | Path | None = None,
          resume: bool = True, predictions: bool = True, progress: bool = False,
          settings: Settings | None = None, log: Progress = None, **options: Any) -> RunResult:
    """Train the fixed model on each task and score the entry (``ubm train``, docs/evaluation.md);
    ``result.scores`` is task -> score, and ``out`` holds scores.json, metrics.json, report.png.
    ``options`` go to the trainer as ``ubm train``'s (``devices``, ``trainer``, ``fast``, ``graphs``,
    ``seeds``: training seeds, the official one first)."""
    from ubm.errors import DataError
    from ubm.evaluation.labels import resolve_tasks
    from ubm.evaluation.train import evaluate
    from ubm.prepare.targets import left_out_tasks

    names = resolve_tasks([tasks] if isinstance(tasks, str) else list(tasks))
    say = log or (lambda _m: None)
    # a task whose label list `ubm lists` left out cannot be evaluated here: said, and the rest go on
    skipped = left_out_tasks(Path(data_dir), tuple(names))
    for task, why in skipped.items():
        say(f"warning: {task}: skipped: {why}")
    names = [t for t in names if t not in skipped]
    if not names:
        raise DataError(f"no task can be evaluated on {data_dir}: {next(iter(skipped.values()))}")
    return evaluate(Path(data_dir), Path(embeddings_dir), Path(out), tasks=names, device=device,
                    relevant_check=relevant_check, labels=Path(labels) if labels else None, resume=resume,
                    predictions=predictions, progress=progress, settings=_settings(settings),
                    log=say, **options)


def scores(run: str | Path) -> dict[str, float]:
    """task -> score of a finished run of :func:`train` (refused by name unless it is one)."""
    from ubm.evaluation.leaderboard import read_run

    return dict(read_run(Path(run)).scores)


@dataclass
class Board:
    """Runs side by side (``ubm leaderboard``, docs/evaluation.md §4)."""

    leaderboard: Leaderboard  # order, totals, per-task ranks and Borda points
    runs: dict[str, Run]
    comparison: Comparison | None = None  # with ci=True: intervals and paired verdicts
    seeded: dict | None = None  # with ci=True and runs of several seeds: seed-and-client verdicts (JSON)
    seeded_text: str | None = None  # ... as printed, or why the runs' seeds cannot be paired

    @property
    def unofficial(self) -> dict[str, list[str]]:
        return {name: run.unofficial for name, run in self.runs.items()}

    def describe(self) -> str:
        from ubm.evaluation.leaderboard import format_comparison, format_table

        text = format_table(self.leaderboard, self.unofficial)
        if self.comparison is not None:
            text += "\n\n" + format_comparison(self.leaderboard, self.comparison)
        if self.seeded_text:
            text += "\n\n" + self.seeded_text
        return text

    def to_json(self) -> str:
        from ubm.evaluation.leaderboard import to_json

        return to_json(self.leaderboard, comparison=self.comparison, unofficial=self.unofficial,
                       seeded=self.seeded)

    def table(self) -> pa.Table:
        """One row per run and task (run, task, score, rank, points), runs best first;
        ``.to_pandas()`` for a DataFrame."""
        import pyarrow as pa

        rows = [(name, task, ranking.scores.get(name), ranking.ranks.get(name), ranking.points.get(name, 0.0))
                for name in self.leaderboard.order for task, ranking in self.leaderboard.per_task.items()]
        return pa.table(dict(zip(("run", "task", "score", "rank", "points"), map(list, zip(*rows))))
                        if rows else {k: [] for k in ("run", "task", "score", "rank", "points")})

    def plot(self, path: str | Path) -> Path:
        """The forest plot (PNG) of the paired differences; needs ci=True and two or more runs."""
        from ubm.evaluation.report import write_forest_png

        if self.comparison is None or len(self.runs) < 2:
            raise ValueError("a plot needs ci=True and at least two runs")
        write_forest_png(self.comparison, Path(path))
        return Path(path)


def leaderboard(runs: Mapping[str, str | Path] | Sequence[str | Path], *, ci: bool = False,
                resamples: int | None = None, level: float | None = None, seed: int | None = None,
                blocks: int | None = None) -> Board:
    """Compare runs of :func:`train` (named by a mapping, else by their directory names):
    Borda points per task; with ``ci``, bootstrap intervals and paired verdicts
    (docs/significance.md §1). Runs over different clients are refused by name."""
    from ubm.evaluation.leaderboard import check_same_clients, leaderboard as board_of, read_run

    named = dict(runs) if isinstance(runs, Mapping) else {Path(r).name or str(r): r for r in runs}
    if not isinstance(runs, Mapping) and len(named) != len(runs):
        raise ValueError("two runs have the same directory name; name them with a mapping")
    read = {name: read_run(Path(run)) for name, run in named.items()}
    check_same_clients(read)
    scores = {name: r.scores for name, r in read.items()}
    board = board_of(scores)
    comparison, seeded = None, (None, None)
    if ci:
        from ubm.evaluation import significance as sig

        shared = [t for t in board.tasks if all(t in scores[name] for name in read)]
        comparison = sig.compare({name: sig.load_run(Path(named[name]), shared) for name in read},
                                 order=board.order, **_ci_options(resamples, level, seed, blocks))
        sig.check_scores(comparison, scores)
        seeded = _seeded(read, shared, board.order, _ci_options(resamples, level, seed, blocks))
    return Board(board, read, comparison, *seeded)


def _seeded(read: dict[str, Run], tasks: list[str], order: list[str], options: dict) -> tuple[dict | None, str | None]:
    """With runs trained from several seeds (``train(seeds=...)``): the seed-and-client verdicts
    (docs/significance.md §2) as JSON and text; (None, why) when the runs' seeds differ,
    (None, None) when every run has one seed."""
    from ubm.evaluation.leaderboard import format_seeded
    from ubm.evaluation.seeds import compare_seeded, load_seeded_run, seeded_dict, shared_seeds

    seeds, why = shared_seeds({name: r.seeds for name, r in read.items()})
    if why:
        return None, why
    if seeds is None:
        return None, None
    runs = {name: load_seeded_run(r.path, seeds, tasks) for name, r in read.items()}
    spreads, differences = compare_seeded(runs, order=[n for n in order if n in runs], **options)
    return seeded_dict(seeds, spreads, differences), format_seeded(spreads, differences, seeds, options["level"])


def _ci_options(resamples: int | None, level: float | None, seed: int | None, blocks: int | None) -> dict:
    from ubm.evaluation import significance as sig

    return {"resamples": sig.DEFAULT_RESAMPLES if resamples is None else resamples,
            "level": sig.DEFAULT_LEVEL if level is None else level,
            "seed": sig.DEFAULT_SEED if seed is None else seed,
            "blocks": sig.DEFAULT_BLOCKS if blocks is None else blocks}
