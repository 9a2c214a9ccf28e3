-- The user's own client id of each row of an entry, in the entry's row order (docs/import.md §10).
-- $map VARCHAR  the client map written by ubm import, D/.ubm/maps/client_id.parquet
-- returns: one row per entry row (row BIGINT 0..n-1, client_id BIGINT, original_id VARCHAR: NULL when the map lacks the id)
SELECT e.row, e.client_id, m.original AS original_id
FROM entry_ids AS e
LEFT JOIN read_parquet($map) AS m ON m.id = e.client_id
ORDER BY e.row
