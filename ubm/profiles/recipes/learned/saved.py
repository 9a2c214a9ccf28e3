"""The trained encoder as a profile model keeps it: weights as arrays, never pickled.

:func:`trained` is the one boundary between training and a model: fitting trains (and, for
``ubm fit``, records each kept epoch's weights, the statistics normalisation and the training
facts); applying rebuilds the encoders from the recorded weights over the applied data's
catalogue (:func:`ubm.profiles.recipes.learned.prep.load_catalog` keeps the vocabularies, so
every embedding table has its fitted size).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ubm.profiles import state
from ubm.profiles.recipes.learned.prep import Catalog
from ubm.profiles.recipes.learned.train import GROUPS, Fitted, deterministic


def trained(train: Callable[[], Fitted], catalog: Catalog, opts: dict[str, Any]) -> Fitted:
    learnt = state.current()
    with learnt.scope("encoder"):
        if learnt.applying:
            return _load(learnt, catalog, opts)
        fitted = train()
        if learnt.keep:
            _save(learnt, fitted)
        return fitted


def _config(opts: dict[str, Any], n_stats: int) -> dict[str, Any]:
    """The encoder's shape: the model's options (which applying keeps) and its statistics' width."""
    return {"n_stats": int(n_stats), "embed": opts["embed"], "hidden": opts["hidden"], "dim": opts["dim"],
            "dropout": opts["dropout"]}


def _save(learnt: state.ModelState, fitted: Fitted) -> None:
    distinct: dict[int, int] = {}
    for group in GROUPS:
        distinct.setdefault(id(fitted.models[group]), len(distinct))
    learnt.value("groups", lambda: {g: distinct[id(fitted.models[g])] for g in GROUPS})
    for model_id, k in distinct.items():
        model = next(m for m in fitted.models.values() if id(m) == model_id)
        save_weights(learnt, f"model{k}", model)
    learnt.array("stats_mean", lambda: fitted.mean)
    learnt.array("stats_std", lambda: fitted.std)
    learnt.value("history", lambda: fitted.history)
    learnt.value("facts", lambda: fitted.facts)


def save_weights(learnt: state.ModelState, prefix: str, model: Any) -> None:
    """A torch module's ``state_dict`` as learnt arrays ``<prefix>.<parameter>``."""
    for name, tensor in model.state_dict().items():
        learnt.array(f"{prefix}.{name}", lambda t=tensor: t.detach().cpu().numpy())


def load_weights(learnt: state.ModelState, prefix: str, model: Any, what: str) -> Any:
    """``model`` with the weights :func:`save_weights` kept; a shape that does not fit is a ModelError."""
    import torch

    weights = {name: torch.from_numpy(np.array(learnt.array(f"{prefix}.{name}", lambda: None)))
               for name in model.state_dict()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise state.ModelError(f"the profile model's {what} does not fit this recipe's: {exc}") from None
    return model


def _load(learnt: state.ModelState, catalog: Catalog, opts: dict[str, Any]) -> Fitted:
    from ubm.profiles.recipes.learned.model import Encoder

    groups = learnt.value("groups", lambda: None)
    mean, std = learnt.array("stats_mean", lambda: None), learnt.array("stats_std", lambda: None)
    cfg = _config(opts, len(mean))
    models: dict[int, Encoder] = {}
    with deterministic(opts["threads"], opts["seed"]):  # construction draws initial weights: keep the caller's RNG
        for k in sorted(set(groups.values())):
            model = Encoder(cfg["n_stats"], catalog, embed=cfg["embed"], hidden=cfg["hidden"], dim=cfg["dim"],
                            dropout=cfg["dropout"])
            models[k] = load_weights(learnt, f"model{k}", model, "encoder")
    return Fitted({g: models[k] for g, k in groups.items()}, mean, std,
                  learnt.value("history", lambda: None), learnt.value("facts", lambda: None))
