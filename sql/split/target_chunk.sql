-- One target window of product_buy, with the product's category, price and name, for the engine to write to parquet.
-- $since TIMESTAMP  first instant of the window (inclusive)
-- $until TIMESTAMP  end of the window
-- $include_until BOOLEAN  true: the window ends at $until inclusive (validation); false: exclusive (train)
-- returns: (client_id, timestamp, sku, category, price, name) ordered by client_id, timestamp, sku;
-- name keeps its published encoding.
SELECT b.client_id, b.timestamp, b.sku,
       CAST(p.category AS BIGINT) AS category,
       CAST(p.price AS BIGINT) AS price,
       p.name
FROM product_buy AS b  -- the typed view: client_id, timestamp, sku
JOIN raw_product_properties AS p ON CAST(p.sku AS BIGINT) = b.sku
WHERE b.timestamp >= $since
  AND (b.timestamp < $until OR ($include_until AND b.timestamp = $until))
ORDER BY b.client_id, b.timestamp, b.sku
