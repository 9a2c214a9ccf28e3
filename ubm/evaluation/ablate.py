"""``ubm ablate``: build an entry once, train the fixed model on its variants (the full entry,
each block left out, optionally each block alone), and report each block's contribution per
task with paired intervals (the arithmetic: :mod:`ubm.evaluation.ablation`).

Layout of the study directory ``A`` (resumable: rerun the same command to finish it):

* ``A/entry/``: the full entry (``ubm features``), reused when its recipe, options and source
  match and its inputs have not changed;
* ``A/variants/<mode>.<block>/``: a variant's entry (the full one with columns zeroed), kept
  only while its run is unfinished;
* ``A/runs/full/``, ``A/runs/<mode>.<block>/``: a run directory of ``ubm train`` per variant
  (its task store resumes an interrupted variant per task and seed);
* ``A/study.json``: which variants finished, from which entry; ``A/ablation.json``,
  ``A/ablation.png`` and ``A/ablation.html`` (self-contained, :mod:`ubm.evaluation.html_report`): the results.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ubm.data.io import Settings, load_id_array
from ubm.errors import DataError
from ubm.evaluation.ablation import (FULL, Block, Effect, effects, effects_dict, format_effects, keep_mask,
                                     recorded_blocks, study_blocks, variant_name)
from ubm.evaluation.model import MAX_EPOCH, SEED
from ubm.evaluation.seeds import load_seeded_run
from ubm.evaluation.significance import DEFAULT_LEVEL, DEFAULT_RESAMPLES
from ubm.evaluation.train import evaluate
from ubm.ownership import KINDS, OutputError, read_manifest, write_manifest
from ubm.profiles.features import export_features
from ubm.profiles.recipes import get_recipe
from ubm.util import atomic_dir, atomic_path

KIND = "ablation"  # the manifest kind of a study directory (ubm.ownership)
_ROWS = 65536  # rows per chunk when a variant's embeddings are written


@dataclass
class AblationResult:
    out: Path
    blocks: list[Block]
    effects: list[Effect]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # variant -> task -> official score
    table: str = ""


@dataclass(frozen=True)
class Cost:
    variants: int
    tasks: int
    seeds: int
    clients: int  # at most this many per task (the relevant clients)
    samples_per_s: float
    device: str

    @property
    def trainings(self) -> int:
        return self.variants * self.tasks * self.seeds

    @property
    def seconds(self) -> float:
        # training epochs plus their validation passes (forward only: about a third of a step)
        return self.trainings * self.clients * MAX_EPOCH * (1 + 1 / 3) / max(self.samples_per_s, 1e-9)

    def line(self) -> str:
        return (f"ablation cost: {self.variants} variants x {self.tasks} tasks x {self.seeds} seeds = "
                f"{self.trainings} trainings of at most {self.clients:,} clients; about "
                f"{self.seconds / 60:,.1f} min at {self.samples_per_s:,.0f} samples/s measured on {self.device}")


def measure_samples_per_s(width: int, device: str, hidden_sizes: tuple[int, int] | None = None,
                          batches: int = 3) -> float:
    """Training samples per second of the fixed model at this entry width, timed on a few
    batches of random rows after one warm-up (what the cost estimate divides by)."""
    import torch
    import torch.nn.functional as F

    from ubm.evaluation.loop import _sync, new_model, resolve_device
    from ubm.evaluation.model import BATCH_SIZE

    dev = resolve_device(device)
    model, optimiser = new_model(width, 1, hidden_sizes, dev, False)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((BATCH_SIZE, width), generator=gen).to(dev)
    y = (torch.rand((BATCH_SIZE, 1), generator=gen) < 0.5).float().to(dev)
    t0 = 0.0
    for i in range(batches + 1):
        if i == 1:
            _sync(dev)
            t0 = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    _sync(dev)
    return batches * BATCH_SIZE / max(time.perf_counter() - t0, 1e-9)


def check_study_dir(out: Path) -> None:
    """Refuse an ``A`` that is neither absent, an empty directory, nor a study of ``ubm ablate``."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a directory; not replacing it")
    manifest = read_manifest(out)
    if manifest is None and any(out.iterdir()):
        raise OutputError(f"--out {out} is not a study of `ubm ablate` (no manifest) and is not empty; "
                          "give a new or empty directory")
    if manifest is not None and manifest["kind"] != KIND:
        raise OutputError(f"--out {out} is {KINDS[manifest['kind']]}, not a study of `ubm ablate`; not using it")


def _prefixes(columns: list[str]) -> list[str]:
    return list(dict.fromkeys(c.split(".")[0] for c in columns))


def check_blocks(recipe: str, options: dict[str, Any] | None, wanted: list[str] | None) -> None:
    """``--blocks`` against the recipe's columns, before any work (a usage error in the CLI)."""
    rec = get_recipe(recipe)
    _check_wanted(wanted, rec.columns(rec.resolve(options)))


def _check_wanted(wanted: list[str] | None, columns: list[str]) -> None:
    """Names in ``--blocks`` that no column of the recipe belongs to, refused before any work."""
    for item in wanted or []:
        if not any(c.startswith(item + ".") for c in columns):
            raise DataError(f"--blocks: no block {item!r} in recipe columns; blocks start with: "
                            f"{', '.join(_prefixes(columns))}")


def _identity(entry: Path) -> str:
    """The full entry's identity: its columns.json bytes and its embeddings file's size and mtime."""
    st = (entry / "embeddings.npy").stat()
    raw = (entry / "columns.json").read_bytes() + f"{st.st_size}:{st.st_mtime_ns}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _reusable_entry(entry: Path, data_dir: Path, recipe: str, opts: dict, source: str) -> bool:
    from ubm import provenance

    try:
        meta = json.loads((entry / "columns.json").read_text())
        same = (meta.get("recipe") == recipe and meta.get("source") == source
                and meta.get("options") == json.loads(json.dumps(opts, default=str))
                and (entry / "embeddings.npy").is_file())
        if same:
            provenance.verify_entry(entry, data_dir)
        return same
    except (OSError, ValueError, DataError):
        return False


def _write_variant(entry: Path, out: Path, block: Block, mode: str, identity: str) -> None:
    """The full entry with the columns outside what ``mode`` keeps set to 0 (float16, same width)."""
    emb = np.load(entry / "embeddings.npy", mmap_mode="r")
    keep = keep_mask(emb.shape[1], block, mode)
    meta = json.loads((entry / "columns.json").read_text())
    meta["ablation"] = {"of": identity, "mode": mode, "block": block.name, "parts": list(block.parts),
                        "zeroed_columns": int((~keep).sum())}
    with atomic_dir(out, "entry") as tmp:
        shutil.copyfile(entry / "client_ids.npy", tmp / "client_ids.npy")
        dst = np.lib.format.open_memmap(tmp / "embeddings.npy", mode="w+", dtype=emb.dtype, shape=emb.shape)
        for a in range(0, emb.shape[0], _ROWS):
            chunk = np.array(emb[a:a + _ROWS])
            chunk[:, ~keep] = 0
            dst[a:a + _ROWS] = chunk
        dst.flush()
        del dst
        (tmp / "columns.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")


def _state(out: Path) -> dict:
    try:
        state = json.loads((out / "study.json").read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_state(out: Path, state: dict) -> None:
    with atomic_path(out / "study.json") as tmp:
        tmp.write_text(json.dumps(state, indent=1) + "\n")


def ablate(data_dir: Path, out: Path, *, recipe: str = "universal", options: dict[str, Any] | None = None,
           blocks: list[str] | None = None, tasks: list[str], alone: bool = False, seeds: list[int] | None = None,
           source: str = "input", device: str = "auto", labels: Path | None = None,
           settings: Settings = Settings(), resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
           hidden_sizes: tuple[int, int] | None = None, progress: bool = True,
           log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> AblationResult:
    """Run (or finish) the study in ``out``; see the module docstring."""
    out, data_dir = Path(out), Path(data_dir)
    seeds = list(seeds or [SEED])
    check_study_dir(out)
    rec = get_recipe(recipe)
    opts = rec.resolve(options)
    columns = rec.columns(opts)
    _check_wanted(blocks, columns)
    units = len(blocks) if blocks else len(_prefixes(columns))
    clients = len(load_id_array(data_dir / "input" / "relevant_clients.npy"))
    resolved = "cuda" if device == "auto" and _cuda() else ("cpu" if device == "auto" else device)
    cost = Cost(1 + units * (2 if alone else 1), len(tasks), len(seeds), clients,
                measure_samples_per_s(len(columns), resolved, hidden_sizes), resolved)
    log(cost.line())  # before any work on the data

    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, KIND, ["entry/", "variants/", "runs/", "study.json", "ablation.json", "ablation.png",
                    "ablation.html"],
                   scan=False)
    entry = out / "entry"
    if _reusable_entry(entry, data_dir, recipe, opts, source):
        log(f"reusing the entry in {entry}")
    else:
        export_features(data_dir, entry, recipe=recipe, options=opts, source=source, settings=settings,
                        progress=log if progress else None)
    identity = _identity(entry)
    info = json.loads((entry / "columns.json").read_text()).get("recipe_info")
    chosen = study_blocks(recorded_blocks(info), blocks)
    variants = [(b, mode) for mode in (("without", "only") if alone else ("without",)) for b in chosen]
    state = _state(out)
    wanted = {"entry": identity, "tasks": tasks, "seeds": seeds,
              "hidden_sizes": list(hidden_sizes) if hidden_sizes else None}
    if any(state.get(k) != v for k, v in wanted.items()):
        state = {**wanted, "done": []}
    common = dict(tasks=tasks, device=device, labels=labels, settings=settings, progress=progress,
                  hidden_sizes=hidden_sizes, seeds=seeds, log=log)
    if FULL in state["done"] and (out / "runs" / FULL / "scores.json").is_file():
        log("ablation: full finished earlier; reused")
    else:
        log("ablation: the full entry")
        evaluate(data_dir, entry, out / "runs" / FULL, **common)
        state["done"] = [FULL]  # the variants are compared with this run
        _save_state(out, state)
    for block, mode in variants:
        name = variant_name(mode, block)
        if name in state["done"] and (out / "runs" / name / "scores.json").is_file():
            log(f"ablation: {name} finished earlier; reused")
            continue
        where = out / "variants" / name
        if not _variant_of(where, identity):
            _write_variant(entry, where, block, mode, identity)
        log(f"ablation: {name} ({block.columns} columns {'zeroed' if mode == 'without' else 'kept'})")
        evaluate(data_dir, where, out / "runs" / name, **common)
        state["done"].append(name)
        _save_state(out, state)
        shutil.rmtree(where)  # its run keeps the predictions the comparison needs
    return _report(out, chosen, variants, tasks, seeds, resamples, level, recipe, opts)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _variant_of(where: Path, identity: str) -> bool:
    try:
        return json.loads((where / "columns.json").read_text())["ablation"]["of"] == identity
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _report(out: Path, chosen: list[Block], variants: list[tuple[Block, str]], tasks: list[str], seeds: list[int],
            resamples: int, level: float, recipe: str, opts: dict) -> AblationResult:
    from ubm.evaluation.html_report import ablation_html, write_html
    from ubm.evaluation.report import ablation_png, write_ablation_png

    full = load_seeded_run(out / "runs" / FULL, seeds, tasks)
    preds = {(b.name, mode): load_seeded_run(out / "runs" / variant_name(mode, b), seeds, tasks)
             for b, mode in variants}
    result = effects(full, preds, chosen, resamples=resamples, level=level)
    scores = {name: json.loads((out / "runs" / name / "scores.json").read_text())
              for name in [FULL] + [variant_name(m, b) for b, m in variants]}
    data = {"recipe": recipe, "options": opts, "tasks": tasks, "seeds": seeds, "level": level,
            "resamples": resamples, "zeroed": "a variant keeps the entry's width; left-out columns are 0",
            "blocks": [{"name": b.name, "parts": list(b.parts), "columns": b.columns, "seconds": b.seconds}
                       for b in chosen],
            "scores": scores, "effects": effects_dict(result)}
    with atomic_path(out / "ablation.json") as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    write_ablation_png(result, out / "ablation.png")
    heatmaps = {mode: ablation_png(result, mode) for mode in ("without", "only") if any(e.mode == mode for e in result)}
    # from the JSON just written (round-tripped), so the page shows exactly its numbers
    write_html(out / "ablation.html", ablation_html(json.loads(json.dumps(data, default=str)), heatmaps), "--out")
    return AblationResult(out, chosen, result, scores, format_effects(result, level))
