"""Training of the ``learned`` encoder on history -> pseudo-future, deterministic for a seed on CPU.

The input window is cut ``cut_days`` before its end. A sample of clients with any event before
the cut (relevant or not, at most ``train_clients``) gives the training rows: inputs from their
events before the cut, targets from their purchases at or after it. ``validation`` of the sample
is held out; the loss of each head on it is reported after every epoch, with the mean over heads
of loss / (loss of predicting the training base rate). Heads overfit at different epochs (churn,
with ~10 k clients, within two or three; the sku head later), so each exported output comes from
its own best epoch: the representation from the epoch with the lowest mean over heads (a plain sum
would be churn's and conversion's alone: a propensity cell's loss is ~1e-4), the churn and
conversion logits from the lowest mean of those two, each propensity head from its own lowest.
Determinism: a fixed torch thread count, torch's
deterministic algorithms, seeded initialisation and shuffling in a forked RNG (the caller's
global torch state is left as it was).
"""

from __future__ import annotations

import copy
import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ubm.contract import EVENT_TYPES, SKU_EVENTS
from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles.recipes.learned.model import Encoder
from ubm.profiles.recipes.learned.prep import (
    KINDS, STAGE, Catalog, Clients, Targets, fetch_clients, fetch_targets, pseudo_lists, use_clients)
from ubm.util import Timer

HEADS = ("churn", "conversion", *KINDS)
PROPENSITY_WEIGHT = 10.0  # a listed value is bought by ~1% of clients: weigh the per-cell BCE up


@contextmanager
def deterministic(threads: int, seed: int) -> Iterator[None]:
    import torch

    threads_before, det_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(det_before)


GROUPS = ("rep", "binary", *KINDS)  # exported outputs that each keep their own best epoch


@dataclass
class Fitted:
    models: dict[str, Encoder]  # per output group (GROUPS): the encoder at that group's best epoch
    mean: np.ndarray           # statistics normalisation (training sample)
    std: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> Encoder:
        return self.models["rep"]


# A head whose base rate already loses (almost) nothing has no validation positive to find:
# divided by that loss it would swamp the others (ratios of 10^5 on rare purchases) and pick
# the epoch for all of them, so it is left out of the selection and its group follows "rep".
NOTHING_TO_LEARN = 1e-6


def relative_losses(val: dict[str, float], constant: dict[str, float]) -> dict[str, float]:
    """Each head's validation loss relative to its base rate's, for the heads with something to learn."""
    return {k: v / constant[k] for k, v in val.items() if constant[k] > NOTHING_TO_LEARN}


def group_scores(relative: dict[str, float]) -> dict[str, float]:
    """Selection score of each output group from the heads' validation loss / base-rate loss
    (no head with something to learn: 0, so the first epoch stands)."""
    out = {"rep": float(np.mean(list(relative.values()))) if relative else 0.0}
    binary = [relative[k] for k in ("churn", "conversion") if k in relative]
    if binary:
        out["binary"] = float(np.mean(binary))
    out.update({k: relative[k] for k in KINDS if k in relative})
    return out


def candidate_index(kind: str, values: np.ndarray, catalog: Catalog) -> np.ndarray:
    """What the model's ``candidates`` takes for listed values of a kind."""
    if kind == "category":
        return catalog.index(values, catalog.categories)
    if kind == "price":
        return catalog.index(values, catalog.prices)
    return catalog.rows(values)


def _sample(data: Data, cut: dt.datetime, opts: dict[str, Any]) -> np.ndarray:
    got = sql.fetch_numpy(data, STAGE + "train_clients",
                          {"cut": cut, "n": opts["train_clients"], "seed": opts["seed"]},
                          {"events": list(EVENT_TYPES), "sku_events": list(SKU_EVENTS)})
    return np.asarray(got["client_id"], dtype=np.int64)


def _gather(data: Data, cut: dt.datetime, n: int, opts: dict[str, Any], catalog: Catalog,
            lists: dict[str, np.ndarray]) -> tuple[Clients, Targets]:
    parts, targets = [], []
    for lo in range(0, n, opts["chunk"]):
        hi = min(n, lo + opts["chunk"])
        parts.append(fetch_clients(data, cut, lo, hi, opts["length"], catalog))
        targets.append(fetch_targets(data, cut, lo, hi, lists))
    clients = Clients(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                        ("stats", "rows", "event", "age", "bought", "active")))
    tgt = Targets(np.concatenate([t.no_buy for t in targets]),
                  {k: np.concatenate([t.lists[k] for t in targets]) for k in lists})
    return clients, tgt


def _bce_constant(y_train: np.ndarray, y_val: np.ndarray) -> float:
    p = float(np.clip(y_train.mean(), 1e-7, 1 - 1e-7)) if y_train.size else 0.5
    return float(-(y_val * np.log(p) + (1 - y_val) * np.log(1 - p)).mean()) if y_val.size else 0.0


def constant_losses(clients: Clients, targets: Targets, train_idx: np.ndarray, val_idx: np.ndarray) -> dict[str, float]:
    """Validation loss per head of predicting the training base rate: what a head must beat."""
    churn_tr, churn_va = train_idx[clients.bought[train_idx]], val_idx[clients.bought[val_idx]]
    out = {"churn": _bce_constant(targets.no_buy[churn_tr], targets.no_buy[churn_va]),
           "conversion": _bce_constant(targets.no_buy[train_idx], targets.no_buy[val_idx])}
    for kind, y in targets.lists.items():
        out[kind] = _bce_constant(y[train_idx], y[val_idx])
    return {k: float(f"{v:.5g}") for k, v in out.items()}


def head_losses(model: Encoder, batch: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """Mean BCE per head for one batch (churn over clients who bought before the cut)."""
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    rep = model.encode(batch["stats"], batch["rows"], batch["event"], batch["age"])
    binary = model.binary(rep)
    mask = batch["bought"]
    losses = {"conversion": bce(binary[:, 1], batch["no_buy"])}
    losses["churn"] = (bce(binary[mask, 0], batch["no_buy"][mask]) if bool(mask.any())
                       else binary[:, 0].sum() * 0.0)
    for kind, values in items.items():
        losses[kind] = bce(model.scores(rep, kind, model.candidates(kind, values)), batch[kind])
    return losses


def _batch(t: dict[str, Any], idx) -> dict[str, Any]:
    return {k: v[idx] for k, v in t.items()}


def fit(data: Data, catalog: Catalog, cut: dt.datetime, opts: dict[str, Any],
        say: Callable[[str], None]) -> Fitted:
    import torch

    timer = Timer()
    ids = _sample(data, cut, opts)
    use_clients(data, ids)
    lists = pseudo_lists(data, cut, opts["candidates"])
    clients, targets = _gather(data, cut, len(ids), opts, catalog, lists)
    mean, std = clients.stats.mean(axis=0), np.maximum(clients.stats.std(axis=0), 1e-3)
    n = len(ids)
    order = np.random.default_rng(opts["seed"]).permutation(n)
    n_val = int(round(n * opts["validation"])) if n > 1 else 0
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    facts = {"cut": str(cut), "sample": n, "train": len(train_idx), "validation": n_val,
             "pseudo_lists": {k: int(len(v)) for k, v in lists.items()},
             "positives": {"no_buy": int(targets.no_buy.sum()), "bought_before_cut": int(clients.bought.sum()),
                           **{k: int(v.sum()) for k, v in targets.lists.items()}},
             "vocabulary": catalog.n_vocabulary, "prepare_seconds": round(timer.seconds, 2)}
    facts["validation_constant"] = constant_losses(clients, targets, train_idx, val_idx)
    say(f"learned: {n:,} clients with history before {cut} ({n_val:,} held out), "
        f"pseudo-future positives {facts['positives']}; validation loss of the training base rate "
        + " ".join(f"{k} {v:.4g}" for k, v in facts["validation_constant"].items()))
    history: list[dict[str, Any]] = []
    with deterministic(opts["threads"], opts["seed"]):
        t = {"stats": torch.from_numpy((clients.stats - mean) / std), "rows": torch.from_numpy(clients.rows),
             "event": torch.from_numpy(clients.event), "age": torch.from_numpy(clients.age),
             "bought": torch.from_numpy(clients.bought), "no_buy": torch.from_numpy(targets.no_buy),
             **{k: torch.from_numpy(v) for k, v in targets.lists.items()}}
        items = {k: torch.from_numpy(candidate_index(k, v, catalog)) for k, v in lists.items() if len(v)}
        model = Encoder(clients.stats.shape[1], catalog, embed=opts["embed"], hidden=opts["hidden"], dim=opts["dim"],
                        dropout=opts["dropout"])
        optim = torch.optim.Adam(model.parameters(), lr=opts["lr"], weight_decay=opts["weight_decay"])
        gen = torch.Generator().manual_seed(opts["seed"])
        train_t, val_t = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
        best: dict[str, tuple[float, int]] = {}  # group -> (selection score, epoch)
        states: dict[int, dict[str, Any]] = {}   # epoch -> weights, for the epochs some group keeps
        for epoch in range(1, opts["epochs"] + 1):
            epoch_timer = Timer()
            model.train()
            perm = train_t[torch.randperm(len(train_t), generator=gen)]
            total, batches = 0.0, 0
            for start in range(0, len(perm), opts["batch"]):
                losses = head_losses(model, _batch(t, perm[start:start + opts["batch"]]), items)
                loss = sum(v * (PROPENSITY_WEIGHT if k in KINDS else 1.0) for k, v in losses.items())
                optim.zero_grad()
                loss.backward()
                optim.step()
                total, batches = total + float(loss.detach()), batches + 1
            val = evaluate(model, t, val_t, items, opts["batch"])
            # each head's loss relative to its base rate's: every head counts the same
            groups = group_scores(relative_losses(val, facts["validation_constant"]))
            score = groups["rep"]
            history.append({"epoch": epoch, "train_loss": round(total / max(batches, 1), 5),
                            "relative_validation": round(score, 5),
                            "selection": groups,  # what each output group's best epoch is chosen by
                            "validation": {k: float(f"{v:.5g}") for k, v in val.items()},
                            "seconds": round(epoch_timer.seconds, 2)})
            say(f"learned: epoch {epoch}/{opts['epochs']} train {total / max(batches, 1):.4f} validation "
                + " ".join(f"{k} {v:.4g}" for k, v in val.items())
                + f"; relative to base rate {score:.4f} ({epoch_timer.seconds:.1f}s)")
            improved = [g for g, v in groups.items() if n_val == 0 or g not in best or v < best[g][0]]
            for group in improved:
                best[group] = (groups[group], epoch)
            if improved:  # one copy of the weights, however many groups keep this epoch
                states[epoch] = copy.deepcopy(model.state_dict())
            states = {e: w for e, w in states.items() if e in {kept for _, kept in best.values()}}
    by_epoch = {}
    for epoch, weights in states.items():
        by_epoch[epoch] = copy.deepcopy(model)
        by_epoch[epoch].load_state_dict(weights)
    # groups with the same best epoch share one encoder; groups without a head (no list of that
    # kind) follow the representation
    models = {group: by_epoch[best.get(group, best["rep"])[1]] for group in GROUPS}
    facts["best_epoch"] = best["rep"][1]
    facts["best_epochs"] = {g: best[g][1] for g in GROUPS if g in best}
    facts["train_seconds"] = round(timer.seconds, 2)
    return Fitted(models, mean, std, history, facts)


def evaluate(model: Encoder, t: dict[str, Any], idx, items: dict[str, Any], batch: int) -> dict[str, float]:
    """Mean loss per head over the clients ``idx`` (validation), weighted by batch size."""
    import torch

    model.eval()
    sums: dict[str, float] = {}
    n_churn = float(t["bought"][idx].sum()) if len(idx) else 0.0
    with torch.no_grad():
        for start in range(0, len(idx), batch):
            b = _batch(t, idx[start:start + batch])
            for k, v in head_losses(model, b, items).items():
                weight = float(b["bought"].sum()) if k == "churn" else float(len(b["no_buy"]))
                sums[k] = sums.get(k, 0.0) + float(v) * weight
    denom = {k: (n_churn if k == "churn" else float(len(idx))) for k in sums}
    return {k: sums[k] / denom[k] if denom[k] else 0.0 for k in HEADS if k in sums}
