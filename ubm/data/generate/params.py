"""What the generator is told: how much data (a size preset) and how clients behave.

Every number that shapes the generated world is a field of :class:`Behaviour`, named and
explained once here; ``world.py``, ``clients.py`` and ``sessions.py`` read them by name. A
:class:`SizePreset` is a scale plus a ``Behaviour``; the small presets turn a few knobs
(more activity, more buyers and new skus) so that tiny data still exercises every task.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

START_DATE = _dt.datetime(2022, 5, 23)  # day 0 of the period, a Monday
SECONDS_PER_DAY = 86_400
MAX_PRICE = 99  # price buckets are 0..MAX_PRICE (docs/data.md)


@dataclass(frozen=True)
class Behaviour:
    """The generative model's parameters. Days are days since :data:`START_DATE`; "Zipf s"
    means rank r (0-based) is drawn with weight roughly (r+1)^-s; "log-normal m, sigma"
    means exp(Normal(log m, sigma)), so m is the median."""

    # --- catalogue (world.py)
    category_zipf: float = 1.0  # Zipf s of category popularity
    sku_zipf: float = 1.1  # Zipf s of sku popularity inside its category
    url_zipf: float = 1.0  # Zipf s of general pages, and of pages inside a category
    category_size_power: float = 0.6  # a category's sku count grows as popularity ** this
    category_price_range: tuple[float, float] = (5.0, 95.0)  # a category's price level, uniform
    sku_price_noise: float = 18.0  # sd of a sku's price bucket around its category's level
    centroid_range: tuple[float, float] = (20.0, 235.0)  # a category's 16 "text" coordinates
    name_noise: float = 10.0  # sd of a sku's name vector around its category centroid
    query_noise: float = 20.0  # sd of a search query vector around its category centroid
    new_sku_share: float = 0.08  # skus launched during the period, more towards the end
    hype_sigma: float = 2.0  # log-normal sigma (median 1) of a new sku's extra demand
    new_sku_window_days: float = 30.0  # a "new sku" intent picks among launches this recent
    bestsellers: int = 1_000  # size of the "trending" list (top skus not launched in the period)
    bestseller_zipf: float = 0.3  # Zipf s of a draw inside the trending list
    price_choice: float = 0.7  # chance the nearer of two candidates to the price preference wins

    # --- clients (clients.py)
    activity: float = 1.0  # multiplies every client's session rate
    session_rate_median: float = 0.021  # sessions per day, log-normal over clients ...
    session_rate_sigma: float = 1.5  # ... with this sigma (heavy tail: a few very busy clients)
    present_at_start: float = 0.35  # clients there from day 0; the others arrive uniformly
    lifetime_median_days: float = 35.0  # log-normal lifetime (many clients stop: churn) ...
    lifetime_sigma: float = 1.2  # ... with this sigma, cut at the end of the period
    min_lifetime_days: float = 0.05  # shortest lifetime; also the latest arrival before the end
    page_depth_median: float = 1.3  # extra page visits per session (Poisson mean), log-normal
    page_depth_sigma: float = 0.7
    busy_log_sessions: float = 4.0  # log(1 + expected sessions) of a fully busy client
    searcher_share: float = 0.03  # chance an idle client ever searches ...
    searcher_busy_gain: float = 0.25  # ... plus this times its busyness (0..1)
    shopper_share: float = 0.09  # chance an idle client ever has purchase intents ...
    shopper_busy_gain: float = 0.6  # ... plus this times its busyness
    searches_median: float = 0.72  # a searcher's searches per session (Poisson mean), log-normal
    searches_sigma: float = 0.8
    intents_median: float = 0.17  # a shopper's intents per session (Poisson mean), log-normal
    intents_sigma: float = 0.8
    buy_beta: tuple[float, float] = (0.7, 1.9)  # Beta(a, b): chance to buy a carted sku
    remove_beta: tuple[float, float] = (0.5, 0.7)  # Beta(a, b): to remove one it did not buy

    # --- tastes and intents (sessions.py). A client has two sets of favourite categories and
    # one favourite sku per category of the first set.
    taste_slot_cdf: tuple[float, ...] = (0.6, 0.85)  # cumulative chance of a set's 1st, 2nd ...
    # favourite category; one more slot takes the rest
    taste_drift_max: float = 0.8  # chance of using the second set at the end of a lifetime:
    # uniform(0, this), growing linearly from 0 at arrival
    explore_share: float = 0.12  # category draws that ignore tastes (global popularity instead)
    price_drift_sd: float = 15.0  # sd of how far the preferred price bucket moves in a lifetime
    favourite_beta: tuple[float, float] = (1.0, 3.0)  # Beta(a, b): intents on a favourite sku
    new_intent_share: float = 0.12  # other intents on a recently launched sku ...
    bestseller_share: float = 0.15  # ... or on the trending list; the rest are category draws
    cart_share: float = 0.95  # intents carted (then bought, removed or left); rest bought directly

    # --- session timing (sessions.py); weekday weights start on START_DATE, a Monday
    hour_weights: tuple[float, ...] = (1.5, 0.9, 0.5, 0.3, 0.25, 0.3, 0.6, 1.2, 2.0, 2.8, 3.2, 3.4,
                                       3.5, 3.4, 3.3, 3.3, 3.4, 3.6, 4.0, 4.6, 5.0, 5.0, 4.2, 2.8)
    weekday_weights: tuple[float, ...] = (1.0, 0.97, 0.95, 0.93, 0.85, 0.8, 1.05)
    max_sessions: int = 4_000  # per client; a client with a lifetime has one session at least
    step_seconds: int = 5  # events sit on steps of this many seconds ...
    off_step_share: float = 0.03  # ... except this share, moved by 1..step-1 seconds
    funnel_step_p: float = 0.2  # a session's seconds per step: step * (1 + Geometric(this))
    skip_pages_share: float = 0.05  # sessions with a search or an intent that visit no page
    category_page_share: float = 0.5  # visits to a category page of the client's tastes
    buy_delay_steps: tuple[float, float] = (0.5, 3.0)  # a buy or remove comes first + uniform(0,
    # second) steps after the cart

    # --- relevant clients (clients.py), sampled with weight
    #   sqrt(sessions) ** relevance_activity_power
    #   * (relevance_buyer_floor + P(buys in the input part)) ** relevance_buyer_power
    #   * (1 + relevance_searcher_boost if the client searches)
    relevance_activity_power: float = 1.0
    relevance_buyer_power: float = 3.0
    relevance_session_cap: float = 400.0  # expected sessions counted at most ...
    relevance_session_floor: float = 0.3  # ... plus this, so that nobody has weight 0
    relevance_direct_buy: float = 0.05  # added to the buy chance: intents bought without a cart
    relevance_buyer_floor: float = 0.002
    relevance_searcher_boost: float = 1.0
    target_days: float = 27.0  # the input part ends about this many days before the end
    ghost_share: float = 0.01  # relevant clients with no event at all; as many arrive late:
    late_arrival_days: float = 25.0  # a late client arrives this many days before the end ...
    late_arrival_spread: float = 20.0  # ... plus uniform(0, this) ...
    late_lifetime_days: float = 10.0  # ... and stays this long (cut at the end of the period)


@dataclass(frozen=True)
class SizePreset:
    """How much data: population, period, catalogue, and the behaviour at that scale.
    ``chunk_clients`` bounds memory; it also fixes the random streams, so it is part of what
    a preset generates."""

    name: str
    clients: int
    relevant: int
    days: int
    skus: int
    categories: int
    urls: int
    chunk_clients: int = 250_000
    behaviour: Behaviour = field(default_factory=Behaviour)


SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset("tiny", clients=600, relevant=50, days=35, skus=300, categories=20,
                       urls=2_000, chunk_clients=600, behaviour=Behaviour(
                           activity=6.0, category_zipf=0.7, sku_zipf=1.2, new_sku_share=0.15,
                           bestsellers=20, bestseller_share=0.3, session_rate_sigma=0.8,
                           lifetime_median_days=30.0)),
    "small": SizePreset("small", clients=60_000, relevant=3_000, days=141, skus=10_000,
                        categories=120, urls=200_000, chunk_clients=20_000, behaviour=Behaviour(
                            activity=3.0, category_zipf=0.6, sku_zipf=1.3, new_sku_share=0.15,
                            bestsellers=100, bestseller_share=0.3, relevance_buyer_power=0.75,
                            lifetime_median_days=70.0)),
    "medium": SizePreset("medium", clients=1_500_000, relevant=60_000, days=141,
                         skus=150_000, categories=2_000, urls=2_000_000, chunk_clients=250_000,
                         behaviour=Behaviour(activity=1.5, category_zipf=0.9, sku_zipf=1.2,
                                             new_sku_share=0.1)),
    "full": SizePreset("full", clients=18_900_000, relevant=1_000_000, days=141,
                       skus=1_200_000, categories=6_900, urls=15_000_000, chunk_clients=500_000,
                       behaviour=Behaviour(activity=1.0, category_zipf=1.0, sku_zipf=1.1,
                                           new_sku_share=0.08)),
}
