"""The sequence block's build (docs/recipes.md §3): train the GRU of ``seq_train`` over the
sequences of ``sequence`` (or, applying a profile model, rebuild it from the kept weights),
export every relevant client's state and scale its columns. Above both modules, so neither
imports the other's caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import numpy as np

from ubm.data.io import Data
from ubm.profiles import state
from ubm.profiles.recipes.learned.prep import Catalog
from ubm.profiles.recipes.learned.saved import load_weights, save_weights
from ubm.profiles.recipes.learned.seq_model import SequenceEncoder
from ubm.profiles.recipes.learned.seq_train import SeqFitted, encode_all, fit
from ubm.profiles.recipes.learned.sequence import Vocabulary, load_vocabulary
from ubm.profiles.recipes.learned.train import deterministic
from ubm.profiles.writer import ColumnWriter
from ubm.util import Timer


def build(data: Data, catalog: Catalog, end: dt.datetime, n: int, opts: dict[str, Any], out: ColumnWriter,
          col: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Train the block and write its columns from ``col`` on; returns its record for columns.json."""
    timer = Timer()
    learnt = state.current()
    with learnt.scope("sequence"):  # what the block learnt, kept by a profile model (ubm fit)
        vocab = load_vocabulary(data, catalog, end, opts)
        fitted = _trained(lambda: fit(data, vocab, end, opts, say), vocab, opts)
        raw, active, rows_of, seconds = encode_all(data, fitted, vocab, end, n, opts, say)
        scale_timer = Timer()
        # inactive clients count as the zero output; applying a model keeps the fitted centre and spread
        mean = learnt.array("mean", lambda: raw.sum(axis=0, dtype=np.float64) / max(n, 1))
        std = learnt.array("std", lambda: np.sqrt(np.maximum(
            (raw.astype(np.float64) ** 2).sum(axis=0) / max(n, 1) - mean * mean, 0.0)))
    # in place: at 1 M clients x 32 columns each float32 copy is 128 MB
    raw -= mean.astype(np.float32)
    raw /= np.maximum(std, opts["std_floor"]).astype(np.float32)
    raw[~active] = 0.0
    np.clip(raw, -opts["clip"], opts["clip"], out=raw)
    block = np.empty_like(raw)
    block[rows_of] = raw  # client-id order back to the entry's row order
    del raw
    out.write(col, block)
    seconds["scale"] = round(scale_timer.seconds, 2)
    return {**fitted.facts, "epochs": fitted.history, "export_seconds": seconds,
            "column_std": {"min": float(std.min()), "max": float(std.max())}, "seconds": round(timer.seconds, 2)}


def _trained(train: Callable[[], Any], vocab: Vocabulary, opts: dict[str, Any]) -> Any:
    """Fitting trains the GRU (and ``ubm fit`` keeps its weights as arrays, never pickled);
    applying a profile model rebuilds it from those weights."""
    learnt = state.current()
    if not learnt.applying:
        fitted = train()
        if learnt.keep:
            save_weights(learnt, "gru", fitted.model)
            learnt.value("history", lambda: fitted.history)
            learnt.value("facts", lambda: fitted.facts)
        return fitted
    with deterministic(opts["threads"], opts["seed"]):  # construction draws weights: keep the caller's RNG
        model = SequenceEncoder(vocab.sizes(), embed=opts["seq_embed"], dim=opts["seq_dim"])
    load_weights(learnt, "gru", model, "sequence block").eval()
    return SeqFitted(model, learnt.value("history", lambda: None), learnt.value("facts", lambda: None))


__all__ = ["build"]
