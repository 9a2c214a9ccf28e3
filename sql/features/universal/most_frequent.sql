-- The most frequent values of a column among relevant clients' events of one type (ties by smaller value).
-- $n BIGINT  how many values to return at most
-- @event "product_buy"  event view
-- @column "sku"  sku or url (the event's own column) or category or price (via product_properties)
-- @never_bought false  only values never seen in product_buy (for a new-sku list stand-in)
-- returns: (slot, value, events), slot 0 = most frequent, at most $n rows.
{% import "macros/shapes.sql" as m %}
WITH ev AS (
{{ m.event_values(event, column) }}
    WHERE e.client_id IN (SELECT client_id FROM relevant_clients)
),
counted AS (
    SELECT value, count(*) AS events FROM ev
{% if never_bought %}
    WHERE value NOT IN (SELECT value FROM ({{ m.event_values("product_buy", column) }}))
{% endif %}
    GROUP BY value
)
SELECT CAST(row_number() OVER (ORDER BY events DESC, value) - 1 AS BIGINT) AS slot, value, events
FROM counted
ORDER BY slot
LIMIT $n
