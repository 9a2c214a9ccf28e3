"""The catalogue the clients shop in: categories, skus (price, name vector, launch day,
"hype"), the trending list, the url space and the public ids (see :class:`Behaviour`).

Categories are indexed by popularity (0 = most popular) and each owns a contiguous block of
skus, indexed by popularity inside the category; public ids are scrambled from these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ubm.contract import VECTOR_LEN
from ubm.data.generate.params import MAX_PRICE, Behaviour, SizePreset
from ubm.data.generate.sampling import WORLD_STREAM, Scramble, stream, zipf_ranks


@dataclass(frozen=True)
class _Catalogue:
    popularity: np.ndarray  # per category, unnormalised
    size: np.ndarray  # skus per category
    start: np.ndarray  # first sku of each category
    sku_category: np.ndarray


@dataclass(frozen=True)
class _Launches:
    launch_day: np.ndarray  # per sku; -1 for skus there from the start
    is_new: np.ndarray
    new_skus: np.ndarray  # launched skus in launch order ...
    new_launch_day: np.ndarray  # ... their launch days ...
    new_hype_cumsum: np.ndarray  # ... and the running sum of their hype, from 0


def _catalogue(preset: SizePreset) -> _Catalogue:
    """Block sizes grow with category popularity; every category has one sku at least."""
    b, n_cat, n_sku = preset.behaviour, preset.categories, preset.skus
    popularity = (np.arange(n_cat) + 1.0) ** -b.category_zipf
    weight = popularity ** b.category_size_power
    size = 1 + np.floor((n_sku - n_cat) * weight / weight.sum()).astype(np.int64)
    size[: n_sku - size.sum()] += 1
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    return _Catalogue(popularity, size, start,
                      np.repeat(np.arange(n_cat, dtype=np.int64), size))


def _launches(preset: SizePreset, category_start: np.ndarray,
              rng: np.random.Generator) -> _Launches:
    """Launch days with density rising linearly towards the end (sqrt of a uniform); never
    the top sku of a category, so a category always has something on sale."""
    n_sku = preset.skus
    launch = np.full(n_sku, -1.0)
    is_new = rng.random(n_sku) < preset.behaviour.new_sku_share
    is_new[category_start] = False
    n_new = int(is_new.sum())
    launch[is_new] = preset.days * np.sqrt(rng.random(n_new))
    new_idx = np.flatnonzero(is_new)
    order = np.argsort(launch[new_idx], kind="stable")
    new_skus = new_idx[order]
    hype = rng.lognormal(0, preset.behaviour.hype_sigma, n_new)[order]
    return _Launches(launch, is_new, new_skus, launch[new_skus],
                     np.concatenate([[0.0], np.cumsum(hype)]))


def _bestsellers(preset: SizePreset, cat: _Catalogue, is_new: np.ndarray) -> np.ndarray:
    """The skus with the highest expected popularity, launched skus excluded."""
    n_sku = preset.skus
    score = np.log(cat.popularity[cat.sku_category]) - preset.behaviour.sku_zipf * np.log(
        1.0 + np.arange(n_sku) - cat.start[cat.sku_category])
    score[is_new] = -np.inf
    n_best = max(1, min(preset.behaviour.bestsellers, n_sku - int(is_new.sum())))
    return np.argsort(-score, kind="stable")[:n_best]


@dataclass(frozen=True)
class World:
    behaviour: Behaviour
    n_categories: int
    category_size: np.ndarray
    category_start: np.ndarray
    sku_category: np.ndarray
    sku_price: np.ndarray  # price bucket 0..MAX_PRICE
    centroid: np.ndarray  # (categories, 16) float "text" centre of a category
    name_vector: np.ndarray  # (skus, 16) uint8
    launch_day: np.ndarray
    new_skus: np.ndarray
    new_launch_day: np.ndarray
    new_hype_cumsum: np.ndarray
    bestsellers: np.ndarray
    sku_id: np.ndarray  # public id of each sku
    category_id: np.ndarray  # public id of each category
    n_general_urls: int  # urls [0, n) are general pages; then each category's block
    urls_per_category: int
    url_id: Scramble

    def pick_sku(self, cat: np.ndarray, day: np.ndarray, preferred_price: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        """A category draw: two Zipf candidates, the one nearer the price preference wins
        (``price_choice``); a candidate not launched by ``day`` falls back to the top sku."""
        n = cat.shape[0]
        size, start = self.category_size[cat], self.category_start[cat]
        first = start + zipf_ranks(rng.random(n), size, self.behaviour.sku_zipf)
        second = start + zipf_ranks(rng.random(n), size, self.behaviour.sku_zipf)
        first = np.where(self.launch_day[first] > day, start, first)
        second = np.where(self.launch_day[second] > day, start, second)
        gap_first = np.abs(self.sku_price[first] - preferred_price)
        gap_second = np.abs(self.sku_price[second] - preferred_price)
        take_second = (gap_second < gap_first) & (rng.random(n) < self.behaviour.price_choice)
        return np.where(take_second, second, first)

    def pick_new(self, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A sku launched in the ``new_sku_window_days`` up to ``day``, drawn in proportion
        to its hype; -1 where none was launched."""
        n = day.shape[0]
        lo = np.searchsorted(self.new_launch_day, day - self.behaviour.new_sku_window_days,
                             side="left")
        hi = np.searchsorted(self.new_launch_day, day, side="right")
        picked = np.full(n, -1, dtype=np.int64)
        k = np.flatnonzero(hi > lo)
        if k.size == 0:
            return picked
        cum_lo, cum_hi = self.new_hype_cumsum[lo[k]], self.new_hype_cumsum[hi[k]]
        x = cum_lo + rng.random(k.size) * (cum_hi - cum_lo)
        j = np.clip(np.searchsorted(self.new_hype_cumsum, x, side="right") - 1, lo[k], hi[k] - 1)
        picked[k] = self.new_skus[j]
        return picked

    def pick_bestseller(self, u: np.ndarray) -> np.ndarray:
        rank = zipf_ranks(u, self.bestsellers.size, self.behaviour.bestseller_zipf)
        return self.bestsellers[rank]

    def general_url(self, u: np.ndarray) -> np.ndarray:
        return zipf_ranks(u, self.n_general_urls, self.behaviour.url_zipf)

    def category_url(self, cat: np.ndarray, u: np.ndarray) -> np.ndarray:
        return (self.n_general_urls + cat * self.urls_per_category
                + zipf_ranks(u, self.urls_per_category, self.behaviour.url_zipf))


def build_world(preset: SizePreset, seed: int) -> World:
    rng = stream(seed, WORLD_STREAM)
    b, n_cat, n_sku = preset.behaviour, preset.categories, preset.skus
    if n_sku < n_cat:
        raise ValueError("need at least one sku per category")
    cat = _catalogue(preset)
    category_price = rng.uniform(*b.category_price_range, n_cat)
    sku_price = np.clip(np.rint(category_price[cat.sku_category]
                                + rng.normal(0, b.sku_price_noise, n_sku)),
                        0, MAX_PRICE).astype(np.int64)
    centroid = rng.uniform(*b.centroid_range, (n_cat, VECTOR_LEN))
    name_vector = np.clip(np.rint(centroid[cat.sku_category]
                                  + rng.normal(0, b.name_noise, (n_sku, VECTOR_LEN))),
                          0, 255).astype(np.uint8)
    launches = _launches(preset, cat.start, rng)
    sku_id = Scramble(n_sku, rng)(np.arange(n_sku))
    category_id = Scramble(max(n_cat * 3, 2), rng)(np.arange(n_cat))  # sparse, like real ids
    n_general_urls = max(1, preset.urls // 2)  # half the url space is general pages
    urls_per_category = max(1, (preset.urls - n_general_urls) // n_cat)
    return World(
        behaviour=b, n_categories=n_cat, category_size=cat.size, category_start=cat.start,
        sku_category=cat.sku_category, sku_price=sku_price, centroid=centroid,
        name_vector=name_vector, launch_day=launches.launch_day, new_skus=launches.new_skus,
        new_launch_day=launches.new_launch_day, new_hype_cumsum=launches.new_hype_cumsum,
        bestsellers=_bestsellers(preset, cat, launches.is_new), sku_id=sku_id,
        category_id=category_id, n_general_urls=n_general_urls,
        urls_per_category=urls_per_category,
        url_id=Scramble(n_general_urls + urls_per_category * n_cat, rng))
