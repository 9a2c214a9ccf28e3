"""Synthetic RecSys Challenge 2025 data in the published format (docs/data.md).

``generate(out_dir, size, seed=...)`` writes the five event files, ``product_properties``
and ``input/relevant_clients.npy``; the same size, overrides and seed give byte-identical
files. The generative model, one module per job:

* ``params.py``: the size presets and :class:`Behaviour`, the one place where every number
  of the model is named and explained; the prose here and in the modules points at it.
* ``world.py``: the catalogue. Categories with Zipf popularity, a price level and a "text"
  centroid; each owns a block of skus ranked by popularity, priced around the category
  level, named near its centroid. Some skus launch during the period (more towards the end)
  with extra demand ("hype"); a trending list; general and per-category urls.
* ``clients.py``: each client's lifetime (many stop: churn), heavy-tailed session rate,
  page depth, whether and how much it searches and shops, and its cart habits; the relevant
  clients, sampled favouring active clients and buyers, with a few that have no event at
  all and a few that only arrive in the target windows.
* ``sessions.py``: tastes that drift over a lifetime, favourite skus bought again and
  again, sessions on a weekly and daily rhythm, and each session's funnel of page visits,
  searches and purchase intents (carted, then bought, removed or left; or bought directly).
* ``write.py``: the driver and the parquet/npy writing; ``encode.py`` the text columns,
  ``sampling.py`` the random streams (one per purpose and chunk of clients) and Zipf draws.
"""

from ubm.contract import EVENT_TYPES
from ubm.data.generate.encode import format_vectors
from ubm.data.generate.params import SIZES, Behaviour, SizePreset
from ubm.data.generate.write import GenerateSummary, generate

__all__ = ["Behaviour", "SizePreset", "SIZES", "GenerateSummary", "generate", "EVENT_TYPES",
           "format_vectors"]
