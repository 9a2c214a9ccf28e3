"""Profiles back in the user's terms (docs/import.md §10): each entry row's original client id.

``ubm import`` writes the map of dense ids to the user's own ids in ``D/.ubm/maps/client_id.parquet``;
:func:`original_ids` joins an entry's ``client_ids.npy`` to it (template
``sql/import/original_ids.sql``), so that a downstream system can key the profiles on what it
already joins on. The entry itself keeps the challenge's layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ubm.data.io import DataError, Settings, connect, load_id_array
from ubm.prepare.import_sql import query
from ubm.util import atomic_path

CLIENT_MAP = Path(".ubm") / "maps" / "client_id.parquet"


@dataclass
class OriginalIds:
    out: Path
    rows: int


def original_ids(data_dir: Path | str, embeddings_dir: Path | str, settings: Settings = Settings()) -> pa.Table:
    """(row, client_id, original_id) of every row of the entry, in its order; refused by name when
    ``data_dir`` was not written by ``ubm import`` or the entry holds an id its map lacks."""
    map_path = Path(data_dir) / CLIENT_MAP
    if not map_path.is_file():
        raise DataError(f"{map_path} is missing: {data_dir} was not written by `ubm import`, so its client "
                        "ids are already the original ones")
    ids = load_id_array(Path(embeddings_dir) / "client_ids.npy")
    con = connect(settings)
    try:
        con.register("entry_ids", pa.table({"row": np.arange(ids.size, dtype=np.int64), "client_id": ids}))
        sql, values = query("original_ids", {}, {"map": str(map_path)})
        table = con.sql(sql, params=values).to_arrow_table()
    finally:
        con.close()
    missing = table.column("original_id").null_count
    if missing:
        first = int(np.asarray(table.column("client_id"))[np.asarray(table.column("original_id").is_null())][0])
        raise DataError(f"{Path(embeddings_dir) / 'client_ids.npy'}: {missing:,} client id(s) are not in "
                        f"{map_path}, e.g. {first}: the entry was built from other data")
    return table


def write_original_ids(data_dir: Path | str, embeddings_dir: Path | str, out: Path | str,
                       settings: Settings = Settings()) -> OriginalIds:
    """:func:`original_ids` written to the parquet file ``out`` (atomically; a directory is refused)."""
    out = Path(out)
    table = original_ids(data_dir, embeddings_dir, settings)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    return OriginalIds(out, table.num_rows)
