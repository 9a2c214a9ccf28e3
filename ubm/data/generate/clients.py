"""Who the clients are: a lifetime inside the period, a session rate, a page depth, whether
they search and shop and how much, and how they treat their cart (see :class:`Behaviour`);
then which of them are the relevant clients, including the ghosts (no event at all) and the
late arrivals (events only in the target windows)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ubm.data.generate.params import SizePreset
from ubm.data.generate.sampling import CLIENT_STREAM, RELEVANCE_STREAM, SPECIAL_STREAM, stream


@dataclass
class Clients:
    """One chunk's clients, one entry each; days are days since the start of the period."""

    arrive: np.ndarray  # first day of the lifetime
    leave: np.ndarray  # last day of the lifetime
    session_rate: np.ndarray  # sessions per day
    page_depth: np.ndarray  # extra page visits per session (Poisson mean)
    search_rate: np.ndarray  # searches per session; 0 for clients who never search
    intent_rate: np.ndarray  # purchase intents per session; 0 for clients who never shop
    buy_chance: np.ndarray  # of a carted sku
    remove_chance: np.ndarray  # of a carted sku not bought

    def expected_sessions(self) -> np.ndarray:
        return self.session_rate * (self.leave - self.arrive)


def chunk_bounds(preset: SizePreset, chunk: int) -> tuple[int, int]:
    """The client indices [first, stop) of a chunk."""
    first = chunk * preset.chunk_clients
    return first, min(preset.clients, first + preset.chunk_clients)


def draw_clients(preset: SizePreset, seed: int, chunk: int, n: int) -> Clients:
    """The same chunk always draws the same clients, so relevance sampling and event
    generation can each draw them again instead of holding the whole population."""
    b, rng, days = preset.behaviour, stream(seed, CLIENT_STREAM, chunk), float(preset.days)
    from_start = rng.random(n) < b.present_at_start
    arrive = np.where(from_start, 0.0, rng.uniform(0, days, n))
    lifetime = rng.lognormal(math.log(b.lifetime_median_days), b.lifetime_sigma, n)
    leave = np.minimum(arrive + lifetime, days)
    arrive = np.minimum(arrive, days - b.min_lifetime_days)
    leave = np.maximum(leave, arrive + b.min_lifetime_days)
    rate = rng.lognormal(math.log(b.session_rate_median), b.session_rate_sigma, n) * b.activity
    depth = rng.lognormal(math.log(b.page_depth_median), b.page_depth_sigma, n)
    busy = np.clip(np.log1p(rate * (leave - arrive)) / b.busy_log_sessions, 0, 1)
    searcher = rng.random(n) < b.searcher_share + b.searcher_busy_gain * busy
    shopper = rng.random(n) < b.shopper_share + b.shopper_busy_gain * busy
    search_rate = np.where(searcher, rng.lognormal(math.log(b.searches_median),
                                                   b.searches_sigma, n), 0.0)
    intent_rate = np.where(shopper, rng.lognormal(math.log(b.intents_median),
                                                  b.intents_sigma, n), 0.0)
    buy_chance = rng.beta(*b.buy_beta, n)
    remove_chance = rng.beta(*b.remove_beta, n)
    return Clients(arrive, leave, rate, depth, search_rate, intent_rate, buy_chance,
                   remove_chance)


@dataclass(frozen=True)
class RelevantClients:
    order: np.ndarray  # client indices, in the published order
    ghost: np.ndarray  # mask over all clients: relevant, and no event at all
    late: np.ndarray  # mask over all clients: relevant, and arriving in the target windows


def _relevance_weight(preset: SizePreset, cl: Clients) -> np.ndarray:
    """Favours active clients, buyers in the input part of the period, and searchers."""
    b = preset.behaviour
    sessions = (np.minimum(cl.expected_sessions(), b.relevance_session_cap)
                + b.relevance_session_floor)
    input_sessions = cl.session_rate * np.clip(
        np.minimum(cl.leave, preset.days - b.target_days) - cl.arrive, 0, None
    ) + b.relevance_session_floor
    buys_per_intent = cl.buy_chance + b.relevance_direct_buy
    p_buyer = 1.0 - np.exp(-input_sessions * cl.intent_rate * buys_per_intent)
    return (sessions ** (0.5 * b.relevance_activity_power)
            * (b.relevance_buyer_floor + p_buyer) ** b.relevance_buyer_power
            * (1.0 + b.relevance_searcher_boost * (cl.search_rate > 0)))


def _special_count(n_relevant: int, share: float) -> int:
    """Ghosts (and as many late clients): a share of the relevant, one at least from 2 on."""
    if n_relevant >= 20:
        return max(1, round(share * n_relevant))
    return 1 if n_relevant >= 2 else 0


def select_relevant(preset: SizePreset, seed: int, n_chunks: int) -> RelevantClients:
    """A weighted sample without replacement (Gumbel top-k) of ``preset.relevant`` clients."""
    keys = np.empty(preset.clients, dtype=np.float64)
    for chunk in range(n_chunks):
        first, stop = chunk_bounds(preset, chunk)
        weight = _relevance_weight(preset, draw_clients(preset, seed, chunk, stop - first))
        noise = stream(seed, RELEVANCE_STREAM, chunk).gumbel(size=stop - first)
        keys[first:stop] = np.log(weight) + noise
    k = min(preset.relevant, preset.clients)
    chosen = np.sort(np.argpartition(-keys, k - 1)[:k]) if k else np.empty(0, np.int64)
    del keys
    rng = stream(seed, SPECIAL_STREAM)
    n_special = _special_count(k, preset.behaviour.ghost_share)
    pick = rng.permutation(k)
    ghost = np.zeros(preset.clients, dtype=bool)
    late = np.zeros(preset.clients, dtype=bool)
    ghost[chosen[pick[:n_special]]] = True
    late[chosen[pick[n_special:2 * n_special]]] = True
    order = rng.permutation(k)
    return RelevantClients(chosen[order].astype(np.int64), ghost, late)
