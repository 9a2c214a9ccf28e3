-- The training sample of the learned recipe: clients (relevant or not) with at least one event before the cut, those with sku events first.
-- $cut TIMESTAMP  the cut: history is every event before it, the pseudo-future every event at or after it
-- $n BIGINT  most clients kept
-- $seed BIGINT  which sample: clients are ranked by a multiplicative hash of (client_id, seed)
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views to scan
-- @sku_events ["product_buy", "add_to_cart", "remove_from_cart"]  events that rank a client first (they carry products)
-- returns: one row per sampled client (client_id), ordered by client_id.
WITH seen AS (
{% for event in events %}
    SELECT DISTINCT client_id, {{ "1" if event in sku_events else "0" }} AS sku FROM {{ event }} WHERE timestamp < $cut
{% if not loop.last %}
    UNION ALL
{% endif %}
{% endfor %}
),
ranked AS (
    SELECT client_id FROM seen
    GROUP BY client_id
    ORDER BY max(sku) DESC, (client_id * 2654435761 + $seed * 40503) % 2147483647, client_id
    LIMIT $n
)
SELECT client_id FROM ranked ORDER BY client_id
