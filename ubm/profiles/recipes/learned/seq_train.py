"""Training and export of the sequence block, deterministic for a seed on CPU.

A sample of ``seq_train`` clients (``train_clients.sql`` at the window's end: clients with sku
events first, then a seeded hash) gives the training sequences; ``validation`` of them is held
out. Each epoch shuffles the training rows with a seeded generator (a fixed batch order for a
seed); after it the next-event loss on the held-out clients is recorded per target (mean
cross-entropy over the positions that have one) with their sum, and the weights of the epoch
with the lowest sum are kept. ``validation_constant`` is the same loss of predicting each
target's training frequencies: what the GRU must beat.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ubm.contract import EVENT_TYPES, SKU_EVENTS
from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles.recipes.learned.prep import STAGE, use_clients
from ubm.profiles.recipes.learned.seq_model import TARGETS, SequenceEncoder
from ubm.profiles.recipes.learned.sequence import Sequences, Vocabulary, fetch_sequences
from ubm.profiles.recipes.learned.train import deterministic
from ubm.util import Timer

BATCH = 256
LR = 0.003


@dataclass
class SeqFitted:
    model: SequenceEncoder
    history: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def _gather(data: Data, vocab: Vocabulary, end: dt.datetime, n: int, opts: dict[str, Any]) -> Sequences:
    parts = [fetch_sequences(data, vocab, end, lo, min(n, lo + opts["chunk"]), opts["seq_len"])
             for lo in range(0, n, opts["chunk"])]
    if not parts:
        return Sequences({}, np.zeros(0, np.int64))
    return Sequences({f: np.concatenate([p.tokens[f] for p in parts]) for f in parts[0].tokens},
                     np.concatenate([p.lengths for p in parts]))


def constant_losses(seqs: Sequences, train_idx: np.ndarray, val_idx: np.ndarray, sizes: dict[str, int]) -> dict[str, float]:
    """Next-event loss of predicting each target's training frequencies (add-one smoothed)."""
    out = {}
    for t in TARGETS:
        y_tr, y_va = seqs.tokens[t][train_idx, 1:], seqs.tokens[t][val_idx, 1:]
        freq = np.bincount(y_tr[y_tr > 0], minlength=sizes[t]).astype(np.float64)[1:] + 1.0
        logp = np.log(freq / freq.sum())
        v = y_va[y_va > 0]
        out[t] = float(f"{-logp[v - 1].mean():.5g}") if len(v) else 0.0
    out["total"] = float(f"{sum(out[t] for t in TARGETS):.5g}")
    return out


def _tensors(seqs: Sequences, idx) -> dict[str, Any]:
    import torch

    return {f: torch.from_numpy(v[idx]) for f, v in seqs.tokens.items()}


def evaluate(model: SequenceEncoder, seqs: Sequences, idx: np.ndarray) -> dict[str, float]:
    import torch

    model.eval()
    sums, counts = dict.fromkeys(TARGETS, 0.0), dict.fromkeys(TARGETS, 0)
    with torch.no_grad():
        for s in range(0, len(idx), BATCH * 4):
            for t, (loss, k) in model.losses(_tensors(seqs, idx[s:s + BATCH * 4])).items():
                sums[t] += float(loss)
                counts[t] += k
    out = {t: sums[t] / counts[t] if counts[t] else 0.0 for t in TARGETS}
    out["total"] = sum(out[t] for t in TARGETS)
    return out


def fit(data: Data, vocab: Vocabulary, end: dt.datetime, opts: dict[str, Any], say: Callable[[str], None]) -> SeqFitted:
    import torch

    timer = Timer()
    got = sql.fetch_numpy(data, STAGE + "train_clients", {"cut": end, "n": opts["seq_train"], "seed": opts["seed"]},
                          {"events": list(EVENT_TYPES), "sku_events": list(SKU_EVENTS)})
    ids = np.asarray(got["client_id"], dtype=np.int64)
    use_clients(data, ids)
    seqs = _gather(data, vocab, end, len(ids), opts)
    n = len(ids)
    order = np.random.default_rng(opts["seed"]).permutation(n)
    n_val = int(round(n * opts["validation"])) if n > 1 else 0
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    sizes = vocab.sizes()
    facts: dict[str, Any] = {"sample": n, "train": len(train_idx), "validation": n_val, "vocabulary": sizes,
                             "events": int(seqs.lengths.sum()), "prepare_seconds": round(timer.seconds, 2)}
    facts["validation_constant"] = constant_losses(seqs, train_idx, val_idx, sizes) if n else {}
    say(f"learned: sequence block, {n:,} clients ({n_val:,} held out), {facts['events']:,} events; "
        f"next-event loss of the training frequencies {facts['validation_constant'].get('total', 0):.4f}")
    history: list[dict[str, Any]] = []
    with deterministic(opts["threads"], opts["seed"]):
        model = SequenceEncoder(sizes, embed=opts["seq_embed"], dim=opts["seq_dim"])
        optim = torch.optim.Adam(model.parameters(), lr=LR)
        gen = torch.Generator().manual_seed(opts["seed"])
        best, best_state = (float("inf"), 0), copy.deepcopy(model.state_dict())
        for epoch in range(1, opts["seq_epochs"] + 1):
            epoch_timer = Timer()
            model.train()
            perm = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=gen)].numpy()
            total, batches = 0.0, 0
            for s in range(0, len(perm), BATCH):
                parts = model.losses(_tensors(seqs, perm[s:s + BATCH]))
                loss = sum(v / max(k, 1) for v, k in parts.values())
                optim.zero_grad()
                loss.backward()
                optim.step()
                total, batches = total + float(loss.detach()), batches + 1
            val = evaluate(model, seqs, val_idx) if n_val else {}
            score = val.get("total", float(epoch))  # nothing held out: the last epoch
            history.append({"epoch": epoch, "train_loss": round(total / max(batches, 1), 5),
                            "validation": {k: float(f"{v:.5g}") for k, v in val.items()},
                            "seconds": round(epoch_timer.seconds, 2)})
            say(f"learned: sequence epoch {epoch}/{opts['seq_epochs']} train {total / max(batches, 1):.4f} "
                f"validation " + " ".join(f"{k} {v:.4g}" for k, v in val.items())
                + f" ({epoch_timer.seconds:.1f}s)")
            if n_val == 0 or score < best[0]:
                best, best_state = (score, epoch), copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
    facts["best_epoch"] = best[1]
    facts["validation_loss"] = float(f"{best[0]:.5g}") if n_val else None
    facts["train_seconds"] = round(timer.seconds, 2)
    return SeqFitted(model, history, facts)


def encode_all(data: Data, fitted: SeqFitted, vocab: Vocabulary, end: dt.datetime, n: int, opts: dict[str, Any],
               say: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """The raw block over the relevant clients in client-id order (so the file order of
    relevant_clients.npy only permutes rows): (raw [n, seq_dim], active [n], entry row of each, seconds)."""
    import torch

    relevant = sql.fetch_numpy(data, STAGE + "relevant_by_id")
    rows_of = np.asarray(relevant["pos"], dtype=np.int64)
    use_clients(data, np.asarray(relevant["client_id"], dtype=np.int64))
    raw = np.zeros((n, opts["seq_dim"]), dtype=np.float32)
    active = np.zeros(n, dtype=bool)
    seconds = {"sql": 0.0, "model": 0.0}
    model = fitted.model
    model.eval()
    with deterministic(opts["threads"], opts["seed"]), torch.no_grad():
        for lo in range(0, n, opts["chunk"]):
            hi = min(n, lo + opts["chunk"])
            timer = Timer()
            chunk = fetch_sequences(data, vocab, end, lo, hi, opts["seq_len"])
            seconds["sql"] += timer.seconds
            timer = Timer()
            _encode_chunk(model, chunk, raw[lo:hi])
            active[lo:hi] = chunk.lengths > 0
            seconds["model"] += timer.seconds
            say(f"learned: sequence block, encoded {hi:,} of {n:,} relevant clients "
                f"(SQL {seconds['sql']:.1f}s, GRU {seconds['model']:.1f}s)")
    return raw, active, rows_of, {k: round(v, 2) for k, v in seconds.items()}


def _encode_chunk(model: SequenceEncoder, chunk: Sequences, out: np.ndarray) -> None:
    """The GRU state after each client's last event into ``out`` (row i = chunk row i). Clients
    go longest first, each batch cut to its longest sequence: the GRU reads left to right and
    the padding is on the right, so the steps cut off are ones no kept state depends on, and a
    batch of similar lengths carries little padding (mean 29 real steps of 64 on generated
    data). The bytes are those of the full-width batches in chunk order (the build's byte
    tests compare them)."""
    import torch

    order = np.argsort(-chunk.lengths, kind="stable")
    for s in range(0, len(order), BATCH * 4):
        rows = order[s:s + BATCH * 4]
        width = max(int(chunk.lengths[rows[0]]), 1)
        tokens = {f: torch.from_numpy(np.ascontiguousarray(v[rows, :width])) for f, v in chunk.tokens.items()}
        out[rows] = model.encode(tokens, torch.from_numpy(chunk.lengths[rows])).numpy()
