"""`ubm import` against `ubm split` on the same rows (issue 22's goal: within 4 GiB and 2x split).

    python bench/import_timing.py --data data/bench-medium --size medium [--layout parquet|csv]
        [--threads 1] [--memory-limit 4GB]

Turns a generated data directory's events into a source in a user's layout: one mixed file
(Parquet or CSV) in time order, with an `event` column (purchase / cart_add / cart_remove /
view / search), `visitor`, `ts` as text `YYYY-MM-DD HH:MM:SS`, `item`, `page` and `search`
(free text), and an item file; DuckDB writes both with one streamed COPY each. The
mapping selects each event type by the event column. Then `ubm import` of that source and
`ubm split` of what it wrote run with the same `--threads`, `--memory-limit` and
`--temp-dir`, each under bench/measure.py (wall time and the child's peak RSS appended to
`--out`); a last record `import-vs-split` holds the ratio and the load average around the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

from measure import measured  # bench/ is the script's folder: on sys.path

# the generated tables, each with the event column's value and the source column of its value
TYPES = {"product_buy": ("purchase", "sku", "item"), "add_to_cart": ("cart_add", "sku", "item"),
         "remove_from_cart": ("cart_remove", "sku", "item"), "page_visit": ("view", "url", "page"),
         "search_query": ("search", "query", "search")}


def write_source(data: Path, src: Path, layout: str, threads: int, memory: str) -> int:
    """The mixed events file and the item file of ``src``; the number of event rows."""
    src.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory,
                                 "temp_directory": str(src / ".tmp"), "preserve_insertion_order": False})
    parts = []
    for event, (name, value, column) in TYPES.items():
        cols = {c: f"CAST({value} AS VARCHAR)" if c == column else "NULL::VARCHAR" for c in ("item", "page", "search")}
        parts.append(f"SELECT '{name}' AS event, client_id AS visitor, CAST(timestamp AS VARCHAR) AS ts, "
                     f"{cols['item']} AS item, {cols['page']} AS page, {cols['search']} AS search "
                     f"FROM read_parquet('{data / event}.parquet')")
    options = "FORMAT parquet, ROW_GROUP_SIZE 122880" if layout == "parquet" else "FORMAT csv, HEADER true"
    events = src / f"events.{layout}"
    # in time order, as a real log is: the event values interleave, so no row group holds one type only
    con.execute(f"COPY (SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY ts) TO '{events}' ({options})")
    con.execute(f"COPY (SELECT sku, category, price, name FROM read_parquet('{data}/product_properties.parquet')) "
                f"TO '{src}/items.parquet' (FORMAT parquet)")
    rows = con.execute(f"SELECT count(*) FROM read_{'parquet' if layout == 'parquet' else 'csv'}('{events}')").fetchone()[0]
    con.close()
    shutil.rmtree(src / ".tmp", ignore_errors=True)
    return int(rows)


def write_mapping(data: Path, src: Path, layout: str) -> Path:
    relevant = int(np.load(data / "input" / "relevant_clients.npy").size)
    lines = [f'[sources.events]\npath = "events.{layout}"\ntimestamp_format = "%Y-%m-%d %H:%M:%S"\n',
             '[sources.items]\npath = "items.parquet"\n']
    for event, (name, value, column) in TYPES.items():
        lines.append(f'[events.{event}]\nsource = "events"\nclient_id = "visitor"\ntimestamp = "ts"\n'
                     f'{value} = "{column}"\nevent_column = "event"\nevent_values = ["{name}"]\n')
    lines.append('[products]\nsource = "items"\nsku = "sku"\ncategory = "category"\nprice = "price"\n'
                 'name = "name"\npick = "most_frequent"\n')
    lines.append(f'[clients]\nrule = "most_active"\nn = {relevant}\n')
    path = src / "mapping.toml"
    path.write_text("\n".join(lines))
    return path


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a generated data directory (ubm generate)")
    parser.add_argument("--size", default="", help="size label for the records")
    parser.add_argument("--work", type=Path, help="where the source and the import go (default: DATA-import)")
    parser.add_argument("--layout", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--out", type=Path, default=Path("bench/results.jsonl"))
    args = parser.parse_args()
    work = args.work or args.data.with_name(args.data.name + "-import")
    src, imported, spill = work / f"source-{args.layout}", work / "imported", work / "spill"
    stamp = json.dumps({e: list(_stat(args.data / f"{e}.parquet")) for e in TYPES})  # the data it was made from
    if not (src / "stamp.json").exists() or (src / "stamp.json").read_text() != stamp:
        start = time.perf_counter()
        shutil.rmtree(src, ignore_errors=True)
        rows = write_source(args.data, src, args.layout, 2, args.memory_limit)
        write_mapping(args.data, src, args.layout)
        (src / "stamp.json").write_text(stamp)
        print(f"[bench] source: {rows:,} events as one {args.layout} file in {time.perf_counter() - start:.1f}s",
              file=sys.stderr)
    shutil.rmtree(imported, ignore_errors=True)
    spill.mkdir(parents=True, exist_ok=True)
    settings = ["--threads", str(args.threads), "--memory-limit", args.memory_limit, "--temp-dir", str(spill)]
    ubm = [sys.executable, "-m", "ubm"]
    load_before = os.getloadavg()
    imp = measured(f"import-{args.layout}", args.size, args.out,
                  ubm + ["import", "--config", str(src / "mapping.toml"), "--out", str(imported)] + settings)
    split = measured("split-imported", args.size, args.out, ubm + ["split", "--data-dir", str(imported)] + settings)
    record = {"label": "import-vs-split", "size": args.size, "layout": args.layout, "threads": args.threads,
              "memory_limit": args.memory_limit, "import_seconds": imp["seconds"], "split_seconds": split["seconds"],
              "ratio": round(imp["seconds"] / split["seconds"], 2), "import_peak_rss_mib": imp["peak_rss_mib"],
              "split_peak_rss_mib": split["peak_rss_mib"], "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()], "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(args.out, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"[bench] import / split = {record['ratio']}x ({imp['seconds']}s / {split['seconds']}s), peak RSS "
          f"{imp['peak_rss_mib']:.0f} / {split['peak_rss_mib']:.0f} MiB, load {load_before[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
