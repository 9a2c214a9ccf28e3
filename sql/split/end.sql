-- The split's anchor: the latest product_buy timestamp and the number of product_buy rows.
-- returns: one row (end_ts, purchases, first_ts); end_ts and first_ts are NULL when product_buy is empty.
SELECT max(timestamp) AS end_ts, count(*) AS purchases, min(timestamp) AS first_ts
FROM product_buy
