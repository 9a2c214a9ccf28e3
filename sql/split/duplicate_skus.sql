-- Skus listed more than once in product_properties (joining them would duplicate target rows).
-- returns: one row per duplicated sku (sku, copies), smallest sku first; empty when every sku is unique.
SELECT sku, count(*) AS copies
FROM product_properties
GROUP BY sku
HAVING count(*) > 1
ORDER BY sku
