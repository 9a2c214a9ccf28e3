"""Random streams and the two draws the generator builds everything from.

Each purpose (and each chunk of clients) has its own ``numpy`` stream derived from the seed,
so a chunk's events do not depend on how many draws another part of the world made.
"""

from __future__ import annotations

import math

import numpy as np

# The first key of every stream: what it is for. A chunk's streams add the chunk number.
WORLD_STREAM = 0  # the catalogue, urls and public sku/category ids
CLIENT_STREAM = 1  # per chunk: lifetimes and rates of the chunk's clients
EVENT_STREAM = 2  # per chunk: tastes, sessions and events
RELEVANCE_STREAM = 3  # per chunk: the Gumbel noise of the relevant-client sample
SPECIAL_STREAM = 4  # which relevant clients are ghosts or late, and the published order
CLIENT_ID_STREAM = 5  # public client ids


def stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, key)]))


def zipf_ranks(u: np.ndarray, n, s: float) -> np.ndarray:
    """Ranks in [0, n) (n scalar or array) with P(rank r) roughly proportional to (r+1)^-s,
    from uniforms ``u`` by inverting the continuous law."""
    n1 = np.asarray(n, dtype=np.float64) + 1.0
    if abs(s - 1.0) < 1e-9:
        x = np.exp(u * np.log(n1))
    else:
        a = 1.0 - s
        x = (1.0 + u * (n1 ** a - 1.0)) ** (1.0 / a)
    r = x.astype(np.int64) - 1
    return np.clip(r, 0, np.asarray(n, dtype=np.int64) - 1)


def _coprime_multiplier(n: int, rng: np.random.Generator) -> int:
    if n <= 2:
        return 1
    a = int(rng.integers(n // 3, n - 1)) | 1
    while math.gcd(a, n) != 1:
        a += 2
    return a


class Scramble:
    """A bijection of [0, n): public ids unrelated to the internal popularity order."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n = int(n)
        self.multiplier = _coprime_multiplier(self.n, rng)
        self.offset = int(rng.integers(0, max(self.n, 1)))

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        return (np.asarray(idx, dtype=np.int64) * self.multiplier + self.offset) % self.n
