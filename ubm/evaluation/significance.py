"""Is a difference real? Bootstrap intervals of task scores and paired comparisons of runs.

``ubm train`` stores, per task, the best epoch's validation logits of the evaluated clients
(``<run>/predictions/<task>.npz``). This module resamples those clients with replacement and
recomputes the task score (docs/evaluation.md §3) on each resample:

* **AUROC** per label as a weighted Mann-Whitney statistic (ties count one half), on the
  values the official metric ranks: the stored logits with torchmetrics' per-batch rule
  applied (a batch of 128 rows, in evaluated order, goes through a sigmoid only when one of
  its values lies outside [0, 1]). A label without a positive (or a negative) in the window
  scores 0 and stays in the macro mean, as officially, on every resample; a label that has
  both but loses one class in a resample keeps its window score on that resample (see
  ``_label_draws``: scoring it 0 biased the intervals low, below their own score).
* **Novelty and diversity** from per-client terms computed exactly as the official metrics
  compute them (float32 sigmoid and entropy; top-10 popularity mass in float64), summed with
  the resample's weights in float64.
* Task score ``0.8*AUROC + 0.1*diversity + 0.1*novelty`` (propensity) or AUROC (binary).

**Resampling unit.** Clients are dealt, at random (fixed by the seed), into ``blocks``
groups of equal size (within one); a resample draws ``blocks`` groups with replacement and
gives every client its group's count as weight. With at most ``blocks`` clients each client
is its own group: the plain client bootstrap. Beyond that, this "chunked" bootstrap is what
makes a resample cost O(blocks^2) instead of O(clients): the Mann-Whitney numerator is the
quadratic form ``c' M c`` of the group counts ``c`` with ``M[a, b]`` = (positives of group a)
x (negatives of group b) ordered correctly, built once per label in one sorted pass; all
resamples of a label are then one matrix product. Groups are random, so they are i.i.d.
samples of clients and the bootstrap stays valid; BENCHMARKS.md compares the widths against
the plain client bootstrap.

**Pairing.** Runs compared on a task must have evaluated the same clients with the same
labels (checked, after ordering by client id); they are then resampled with the same groups
and the same counts, so the difference of their scores is resampled pair by pair.

Everything is deterministic given the seed: the groups depend on (seed, number of clients),
the counts on (seed, number of groups); more resamples extend the same sequence.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ubm.contract import BINARY_TASKS, Kind
from ubm.errors import DataError
from ubm.util import atomic_path

# torch (and the metric and model modules, which import it) are imported where used:
# the `ubm` command line reads the defaults below without paying for torch.

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 20250
DEFAULT_BLOCKS = 1000
_ROWS_PER_CHUNK = 65536  # a multiple of 128: per-client terms are computed this many rows at a time
_CELLS_PER_CHUNK = 4_000_000  # bound on the (segments x blocks) count matrix built per step


# --------------------------------------------------------------------------- stored outputs


@dataclass
class Predictions:
    """One task's validation outputs of one run, as ``ubm train`` stores them."""

    task: str
    kind: Kind
    client_ids: np.ndarray  # int64 [n], evaluated order
    logits: np.ndarray  # float32 [n, L], best epoch
    labels: np.ndarray  # uint8 [n, L], validation window
    popularity: np.ndarray | None  # int64 counts or float64 shares [L], propensity only
    batch_size: int | None = None  # validation batch size of the run; None: the official 128

    def __post_init__(self) -> None:
        if self.batch_size is None:
            from ubm.evaluation.model import BATCH_SIZE

            self.batch_size = BATCH_SIZE
        n = len(self.client_ids)
        if self.logits is None or self.logits.ndim != 2 or self.logits.shape[0] != n:
            raise DataError(f"{self.task}: logits must be [{n}, labels], got "
                            f"{None if self.logits is None else self.logits.shape}")
        if self.labels.shape != self.logits.shape:
            raise DataError(f"{self.task}: labels {self.labels.shape} do not match logits {self.logits.shape}")
        if self.kind == "propensity" and (self.popularity is None or len(self.popularity) != self.logits.shape[1]):
            raise DataError(f"{self.task}: a propensity task needs one popularity count per label")


def write_predictions(path: Path, preds: Predictions) -> Path:
    """``path`` (.npz), written under a temporary name and renamed when complete.

    Logits are kept in float32, as the model produced them, and stored uncompressed (they do
    not compress); ids and labels (mostly zeros) are deflated. float16 would halve the file
    but not keep the ranking: the logits of a rare label crowd into a narrow range, where
    float16 has a few dozen distinct values for thousands of clients, and the ties it makes
    moved AUROC by 0.004 on `small` data (BENCHMARKS.md), far more than the differences an
    interval is meant to judge.
    """
    arrays: dict[str, tuple[np.ndarray, int]] = {
        "client_ids": (np.ascontiguousarray(preds.client_ids, dtype=np.int64), zipfile.ZIP_DEFLATED),
        "logits": (np.ascontiguousarray(preds.logits, dtype=np.float32), zipfile.ZIP_STORED),
        "labels": (np.ascontiguousarray(preds.labels, dtype=np.uint8), zipfile.ZIP_DEFLATED),
        "batch_size": (np.array(preds.batch_size, dtype=np.int64), zipfile.ZIP_STORED),
    }
    if preds.popularity is not None:
        arrays["popularity"] = (np.asarray(preds.popularity), zipfile.ZIP_STORED)
    path = Path(path)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for name, (array, method) in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy")
                info.compress_type = method
                with zf.open(info, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, array, allow_pickle=False)
    return path


def load_predictions(path: Path, task: str, kind: Kind) -> Predictions:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no stored predictions: {path} (rerun `ubm train` without --no-predictions)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable predictions file ({exc})") from None
    missing = {"client_ids", "logits", "labels"} - set(arrays)
    if missing:
        raise DataError(f"{path}: missing {', '.join(sorted(missing))}")
    return Predictions(task=task, kind=kind, client_ids=arrays["client_ids"], logits=arrays["logits"],
                       labels=arrays["labels"], popularity=arrays.get("popularity"),
                       batch_size=int(arrays["batch_size"]) if "batch_size" in arrays else None)


# --------------------------------------------------------------------------- per-client terms


@dataclass
class ClientTerms:
    """What a resample needs of one run on one task, per client."""

    ranked: np.ndarray  # float32 [L, n]: per label, the values the official AUROC ranks
    entropy: np.ndarray | None  # float64 [n]: normalised-sigmoid entropy (diversity numerator)
    top_mass: np.ndarray | None  # float64 [n]: top-k popularity mass (novelty numerator)
    n_labels: int
    order: np.ndarray | None = None  # rows in the design's client order (None: as stored)

    def values(self, label: int) -> np.ndarray:
        row = self.ranked[label]
        return row if self.order is None else row[self.order]

    def in_order(self, order: np.ndarray) -> "ClientTerms":
        """The same terms read in ``order`` (per label on demand: no copy of the [L, n] values)."""
        return ClientTerms(ranked=self.ranked, n_labels=self.n_labels, order=order,
                           entropy=None if self.entropy is None else self.entropy[order],
                           top_mass=None if self.top_mass is None else self.top_mass[order])


def client_terms(preds: Predictions) -> ClientTerms:
    """Per-client terms, from the stored logits (float32, exactly as training fed the metric)."""
    import torch

    from ubm.evaluation.metrics import EPS, NOVELTY_TOP_K

    n, n_labels = preds.logits.shape
    ranked = np.empty((n_labels, n), dtype=np.float32)
    propensity = preds.kind == "propensity"
    entropy = np.empty(n, dtype=np.float64) if propensity else None
    top_mass = np.empty(n, dtype=np.float64) if propensity else None
    if propensity:
        pop = np.asarray(preds.popularity)
        k = min(NOVELTY_TOP_K, len(pop))
        with np.errstate(divide="ignore", invalid="ignore"):
            pop_t = torch.tensor(pop / np.sum(np.sort(pop)[-k:]))  # numpy dtype kept, as officially
    step = max(1, _ROWS_PER_CHUNK // preds.batch_size) * preds.batch_size  # whole validation batches
    for s in range(0, n, step):
        xb = torch.from_numpy(np.asarray(preds.logits[s : s + step], dtype=np.float32))
        p = torch.sigmoid(xb)
        ranked[:, s : s + step] = _per_batch_rule(xb, p, preds.batch_size).T.numpy()
        if propensity:
            q = p / p.sum(dim=-1).unsqueeze(-1)
            entropy[s : s + step] = (-(q * torch.log2(q + EPS)).sum(dim=-1)).double().numpy()
            values, indices = torch.topk(p, k, dim=1)
            top_mass[s : s + step] = (values * pop_t[indices]).sum(dim=-1).double().numpy()
    return ClientTerms(ranked=ranked, entropy=entropy, top_mass=top_mass, n_labels=n_labels)


def _per_batch_rule(x: "torch.Tensor", sigmoid: "torch.Tensor", batch_size: int) -> "torch.Tensor":
    """torchmetrics: a batch is passed through a sigmoid only if some value is outside [0, 1]."""
    import torch

    rows = x.shape[0]
    inside = ((x >= 0) & (x <= 1)).reshape(rows, -1).all(dim=1)
    n_batches = -(-rows // batch_size)
    padded = torch.ones(n_batches * batch_size, dtype=torch.bool)
    padded[:rows] = inside
    keep_raw = padded.reshape(n_batches, batch_size).all(dim=1).repeat_interleave(batch_size)[:rows]
    return torch.where(keep_raw.unsqueeze(1), x, sigmoid)


# --------------------------------------------------------------------------- resampling design


@dataclass(frozen=True)
class Design:
    """Which group each client belongs to, and each resample's group counts."""

    blocks: np.ndarray  # int64 [n]: group of each client (clients in canonical order)
    n_blocks: int
    counts: np.ndarray  # float64 [resamples, n_blocks]


def make_design(n_clients: int, resamples: int, seed: int, n_blocks: int = DEFAULT_BLOCKS) -> Design:
    if n_clients < 1:
        raise ValueError("no clients to resample")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if n_blocks < 1:
        raise ValueError("blocks must be at least 1")
    if n_clients <= n_blocks:
        blocks = np.arange(n_clients, dtype=np.int64)
        b = n_clients
    else:
        b = n_blocks
        perm = np.random.default_rng([seed, n_clients, 0]).permutation(n_clients)
        blocks = np.empty(n_clients, dtype=np.int64)
        blocks[perm] = np.arange(n_clients) % b
    draws = np.random.default_rng([seed, 1]).integers(0, b, size=(resamples, b))
    flat = (np.arange(resamples)[:, None] * b + draws).ravel()
    counts = np.bincount(flat, minlength=resamples * b).reshape(resamples, b).astype(np.float64)
    return Design(blocks=blocks, n_blocks=b, counts=counts)


# --------------------------------------------------------------------------- statistics


def pair_matrix(values: np.ndarray, positive: np.ndarray, blocks: np.ndarray,
                n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, positives per group, negatives per group) for one label.

    ``M[a, b]`` = sum over positives i of group a and negatives j of group b of
    ``[v_j < v_i] + 0.5 [v_j == v_i]``: the Mann-Whitney numerator of a resample with group
    counts ``c`` is ``c @ M @ c``. Built from one sort: negatives are cut into the stretches
    below / tied with each distinct positive value, counted per group, and accumulated.
    """
    positive = np.asarray(positive, dtype=bool)
    pv, pb = values[positive], blocks[positive]
    nv, nb = values[~positive], blocks[~positive]
    pos_count = np.bincount(pb, minlength=n_blocks).astype(np.float64)
    neg_count = np.bincount(nb, minlength=n_blocks).astype(np.float64)
    m = np.zeros((n_blocks, n_blocks), dtype=np.float64)
    if len(pv) == 0 or len(nv) == 0:
        return m, pos_count, neg_count
    order = np.argsort(nv)
    nv, nb = nv[order], nb[order]
    order = np.argsort(pv)
    pv, pb = pv[order], pb[order]
    distinct, group_of_pos = np.unique(pv, return_inverse=True)
    lo = np.searchsorted(nv, distinct, "left")
    hi = np.searchsorted(nv, distinct, "right")
    carry = np.zeros(n_blocks, dtype=np.float64)  # negatives of each group below the current stretch
    done = 0  # negatives (in sorted order) already in carry
    step = max(1, _CELLS_PER_CHUNK // (2 * n_blocks))
    for g0 in range(0, len(distinct), step):
        g1 = min(len(distinct), g0 + step)
        carry += np.bincount(nb[done : lo[g0]], minlength=n_blocks)
        a0, a1 = lo[g0], hi[g1 - 1]
        # boundaries lo_0, hi_0, lo_1, hi_1, ...: even segment 2k = tied with value k,
        # odd segment 2k+1 = strictly between values k and k+1
        bounds = np.stack([lo[g0:g1], hi[g0:g1]], axis=1).ravel()
        n_seg = 2 * (g1 - g0) - 1
        seg = np.repeat(np.arange(n_seg), np.diff(bounds))
        d = np.bincount(seg * n_blocks + nb[a0:a1], minlength=n_seg * n_blocks)
        d = d.reshape(n_seg, n_blocks).astype(np.float64)
        below = np.empty((g1 - g0, n_blocks), dtype=np.float64)
        below[0] = carry
        if g1 - g0 > 1:
            below[1:] = carry + np.cumsum(d, axis=0)[1::2]
        credit = below + 0.5 * d[0::2]  # what one positive of value k earns, per negative group
        _add_rows(m, pb, group_of_pos, credit, g0, g1)
        carry += d.sum(axis=0)
        done = a1
    return m, pos_count, neg_count


def _add_rows(m: np.ndarray, pos_blocks: np.ndarray, group_of_pos: np.ndarray, credit: np.ndarray,
              g0: int, g1: int) -> None:
    """m[group of positive i] += credit[value of positive i] for the positives of values g0..g1-1."""
    sel = np.flatnonzero((group_of_pos >= g0) & (group_of_pos < g1))
    if len(sel) == 0:
        return
    order = np.argsort(pos_blocks[sel], kind="stable")
    rows_blocks = pos_blocks[sel][order]
    rows = credit[group_of_pos[sel][order] - g0]
    starts = np.flatnonzero(np.r_[True, rows_blocks[1:] != rows_blocks[:-1]])
    m[rows_blocks[starts]] += np.add.reduceat(rows, starts, axis=0)


@dataclass
class TaskDraws:
    """A run's task score (and parts) on the stored outputs and on every resample."""

    point: dict[str, float]  # score, auroc, novelty, diversity (the last two propensity only)
    draws: dict[str, np.ndarray]  # same keys, float64 [resamples]


def _auroc_of(u: np.ndarray, wp: np.ndarray, wn: np.ndarray) -> np.ndarray:
    ok = (wp > 0) & (wn > 0)
    out = np.zeros_like(u)
    np.divide(u, wp * wn, out=out, where=ok)
    return out


def _label_draws(u: np.ndarray, wp: np.ndarray, wn: np.ndarray, point: float) -> np.ndarray:
    """One label's AUROC on every resample, conditional on the window's own classes.

    Whether a label has positives is a fact of the validation window, and the official rule
    (no positive or no negative: 0) is applied to it once, in ``point``. A resample that
    drew none of a present label's few positives says nothing about how the model ranks
    them; scoring it 0 would put a mass of zeros below the score (a label with one positive
    loses it in about 37 % of resamples) and move the interval below its own score. Such a
    resample keeps the label's score on the window instead.
    """
    ok = (wp > 0) & (wn > 0)
    out = np.full_like(u, point)
    np.divide(u, wp * wn, out=out, where=ok)
    return out


def task_draws(terms: ClientTerms, labels: np.ndarray, kind: Kind, design: Design) -> TaskDraws:
    """Task score on the stored outputs (all weights 1) and on each resample of ``design``.

    ``terms`` and ``labels`` are in the design's (canonical) client order.
    """
    from ubm.evaluation.metrics import AUROC_WEIGHT, DIVERSITY_WEIGHT, EPS, NOVELTY_POWER, NOVELTY_WEIGHT

    c = design.counts
    ones = np.ones(design.n_blocks)
    auroc_sum = np.zeros(len(c))
    auroc_point = 0.0
    for label in range(terms.n_labels):
        m, pos, neg = pair_matrix(terms.values(label), labels[:, label] == 1, design.blocks, design.n_blocks)
        label_point = float(_auroc_of(np.array([m.sum()]), np.array([pos.sum()]), np.array([neg.sum()]))[0])
        auroc_sum += _label_draws(np.einsum("rb,rb->r", c @ m, c), c @ pos, c @ neg, label_point)
        auroc_point += label_point
    auroc = auroc_sum / terms.n_labels
    point = {"auroc": auroc_point / terms.n_labels}
    draws = {"auroc": auroc}
    if kind == "propensity":
        size = np.bincount(design.blocks, minlength=design.n_blocks).astype(np.float64)
        ent = np.bincount(design.blocks, weights=terms.entropy, minlength=design.n_blocks)
        mass = np.bincount(design.blocks, weights=terms.top_mass, minlength=design.n_blocks)
        log_l = float(np.log2(np.float32(terms.n_labels)))  # float32, as the official state

        def novelty_diversity(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            n = weights @ size + EPS
            return (1 - (weights @ mass) / n) ** NOVELTY_POWER, (weights @ ent) / (n * log_l)

        draws["novelty"], draws["diversity"] = novelty_diversity(c)
        nov, div = novelty_diversity(ones)
        point["novelty"], point["diversity"] = float(nov), float(div)
        for values in (draws, point):  # the official order of the sum
            values["score"] = (AUROC_WEIGHT * values["auroc"] + DIVERSITY_WEIGHT * values["diversity"]
                               + NOVELTY_WEIGHT * values["novelty"])
    else:
        draws["score"] = draws["auroc"]
        point["score"] = point["auroc"]
    return TaskDraws(point=point, draws=draws)


# --------------------------------------------------------------------------- intervals and pairs


@dataclass(frozen=True)
class Interval:
    point: float  # on the stored outputs
    low: float
    high: float


@dataclass(frozen=True)
class Difference:
    """``first`` minus ``second`` on one task, with its paired interval and the verdict."""

    task: str
    first: str
    second: str
    point: float
    low: float
    high: float
    verdict: str  # "better", "worse" (for ``first``) or "not distinguishable"


@dataclass
class Comparison:
    resamples: int
    level: float
    seed: int
    blocks: int
    intervals: dict[str, dict[str, Interval]] = field(default_factory=dict)  # run -> task -> interval
    differences: list[Difference] = field(default_factory=list)
    clients: dict[str, int] = field(default_factory=dict)  # task -> clients resampled


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "not distinguishable"


def _canonical(task: str, runs: dict[str, Predictions]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each run's row order by client id; refuses runs over different clients or labels."""
    names = list(runs)
    orders = {name: np.argsort(p.client_ids, kind="stable") for name, p in runs.items()}
    ref = names[0]
    ref_ids = runs[ref].client_ids[orders[ref]]
    if len(np.unique(ref_ids)) != len(ref_ids):
        raise DataError(f"{task}: run {ref} lists a client id twice")
    ref_labels = runs[ref].labels[orders[ref]]
    for name in names[1:]:
        p = runs[name]
        ids = p.client_ids[orders[name]]
        if len(ids) != len(ref_ids) or not np.array_equal(ids, ref_ids):
            only_one = len(np.setxor1d(ref_ids, ids))
            raise DataError(f"{task}: runs {ref} and {name} were evaluated on different clients "
                            f"({len(ref_ids):,} and {len(ids):,} clients, {only_one:,} in only one); "
                            f"cannot pair them")
        if p.labels.shape[1] != ref_labels.shape[1] or not np.array_equal(p.labels[orders[name]], ref_labels):
            raise DataError(f"{task}: runs {ref} and {name} have different validation labels; cannot pair them")
        pop_a, pop_b = runs[ref].popularity, p.popularity
        if (pop_a is None) != (pop_b is None) or (pop_a is not None and not np.array_equal(pop_a, pop_b)):
            raise DataError(f"{task}: runs {ref} and {name} have different label popularity; cannot pair them")
    return orders, ref_labels


def compare(runs: dict[str, dict[str, Predictions]], *, resamples: int = DEFAULT_RESAMPLES,
            level: float = DEFAULT_LEVEL, seed: int = DEFAULT_SEED, blocks: int = DEFAULT_BLOCKS,
            order: list[str] | None = None) -> Comparison:
    """Intervals of every run's task scores and paired differences of every pair of runs.

    ``runs``: {run name: {task: Predictions}}; tasks present in every run are compared.
    ``order``: run names, best first; pair (i, j) with i before j reports ``i - j``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    names = order or list(runs)
    result = Comparison(resamples=resamples, level=level, seed=seed, blocks=blocks)
    result.intervals = {name: {} for name in names}
    tasks = [t for t in runs[names[0]] if all(t in runs[n] for n in names)]
    for task in tasks:
        per_run = {name: runs[name][task] for name in names}
        orders, labels = _canonical(task, per_run)
        design = make_design(len(labels), resamples, seed, blocks)
        result.clients[task] = len(labels)
        draws = {}
        for name, preds in per_run.items():
            terms = client_terms(preds).in_order(orders[name])
            draws[name] = task_draws(terms, labels, preds.kind, design)
            low, high = percentile_interval(draws[name].draws["score"], level)
            result.intervals[name][task] = Interval(draws[name].point["score"], low, high)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                diff = draws[first].draws["score"] - draws[second].draws["score"]
                low, high = percentile_interval(diff, level)
                point = draws[first].point["score"] - draws[second].point["score"]
                result.differences.append(Difference(task, first, second, point, low, high, verdict(low, high)))
    return result


def check_scores(comparison: Comparison, scores: dict[str, dict[str, float]]) -> None:
    """Refuse predictions that are not the ones behind the run's scores.json (e.g. left from
    another run): recomputed, they give the run's unrounded score, so it must round to it."""
    for name, tasks in comparison.intervals.items():
        for task, interval in tasks.items():
            said = scores.get(name, {}).get(task)
            if said is not None and abs(interval.point - said) > 0.5e-4 + 1e-6:
                raise DataError(f"run {name}, task {task}: the stored predictions score {interval.point:.5f} but "
                                f"scores.json says {said:.4f}; they are not from the same run (rerun `ubm train`)")


def load_run(run_dir: Path, tasks: list[str]) -> dict[str, Predictions]:
    """The stored predictions of ``tasks`` in a run directory."""
    return {task: load_predictions(Path(run_dir) / "predictions" / f"{task}.npz", task,
                                   "binary" if task in BINARY_TASKS else "propensity")
            for task in tasks}
