"""Profile models: a recipe fitted once (``ubm fit``), applied to any data of the same contract
(``ubm features --model``); docs/recipes.md §6.

:func:`fit_model` runs the recipe on a data directory as ``ubm features --recipe`` does, with a
:class:`ubm.profiles.state.ModelState` that keeps everything the recipe learns, and writes

* ``M/model.json``: format and version, ubm version and a hash of the recipes' code, recipe,
  options, source, every column name, the column blocks, the fingerprint of the fitted data
  (as ``columns.json`` records it), the learnt JSON values and the name of each learnt array;
* ``M/arrays.npz``: the learnt arrays (vocabularies and lists, ALS item factors and idf
  weights, encoder weights, per-column centres and spreads) and each entry column's mean,
  spread and share of clipped values on the fitted data (for drift); numeric arrays only,
  read with ``allow_pickle=False``;
* ``M/.ubm-manifest.json`` (kind ``model``).

:func:`apply_model` writes an entry from new data with the model's learnt state (refused by
name when the data's label lists, or the model's format, recipe, options or columns, are not
the model's), and reports per column block how far the new columns moved from the fitted
ones (:class:`BlockDrift`, also in ``columns.json`` under ``drift``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ubm.data.io import Settings, require_dir
from ubm.errors import OutputError
from ubm.ownership import check_out, read_manifest, version
from ubm.profiles.features import ExportSummary, export_features
from ubm.profiles.recipes import get_recipe
from ubm.profiles.state import ModelError, ModelState
from ubm.profiles.trail import Trail
from ubm.util import Timer, atomic_dir

FORMAT = "ubm-profile-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
FITTED_ENTRY = "fitted-entry"  # the entry of the fitted data, inside the model's temporary directory
FLOAT16_MAX = 65504.0          # "clipped" for a recipe without a clip of its own: float16 overflow
ROWS = 1 << 16                 # entry rows read at a time for the column statistics
PACKAGE = Path(__file__).resolve().parents[1]


class NotAModel(ModelError):
    """A --model path that holds no profile model (a usage error: the CLI exits 2)."""


@dataclass
class ModelResult:
    out: Path
    recipe: str
    options: dict[str, Any]
    n_rows: int
    n_columns: int
    n_arrays: int
    seconds: float
    fingerprint: str

    def describe(self) -> str:
        return (f"wrote {self.out}: profile model of recipe {self.recipe}, {self.n_columns} columns, "
                f"{self.n_arrays} learnt arrays, fitted on {self.n_rows:,} clients ({self.seconds:.1f}s)")


@dataclass
class BlockDrift:
    """How a block of applied columns moved from the fitted ones: per column, the shift of its
    mean in fitted standard deviations (columns constant at fit are left out), and the share of
    values at the clip."""
    name: str
    start: int
    stop: int
    mean_shift_sd: float
    max_shift_sd: float
    worst_column: str | None
    clipped_share: float
    fitted_clipped_share: float

    def describe(self) -> str:
        worst = f", {self.worst_column}" if self.worst_column else ""
        return (f"drift {self.name}: mean shift {self.mean_shift_sd:.3f} sd (max {self.max_shift_sd:.3f}{worst}), "
                f"clipped {100 * self.clipped_share:.2f}% (fitted {100 * self.fitted_clipped_share:.2f}%)")


@dataclass
class ApplyResult:
    out: Path
    model: Path
    n_rows: int
    n_columns: int
    overflow: int
    seconds: float
    drift: list[BlockDrift] = field(default_factory=list)

    def describe(self) -> str:
        return (f"wrote {self.out}: {self.n_rows:,} clients x {self.n_columns} columns float16 "
                f"from profile model {self.model} ({self.seconds:.1f}s)")


# -- the column blocks and their statistics ------------------------------------------------------

def column_blocks(recipe: str, opts: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Contiguous column blocks ``{name, start, stop, clip}``: universal's planned blocks (also as
    the learned recipe's base), the learned encoder's outputs (``encoder.rep``, ``encoder.binary``,
    ``encoder.<head>``), the baseline's event types."""
    prefixes: list[tuple[str, float]] = []
    if recipe in ("universal", "learned"):
        from ubm.profiles.recipes.learned import universal_options
        from ubm.profiles.recipes.universal.plan import plan

        uopts = opts if recipe == "universal" else universal_options(opts)
        if recipe == "universal" or opts["base"] == "universal":
            prefixes = [(b.name, float(uopts["clip"])) for b in plan(uopts)]
    blocks: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        block, clip = next(((p, c) for p, c in prefixes if name.startswith(p + ".")), (None, None))
        if block is None:
            parts = name.split(".")
            if parts[0] == "encoder":
                block = "encoder.binary" if parts[1] in ("churn", "conversion") else f"encoder.{parts[1]}"
                clip = float(opts["clip"])
            else:
                block, clip = parts[0], float(opts.get("clip", FLOAT16_MAX))
        if blocks and blocks[-1]["name"] == block:
            blocks[-1]["stop"] = i + 1
        else:
            blocks.append({"name": block, "start": i, "stop": i + 1, "clip": clip})
    return blocks


def column_statistics(embeddings: Path, blocks: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each column's mean, standard deviation and share of values at or beyond its block's clip,
    over the entry's rows (read a slice of rows at a time, summed in float64)."""
    emb = np.load(embeddings, mmap_mode="r")
    n, width = emb.shape
    clip = np.zeros(width)
    for b in blocks:
        clip[b["start"]:b["stop"]] = b["clip"]
    # |x| >= clip for a float32 x is |x| >= the least float32 at or above clip
    clip32 = clip.astype(np.float32)
    below = clip32.astype(np.float64) < clip
    clip32[below] = np.nextafter(clip32[below], np.float32(np.inf))
    total, squares, clipped = np.zeros(width), np.zeros(width), np.zeros(width, dtype=np.int64)
    for r0 in range(0, n, ROWS):
        # float16 values and their squares are exact in float32; the sums are taken in float64
        x = np.asarray(emb[r0:r0 + ROWS]).astype(np.float32)
        total += x.sum(axis=0, dtype=np.float64)
        squares += np.einsum("ij,ij->j", x, x, dtype=np.float64)
        clipped += (np.abs(x, out=x) >= clip32).sum(axis=0)
    mean = total / max(n, 1)
    return {"mean": mean, "std": np.sqrt(np.maximum(squares / max(n, 1) - mean * mean, 0.0)),
            "clipped": clipped / max(n, 1)}


def drift(fitted: dict[str, np.ndarray], applied: dict[str, np.ndarray], blocks: list[dict[str, Any]],
          names: list[str]) -> list[BlockDrift]:
    out = []
    for b in blocks:
        sl = slice(b["start"], b["stop"])
        std = fitted["std"][sl]
        varied = std > 0  # a column constant at fit has no spread to measure a shift in
        shift = np.abs(applied["mean"][sl] - fitted["mean"][sl])[varied] / std[varied]
        moved = len(shift) and shift.max() > 0
        worst = names[b["start"] + int(np.flatnonzero(varied)[np.argmax(shift)])] if moved else None
        out.append(BlockDrift(b["name"], b["start"], b["stop"], float(shift.mean()) if len(shift) else 0.0,
                              float(shift.max()) if len(shift) else 0.0, worst,
                              float(applied["clipped"][sl].mean()), float(fitted["clipped"][sl].mean())))
    return out


# -- saving and loading --------------------------------------------------------------------------

def code_hash() -> str:
    """sha256 of the recipes' Python and SQL sources (recorded; another hash only warns)."""
    h = hashlib.sha256(f"{FORMAT} v{FORMAT_VERSION}".encode())
    files = sorted((PACKAGE / "profiles").rglob("*.py")) + sorted((PACKAGE / "sql" / "features").rglob("*.sql"))
    for path in files:
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _save(tmp: Path, meta: dict[str, Any], learnt: ModelState, stats: dict[str, np.ndarray]) -> int:
    keys = sorted(learnt.arrays)
    arrays = {f"a{i}": learnt.arrays[k] for i, k in enumerate(keys)}
    arrays.update({f"column.{k}": v for k, v in stats.items()})
    bad = [k for k, v in zip(keys, arrays.values()) if v.dtype.kind not in "biuf"]
    if bad:
        raise AssertionError(f"learnt array {bad[0]} is not numeric")
    with open(tmp / ARRAYS_FILE, "wb") as fh:
        np.savez(fh, **arrays)
    meta["arrays"] = {k: f"a{i}" for i, k in enumerate(keys)}
    meta["values"] = learnt.values
    (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return len(keys)


@dataclass
class Model:
    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    digest: str = ""  # sha256 of model.json: which model an entry was applied from

    def state(self) -> ModelState:
        return ModelState("apply", arrays=self.arrays, values=self.meta.get("values", {}))


def load_model(model_dir: Path | str) -> Model:
    """Read a profile model; anything but a complete model of this format is refused by name."""
    path = Path(model_dir)
    manifest = read_manifest(path) if path.is_dir() else None
    if manifest is None or manifest.get("kind") != "model":
        raise NotAModel(f"--model {path}: not a profile model (no {MODEL_FILE} with a model manifest; "
                        "write one with `ubm fit`)")
    try:
        text = (path / MODEL_FILE).read_bytes()
        meta = json.loads(text)
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
            stored = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"--model {path}: unreadable ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"--model {path}: format {meta.get('format')} v{meta.get('format_version')}, this ubm "
                         f"reads {FORMAT} v{FORMAT_VERSION}; refit it with `ubm fit`")
    missing = [k for k, name in meta["arrays"].items() if name not in stored]
    if missing:
        raise ModelError(f"--model {path}: {ARRAYS_FILE} lacks learnt array {missing[0]}")
    arrays = {k: stored[name] for k, name in meta["arrays"].items()}
    stats = {k: stored[f"column.{k}"] for k in ("mean", "std", "clipped")}
    return Model(path, meta, arrays, stats, hashlib.sha256(text).hexdigest())


# -- fit and apply ---------------------------------------------------------------------------------

def fit_model(data_dir: Path | str, recipe: str, out: Path | str, options: dict[str, Any] | None = None, *,
              source: str = "input", settings: Settings = Settings(),
              progress: Callable[[str], None] | None = None, **recipe_options: Any) -> ModelResult:
    """Fit ``recipe`` on ``data_dir`` and write the profile model to ``out`` (atomically).

    Recipe options come as a dict, as keywords (``fit_model(D, "universal", M, seed=1)``), or
    both; ``progress`` is the message callback (the learned recipe's own ``progress`` option
    goes in ``options``)."""
    timer = Timer()
    options = {**(options or {}), **recipe_options}
    root, out = require_dir(Path(data_dir)), Path(out)
    get_recipe(recipe)
    check_out(out, "model", root)
    learnt = ModelState("fit", keep=True)
    seen: dict[str, Any] = {}

    def finish(entry: Path, meta: dict[str, Any]) -> None:
        seen["blocks"] = column_blocks(recipe, meta["options"], meta["columns"])
        seen["stats"] = column_statistics(entry / "embeddings.npy", seen["blocks"])
        seen["meta"] = meta

    with atomic_dir(out, "model") as tmp:
        summary = export_features(root, tmp / FITTED_ENTRY, recipe=recipe, options=options, source=source,
                                  settings=settings, progress=progress, learnt=learnt, finish=finish)
        shutil.rmtree(tmp / FITTED_ENTRY)
        entry = seen["meta"]
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "ubm_version": version(), "code": code_hash(),
                "recipe": recipe, "options": entry["options"], "source": source, "columns": entry["columns"],
                "n_columns": len(entry["columns"]), "blocks": seen["blocks"],
                "fitted": {"data_dir": entry["data_dir"], "n_rows": summary.n_rows,
                           "fingerprint": entry["fingerprint"], "float16_overflow": entry["float16_overflow"]},
                "created": dt.datetime.now().isoformat(timespec="seconds")}
        n_arrays = _save(tmp, meta, learnt, seen["stats"])
    return ModelResult(out, recipe, entry["options"], summary.n_rows, summary.n_columns, n_arrays, timer.seconds,
                       entry["fingerprint"]["sha256"])


def check_contract(model: Model) -> dict[str, Any]:
    """The model's options, refused by name when this ubm's recipe would read them otherwise or
    give other columns (a model fitted by an incompatible version)."""
    meta = model.meta
    rec = get_recipe(meta["recipe"])
    opts = rec.resolve(meta["options"])
    if json.loads(json.dumps(opts, default=str)) != meta["options"]:
        raise ModelError(f"--model {model.path}: recipe {meta['recipe']} reads its options {meta['options']} "
                         f"as {opts} here; refit it with `ubm fit`")
    columns = rec.columns(opts)
    if columns != meta["columns"]:
        first = next((i for i, (a, b) in enumerate(zip(columns, meta["columns"])) if a != b),
                     min(len(columns), len(meta["columns"])))
        raise ModelError(f"--model {model.path}: recipe {meta['recipe']} gives {len(columns)} columns here, the "
                         f"model {len(meta['columns'])} (first difference at column {first}); refit it with `ubm fit`")
    return opts


def check_lists(model: Model, root: Path) -> None:
    """Refuse, before any work, data whose label lists are not the model's (the recipe checks
    again, exactly, when it reads them)."""
    for key, stored in model.arrays.items():
        task = key.rpartition("/")[2].removeprefix("lists.")
        path = root / "target" / f"{task}.npy"
        if key.rpartition("/")[2].startswith("lists.") and path.is_file():
            given = np.load(path, allow_pickle=False)
            if not np.array_equal(given[:len(stored)], stored):
                raise ModelError(f"{path}: not the {task} list the profile model was fitted with "
                                 f"({len(stored)} values); apply it to data with the same label lists, "
                                 "or refit with `ubm fit`")


def apply_model(model_dir: Path | str | Model, data_dir: Path | str, out: Path | str, *, source: str = "input",
                settings: Settings = Settings(), progress: Callable[[str], None] | None = None,
                refreshable: bool = False, trail: Trail | None = None) -> ApplyResult:
    """Write the entry of ``data_dir`` in the space of the profile model ``model_dir``.

    ``refreshable``: the entry also keeps the recipe's refresh state (``E/refresh/``, recipes
    that have one), for :func:`ubm.profiles.refresh.refresh_entry`; ``trail``: that state,
    given by a refresh."""
    timer = Timer()
    model = model_dir if isinstance(model_dir, Model) else load_model(model_dir)
    opts = check_contract(model)
    check_lists(model, require_dir(Path(data_dir)))
    meta = model.meta
    say = progress or (lambda _msg: None)
    if meta.get("code") != code_hash():
        say(f"note: profile model {model.path} was fitted by other recipe code (ubm {meta.get('ubm_version')}); "
            "it applies as long as its learnt state fits")
    found: list[BlockDrift] = []

    def finish(entry: Path, entry_meta: dict[str, Any]) -> None:
        applied = column_statistics(entry / "embeddings.npy", meta["blocks"])
        found.extend(drift(model.stats, applied, meta["blocks"], meta["columns"]))
        entry_meta["model"] = {"path": str(model.path.resolve()), "created": meta.get("created"),
                               "fitted_fingerprint": meta["fitted"]["fingerprint"]["sha256"],
                               "sha256": model.digest}
        entry_meta["drift"] = [asdict(d) for d in found]
        entry_meta["refreshable"] = learnt.trail is not None

    learnt = model.state()
    if trail is None and refreshable and get_recipe(meta["recipe"]).refreshes:
        trail = Trail(Path(out))  # its folder is set inside the entry being written
    elif refreshable and trail is None:
        say(f"note: recipe {meta['recipe']} keeps no refresh state; `ubm refresh` of this entry applies the "
            "model in full")
    learnt.trail = trail
    summary: ExportSummary = export_features(data_dir, out, recipe=meta["recipe"], options=opts, source=source,
                                             settings=settings, progress=progress, learnt=learnt,
                                             finish=finish)
    return ApplyResult(Path(out), model.path, summary.n_rows, summary.n_columns, summary.overflow,
                       timer.seconds, found)


__all__ = ["ApplyResult", "BlockDrift", "Model", "ModelError", "ModelResult", "NotAModel", "apply_model", "fit_model",
           "load_model"]
