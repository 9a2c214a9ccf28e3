-- The skus the learned encoder gives an embedding of their own: the most frequent in sku events before the cut.
-- $cut TIMESTAMP  history ends here
-- $n BIGINT  vocabulary size
-- @events ["product_buy", "add_to_cart", "remove_from_cart"]  sku event views
-- returns: (sku, n) for the n skus with most events (at least 2), ties by sku; ordered by n desc, sku.
WITH ev AS (
{% for event in events %}
    SELECT sku FROM {{ event }} WHERE timestamp < $cut
{% if not loop.last %}
    UNION ALL
{% endif %}
{% endfor %}
)
SELECT sku, count(*) AS n FROM ev
GROUP BY sku
HAVING count(*) >= 2
ORDER BY n DESC, sku
LIMIT $n
