"""The ``learned`` profile recipe: a multi-task encoder trained on the input window's own future.

The input window is cut ``cut_days`` (14) before its last event. Events before the cut are the
history, the last days a pseudo-future whose purchases are known: churn / conversion (no
purchase), and which categories, skus, new skus and price buckets were bought (the
pseudo-future's own top lists). An encoder (:mod:`.model`) is trained on history ->
pseudo-future for a sample of every client with history (:mod:`.train`), then run over the
*whole* opened window for each relevant client; nothing from a target window is read (the
label lists of ``target/<task>.npy`` are given inputs and only say which products to score).

Columns, in order:

* with ``base="universal"`` (default), the universal recipe's blocks, with ``top_urls`` and
  ``url_dim`` (its url factors) at 0 by default to make room (1828 columns);
* ``encoder.rep.<i>``: the representation (``dim``, 16);
* ``encoder.churn``, ``encoder.conversion``: predicted no-purchase logits (``heads`` has ``binary``);
* ``encoder.<kind>.<slot>``: each listed value's predicted propensity (logit) over the label
  list of ``propensity_<kind>`` (``heads``: ``sku`` and ``new_sku`` by default, also
  ``category``, ``price``; the list as :func:`ubm.profiles.recipes.universal.blocks.label_lists`
  gives it). A head named in ``level`` (``true``, the default: every listed head; ``false``:
  none; or a list such as ``sku``) is ``encoder.<kind>.level``, the mean logit over the list,
  then each slot minus it.

Defaults: 1828 + 16 + 2 + 2 x 101 = 2048 columns. ``-o top_urls=50 -o url_dim=64 -o dim=32
-o heads=binary`` keeps all of universal instead (2026 columns).

Scaling: every encoder column is centred on its mean over the relevant clients
(``centre="mean"``; ``"empty"`` centres on the output for a client without events instead),
divided by its standard deviation over them (floor ``std_floor``) and clipped to ``±clip``; a
client without events counts as the empty client's output in both statistics and is exported as
the zero vector, as in the other blocks. Centring on the empty client, as
the universal counts do, is wrong for scores: every client's sku logit sits far from the empty
client's, and 200 such offsets make one large constant direction that the evaluation model's
input layer and LayerNorm then spend their range on (measured in BENCHMARKS.md). For the same
reason a listed head's common part (how much the client buys at all) is one ``level`` column,
not a hundred correlated ones. The export streams over relevant clients in chunks of
``chunk`` (two passes: raw outputs, then scaling).

Each output group (representation, churn/conversion, each propensity head) comes from its own
best training epoch (:mod:`.train`); ``recipe_info["encoder"]`` records the validation loss
per head after every epoch, the selection scores and each group's kept epoch.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import numpy as np

from ubm.contract import EVENT_TYPES, LIST_SIZE, MAX_COLUMNS
from ubm.data import sql
from ubm.data.io import Data, DataError
from ubm.profiles import state
from ubm.profiles.recipes import (FALSE_WORDS, TRUE_WORDS, MAX_WINDOW_DAYS, SEED_MAX, WHOLE_MAX, OptionError, Recipe,
                                  comma_list, flag, real, register, whole)
from ubm.profiles.recipes.learned import sequence
from ubm.profiles.writer import ColumnWriter
from ubm.util import Timer

HEAD_CHOICES = ("binary", "category", "sku", "new_sku", "price")
DEFAULTS: dict[str, Any] = {
    "base": "universal",          # universal: the universal blocks first; none: the encoder block only
    "top_urls": 0,                # universal options overridden to make room for the encoder's columns
    "url_dim": 0,
    "dim": 16,                    # representation width
    "heads": "binary,sku,new_sku",  # predicted outputs exported beside the representation
    "cut_days": 14,
    "train_clients": 60_000,
    "length": 32,                 # latest sku events read per client
    "vocabulary": 50_000,         # skus with an embedding of their own
    "candidates": 500,            # length of each pseudo-future list (more values: more positives to learn from)
    "embed": 32,
    "hidden": 128,
    "epochs": 8,
    "dropout": 0.2,
    "batch": 512,
    "lr": 0.001,
    "weight_decay": 1e-4,
    "validation": 0.1,
    "chunk": 100_000,
    "threads": 1,
    "std_floor": 0.01,
    "clip": 10.0,
    "centre": "mean",             # centre each encoder column on its mean over the relevant clients, or "empty"
    "level": "true",              # listed heads exported as their mean over the list ("level"), then each slot minus it
    "progress": True,
    "seed": 0,
    **sequence.DEFAULTS,          # the optional sequence block (off by default; learned/sequence.py)
}
INTS = ("top_urls", "url_dim", "dim", "cut_days", "train_clients", "length", "vocabulary", "candidates",
        "embed", "hidden", "epochs", "batch", "chunk", "threads", "seed")
_HIGH = {"top_urls": MAX_COLUMNS, "url_dim": MAX_COLUMNS, "dim": MAX_COLUMNS, "seed": SEED_MAX}  # widths: columns
FLOATS = ("lr", "dropout", "weight_decay", "validation", "std_floor", "clip")


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    for key in INTS:
        opts[key] = whole(opts[key], key, "learned", high=_HIGH.get(key, WHOLE_MAX))
    for key in FLOATS:
        opts[key] = real(opts[key], key, "learned")
    heads = comma_list(opts["heads"])
    bad = [h for h in heads if h not in HEAD_CHOICES]
    if bad:
        raise OptionError(f"learned: unknown head {bad[0]!r} (heads: {', '.join(HEAD_CHOICES)})")
    opts["heads"] = ",".join(h for h in HEAD_CHOICES if h in heads)
    opts["progress"] = flag(opts["progress"])
    opts["level"] = _level_heads(opts["level"])
    if opts["centre"] not in ("empty", "mean"):
        raise OptionError(f"learned: centre must be 'empty' or 'mean', got {opts['centre']!r}")
    if opts["base"] not in ("universal", "none"):
        raise OptionError(f"learned: base must be 'universal' or 'none', got {opts['base']!r}")
    small = [k for k in ("dim", "cut_days", "train_clients", "length", "candidates", "embed", "hidden",
                         "epochs", "batch", "chunk", "threads") if opts[k] < 1]
    if small:
        raise OptionError(f"learned: {small[0]} must be >= 1, got {opts[small[0]]}", small[0])
    if opts["cut_days"] > MAX_WINDOW_DAYS:
        raise OptionError(f"learned: cut_days must be at most {MAX_WINDOW_DAYS}, got {opts['cut_days']}", "cut_days")
    if not 0 <= opts["dropout"] < 1 or not 0 <= opts["validation"] < 1 or opts["std_floor"] <= 0 or opts["clip"] <= 0:
        raise OptionError("learned: dropout and validation must be in [0, 1), std_floor and clip > 0")
    opts = sequence.check_options(opts)
    names = learned_columns(opts)
    if len(names) > MAX_COLUMNS:
        room = (f" (the sequence block's {opts['seq_dim']} columns need room: e.g. -o heads=binary,sku)"
                if sequence.enabled(opts) else "")
        raise OptionError(f"learned: {len(names)} columns with {opts}; at most {MAX_COLUMNS}{room}")
    return opts


def _level_heads(value: Any) -> str:
    """``level`` as the comma list of listed heads it splits: true / all, false / none, or names."""
    listed = [h for h in HEAD_CHOICES if h != "binary"]
    if isinstance(value, (list, tuple)):  # a library caller's list, as ``heads`` takes one
        value = ",".join(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS | {"all"}:
        return ",".join(listed)
    if text in FALSE_WORDS | {"none"}:
        return ""
    names = comma_list(text)
    bad = [h for h in names if h not in listed]
    if bad:
        raise OptionError(f"learned: level lists {bad[0]!r}, not a listed head ({', '.join(listed)}; or true / false)")
    return ",".join(h for h in listed if h in names)


def universal_options(opts: dict[str, Any]) -> dict[str, Any]:
    from ubm.profiles.recipes.universal.options import check_options as universal_check

    return universal_check({"top_urls": opts["top_urls"], "url_dim": opts["url_dim"], "seed": opts["seed"]})


def encoder_columns(opts: dict[str, Any]) -> list[str]:
    cols = [f"rep.{i}" for i in range(opts["dim"])]
    heads = comma_list(opts["heads"])
    if "binary" in heads:
        cols += ["churn", "conversion"]
    split = comma_list(opts["level"])
    for kind in (h for h in heads if h != "binary"):
        cols += [f"{kind}.{s}" for s in (*(["level"] if kind in split else []), *range(LIST_SIZE))]
    return [f"encoder.{c}" for c in cols]


def learned_columns(opts: dict[str, Any]) -> list[str]:
    base: list[str] = []
    if opts["base"] == "universal":
        from ubm.profiles.recipes.universal.plan import universal_columns

        base = universal_columns(universal_options(opts))
    return base + encoder_columns(opts) + sequence.columns(opts)


def _say(opts: dict[str, Any]):
    def say(message: str) -> None:
        if opts["progress"]:
            print(message, file=sys.stderr, flush=True)
    return say


def _too_short(data: Data, first: dt.datetime, ref: dt.datetime, cut_days: int) -> str:
    """Why the window leaves no history before the cut, and the cut_days that would (a whole
    number of days strictly shorter than the window), or that none does (a window of a day or less)."""
    span = ref - first
    fits = span.days - (span == dt.timedelta(days=span.days))  # the largest whole c with c days < span
    head = (f"learned features: the {data.window} window of {data.root} spans {first} .. {ref}, not more "
            f"than cut_days={cut_days} days, so no event lies before the cut; ")
    if fits < 1:
        return head + ("the smallest cut is 1 day, so the learned recipe needs events over more than a day; "
                       "profile a longer window or use --recipe universal")
    return head + f"profile a longer window or pass a smaller -o cut_days (at most {fits}, e.g. {max(fits // 2, 1)})"


def build(data: Data, clients: np.ndarray, opts: dict[str, Any], out: ColumnWriter) -> dict[str, Any]:
    from ubm.profiles.recipes.learned.export import encode_relevant
    from ubm.profiles.recipes.learned.prep import load_catalog
    from ubm.profiles.recipes.learned.saved import trained
    from ubm.profiles.recipes.learned.train import fit

    missing = [v for v in (*EVENT_TYPES, "product_properties", "relevant_clients") if not data.has(v)]
    if missing:
        raise DataError(f"learned features need {', '.join(missing)} (not found under {data.root})")
    timer = Timer()
    ref_row = sql.fetch_numpy(data, "features/universal/reference")
    ref = ref_row["ref_ts"][0]
    if np.ma.is_masked(ref) or np.isnat(ref):
        raise DataError(f"learned features: no events in {data.root} ({data.window} window)")
    ref = ref.item()
    cut = ref - dt.timedelta(days=opts["cut_days"])
    first = ref_row["first_ts"][0].item()
    learnt = state.current()
    if first >= cut and not learnt.applying:  # no history to train on: the pseudo-future would be the whole window
        raise DataError(_too_short(data, first, ref, opts["cut_days"]))
    info: dict[str, Any] = {}
    col = 0
    if opts["base"] == "universal":
        from ubm.profiles.recipes.universal import build as universal_build
        from ubm.profiles.recipes.universal.plan import universal_columns

        uopts = universal_options(opts)
        info["universal"] = universal_build(data, uopts, out)
        col = len(universal_columns(uopts))
    say = _say(opts)
    with learnt.scope("learned"):  # what the encoder learnt, kept by a profile model (.saved)
        catalog = load_catalog(data, cut, opts["vocabulary"])
        fitted = trained(lambda: fit(data, catalog, cut, opts, say), catalog, opts)
        end = ref + dt.timedelta(seconds=1)  # the whole window, its last event included
        export_facts = encode_relevant(data, fitted, catalog, end, len(clients), opts, out, col, say)
    info["encoder"] = {**fitted.facts, "epochs": fitted.history, **export_facts,
                       "ref_ts": str(ref), "seconds": round(timer.seconds, 2)}
    if sequence.enabled(opts):
        from ubm.profiles.recipes.learned import seq_block  # torch: only when the block is on

        info["sequence"] = seq_block.build(data, catalog, end, len(clients), opts, out,
                                          col + len(encoder_columns(opts)), say)
    return info


register(Recipe(
    name="learned",
    description="A multi-task encoder trained on the input window's last 14 days (pseudo-future) "
                "from the days before; its representation and predicted propensities, after the "
                "universal blocks.",
    defaults=dict(DEFAULTS),
    columns=learned_columns,
    build=build,
    check=check_options,
    spooled=True,  # universal's blocks and the encoder's are written full height
))
