-- Inter-purchase gaps of every relevant client, over distinct purchase days (calendar dates with a product_buy).
-- returns: one row per relevant client in relevant_clients order: pos, purchase_days, gap_mean, gap_min, gap_last
--   (gaps in days between consecutive purchase days; all three 0 with fewer than two purchase days).
WITH days AS (
    SELECT DISTINCT client_id, CAST(timestamp AS DATE) AS day
    FROM product_buy
    WHERE client_id IN (SELECT client_id FROM relevant_clients)
),
gaps AS (
    SELECT client_id, day, date_diff('day', lag(day) OVER (PARTITION BY client_id ORDER BY day), day) AS gap
    FROM days
),
agg AS (
    SELECT client_id, count(*) AS purchase_days, avg(gap) AS gap_mean, min(gap) AS gap_min,
           arg_max(gap, day) AS gap_last
    FROM gaps
    GROUP BY client_id
)
SELECT r.pos,
       coalesce(a.purchase_days, 0) AS purchase_days,
       coalesce(a.gap_mean, 0) AS gap_mean,
       coalesce(a.gap_min, 0) AS gap_min,
       coalesce(a.gap_last, 0) AS gap_last
FROM relevant_clients r
LEFT JOIN agg a USING (client_id)
ORDER BY r.pos
