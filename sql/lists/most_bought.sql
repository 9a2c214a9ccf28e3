-- The most bought values of one column in the train target window, with their purchase counts.
-- $limit BIGINT  how many values to keep (100 for the propensity lists)
-- @column "category"  train_target column to rank: category, sku or price
-- @new_only false  true: only skus never bought in the input window (propensity_new_sku)
-- returns: one row per value (value, popularity), most purchase rows first, ties by smaller value.
SELECT {{ column }} AS value, count(*) AS popularity
FROM train_target
{% if new_only %}
ANTI JOIN (SELECT DISTINCT sku FROM product_buy) AS bought USING (sku)
{% endif %}
GROUP BY {{ column }}
ORDER BY popularity DESC, value ASC
LIMIT $limit
