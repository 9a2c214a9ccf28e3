-- Materialise relevant clients' events of one type as temp table relevant_<event> (pos, timestamp, columns), read by top_per_column and slot_counts; for a refresh, the new events and the kept tail of the old ones.
-- $after TIMESTAMP  with @fresh: only events strictly after this time (those the refreshed build has not read)
-- @event "product_buy"  event view to read
-- @columns ["sku", "category", "price"]  columns to keep; category and price come from product_properties (NULL for a sku without properties)
-- @fresh false  a refresh: the events after $after, and the rows of view tail_<event> (the kept tail, see tail; all at or before $after)
-- returns: nothing; creates (or replaces) TEMP TABLE relevant_<event>. One scan and join of the event file serves both later queries. In a refresh it does not hold all of a client's events: totals come from the kept counts.
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
{% if fresh %}
WHERE e.timestamp > $after
UNION ALL
SELECT
    CAST(pos AS INTEGER) AS pos,
    timestamp
    {% for c in columns %}
    , {{ c }}
    {% endfor %}
FROM tail_{{ event }}
{% endif %}
