"""Time the sequence block's export alone (ubm/profiles/recipes/learned/seq_train.encode_all):
per chunk of relevant clients, the sequence SQL and the GRU, with an untrained GRU (the work
does not depend on the weights), so per-chunk figures can be read at a size where the whole
recipe would take long.

    python bench/seq_export.py --data-dir D [--chunk 100000] [--threads 1] [--out raw.npy]

Prints one JSON line: clients, events, chunks, seconds (sql, model, total), peak RSS.
``--out`` saves the raw block (float32, client-id order) to compare two versions byte for byte.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ubm.data import sql  # noqa: E402
from ubm.data.io import Settings  # noqa: E402
from ubm.data.opener import open_data  # noqa: E402
from ubm.profiles.recipes.learned import DEFAULTS  # noqa: E402
from ubm.profiles.recipes.learned.prep import load_catalog  # noqa: E402
from ubm.profiles.recipes.learned.seq_model import SequenceEncoder  # noqa: E402
from ubm.profiles.recipes.learned.seq_train import SeqFitted, encode_all  # noqa: E402
from ubm.profiles.recipes.learned.sequence import load_vocabulary  # noqa: E402
from ubm.profiles.recipes.learned.train import deterministic  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--chunk", type=int, default=DEFAULTS["chunk"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    opts = {**DEFAULTS, "chunk": args.chunk, "threads": args.threads}
    data = open_data(args.data_dir, window="input", settings=Settings(threads=args.threads))
    ref = sql.fetch_numpy(data, "features/universal/reference")["ref_ts"][0].item()
    end = ref + dt.timedelta(seconds=1)
    catalog = load_catalog(data, ref - dt.timedelta(days=opts["cut_days"]), opts["vocabulary"])
    vocab = load_vocabulary(data, catalog, end, opts)
    with deterministic(opts["threads"], opts["seed"]):
        model = SequenceEncoder(vocab.sizes(), embed=opts["seq_embed"], dim=opts["seq_dim"])
    n = len(np.load(Path(args.data_dir) / "input" / "relevant_clients.npy"))
    start = time.perf_counter()
    raw, active, _, seconds = encode_all(data, SeqFitted(model), vocab, end, n, opts, lambda m: None)
    total = time.perf_counter() - start
    if args.out:
        np.save(args.out, raw)
    print(json.dumps({"clients": n, "active": int(active.sum()), "chunk": args.chunk,
                      "chunks": -(-n // args.chunk), "seconds": {**seconds, "total": round(total, 2)},
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
