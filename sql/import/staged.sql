-- What one staging table holds, for the import report: rows kept and dropped by reason, the first bad time, the time range.
-- @stage "product_buy"   the staging table of one event type
-- returns: one row per reason (dropped NULL: kept) with rows, first_ts, last_ts, and for
--   'bad_time' the first such value (bad_time) with its file (bad_file)
SELECT dropped, count(*) AS rows, min(ts) AS first_ts, max(ts) AS last_ts,
       min(bad_time) AS bad_time, arg_min(file, bad_time) AS bad_file
FROM {{ stage }}
GROUP BY dropped
ORDER BY dropped NULLS FIRST
