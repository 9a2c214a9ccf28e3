"""A human-readable summary of a data directory, from the summary/* templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ubm.data import sql
from ubm.contract import EVENT_TYPES
from ubm.data.io import Settings
from ubm.data.opener import open_data


def summarise(data_dir: Path, window: str = "all", settings: Settings = Settings()) -> str:
    data = open_data(data_dir, window=window, settings=settings,
                     require=EVENT_TYPES + ("product_properties",))
    events = sql.fetch_numpy(data, "summary/events", {"pattern": "%"})
    catalog = sql.fetch_numpy(data, "summary/catalog")
    lines = [f"data: {data_dir} ({window} events)", "",
             f"{'event type':<18}{'events':>14}{'clients':>12}  first .. last"]
    for i, event in enumerate(events["event_type"]):
        lines.append(
            f"{event:<18}{events['events'][i]:>14,}{events['clients'][i]:>12,}  "
            f"{events['first_ts'][i]} .. {events['last_ts'][i]}"
        )
    lines.append("")
    lines.append(
        f"catalogue: {catalog['skus'][0]:,} skus, {catalog['categories'][0]:,} categories, "
        f"{catalog['price_buckets'][0]} price buckets; "
        f"{catalog['event_skus_without_properties'][0]:,} event skus without properties"
    )
    if data.has("relevant_clients"):
        first, last = events["first_ts"].min(), events["last_ts"].max()
        clients = sql.fetch_numpy(data, "summary/clients", {"since": first.item(), "until": (last + np.timedelta64(1, "s")).item()})
        lines.append(
            f"relevant clients: {clients['relevant_clients'][0]:,}, "
            f"{clients['with_events'][0]:,} with events, {clients['with_purchase'][0]:,} with a purchase"
        )
    data.close()
    return "\n".join(lines)
