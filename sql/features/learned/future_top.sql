-- The pseudo-future's own label lists: the values most bought (by all clients) at or after the cut.
-- $cut TIMESTAMP  start of the pseudo-future
-- $n BIGINT  list length
-- @column "sku"  sku, category or price (via product_properties)
-- @new false  keep only skus never bought before the cut (the pseudo-future's new products)
-- returns: (value, buyers) for the n values with most distinct buyers, ties by value; ordered by buyers desc, value.
WITH bought AS (
{% if column in ("category", "price") %}
    SELECT b.client_id, p.{{ column }} AS value
    FROM product_buy b JOIN product_properties p ON p.sku = b.sku
{% else %}
    SELECT b.client_id, b.sku AS value
    FROM product_buy b
{% endif %}
    WHERE b.timestamp >= $cut
{% if new %}
      AND b.sku NOT IN (SELECT sku FROM product_buy WHERE timestamp < $cut)
{% endif %}
)
SELECT value, count(DISTINCT client_id) AS buyers
FROM bought
WHERE value IS NOT NULL
GROUP BY value
ORDER BY buyers DESC, value
LIMIT $n
