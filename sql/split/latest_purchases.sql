-- The latest purchase instants, latest first: where the split looks for far outliers that would set its end.
-- $last BIGINT  how many purchases to return
-- returns: one row per purchase (timestamp), latest first; equal instants are separate purchases.
SELECT timestamp
FROM product_buy
ORDER BY timestamp DESC
LIMIT $last
