-- Target-window purchases whose sku has no row in product_properties (the split refuses these).
-- $since TIMESTAMP  first instant of the train target window
-- $until TIMESTAMP  last instant of the validation target window (inclusive)
-- returns: one row per missing sku (sku, purchases), smallest sku first; empty when all are present.
SELECT sku, count(*) AS purchases
FROM product_buy
ANTI JOIN product_properties USING (sku)
WHERE timestamp >= $since AND timestamp <= $until
GROUP BY sku
ORDER BY sku
