"""The learned block of the ``universal`` recipe: client factors from implicit matrix factorisation.

For each configured item kind (category, sku, url) SQL builds the client x item matrix of
weighted event counts (``sql/features/universal/interactions.sql``, relevant clients only,
input window only). The matrix is turned into a confidence-like signal and factorised by
alternating least squares in PyTorch (CPU):

* items with fewer than ``min_clients`` (2) clients are dropped (they carry no co-occurrence);
* value = ``log1p(weight) * idf(item)`` with ``idf = log(1 + n_clients / clients_with_item)``,
  then each client row L2-normalised, so every client counts once when items are learnt;
* ridge ALS with uniform weight on all cells (zeros included): with ``V`` fixed,
  ``U = A V (VᵀV + λI)⁻¹``; with ``U`` fixed, ``V = Aᵀ U (UᵀU + λI)⁻¹``. Each half step is
  one sparse x dense product (CSR) and a ``dim x dim`` solve, so one iteration costs two
  passes over the non-zeros: seconds at 1 M clients x 1.2 M skus with rank 64;
* ``V`` starts from a Gaussian drawn from ``torch.Generator().manual_seed(seed + block)``;
  nothing else is random and CPU CSR products are row-partitioned, so a seed gives the same
  factors bit for bit, and another seed gives another (rotated) basis;
* the client factors are L2-normalised per row, then multiplied by ``sqrt(dim)`` so an entry
  has RMS about 1, like the standardised SQL columns. A client without interactions of that
  kind keeps a zero row.

Memory (1 M clients, tens of millions of interactions): the interactions are streamed from
DuckDB in record batches into int32 rows / items and float32 weights (12 bytes a non-zero;
the weights are integer sums, exact in float32), rare items are dropped in place, and the
values are prepared a slice of rows at a time. ``A`` and ``Aᵀ`` are float32 CSR matrices with
int32 indices (8 bytes a non-zero each; ``Aᵀ`` is built by a stable counting pass over item
ranges, no global sort), and each half step is solved a chunk of ``CHUNK_ROWS`` rows at a time
into the preallocated factor matrix, so no whole-matrix temporary is made. Every number is
computed as by the unchunked product (row-partitioned CSR products, the same Gram matrices);
``tests/profiles/test_universal.py`` checks chunked against unchunked factors bit for bit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ubm.data import sql
from ubm.data.io import Data
from ubm.profiles import state

TEMPLATE = "features/universal/interactions"
CHUNK_ROWS = 1 << 18  # rows of A (or Aᵀ) per solved chunk
BATCH_ROWS = 1 << 22  # interactions per record batch fetched from DuckDB

# name -> (event weights, item column, rank). Buying says more than carting, carting more than removing.
DEFAULT_BLOCKS: dict[str, dict[str, Any]] = {
    "category": {"events": {"product_buy": 4, "add_to_cart": 2, "remove_from_cart": 1}, "column": "category", "dim": 32},
    "sku": {"events": {"product_buy": 4, "add_to_cart": 2, "remove_from_cart": 1}, "column": "sku", "dim": 64},
    "url": {"events": {"page_visit": 1}, "column": "url", "dim": 64},
}
DEFAULTS: dict[str, Any] = {"blocks": DEFAULT_BLOCKS, "iterations": 8, "reg": 0.1, "min_clients": 2}


@dataclass
class Triples:
    """Interactions sorted by (row, col): int32 rows and cols, float32 (or float64) values."""
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    n_rows: int
    n_cols: int
    item_values: np.ndarray | None = None  # the id of each item (col), when fetched from SQL

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.cols.nbytes + self.values.nbytes


def _index_dtype(n: int) -> type:
    return np.int32 if n < 2**31 else np.int64


def _csr_tensor(crow: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> "torch.Tensor":
    import torch

    dtype = _index_dtype(max(len(cols), shape[1]))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.ascontiguousarray(crow, dtype=dtype)),
            torch.from_numpy(np.ascontiguousarray(cols, dtype=dtype)),
            torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)), size=shape, check_invariants=False,
        )


def _crow(rows: np.ndarray, n_rows: int) -> np.ndarray:
    crow = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=crow[1:])
    return crow


def drop_rare(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
              min_clients: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Keep items with at least ``min_clients`` clients (a one-client item teaches no co-occurrence);
    returns the kept triples with items renumbered densely, and the new item count."""
    n_cols = int(cols.max()) + 1 if len(cols) else 0
    df = np.bincount(cols, minlength=n_cols)
    keep_item = df >= min_clients
    new_id = np.cumsum(keep_item) - 1
    keep = keep_item[cols]
    return rows[keep], new_id[cols[keep]], np.asarray(weights)[keep], int(keep_item.sum())


def _drop_rare_in_place(t: Triples, min_clients: int, step: int = 1 << 24) -> Triples:
    """:func:`drop_rare` without copies of the whole arrays: kept triples move forward in place."""
    df = np.bincount(t.cols, minlength=t.n_cols)
    keep_item = df >= min_clients
    new_id = (np.cumsum(keep_item) - 1).astype(t.cols.dtype)
    w = 0
    for a in range(0, len(t.cols), step):
        keep = keep_item[t.cols[a:a + step]]
        m = int(keep.sum())
        rows, cols, values = t.rows[a:a + step][keep], new_id[t.cols[a:a + step][keep]], t.values[a:a + step][keep]
        t.rows[w:w + m], t.cols[w:w + m], t.values[w:w + m] = rows, cols, values
        w += m
    return Triples(t.rows[:w], t.cols[:w], t.values[:w], t.n_rows, int(keep_item.sum()))


def prepare(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """log1p(weight) x idf, each row L2-normalised; returns the new values aligned with the triples."""
    weights = np.asarray(weights, dtype=np.float64)
    df = np.bincount(cols, minlength=n_cols).astype(np.float64)
    n_active = max(len(np.unique(rows)), 1)
    idf = np.log1p(n_active / np.maximum(df, 1.0))
    values = np.log1p(weights) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n_rows))
    return values / np.maximum(norms[rows], 1e-12)


def _idf(t: Triples, crow: np.ndarray) -> np.ndarray:
    df = np.bincount(t.cols, minlength=t.n_cols).astype(np.float64)
    n_active = max(int(np.count_nonzero(np.diff(crow))), 1)
    return np.log1p(n_active / np.maximum(df, 1.0))


def _prepare_in_place(t: Triples, crow: np.ndarray, idf: np.ndarray | None = None) -> Triples:
    """:func:`prepare` a slice of whole rows at a time (the same float64 arithmetic per value, each
    row's squares summed in the same order), the float32 results written over the weights.
    ``idf``: the items' weights (a profile model's), else computed from ``t``."""
    idf = _idf(t, crow) if idf is None else idf
    out = t.values if t.values.dtype == np.float32 else np.empty(len(t.values), dtype=np.float32)
    for r0, r1 in _chunks(t.n_rows, CHUNK_ROWS):
        a, b = int(crow[r0]), int(crow[r1])
        values = np.log1p(t.values[a:b].astype(np.float64)) * idf[t.cols[a:b]]
        local = t.rows[a:b] - r0
        norms = np.sqrt(np.bincount(local, weights=values * values, minlength=r1 - r0))
        out[a:b] = values / np.maximum(norms[local], 1e-12)
    return Triples(t.rows, t.cols, out, t.n_rows, t.n_cols)


def _chunks(n: int, step: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of ``step`` rows; a short last range joins the one before it, so no
    product is ever computed on a sliver of rows (a different BLAS path)."""
    bounds = [(s, min(s + step, n)) for s in range(0, n, step)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < step // 2:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _transpose(t: Triples, step: int = 1 << 23) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of Aᵀ (crow, cols = client rows, values), entries of each item in client order, built one
    range of items (about ``step`` entries) at a time by a stable sort within the range, instead of
    one global sort."""
    crow = _crow(t.cols, t.n_cols)
    cols = np.empty(len(t.cols), dtype=t.rows.dtype)
    values = np.empty(len(t.values), dtype=t.values.dtype)
    bounds = np.unique(np.searchsorted(crow, np.arange(0, len(t.cols), step), side="right") - 1)
    edges = sorted({0, *(int(i) for i in bounds), t.n_cols})
    for lo, hi in zip(edges, edges[1:]):
        sel = np.flatnonzero((t.cols >= lo) & (t.cols < hi))
        order = sel[np.argsort(t.cols[sel], kind="stable")]
        a, b = int(crow[lo]), int(crow[hi])
        cols[a:b] = t.rows[order]
        values[a:b] = t.values[order]
    return crow, cols, values


class Csr:
    """A CSR matrix kept as NumPy arrays, handed to PyTorch a slice of rows at a time."""

    def __init__(self, crow: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
        self.crow, self.cols, self.values, self.shape = crow, cols, values, shape

    def rows(self, r0: int, r1: int) -> "torch.Tensor":
        a, b = int(self.crow[r0]), int(self.crow[r1])
        return _csr_tensor(self.crow[r0:r1 + 1] - a, self.cols[a:b], self.values[a:b], (r1 - r0, self.shape[1]))


def _half_step(matrix: Csr, fixed: "torch.Tensor", out: "torch.Tensor", eye: "torch.Tensor",
               chunk_rows: int) -> None:
    """out = matrix @ fixed @ (fixedᵀ fixed + λI)⁻¹, a chunk of rows at a time: the dim x dim Gram in
    float32 (the big product), inverted in float64 (tiny), applied in float32."""
    import torch

    inverse = torch.linalg.inv((fixed.T @ fixed).double() + eye).float()
    for r0, r1 in _chunks(matrix.shape[0], chunk_rows):
        out[r0:r1] = torch.sparse.mm(matrix.rows(r0, r1), fixed) @ inverse


def als(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int, n_cols: int, dim: int,
        *, seed: int = 0, iterations: int = 8, reg: float = 0.1, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Ridge ALS of the sparse matrix (uniform weights); returns client factors [n_rows, dim] float32.
    ``rows``/``cols`` need not be sorted (they are sorted here); pairs must be unique."""
    if n_rows == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if len(values) == 0 or n_cols == 0:
        return np.zeros((n_rows, dim), dtype=np.float32)
    order = np.lexsort((cols, rows))
    t = Triples(np.asarray(rows)[order].astype(np.int32), np.asarray(cols)[order].astype(np.int32),
                np.asarray(values)[order].astype(np.float32), n_rows, n_cols)
    a, at = _matrices(t)
    return _factorise(a, at, dim, seed=seed, iterations=iterations, reg=reg, chunk_rows=chunk_rows)


def _matrices(t: Triples, crow: np.ndarray | None = None) -> tuple[Csr, Csr]:
    """A (clients x items) and Aᵀ as CSR; the triples' rows are not needed afterwards."""
    crow = _crow(t.rows, t.n_rows) if crow is None else crow
    return Csr(crow, t.cols, t.values, (t.n_rows, t.n_cols)), Csr(*_transpose(t), (t.n_cols, t.n_rows))


def _factorise(a: Csr, at: Csr, dim: int, *, seed: int, iterations: int, reg: float,
               chunk_rows: int = CHUNK_ROWS, items: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Client factors (and, with ``items``, the item factors they were last solved against)."""
    import torch  # imported here: building the other recipes must not pay for torch

    n_rows, n_cols = a.shape
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n_cols, dim, generator=gen, dtype=torch.float32) / math.sqrt(dim)
    u = torch.empty(n_rows, dim, dtype=torch.float32)
    eye = torch.eye(dim, dtype=torch.float64) * reg
    _half_step(a, v, u, eye, chunk_rows)
    for _ in range(iterations):
        _half_step(at, u, v, eye, chunk_rows)
        _half_step(a, v, u, eye, chunk_rows)
    return (u.numpy(), v.numpy()) if items else u.numpy()


def fold_in(a: Csr, items: np.ndarray, reg: float, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Client factors against fixed item factors: the last half step of :func:`_factorise`, so
    clients solved against the items they were fitted with get the same bits."""
    import torch

    fixed = torch.from_numpy(np.ascontiguousarray(items, dtype=np.float32))
    u = torch.empty(a.shape[0], fixed.shape[1], dtype=torch.float32)
    _half_step(a, fixed, u, torch.eye(fixed.shape[1], dtype=torch.float64) * reg, chunk_rows)
    return u.numpy()


def factor_columns(blocks: dict[str, dict[str, Any]]) -> list[str]:
    """``<kind>.<i>`` for each factor of each block, in block order."""
    return [f"{kind}.{i}" for kind, spec in blocks.items() for i in range(int(spec["dim"]))]


def normalise_rows(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Each row L2-normalised then multiplied by ``scale``; zero rows stay zero (a row at a time
    arithmetic, done in row chunks so no whole-matrix temporaries are made)."""
    out = np.empty(x.shape, dtype=np.float32)
    for r0, r1 in _chunks(len(x), CHUNK_ROWS) or [(0, 0)]:
        part = x[r0:r1]
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        out[r0:r1] = part / np.maximum(norms, 1e-12) * scale
    return out


def n_relevant(data: Data) -> int:
    return data.relevant_count


def fetch_triples(data: Data, events: dict[str, int], column: str, n_rows: int) -> Triples:
    """The interactions template streamed in record batches into int32 rows / items and float32
    weights (float64 if a weight is not exact in float32)."""
    rows, cols, weights = [], [], []
    item_values = np.zeros(0, dtype=np.int64)  # the id of each item (a profile model keeps them)
    exact = True
    with sql.fetch_batches(data, TEMPLATE, {}, {"events": events, "column": column}, BATCH_ROWS) as reader:
        for batch in reader:
            rows.append(batch.column("pos").to_numpy().astype(np.int32))
            item = batch.column("item").to_numpy()
            cols.append(item.astype(_index_dtype(int(item.max()) + 1 if len(item) else 0)))
            w = batch.column("weight").to_numpy()
            w32 = w.astype(np.float32)
            exact = exact and bool(np.array_equal(w32, w))
            weights.append(w32 if exact else w)
            if len(item) and int(item.max()) >= len(item_values):
                item_values = np.concatenate([item_values, np.zeros(int(item.max()) + 1 - len(item_values), np.int64)])
            item_values[item] = batch.column("value").to_numpy()  # one pass, no sort
    n_cols = max((int(c.max()) + 1 for c in cols if len(c)), default=0)
    item_values = item_values[:n_cols]
    return Triples(_join(rows, np.int32), _join(cols, _index_dtype(n_cols)),
                   _join(weights, np.float32 if exact else np.float64), n_rows, n_cols, item_values)


def _join(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """Concatenate and empty ``parts`` (so the batches and the whole array coexist only once)."""
    out = np.concatenate([p.astype(dtype, copy=False) for p in parts]) if parts else np.zeros(0, dtype)
    parts.clear()
    return out


def learned_blocks_iter(data: Data, *, seed: int = 0, options: dict | None = None,
                        note: Callable[[str], None] = lambda _msg: None) -> Iterator[tuple[str, np.ndarray]]:
    """Each configured block's client factors [n_relevant, dim] float32 (row-normalised), in block order."""
    opts = dict(DEFAULTS)
    opts.update(options or {})
    n = n_relevant(data)
    for index, (block, spec) in enumerate(opts["blocks"].items()):
        events = {e: w for e, w in spec["events"].items() if data.has(e)}
        dim = int(spec["dim"])
        learnt = state.current()
        with learnt.scope(f"als.{block}"):
            if learnt.applying:
                factors = _fold_in_block(data, spec, n, float(opts["reg"]), learnt) if events else None
            elif events and (spec["column"] not in ("category", "price") or data.has("product_properties")):
                factors = _fit_block(data, spec, events, n, opts, seed + index, block, note, learnt)
            else:
                factors = _fit_nothing(learnt, dim)
        if factors is None:
            factors = np.zeros((n, dim), dtype=np.float32)
        yield block, normalise_rows(factors, math.sqrt(dim))


def _fit_nothing(learnt: "state.ModelState", dim: int) -> None:
    """A block without interactions at fit: no items, so every client folds in to the zero row."""
    learnt.array("items", lambda: np.zeros(0, dtype=np.int64))
    learnt.array("idf", lambda: np.zeros(0))
    learnt.array("factors", lambda: np.zeros((0, dim), dtype=np.float32))


def _fit_block(data: Data, spec: dict, events: dict[str, int], n: int, opts: dict, seed: int, block: str,
               note: Callable[[str], None], learnt: "state.ModelState") -> np.ndarray | None:
    """Factorise one block; a profile model keeps its items' ids, idf weights and factors."""
    dim = int(spec["dim"])
    t = fetch_triples(data, events, spec["column"], n)
    values = t.item_values
    learnt.array("items", lambda: values[np.bincount(t.cols, minlength=t.n_cols) >= int(opts["min_clients"])])
    t = _drop_rare_in_place(t, int(opts["min_clients"]))
    crow = _crow(t.rows, n)
    t = _prepare_in_place(t, crow, learnt.array("idf", lambda: _idf(t, crow)))
    nnz, n_items = len(t.values), t.n_cols
    note(f"{block}: {nnz:,} interactions x {n_items:,} items; A and Aᵀ {16 * nnz / 2**20:,.0f} MiB, "
         f"factors {4 * dim * (n + n_items) / 2**20:,.0f} MiB; "
         f"{2 * nnz * dim * (2 * int(opts['iterations']) + 1) / 1e9:,.1f} GFLOP in sparse products")
    if nnz == 0 or n_items == 0:
        learnt.array("factors", lambda: np.zeros((n_items, dim), dtype=np.float32))
        return None
    a, at = _matrices(t, crow)
    del t
    if not learnt.keep:
        return _factorise(a, at, dim, seed=seed, iterations=int(opts["iterations"]), reg=float(opts["reg"]))
    clients, items = _factorise(a, at, dim, seed=seed, iterations=int(opts["iterations"]), reg=float(opts["reg"]),
                                items=True)
    learnt.array("factors", lambda: items)
    return clients


def _fold_in_block(data: Data, spec: dict, n: int, reg: float, learnt: "state.ModelState") -> np.ndarray | None:
    """Client factors against a model's items: interactions with items it does not know (unseen at
    fit, or rarer than ``min_clients`` then) are left out; a client with none gets the zero row."""
    items, idf, factors = (learnt.array(k, lambda: None) for k in ("items", "idf", "factors"))
    if len(items) == 0 or not data.has("product_properties") and spec["column"] in ("category", "price"):
        return None
    events = {e: w for e, w in spec["events"].items() if data.has(e)}
    t = fetch_triples(data, events, spec["column"], n)
    at = np.clip(np.searchsorted(items, t.item_values), 0, len(items) - 1)
    known = items[at] == t.item_values
    keep = known[t.cols]
    # the model's items are sorted ids, as the SQL's ranks are: rows stay sorted by (row, item)
    t = Triples(t.rows[keep], at[t.cols[keep]].astype(_index_dtype(len(items))),
                t.values[keep], n, len(items))
    crow = _crow(t.rows, n)
    t = _prepare_in_place(t, crow, idf)
    if len(t.values) == 0:
        return None
    return fold_in(Csr(crow, t.cols, t.values, (n, len(items))), factors, reg)


def learned_features(data: Data, *, seed: int = 0, options: dict | None = None) -> tuple[list[str], np.ndarray]:
    """Column names and the learned block [n_relevant, sum of ranks] float32, in relevant_clients order."""
    opts = dict(DEFAULTS)
    opts.update(options or {})
    names: list[str] = []
    parts: list[np.ndarray] = []
    for block, factors in learned_blocks_iter(data, seed=seed, options=opts):
        parts.append(factors)
        names += [f"learned.{c}" for c in factor_columns({block: opts["blocks"][block]})]
    if not parts:
        return [], np.zeros((n_relevant(data), 0), dtype=np.float32)
    return names, np.concatenate(parts, axis=1)
