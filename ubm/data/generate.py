"""Synthetic RecSys Challenge 2025 data in the published format (SPEC section 2).

Generative model (everything vectorised with numpy, one ``default_rng`` stream per purpose
and per chunk of clients, so the same seed gives byte-identical files):

* **Catalogue.** Categories have Zipf-like popularity and a price level and a 16-d "text"
  centroid in 0..255. Each category owns a block of skus ranked by a within-category Zipf
  law; a sku's price bucket is its category level plus noise (0..99) and its ``name`` is the
  category centroid plus small noise. A share of skus *launch* during the period (launch
  density rising towards the end, so many products are new in the last weeks); a sku is
  never sold before its launch, and recently launched skus get extra demand ("hype").
* **Clients.** Each client has a lifetime window inside the period (some are there from the
  start, others arrive later; lifetimes are log-normal, so many stop: churn), a heavy-tailed
  (log-normal) session rate, a page depth, and flags/rates for searching and shopping.
  Tastes: two sets of three favourite categories (``A`` then ``B``) and the chance of
  drawing from ``B`` grows over the client's lifetime (drift); a price preference that also
  drifts; three favourite skus that are bought again and again (repeat purchases).
* **Sessions.** The number of sessions is Poisson(rate x window length); a session's day
  follows a weekly rhythm and its hour a time-of-day profile; events sit on 5-second steps
  (a few percent are off-step). The funnel of a session: page visits (urls: half global
  Zipf pages, half category pages of the client's tastes), search queries (vector =
  category centroid + noise), purchase "intents" on a sku (favourite, newly launched, or a
  category draw where the price preference picks between two candidates); an intent is put
  in the cart (95 %) and then bought, removed or left; the rest are bought directly.
* **Relevant clients.** A fixed number of clients drawn without replacement with weights
  favouring active clients and shoppers (about half of them buy in the input period);
  about 1 % of them get no event at all and about 1 % only arrive in the last 25 days (no
  input events), like a profile that must still be produced.

Files are written in chunks of clients with ``pyarrow.parquet.ParquetWriter`` (one row
group per chunk and event type, rows of a chunk in time order, so rows are not grouped by
client and never sorted by ``client_id``); each file is written under a ``.tmp`` name and
renamed when complete.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["SizePreset", "SIZES", "GenerateSummary", "generate", "EVENT_TYPES"]

EVENT_TYPES = ("product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query")
START_DATE = _dt.datetime(2022, 5, 23)
VEC_DIM = 16


@dataclass(frozen=True)
class SizePreset:
    """A size preset. ``activity`` multiplies every client's session rate."""

    name: str
    clients: int
    relevant: int
    days: int
    skus: int
    categories: int
    urls: int
    activity: float = 1.0
    cat_zipf: float = 1.0  # exponent of category popularity
    sku_zipf: float = 1.1  # exponent of sku popularity inside a category
    url_zipf: float = 1.0
    new_sku_share: float = 0.08  # share of skus launched during the period
    relevant_bias: float = 1.0  # exponent on activity in the relevance weight
    rate_sigma: float = 1.5  # log-normal sigma of the per-client session rate
    lifetime_days: float = 35.0  # median client lifetime (log-normal)
    buyer_bias: float = 3.0  # exponent on P(buys in input) in the relevance weight
    bestsellers: int = 1_000  # size of the 'trending' list ...
    bestseller_share: float = 0.15  # ... and the share of purchase intents drawn from it
    chunk_clients: int = 250_000


SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset("tiny", clients=600, relevant=50, days=35, skus=300, categories=20,
                       urls=2_000, activity=6.0, cat_zipf=0.7, sku_zipf=1.2,
                       new_sku_share=0.15, chunk_clients=600, bestsellers=20,
                       bestseller_share=0.3, buyer_bias=3.0, rate_sigma=0.8,
                       lifetime_days=30.0),
    "small": SizePreset("small", clients=60_000, relevant=3_000, days=141, skus=10_000,
                        categories=120, urls=200_000, activity=3.0, cat_zipf=0.6,
                        sku_zipf=1.3, new_sku_share=0.15, chunk_clients=20_000,
                        bestsellers=100, bestseller_share=0.3, buyer_bias=0.75,
                        lifetime_days=70.0),
    "medium": SizePreset("medium", clients=1_500_000, relevant=60_000, days=141,
                         skus=150_000, categories=2_000, urls=2_000_000, activity=1.5,
                         cat_zipf=0.9, sku_zipf=1.2, new_sku_share=0.1,
                         chunk_clients=250_000),
    "full": SizePreset("full", clients=18_900_000, relevant=1_000_000, days=141,
                       skus=1_200_000, categories=6_900, urls=15_000_000, activity=1.0,
                       cat_zipf=1.0, sku_zipf=1.1, new_sku_share=0.08,
                       chunk_clients=500_000),
}


@dataclass
class GenerateSummary:
    out_dir: Path
    n_clients: int  # size of the client population (ids), ghosts included
    n_relevant: int
    rows: dict[str, int]  # rows per event type, plus "product_properties"
    seconds: float
    size: str = ""
    days: int = 0
    n_skus: int = 0
    n_categories: int = 0
    n_clients_with_events: int = 0
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers

def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, stream)]))


def _zipf(u: np.ndarray, n, s: float) -> np.ndarray:
    """Ranks in [0, n) (n scalar or array) with P(rank r) roughly proportional to (r+1)^-s."""
    n1 = np.asarray(n, dtype=np.float64) + 1.0
    if abs(s - 1.0) < 1e-9:
        x = np.exp(u * np.log(n1))
    else:
        a = 1.0 - s
        x = (1.0 + u * (n1 ** a - 1.0)) ** (1.0 / a)
    r = x.astype(np.int64) - 1
    return np.clip(r, 0, np.asarray(n, dtype=np.int64) - 1)


def _coprime_mult(n: int, rng: np.random.Generator) -> int:
    if n <= 2:
        return 1
    a = int(rng.integers(n // 3, n - 1)) | 1
    while math.gcd(a, n) != 1:
        a += 2
    return a


class _Scramble:
    """Bijection of [0, n) (public ids unrelated to internal popularity order)."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n = int(n)
        self.a = _coprime_mult(self.n, rng)
        self.b = int(rng.integers(0, max(self.n, 1)))

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        return (np.asarray(idx, dtype=np.int64) * self.a + self.b) % self.n


def _string_array(fixed: np.ndarray) -> pa.Array:
    """(n, w) uint8 array of ASCII -> arrow string array of n strings of width w."""
    n, w = fixed.shape
    if n * w >= 2**31:
        raise ValueError("chunk too large for 32-bit string offsets")
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(fixed).tobytes()))


_VEC_TABLE = np.frombuffer(
    "".join(f" {v:3d}" for v in range(256)).encode("ascii"), dtype=np.uint8).reshape(256, 4)


def format_vectors(vec: np.ndarray) -> pa.Array:
    """(n, 16) uint8 -> strings exactly as numpy prints them, e.g. '[ 12 201   3 ...]'."""
    n = vec.shape[0]
    out = np.empty((n, 4 * VEC_DIM + 1), dtype=np.uint8)
    out[:, :-1] = _VEC_TABLE[vec.astype(np.intp)].reshape(n, 4 * VEC_DIM)
    out[:, 0] = ord("[")
    out[:, -1] = ord("]")
    return _string_array(out)


class _TimeFormatter:
    """Seconds since START_DATE -> 'YYYY-MM-DD HH:MM:SS' via two lookup tables."""

    def __init__(self, days: int):
        self.daytab = np.frombuffer("".join(
            (START_DATE + _dt.timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(days + 1)
        ).encode("ascii"), dtype=np.uint8).reshape(days + 1, 11)
        s = np.arange(86400)
        h, m, sec = s // 3600, (s // 60) % 60, s % 60
        tod = np.empty((86400, 8), dtype=np.uint8)
        for col, val in ((0, h), (3, m), (6, sec)):
            tod[:, col] = 48 + val // 10
            tod[:, col + 1] = 48 + val % 10
        tod[:, 2] = tod[:, 5] = ord(":")
        self.todtab = tod

    def __call__(self, secs: np.ndarray) -> pa.Array:
        out = np.empty((secs.shape[0], 19), dtype=np.uint8)
        out[:, :11] = self.daytab[secs // 86400]
        out[:, 11:] = self.todtab[secs % 86400]
        return _string_array(out)


# Time-of-day profile (hour weights) and weekly rhythm (Mon..Sun), START_DATE is a Monday.
_HOUR_W = np.array([1.5, 0.9, 0.5, 0.3, 0.25, 0.3, 0.6, 1.2, 2.0, 2.8, 3.2, 3.4, 3.5, 3.4,
                    3.3, 3.3, 3.4, 3.6, 4.0, 4.6, 5.0, 5.0, 4.2, 2.8])
_HOUR_CDF = np.cumsum(_HOUR_W) / _HOUR_W.sum()
_DOW_W = np.array([1.0, 0.97, 0.95, 0.93, 0.85, 0.8, 1.05])
_DOW_ACCEPT = _DOW_W / _DOW_W.max()


# --------------------------------------------------------------------------- the world

class _World:
    def __init__(self, p: SizePreset, seed: int):
        rng = _rng(seed, 0)
        C, S, D = p.categories, p.skus, p.days
        if S < C:
            raise ValueError("need at least one sku per category")
        self.p, self.C, self.S, self.D = p, C, S, D
        # Category popularity order = internal index; block sizes grow with popularity.
        pop = (np.arange(C) + 1.0) ** -p.cat_zipf
        w = pop ** 0.6
        extra = S - C
        size = 1 + np.floor(extra * w / w.sum()).astype(np.int64)
        size[: S - size.sum()] += 1
        self.cat_size = size
        self.cat_off = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
        self.sku_cat = np.repeat(np.arange(C, dtype=np.int64), size)
        cat_price = rng.uniform(5, 95, C)
        self.sku_price = np.clip(np.rint(cat_price[self.sku_cat] + rng.normal(0, 18, S)),
                                 0, 99).astype(np.int64)
        self.centroid = rng.uniform(20, 235, (C, VEC_DIM))
        self.name_vec = np.clip(np.rint(self.centroid[self.sku_cat] + rng.normal(0, 10, (S, VEC_DIM))),
                                0, 255).astype(np.uint8)
        # Launches: never the top sku of a category; density rising towards the end.
        launch = np.full(S, -1.0)
        is_new = rng.random(S) < p.new_sku_share
        is_new[self.cat_off] = False
        nn = int(is_new.sum())
        launch[is_new] = D * np.sqrt(rng.random(nn))
        self.sku_launch = launch
        new_idx = np.flatnonzero(is_new)
        order = np.argsort(launch[new_idx], kind="stable")
        self.new_idx = new_idx[order]
        self.new_launch = launch[self.new_idx]
        self.new_hype = rng.lognormal(0, 2.0, nn)[order]
        self.new_cum = np.concatenate([[0.0], np.cumsum(self.new_hype)])
        # Bestsellers ("trending" list): the skus with the highest expected popularity.
        score = np.log(pop[self.sku_cat]) - p.sku_zipf * np.log(
            1.0 + np.arange(S) - self.cat_off[self.sku_cat])
        score[is_new] = -np.inf
        nb = max(1, min(p.bestsellers, S - nn))
        self.best = np.argsort(-score, kind="stable")[:nb]
        # Public ids.
        self.sku_id = _Scramble(S, rng)(np.arange(S))
        self.cat_id = _Scramble(max(C * 3, 2), rng)(np.arange(C))
        self.n_general_urls = max(1, p.urls // 2)
        self.urls_per_cat = max(1, (p.urls - self.n_general_urls) // C)
        self.url_scramble = _Scramble(self.n_general_urls + self.urls_per_cat * C, rng)

    def properties_table(self) -> pa.Table:
        return pa.table({
            "sku": pa.array(self.sku_id, pa.int64()),
            "category": pa.array(self.cat_id[self.sku_cat], pa.int64()),
            "price": pa.array(self.sku_price, pa.int64()),
            "name": format_vectors(self.name_vec),
        })

    def pick_sku(self, cat, t, pref_price, rng):
        """Category draw: two Zipf candidates, the one nearer the price preference wins
        (70 %); a candidate not yet launched at day t falls back to the category's top sku."""
        n = cat.shape[0]
        size, off = self.cat_size[cat], self.cat_off[cat]
        c1 = off + _zipf(rng.random(n), size, self.p.sku_zipf)
        c2 = off + _zipf(rng.random(n), size, self.p.sku_zipf)
        c1 = np.where(self.sku_launch[c1] > t, off, c1)
        c2 = np.where(self.sku_launch[c2] > t, off, c2)
        d1 = np.abs(self.sku_price[c1] - pref_price)
        d2 = np.abs(self.sku_price[c2] - pref_price)
        take2 = (d2 < d1) & (rng.random(n) < 0.7)
        return np.where(take2, c2, c1)

    def pick_new(self, t, rng):
        """A sku launched in the 30 days up to day t, drawn in proportion to its 'hype';
        -1 where none was launched."""
        n = t.shape[0]
        lo = np.searchsorted(self.new_launch, t - 30.0, side="left")
        hi = np.searchsorted(self.new_launch, t, side="right")
        best = np.full(n, -1, dtype=np.int64)
        k = np.flatnonzero(hi > lo)
        if k.size == 0:
            return best
        c_lo, c_hi = self.new_cum[lo[k]], self.new_cum[hi[k]]
        x = c_lo + rng.random(k.size) * (c_hi - c_lo)
        j = np.clip(np.searchsorted(self.new_cum, x, side="right") - 1, lo[k], hi[k] - 1)
        best[k] = self.new_idx[j]
        return best


# --------------------------------------------------------------------------- clients

@dataclass
class _Clients:
    w0: np.ndarray
    w1: np.ndarray
    rate: np.ndarray
    depth: np.ndarray
    srate: np.ndarray
    irate: np.ndarray
    pbuy: np.ndarray
    prem: np.ndarray
    expected_sessions: np.ndarray


def _client_latents(p: SizePreset, seed: int, chunk: int, n: int) -> _Clients:
    rng = _rng(seed, 1, chunk)
    D = float(p.days)
    before = rng.random(n) < 0.35
    w0 = np.where(before, 0.0, rng.uniform(0, D, n))
    dur = rng.lognormal(math.log(p.lifetime_days), 1.2, n)
    w1 = np.minimum(w0 + dur, D)
    w0 = np.minimum(w0, D - 0.05)
    w1 = np.maximum(w1, w0 + 0.05)
    rate = rng.lognormal(math.log(0.021), p.rate_sigma, n) * p.activity
    depth = rng.lognormal(math.log(1.3), 0.7, n)
    busy = np.clip(np.log1p(rate * (w1 - w0)) / 4.0, 0, 1)  # busier clients shop more
    searcher = rng.random(n) < 0.03 + 0.25 * busy
    shopper = rng.random(n) < 0.09 + 0.6 * busy
    srate = np.where(searcher, rng.lognormal(math.log(0.72), 0.8, n), 0.0)
    irate = np.where(shopper, rng.lognormal(math.log(0.17), 0.8, n), 0.0)
    pbuy = rng.beta(0.7, 1.9, n)
    prem = rng.beta(0.5, 0.7, n)
    return _Clients(w0, w1, rate, depth, srate, irate, pbuy, prem, rate * (w1 - w0))


def _select_relevant(p: SizePreset, seed: int, n_chunks: int):
    """Weighted sample without replacement (Gumbel top-k) of p.relevant clients, plus the
    ghost (no events) and late (arrive in the target windows) subsets."""
    keys = np.empty(p.clients, dtype=np.float64)
    for ch in range(n_chunks):
        a, b = ch * p.chunk_clients, min(p.clients, (ch + 1) * p.chunk_clients)
        cl = _client_latents(p, seed, ch, b - a)
        sess = np.minimum(cl.expected_sessions, 400.0) + 0.3
        # expected buying sessions in the input part of the period (before ~day D-27)
        s_in = cl.rate * np.clip(np.minimum(cl.w1, p.days - 27.0) - cl.w0, 0, None) + 0.3
        p_buyer = 1.0 - np.exp(-s_in * cl.irate * (cl.pbuy + 0.05))
        w = sess ** (0.5 * p.relevant_bias) * (0.002 + p_buyer) ** p.buyer_bias * (1.0 + (cl.srate > 0))
        g = _rng(seed, 3, ch).gumbel(size=b - a)
        keys[a:b] = np.log(w) + g
    k = min(p.relevant, p.clients)
    rel = np.sort(np.argpartition(-keys, k - 1)[:k]) if k else np.empty(0, np.int64)
    del keys
    rng = _rng(seed, 4)
    n_special = max(1, round(0.01 * k)) if k >= 20 else (1 if k >= 2 else 0)
    pick = rng.permutation(k)
    ghost = np.zeros(p.clients, dtype=bool)
    late = np.zeros(p.clients, dtype=bool)
    ghost[rel[pick[:n_special]]] = True
    late[rel[pick[n_special:2 * n_special]]] = True
    order = rng.permutation(k)
    return rel[order].astype(np.int64), ghost, late


# --------------------------------------------------------------------------- events

def _chunk_events(world: _World, p: SizePreset, seed: int, chunk: int, a: int, b: int,
                  ghost: np.ndarray, late: np.ndarray):
    n = b - a
    cl = _client_latents(p, seed, chunk, n)
    rng = _rng(seed, 2, chunk)
    D = float(p.days)
    C = world.C
    # Late relevant clients live only in the target windows; ghosts have no event.
    lt = late[a:b]
    if lt.any():
        cl.w0[lt] = D - 25.0 + rng.uniform(0, 20, int(lt.sum()))
        cl.w1[lt] = np.minimum(cl.w0[lt] + 10.0, D)
    # Tastes.
    A = _zipf(rng.random((n, 3)), C, p.cat_zipf)
    B = _zipf(rng.random((n, 3)), C, p.cat_zipf)
    drift = rng.uniform(0, 0.8, n)
    price0 = rng.uniform(0, 99, n)
    pdrift = rng.normal(0, 15, n)
    pfav = rng.beta(1.0, 3.0, n)
    span = cl.w1 - cl.w0

    def categories(ci, t):
        m = ci.shape[0]
        frac = np.clip((t - cl.w0[ci]) / span[ci], 0, 1)
        use_b = rng.random(m) < drift[ci] * frac
        slot = np.searchsorted([0.6, 0.85], rng.random(m), side="right")
        cat = np.where(use_b, B[ci, slot], A[ci, slot])
        expl = rng.random(m) < 0.12
        cat[expl] = _zipf(rng.random(int(expl.sum())), C, p.cat_zipf)
        return cat, frac

    fav = world.pick_sku(A.reshape(-1), np.repeat(cl.w0, 3), np.repeat(price0, 3),
                         rng).reshape(n, 3)

    # Sessions.
    nsess = rng.poisson(cl.rate * span)
    nsess = np.maximum(nsess, 1)
    nsess = np.minimum(nsess, 4000)
    nsess[ghost[a:b]] = 0
    sc = np.repeat(np.arange(n, dtype=np.int64), nsess)
    ns = sc.shape[0]
    t = cl.w0[sc] + rng.random(ns) * span[sc]
    day = np.minimum(t.astype(np.int64), p.days - 1)
    rej = rng.random(ns) > _DOW_ACCEPT[day % 7]
    if rej.any():
        t2 = cl.w0[sc[rej]] + rng.random(int(rej.sum())) * span[sc[rej]]
        t[rej] = t2
        day[rej] = np.minimum(t2.astype(np.int64), p.days - 1)
    hour = np.searchsorted(_HOUR_CDF, rng.random(ns), side="right")
    start = day * 86400 + hour * 3600 + 5 * rng.integers(0, 720, ns)
    gap = 5 * (1 + rng.geometric(0.2, ns))  # seconds per funnel step in this session

    n_sq = rng.poisson(cl.srate[sc])
    n_int = rng.poisson(cl.irate[sc])
    n_pv = 1 + rng.poisson(cl.depth[sc])
    n_pv[(rng.random(ns) < 0.05) & ((n_sq + n_int) > 0)] = 0

    last = p.days * 86400 - 5  # events pushed past the end are mirrored back before it

    def stamp(sess, pos):
        ts = start[sess] + np.rint(pos * gap[sess] / 5.0).astype(np.int64) * 5
        off = rng.random(ts.shape[0]) < 0.03
        ts[off] += rng.integers(1, 5, int(off.sum()))
        return np.where(ts > last, 2 * last - ts, ts)

    def expand(counts):
        sess = np.repeat(np.arange(ns, dtype=np.int64), counts)
        first = np.cumsum(counts) - counts
        k = np.arange(sess.shape[0], dtype=np.int64) - np.repeat(first, counts)
        return sess, k

    out = {}
    # page_visit
    s_pv, k_pv = expand(n_pv)
    c_pv = sc[s_pv]
    m = s_pv.shape[0]
    catpage = rng.random(m) < 0.5
    url = _zipf(rng.random(m), world.n_general_urls, p.url_zipf)
    kk = np.flatnonzero(catpage)
    if kk.size:
        cat, _ = categories(c_pv[kk], t[s_pv[kk]])
        url[kk] = (world.n_general_urls + cat * world.urls_per_cat
                   + _zipf(rng.random(kk.size), world.urls_per_cat, p.url_zipf))
    out["page_visit"] = (c_pv, stamp(s_pv, k_pv.astype(np.float64)), world.url_scramble(url))

    # search_query
    s_sq, _ = expand(n_sq)
    c_sq = sc[s_sq]
    cat, _ = categories(c_sq, t[s_sq])
    vec = np.clip(np.rint(world.centroid[cat] + rng.normal(0, 20, (cat.shape[0], VEC_DIM))),
                  0, 255).astype(np.uint8)
    pos = rng.random(s_sq.shape[0]) * (n_pv[s_sq] + 1)
    out["search_query"] = (c_sq, stamp(s_sq, pos), vec)

    # purchase intents -> carts, removes, buys
    s_in, _ = expand(n_int)
    c_in = sc[s_in]
    ti = t[s_in]
    mi = s_in.shape[0]
    cat, frac = categories(c_in, ti)
    pp = np.clip(price0[c_in] + pdrift[c_in] * frac, 0, 99)
    sku = world.pick_sku(cat, ti, pp, rng)
    u = rng.random(mi)
    fv = u < pfav[c_in]
    if fv.any():
        cand = fav[c_in[fv], rng.integers(0, 3, int(fv.sum()))]
        cand = np.where(world.sku_launch[cand] > ti[fv], sku[fv], cand)
        sku[fv] = cand
    u = rng.random(mi)
    nw = (~fv) & (u < 0.12)
    bs = (~fv) & (u >= 0.12) & (u < 0.12 + p.bestseller_share)
    if bs.any():
        sku[bs] = world.best[_zipf(rng.random(int(bs.sum())), world.best.size, 0.3)]
    if nw.any():
        cand = world.pick_new(ti[nw], rng)
        sku[nw] = np.where(cand >= 0, cand, sku[nw])
    carted = rng.random(mi) < 0.95
    cpos = 0.5 + rng.random(mi) * (n_pv[s_in] + 0.5)
    u = rng.random(mi)
    pb = cl.pbuy[c_in]
    buy = carted & (u < pb)
    rem = carted & (u >= pb) & (rng.random(mi) < cl.prem[c_in])
    direct = ~carted
    later = cpos + 0.5 + 3.0 * rng.random(mi)
    ts_cart = stamp(s_in[carted], cpos[carted])
    ts_later = stamp(s_in, later)
    out["add_to_cart"] = (c_in[carted], ts_cart, sku[carted])
    out["remove_from_cart"] = (c_in[rem], ts_later[rem], sku[rem])
    bb = buy | direct
    out["product_buy"] = (c_in[bb], ts_later[bb], sku[bb])
    return out, int(np.count_nonzero(nsess))


# --------------------------------------------------------------------------- writing

def _time_order(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted timestamps and the permutation, ties by position: the keys are unique, so
    the result does not depend on the sort algorithm (numpy may pick a SIMD one per CPU)."""
    n = ts.shape[0]
    tbits = max(1, int(ts.max(initial=0)).bit_length())
    if n >= 2 ** (63 - tbits):  # pragma: no cover - far beyond any chunk size
        order = np.argsort(ts, kind="stable")
        return ts[order], order
    key = np.sort((ts.astype(np.int64) << (63 - tbits)) | np.arange(n, dtype=np.int64))
    return key >> (63 - tbits), key & ((1 << (63 - tbits)) - 1)



_SCHEMAS = {
    "product_buy": pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()), ("sku", pa.int64())]),
    "add_to_cart": pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()), ("sku", pa.int64())]),
    "remove_from_cart": pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()), ("sku", pa.int64())]),
    "page_visit": pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()), ("url", pa.int64())]),
    "search_query": pa.schema([("client_id", pa.int64()), ("timestamp", pa.string()), ("query", pa.string())]),
}
_WRITER_KW = dict(compression="zstd", compression_level=1, use_dictionary=False,
                  write_statistics=True)


class _BackgroundWriter:
    """Writes tables in FIFO order on one thread (arrow releases the GIL while encoding)."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue(maxsize=6)
        self.err: BaseException | None = None
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.err is not None:
                continue
            writer, table = item
            try:
                writer.write_table(table, row_group_size=max(1, table.num_rows))
            except BaseException as e:  # pragma: no cover - surfaced in close()
                self.err = e

    def put(self, writer, table):
        if self.err is not None:
            raise self.err
        self.q.put((writer, table))

    def close(self):
        self.q.put(None)
        self.th.join()
        if self.err is not None:
            raise self.err


def generate(out_dir: Path, size: str = "small", *, clients: int | None = None,
             days: int | None = None, seed: int = 0,
             progress: Callable[[str], None] | None = None) -> GenerateSummary:
    """Write a synthetic dataset (SPEC section 2) into ``out_dir``; see the module docstring.

    ``clients`` overrides the population (relevant clients scale with it), ``days`` the
    time span (at least 29, so that the two 14-day target windows fit)."""
    t0 = time.perf_counter()
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    p = SIZES[size]
    if clients is not None:
        if clients < 1:
            raise ValueError("clients must be >= 1")
        rel = max(1, round(p.relevant * clients / p.clients))
        p = replace(p, clients=int(clients), relevant=min(int(clients), rel))
    if days is not None:
        if days < 29:
            raise ValueError("days must be >= 29 (two 14-day target windows and some input)")
        p = replace(p, days=int(days))
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    (out / "input").mkdir(parents=True, exist_ok=True)

    world = _World(p, seed)
    n_chunks = max(1, -(-p.clients // p.chunk_clients))
    say(f"{p.name}: {p.clients:,} clients, {p.relevant:,} relevant, {p.days} days, "
        f"{p.skus:,} skus, {n_chunks} chunk(s)")
    relevant, ghost, late = _select_relevant(p, seed, n_chunks)
    cid = _Scramble(p.clients, _rng(seed, 5))
    fmt = _TimeFormatter(p.days)

    rows = {e: 0 for e in EVENT_TYPES}
    from ubm.provenance import remove_derived
    from ubm.util import clean_litter, temp_name

    clean_litter(out)
    tmp = {e: temp_name(out / f"{e}.parquet") for e in EVENT_TYPES}
    writers = {e: pq.ParquetWriter(tmp[e], _SCHEMAS[e], **_WRITER_KW) for e in EVENT_TYPES}
    bg = _BackgroundWriter()
    active = 0
    try:
        pt = temp_name(out / "product_properties.parquet")
        pq.write_table(world.properties_table(), pt, **_WRITER_KW)
        for ch in range(n_chunks):
            a, b = ch * p.chunk_clients, min(p.clients, (ch + 1) * p.chunk_clients)
            ev, act = _chunk_events(world, p, seed, ch, a, b, ghost, late)
            active += act
            for e in EVENT_TYPES:
                c, ts, val = ev[e]
                ts, order = _time_order(ts)
                ids = cid(c[order] + a)
                if e == "search_query":
                    col = format_vectors(val[order])
                elif e == "page_visit":
                    col = pa.array(val[order], pa.int64())
                else:
                    col = pa.array(world.sku_id[val[order]], pa.int64())
                table = pa.Table.from_arrays(
                    [pa.array(ids, pa.int64()), fmt(ts), col], schema=_SCHEMAS[e])
                rows[e] += table.num_rows
                bg.put(writers[e], table)
            say(f"chunk {ch + 1}/{n_chunks}: {sum(rows.values()):,} events so far")
        bg.close()
        for w in writers.values():
            w.close()
        # The old split, lists and label cache belong to the files being replaced.
        remove_derived(out)
        for e in EVENT_TYPES:
            os.replace(tmp[e], out / f"{e}.parquet")
        os.replace(pt, out / "product_properties.parquet")
        rt = temp_name(out / "input" / "relevant_clients.npy")
        with open(rt, "wb") as fh:
            np.save(fh, cid(relevant).astype(np.int64))
        os.replace(rt, out / "input" / "relevant_clients.npy")
    except BaseException:
        try:
            bg.close()
        except BaseException:
            pass
        for w in writers.values():
            try:
                w.close()
            except Exception:
                pass
        for f in list(tmp.values()) + [temp_name(out / "product_properties.parquet")]:
            f.unlink(missing_ok=True)
        raise
    rows["product_properties"] = p.skus
    secs = time.perf_counter() - t0
    say(f"done: {sum(rows[e] for e in EVENT_TYPES):,} events in {secs:.1f} s")
    return GenerateSummary(out_dir=out, n_clients=p.clients, n_relevant=int(relevant.size),
                           rows=rows, seconds=secs, size=p.name, days=p.days, n_skus=p.skus,
                           n_categories=p.categories, n_clients_with_events=active,
                           extra={"ghost_relevant": int(ghost.sum()),
                                  "late_relevant": int(late.sum())})
