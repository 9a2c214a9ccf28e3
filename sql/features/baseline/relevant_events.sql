-- Materialise relevant clients' events of one type as temp table relevant_<event> (pos, timestamp, columns), read by top_per_column and slot_counts.
-- @event "product_buy"  event view to read
-- @columns ["sku", "category", "price"]  columns to keep; category and price come from product_properties (NULL for a sku without properties)
-- returns: nothing; creates (or replaces) TEMP TABLE relevant_<event>. One scan and join of the event file serves both later queries.
CREATE OR REPLACE TEMP TABLE relevant_{{ event }} AS
SELECT
    CAST(r.pos AS INTEGER) AS pos,
    e.timestamp
    {% for c in columns %}
    , {{ 'p' if c in ['category', 'price'] else 'e' }}.{{ c }}
    {% endfor %}
FROM {{ event }} AS e
JOIN relevant_clients AS r ON r.client_id = e.client_id
{% if 'category' in columns or 'price' in columns %}
LEFT JOIN product_properties AS p ON p.sku = e.sku
{% endif %}
