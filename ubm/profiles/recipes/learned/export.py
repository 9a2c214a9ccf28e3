"""The exported block of the ``learned`` recipe: the trained encoder run over each relevant client's
whole window, streamed over chunks of clients, centred and scaled."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import numpy as np

from ubm.contract import LIST_SIZE
from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles import state
from ubm.profiles.recipes import comma_list
from ubm.profiles.recipes.learned.prep import STAGE, Catalog, Clients, fetch_clients, use_clients
from ubm.profiles.recipes.learned.train import Fitted, candidate_index, deterministic
from ubm.profiles.recipes.universal.blocks import label_lists
from ubm.profiles.writer import ColumnWriter
from ubm.util import Timer

COLUMNS = 16  # encoder columns scaled and written at a time (1 M clients x 16 float32: 64 MB)


def outputs(fitted: Fitted, clients: Clients, items: dict[str, Any], heads: list[str], batch: int,
            level: tuple[str, ...] = ()) -> np.ndarray:
    """Raw encoder columns (representation, then each exported head) for a chunk of clients.

    A listed head named in ``level`` is its mean score over the list, then each slot's score
    minus that mean: the same information, but the part every slot shares (how much the client
    buys at all) is one column instead of a hundred correlated ones."""
    import torch

    listed = [kind for kind in heads if kind != "binary"]
    groups = ["rep", *(["binary"] if "binary" in heads else []), *listed]
    used = {group: fitted.models[group] for group in groups}
    distinct = {id(m): m for m in used.values()}  # groups that kept the same epoch share one model
    for m in distinct.values():
        m.eval()
    stats = torch.from_numpy(((clients.stats - fitted.mean) / fitted.std).astype(np.float32))
    rows, event, age = (torch.from_numpy(a) for a in (clients.rows, clients.event, clients.age))
    parts = []
    with torch.no_grad():
        for s in range(0, len(clients), batch):
            sl = slice(s, s + batch)
            encoded = {key: m.encode(stats[sl], rows[sl], event[sl], age[sl]) for key, m in distinct.items()}
            cols = [encoded[id(used["rep"])]]
            if "binary" in heads:
                cols.append(used["binary"].binary(encoded[id(used["binary"])]))
            for kind in listed:
                m = used[kind]
                scores = m.scores(encoded[id(m)], kind, m.candidates(kind, items[kind]))
                if kind in level:
                    # an empty list (a purchase-only log has no never-bought sku to stand in for
                    # new_sku) has level 0, as its padded slots are: the mean of nothing is NaN
                    mean = (scores.mean(dim=1, keepdim=True) if scores.shape[1]
                            else scores.new_zeros((scores.shape[0], 1)))
                    cols.append(mean)
                    scores = scores - mean
                cols.append(_padded(scores, LIST_SIZE))
            parts.append(torch.cat(cols, dim=1).numpy().astype(np.float64))
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def _padded(x, size: int):
    """A list shorter than ``size`` leaves its remaining slots at the empty client's value (0 after centring)."""
    import torch

    if x.shape[1] >= size:
        return x[:, :size]
    return torch.cat([x, torch.zeros(x.shape[0], size - x.shape[1])], dim=1)


def empty_client(n_stats: int, length: int, catalog: Catalog) -> Clients:
    """Inputs of a client without any event (counts 0, no recency, no sequence)."""
    return Clients(np.zeros((1, n_stats), np.float32), np.full((1, length), len(catalog.skus), np.int64),
                   np.zeros((1, length), np.int64), np.zeros((1, length), np.int64), np.zeros(1, bool),
                   np.zeros(1, bool))


def encode_relevant(data: Data, fitted: Fitted, catalog: Catalog, end: dt.datetime, n: int,
                    opts: dict[str, Any], out: ColumnWriter, col: int,
                    say: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    import torch

    seconds = {"sql": 0.0, "model": 0.0, "scale": 0.0}

    heads = comma_list(opts["heads"])
    with state.current().scope("export"):
        lists, sources = label_lists(data, LIST_SIZE)
    # Clients are encoded in client_id order, whatever the order of relevant_clients.npy: batches and
    # the column sums behind the scaling are then the same, so shuffling the file only permutes rows.
    relevant = sql.fetch_numpy(data, STAGE + "relevant_by_id")
    rows_of = np.asarray(relevant["pos"], dtype=np.int64)
    use_clients(data, np.asarray(relevant["client_id"], dtype=np.int64))
    with deterministic(opts["threads"], opts["seed"]):
        items = {k: torch.from_numpy(candidate_index(k, lists[f"propensity_{k}"], catalog))
                 for k in heads if k != "binary"}
        level = tuple(comma_list(opts["level"]))
        empty = outputs(fitted, empty_client(len(fitted.mean), opts["length"], catalog), items, heads, 1, level)[0]
        width = len(empty)
        total, squares = np.zeros(width), np.zeros(width)
        active = np.zeros(n, dtype=bool)
        # the raw block, rounded to float16 as the entry stores it (n x ~220 x 2 bytes: 440 MB at
        # 1 M clients), in entry row order; the entry itself then gets full-height blocks only
        block = np.zeros((n, width), dtype=np.float16)
        for lo in range(0, n, opts["chunk"]):
            hi = min(n, lo + opts["chunk"])
            timer = Timer()
            chunk = fetch_clients(data, end, lo, hi, opts["length"], catalog)
            seconds["sql"] += timer.seconds
            timer = Timer()
            x = outputs(fitted, chunk, items, heads, opts["batch"], level) - empty
            seconds["model"] += timer.seconds
            x[~chunk.active] = 0.0  # exactly: a batch of one and a batch of many round differently
            active[lo:hi] = chunk.active
            total += x.sum(axis=0)
            squares += (x * x).sum(axis=0)
            block[rows_of[lo:hi]] = out.convert(x.astype(np.float32), col)
            say(f"learned: encoded {hi:,} of {n:,} relevant clients "
                f"(SQL {seconds['sql']:.1f}s, encoder {seconds['model']:.1f}s)")
    timer = Timer()
    # over every relevant client, a client without events counting as the empty client's output
    mean = total / max(n, 1)
    std = np.sqrt(np.maximum(squares / max(n, 1) - mean * mean, 0.0))
    # a profile model keeps each column's centre and spread over the clients it was fitted on
    mean, std = state.current().array("export.moments", lambda: np.stack([mean, std]))
    scale = np.maximum(std, opts["std_floor"])
    # "mean": a column's offset from the empty client is the same for nearly every client, and a
    # hundred such offsets form one large constant direction in the evaluation model's input
    centre = mean.astype(np.float32) if opts["centre"] == "mean" else np.zeros(width, np.float32)
    inactive = np.zeros(n, dtype=bool)
    inactive[rows_of] = ~active
    for start in range(0, width, COLUMNS):
        stop = min(width, start + COLUMNS)
        x = (block[:, start:stop].astype(np.float32) - centre[start:stop]) / scale[start:stop]
        x[inactive] = 0.0  # a client without events stays the zero vector
        out.write(col + start, np.clip(x, -opts["clip"], opts["clip"]))
    seconds["scale"] = timer.seconds
    return {"export_seconds": {k: round(v, 2) for k, v in seconds.items()},
            "lists": {k: sources[f"propensity_{k}"] for k in heads if k != "binary"},
            "column_std": {"min": float(std.min()) if width else 0.0, "max": float(std.max()) if width else 0.0}}
