"""The sequence block's encoder (PyTorch): a GRU over a client's latest events, trained to predict
the next event.

Each event is the sum of embeddings of its fields (event type, sku class, category, price bucket,
url class, query hash, age bucket, gap bucket); a one-layer GRU reads them oldest first. The
self-supervised objective: from the state after event t, predict event t + 1's type, sku class
(the ``seq_vocab`` most frequent skus, or "another sku"), category and url class (each a softmax,
cross-entropy over the positions where the next event has that field). The exported vector is
the state after the client's last event.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import cross_entropy

FIELDS = ("event", "sku", "category", "price", "url", "query", "age", "gap")
TARGETS = ("event", "sku", "category", "url")  # what the next event is predicted by


class SequenceEncoder(nn.Module):
    def __init__(self, sizes: dict[str, int], *, embed: int, dim: int):
        super().__init__()
        self.tables = nn.ModuleDict({f: nn.Embedding(sizes[f], embed, padding_idx=0) for f in FIELDS})
        for table in self.tables.values():
            nn.init.normal_(table.weight, std=0.1)
            with torch.no_grad():
                table.weight[0].zero_()
        self.gru = nn.GRU(embed, dim, batch_first=True)
        self.heads = nn.ModuleDict({t: nn.Linear(dim, sizes[t]) for t in TARGETS})

    def states(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """GRU state after each event [n, L, dim]; sequences are right-padded, so padding only
        follows the states that are read."""
        x = sum(self.tables[f](tokens[f]) for f in FIELDS)
        return self.gru(x)[0]

    def encode(self, tokens: dict[str, torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
        """The state after each client's last event; zeros for a client without events."""
        h = self.states(tokens)
        last = h[torch.arange(len(h)), (lengths - 1).clamp(min=0)]
        return last * (lengths > 0).unsqueeze(1).to(last.dtype)

    def losses(self, tokens: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, int]]:
        """Summed next-event cross-entropy per target and how many positions it sums over (class 0
        of a target means the next event has no such field, or there is no next event)."""
        h = self.states(tokens)[:, :-1]
        out = {}
        for t in TARGETS:
            y = tokens[t][:, 1:]
            keep = y > 0
            n = int(keep.sum())
            if n == 0:
                out[t] = (h.sum() * 0.0, 0)
                continue
            out[t] = (cross_entropy(self.heads[t](h[keep]), y[keep], reduction="sum"), n)
        return out
