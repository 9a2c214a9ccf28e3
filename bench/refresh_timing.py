"""`ubm refresh` with one new day of events against a full apply of the same model (issue 25's
goal: at most 10% of a full apply's time, within 4 GiB).

    python bench/refresh_timing.py --data data/bench-medium --size medium [--days 1]
        [--threads 2] [--memory-limit 4GB]

From a generated data directory (its published event files, `--source all`) it writes a copy
holding the events up to ``--days`` before the last one and one holding only the later ones
(DuckDB, streamed), fits the baseline on the first and applies it with ``--refreshable``.
Then, each under bench/measure.py (wall time and the child's peak RSS appended to ``--out``):
a full apply of the model to the whole directory, ``ubm refresh --data-dir`` of the kept entry
with the whole directory, and ``ubm refresh --new-events`` of a copy of it with the later
events only. A last record ``refresh-vs-apply`` holds both ratios, the share of events that
were new, whether each refreshed entry is byte-identical to the full apply, the size of the
kept state, and the load average around the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

from measure import measured  # bench/ is the script's folder: on sys.path

EVENTS = ("product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query")


def write_earlier(data: Path, dst: Path, new: Path, days: float, memory: str) -> tuple[int, int]:
    """``dst``: ``data`` without the events of its last ``days``, ``new``: those only (each with
    the product table and the relevant clients); (events in ``dst``, events in all)."""
    for folder in (dst, new):
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "input").mkdir(parents=True)
        shutil.copy2(data / "product_properties.parquet", folder / "product_properties.parquet")
        shutil.copy2(data / "input" / "relevant_clients.npy", folder / "input" / "relevant_clients.npy")
    con = duckdb.connect(config={"threads": 2, "memory_limit": memory})
    ts = "CAST(timestamp AS TIMESTAMP)"
    end = max(con.execute(f"SELECT max({ts}) FROM read_parquet(?)", [str(data / f"{e}.parquet")]).fetchone()[0]
              for e in EVENTS)
    cut = end - dt.timedelta(days=days)
    kept = total = 0
    for event in EVENTS:
        src, out = str(data / f"{event}.parquet"), str(dst / f"{event}.parquet")
        con.execute(f"COPY (SELECT * FROM read_parquet(?) WHERE {ts} <= ?) TO '{out}' (FORMAT parquet)", [src, cut])
        con.execute(f"COPY (SELECT * FROM read_parquet(?) WHERE {ts} > ?) TO '{new / (event + '.parquet')}' "
                    "(FORMAT parquet)", [src, cut])
        kept += con.execute("SELECT count(*) FROM read_parquet(?)", [out]).fetchone()[0]
        total += con.execute("SELECT count(*) FROM read_parquet(?)", [src]).fetchone()[0]
    con.close()
    return int(kept), int(total)


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a generated data directory (ubm generate)")
    parser.add_argument("--size", default="", help="size label for the records")
    parser.add_argument("--work", type=Path, help="where the copies go (default: DATA-refresh)")
    parser.add_argument("--days", type=float, default=1.0, help="the new events: the last DAYS of the data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--out", type=Path, default=Path("bench/results.jsonl"))
    args = parser.parse_args()
    work = args.work or args.data.with_name(args.data.name + "-refresh")
    work.mkdir(parents=True, exist_ok=True)
    earlier, new, model, full = work / "earlier", work / "new", work / "model", work / "full"
    kept, kept_new = work / "kept", work / "kept-new"
    start = time.perf_counter()
    n_earlier, n_all = write_earlier(args.data, earlier, new, args.days, args.memory_limit)
    print(f"[bench] {n_all - n_earlier:,} of {n_all:,} events are new ({time.perf_counter() - start:.1f}s)",
          file=sys.stderr)
    settings = ["--threads", str(args.threads), "--memory-limit", args.memory_limit]
    ubm = [sys.executable, "-m", "ubm"]
    for path in (model, kept, kept_new, full):
        shutil.rmtree(path, ignore_errors=True)
    measured("refresh-fit", args.size, args.out,
            ubm + ["fit", "--data-dir", str(earlier), "--source", "all", "--out", str(model)] + settings)
    measured("apply-refreshable", args.size, args.out,
            ubm + ["features", "--data-dir", str(earlier), "--source", "all", "--model", str(model),
                   "--refreshable", "--out", str(kept)] + settings)
    shutil.copytree(kept, kept_new)
    load_before = os.getloadavg()
    applied = measured("apply-full", args.size, args.out,
                      ubm + ["features", "--data-dir", str(args.data), "--source", "all", "--model", str(model),
                             "--out", str(full)] + settings)
    refreshed = measured("refresh", args.size, args.out,
                        ubm + ["refresh", "--data-dir", str(args.data), "--model", str(model), "--entry", str(kept)]
                        + settings)
    only_new = measured("refresh-new-events", args.size, args.out,
                       ubm + ["refresh", "--new-events", str(new), "--model", str(model), "--entry", str(kept_new)]
                       + settings)

    def same(entry: Path) -> bool:
        return all((entry / f).read_bytes() == (full / f).read_bytes() for f in ("embeddings.npy", "client_ids.npy"))

    record = {"label": "refresh-vs-apply", "size": args.size, "threads": args.threads,
              "memory_limit": args.memory_limit, "events": n_all, "new_events": n_all - n_earlier,
              "new_share": round((n_all - n_earlier) / n_all, 4), "apply_seconds": applied["seconds"],
              "refresh_seconds": refreshed["seconds"], "ratio": round(refreshed["seconds"] / applied["seconds"], 3),
              "new_events_seconds": only_new["seconds"],
              "new_events_ratio": round(only_new["seconds"] / applied["seconds"], 3),
              "apply_peak_rss_mib": applied["peak_rss_mib"], "refresh_peak_rss_mib": refreshed["peak_rss_mib"],
              "new_events_peak_rss_mib": only_new["peak_rss_mib"],
              "byte_identical": same(kept), "new_events_byte_identical": same(kept_new),
              "state_mib": round(_bytes(kept / "refresh") / 2**20, 1),
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(args.out, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"[bench] refresh / apply = {record['ratio']}x ({refreshed['seconds']}s / {applied['seconds']}s), "
          f"from new events only {record['new_events_ratio']}x ({only_new['seconds']}s); peak RSS "
          f"{refreshed['peak_rss_mib']:.0f} / {only_new['peak_rss_mib']:.0f} / {applied['peak_rss_mib']:.0f} MiB, "
          f"state {record['state_mib']} MiB, byte-identical {record['byte_identical']} / "
          f"{record['new_events_byte_identical']}", file=sys.stderr)
    return 0 if record["byte_identical"] and record["new_events_byte_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
