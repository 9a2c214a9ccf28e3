-- The split's anchor: the latest product_buy timestamp and the number of product_buy rows.
-- returns: one row (end_ts, purchases); end_ts is NULL when product_buy is empty.
SELECT max(timestamp) AS end_ts, count(*) AS purchases
FROM product_buy
