"""One chunk of clients' events: tastes, sessions, and each session's funnel of page
visits, searches and purchase intents (carted, then bought, removed or left; or bought
directly). Every draw comes from the chunk's event stream in a fixed order.

Tastes: two sets of favourite categories; the chance of drawing from the second set grows
over the lifetime (drift), and so does the move of the preferred price. Each favourite
category gives a favourite sku that is bought again and again. Sessions: Poisson(rate x
lifetime) of them on days of a weekly rhythm and hours of a daily profile; a session's events
follow each other on a per-session step. The numbers are fields of :class:`Behaviour`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ubm.contract import VECTOR_LEN
from ubm.data.generate.clients import Clients, draw_clients
from ubm.data.generate.params import MAX_PRICE, SECONDS_PER_DAY, Behaviour, SizePreset
from ubm.data.generate.sampling import EVENT_STREAM, stream, zipf_ranks
from ubm.data.generate.world import World


@dataclass(frozen=True)
class EventColumns:
    client: np.ndarray  # client index inside the chunk
    seconds: np.ndarray  # since the start of the period
    value: np.ndarray  # sku index (internal), url id, or (n, 16) uint8 query vectors


@dataclass(frozen=True)
class ChunkEvents:
    events: dict[str, EventColumns]
    active_clients: int  # clients of the chunk with one session at least


@dataclass(frozen=True)
class _Tastes:
    first: np.ndarray  # (n, slots) favourite categories at arrival ...
    second: np.ndarray  # (n, slots) ... and the ones the client drifts towards
    drift: np.ndarray  # chance of drawing from `second` at the end of the lifetime
    price: np.ndarray  # preferred price bucket at arrival ...
    price_drift: np.ndarray  # ... and its change over the lifetime
    favourite_share: np.ndarray  # share of intents on a favourite sku


@dataclass(frozen=True)
class _Sessions:
    client: np.ndarray  # per session
    day: np.ndarray  # fractional day, drives taste drift and launches
    start: np.ndarray  # seconds
    step: np.ndarray  # seconds per funnel step
    pages: np.ndarray  # page visits
    searches: np.ndarray
    intents: np.ndarray


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Session index of each of ``counts[s]`` events, and the event's number in its session."""
    sess = np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    k = np.arange(sess.shape[0], dtype=np.int64) - np.repeat(first, counts)
    return sess, k


class _Chunk:
    """The draws of one chunk; methods must be called in the order :func:`chunk_events` does."""

    def __init__(self, world: World, preset: SizePreset, clients: Clients,
                 rng: np.random.Generator):
        self.world, self.preset, self.clients, self.rng = world, preset, clients, rng
        self.b: Behaviour = preset.behaviour
        self.last_second = preset.days * SECONDS_PER_DAY - self.b.step_seconds

    def place_late(self, late: np.ndarray) -> None:
        """Late relevant clients live only in the target windows."""
        if late.any():
            b, days, cl = self.b, float(self.preset.days), self.clients
            cl.arrive[late] = (days - b.late_arrival_days
                               + self.rng.uniform(0, b.late_arrival_spread, int(late.sum())))
            cl.leave[late] = np.minimum(cl.arrive[late] + b.late_lifetime_days, days)

    def draw_tastes(self) -> None:
        b, rng, n = self.b, self.rng, self.clients.arrive.shape[0]
        slots = len(b.taste_slot_cdf) + 1
        n_cat = self.world.n_categories
        self.tastes = _Tastes(
            first=zipf_ranks(rng.random((n, slots)), n_cat, b.category_zipf),
            second=zipf_ranks(rng.random((n, slots)), n_cat, b.category_zipf),
            drift=rng.uniform(0, b.taste_drift_max, n),
            price=rng.uniform(0, MAX_PRICE, n),
            price_drift=rng.normal(0, b.price_drift_sd, n),
            favourite_share=rng.beta(*b.favourite_beta, n))
        self.lifetime = self.clients.leave - self.clients.arrive
        first = self.tastes.first
        self.favourites = self.world.pick_sku(
            first.reshape(-1), np.repeat(self.clients.arrive, slots),
            np.repeat(self.tastes.price, slots), rng).reshape(n, slots)

    def categories(self, who: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A category per event of clients ``who`` on ``day``, and how far into its
        lifetime the client is (0..1)."""
        b, rng, t = self.b, self.rng, self.tastes
        m = who.shape[0]
        frac = np.clip((day - self.clients.arrive[who]) / self.lifetime[who], 0, 1)
        use_second = rng.random(m) < t.drift[who] * frac
        slot = np.searchsorted(b.taste_slot_cdf, rng.random(m), side="right")
        cat = np.where(use_second, t.second[who, slot], t.first[who, slot])
        explore = rng.random(m) < b.explore_share
        cat[explore] = zipf_ranks(rng.random(int(explore.sum())), self.world.n_categories,
                                  b.category_zipf)
        return cat, frac

    def schedule(self, ghost: np.ndarray) -> None:
        b, rng, cl, days = self.b, self.rng, self.clients, self.preset.days
        count = rng.poisson(cl.session_rate * self.lifetime)
        count = np.maximum(count, 1)
        count = np.minimum(count, b.max_sessions)
        count[ghost] = 0
        self.active = int(np.count_nonzero(count))
        client = np.repeat(np.arange(count.shape[0], dtype=np.int64), count)
        ns = client.shape[0]
        day = cl.arrive[client] + rng.random(ns) * self.lifetime[client]
        day_index = np.minimum(day.astype(np.int64), days - 1)
        weekday = np.asarray(b.weekday_weights)
        # Weekly rhythm by thinning: a session on a quieter weekday is redrawn once.
        redraw = rng.random(ns) > (weekday / weekday.max())[day_index % 7]
        if redraw.any():
            who = client[redraw]
            again = cl.arrive[who] + rng.random(int(redraw.sum())) * self.lifetime[who]
            day[redraw] = again
            day_index[redraw] = np.minimum(again.astype(np.int64), days - 1)
        hours = np.asarray(b.hour_weights)
        hour = np.searchsorted(np.cumsum(hours) / hours.sum(), rng.random(ns), side="right")
        step = b.step_seconds
        start = day_index * SECONDS_PER_DAY + hour * 3600 + step * rng.integers(0, 3600 // step, ns)
        gap = step * (1 + rng.geometric(b.funnel_step_p, ns))
        searches = rng.poisson(cl.search_rate[client])
        intents = rng.poisson(cl.intent_rate[client])
        pages = 1 + rng.poisson(cl.page_depth[client])
        pages[(rng.random(ns) < b.skip_pages_share) & ((searches + intents) > 0)] = 0
        self.sessions = _Sessions(client, day, start, gap, pages, searches, intents)

    def stamp(self, sess: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Seconds of events at funnel position ``pos`` of sessions ``sess``; an event pushed
        past the end of the period is mirrored back before it."""
        b, s = self.b, self.sessions
        steps = np.rint(pos * s.step[sess] / b.step_seconds).astype(np.int64)
        ts = s.start[sess] + steps * b.step_seconds
        off = self.rng.random(ts.shape[0]) < b.off_step_share
        ts[off] += self.rng.integers(1, b.step_seconds, int(off.sum()))
        return np.where(ts > self.last_second, 2 * self.last_second - ts, ts)

    def page_visits(self) -> EventColumns:
        rng, s, world = self.rng, self.sessions, self.world
        sess, k = _expand(s.pages)
        who = s.client[sess]
        m = sess.shape[0]
        category_page = rng.random(m) < self.b.category_page_share
        url = world.general_url(rng.random(m))
        kk = np.flatnonzero(category_page)
        if kk.size:
            cat, _ = self.categories(who[kk], s.day[sess[kk]])
            url[kk] = world.category_url(cat, rng.random(kk.size))
        return EventColumns(who, self.stamp(sess, k.astype(np.float64)), world.url_id(url))

    def searches(self) -> EventColumns:
        rng, s = self.rng, self.sessions
        sess, _ = _expand(s.searches)
        who = s.client[sess]
        cat, _ = self.categories(who, s.day[sess])
        noise = rng.normal(0, self.b.query_noise, (cat.shape[0], VECTOR_LEN))
        vec = np.clip(np.rint(self.world.centroid[cat] + noise), 0, 255).astype(np.uint8)
        pos = rng.random(sess.shape[0]) * (s.pages[sess] + 1)  # anywhere among the page visits
        return EventColumns(who, self.stamp(sess, pos), vec)

    def intent_skus(self, who: np.ndarray, day: np.ndarray) -> np.ndarray:
        """A favourite sku (if launched), else a new sku, a bestseller or a category draw."""
        b, rng, world, t = self.b, self.rng, self.world, self.tastes
        m = who.shape[0]
        cat, frac = self.categories(who, day)
        price = np.clip(t.price[who] + t.price_drift[who] * frac, 0, MAX_PRICE)
        sku = world.pick_sku(cat, day, price, rng)
        favourite = rng.random(m) < t.favourite_share[who]
        if favourite.any():
            fav = self.favourites[who[favourite],
                                  rng.integers(0, self.favourites.shape[1], int(favourite.sum()))]
            sku[favourite] = np.where(world.launch_day[fav] > day[favourite], sku[favourite], fav)
        u = rng.random(m)
        new = (~favourite) & (u < b.new_intent_share)
        best = ((~favourite) & (u >= b.new_intent_share)
                & (u < b.new_intent_share + b.bestseller_share))
        if best.any():
            sku[best] = world.pick_bestseller(rng.random(int(best.sum())))
        if new.any():
            launched = world.pick_new(day[new], rng)
            sku[new] = np.where(launched >= 0, launched, sku[new])
        return sku

    def intents(self) -> dict[str, EventColumns]:
        b, rng, s, cl = self.b, self.rng, self.sessions, self.clients
        sess, _ = _expand(s.intents)
        who = s.client[sess]
        m = sess.shape[0]
        sku = self.intent_skus(who, s.day[sess])
        carted = rng.random(m) < b.cart_share
        cart_pos = 0.5 + rng.random(m) * (s.pages[sess] + 0.5)  # among the page visits
        u = rng.random(m)
        buy_chance = cl.buy_chance[who]
        bought = carted & (u < buy_chance)
        removed = carted & (u >= buy_chance) & (rng.random(m) < cl.remove_chance[who])
        delay, spread = b.buy_delay_steps
        later_pos = cart_pos + delay + spread * rng.random(m)
        ts_cart = self.stamp(sess[carted], cart_pos[carted])
        ts_later = self.stamp(sess, later_pos)
        buy = bought | ~carted
        return {"add_to_cart": EventColumns(who[carted], ts_cart, sku[carted]),
                "remove_from_cart": EventColumns(who[removed], ts_later[removed], sku[removed]),
                "product_buy": EventColumns(who[buy], ts_later[buy], sku[buy])}


def chunk_events(world: World, preset: SizePreset, seed: int, chunk: int, first: int,
                 stop: int, ghost: np.ndarray, late: np.ndarray) -> ChunkEvents:
    """Events of clients [first, stop); ``ghost`` and ``late`` are masks over all clients."""
    clients = draw_clients(preset, seed, chunk, stop - first)
    draws = _Chunk(world, preset, clients, stream(seed, EVENT_STREAM, chunk))
    draws.place_late(late[first:stop])
    draws.draw_tastes()
    draws.schedule(ghost[first:stop])
    events = {"page_visit": draws.page_visits(), "search_query": draws.searches(),
              **draws.intents()}
    return ChunkEvents(events, draws.active)
