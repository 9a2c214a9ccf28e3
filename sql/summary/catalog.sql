-- Catalogue size: distinct skus, categories and price buckets, and how many event skus lack properties.
-- returns: one row (skus, categories, price_buckets, distinct_event_skus, event_skus_without_properties).
WITH event_skus AS (
    SELECT sku FROM product_buy
    UNION SELECT sku FROM add_to_cart
    UNION SELECT sku FROM remove_from_cart
)
SELECT
    (SELECT count(DISTINCT sku) FROM product_properties) AS skus,
    (SELECT count(DISTINCT category) FROM product_properties) AS categories,
    (SELECT count(DISTINCT price) FROM product_properties) AS price_buckets,
    (SELECT count(*) FROM event_skus) AS distinct_event_skus,
    (SELECT count(*) FROM event_skus ANTI JOIN product_properties USING (sku)) AS event_skus_without_properties
