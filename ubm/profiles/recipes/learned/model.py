"""The multi-task encoder of the ``learned`` recipe (PyTorch).

A client is its statistics row and its latest sku events. Each event is an item vector
(item tower: sku embedding + category embedding + price embedding + projected name vector)
plus an event-type and an age-bucket embedding; the events are pooled by a masked mean and by
attention with a learnt query, concatenated with the projected statistics, and an MLP gives the
representation ``rep`` (``dim`` wide). Heads score the pseudo-future:

* ``binary``: no purchase in the pseudo-future, one logit for churn (trained on clients who bought
  before the cut) and one for conversion (every client);
* ``category`` / ``price``: ``proj(rep) . embedding(value)``;
* ``sku``: ``proj(rep) . item(sku)`` through the full item tower;
* ``new_sku``: the tower without the sku embedding (category, price, name), since a new product
  has no history of its own; so the head scores any product, listed in training or not.
"""

from __future__ import annotations

import torch
from torch import nn

from ubm.contract import VECTOR_LEN
from ubm.profiles.recipes.learned.prep import AGE_BUCKETS, KINDS, Catalog


class Encoder(nn.Module):
    def __init__(self, n_stats: int, catalog: Catalog, *, embed: int, hidden: int, dim: int, dropout: float = 0.0):
        super().__init__()
        self.sku = nn.Embedding(catalog.n_vocabulary + 1, embed, padding_idx=0)
        self.category = nn.Embedding(len(catalog.categories) + 1, embed, padding_idx=0)
        self.price = nn.Embedding(len(catalog.prices) + 1, embed, padding_idx=0)
        self.name = nn.Linear(VECTOR_LEN, embed, bias=False)
        self.event = nn.Embedding(4, embed, padding_idx=0)
        self.age = nn.Embedding(AGE_BUCKETS, embed, padding_idx=0)
        self.query = nn.Parameter(torch.zeros(embed))
        self.stats = nn.Linear(n_stats, hidden)
        self.trunk = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden + 2 * embed, hidden), nn.ReLU(),
                                   nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.binary = nn.Linear(dim, 2)  # no purchase in the pseudo-future: churn, conversion
        self.proj = nn.ModuleDict({k: nn.Linear(dim, embed) for k in KINDS})
        # a listed value is bought by a few percent of clients at most: start near that rate
        self.bias = nn.ParameterDict({k: nn.Parameter(torch.full((1,), -4.0)) for k in KINDS})
        for table in (self.sku, self.category, self.price, self.event, self.age):
            nn.init.normal_(table.weight, std=0.1)
            with torch.no_grad():
                table.weight[0].zero_()
        # catalogue lookups, moved with the module
        self.register_buffer("c_sku", torch.from_numpy(catalog.sku_idx), persistent=False)
        self.register_buffer("c_cat", torch.from_numpy(catalog.cat_idx), persistent=False)
        self.register_buffer("c_price", torch.from_numpy(catalog.price_idx), persistent=False)
        self.register_buffer("c_name", torch.from_numpy(catalog.names), persistent=False)

    def item(self, rows: torch.Tensor, with_sku: bool = True) -> torch.Tensor:
        """Item vectors of catalogue rows (any shape); the unknown row gives zeros."""
        v = self.category(self.c_cat[rows]) + self.price(self.c_price[rows]) + self.name(self.c_name[rows])
        return v + self.sku(self.c_sku[rows]) if with_sku else v

    def encode(self, stats: torch.Tensor, rows: torch.Tensor, event: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
        mask = (event > 0).unsqueeze(-1).float()
        tokens = (self.item(rows) + self.event(event) + self.age(age)) * mask
        count = mask.sum(1)
        mean = tokens.sum(1) / count.clamp(min=1.0)
        logits = (tokens @ self.query).masked_fill(event == 0, -1e9)
        weights = torch.softmax(logits, dim=1).unsqueeze(-1) * mask  # all-padding rows: zero weights
        attended = (weights * tokens).sum(1)
        return self.trunk(torch.cat([self.stats(stats), mean, attended], dim=1))

    def candidates(self, kind: str, values: torch.Tensor) -> torch.Tensor:
        """Vectors of a kind's listed values: category / price indices, or catalogue rows for skus."""
        if kind == "category":
            return self.category(values)
        if kind == "price":
            return self.price(values)
        return self.item(values, with_sku=(kind == "sku"))

    def scores(self, rep: torch.Tensor, kind: str, items: torch.Tensor) -> torch.Tensor:
        return self.proj[kind](rep) @ items.T + self.bias[kind]
