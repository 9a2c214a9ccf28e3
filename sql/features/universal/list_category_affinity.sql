-- Affinity of every relevant client to each listed sku through the listed sku's category: the client's events (of the given types) in that category, long format.
-- $values BIGINT[]  listed skus, read as table list_values(slot, value); slot = 0-based position (skus without properties get nothing)
-- @events ["product_buy"]  event views counted together
-- returns: (pos, slot, n) for non-zero cells, ordered by pos, slot.
{% import "macros/shapes.sql" as m %}
WITH list AS (
    SELECT l.slot, p.category
    FROM list_values l
    JOIN product_properties p ON p.sku = l.value
),
ev AS (
{% call(event, i) m.union_all(events) %}
    SELECT client_id, sku FROM {{ event }}
{% endcall %}
),
per_category AS (
    SELECT r.pos, p.category, count(*) AS n
    FROM ev
    JOIN relevant_clients r USING (client_id)
    JOIN product_properties p ON p.sku = ev.sku
    GROUP BY r.pos, p.category
)
SELECT c.pos, l.slot, c.n
FROM per_category c
JOIN list l USING (category)
ORDER BY c.pos, l.slot
