-- Per column, the most frequent values among relevant clients' events of one type; plus the type's event count and latest timestamp.
-- $top_n BIGINT  how many values to keep per column (the top-N)
-- @event "product_buy"  event type; reads temp table relevant_<event> (see relevant_events)
-- @columns ["sku", "category", "price"]  columns to rank, in block order
-- requires: features/baseline/relevant_events
-- returns: a head row (col -1, slot -1, value NULL, events = all relevant events, max_ts = latest of them) and, for
--   column i of @columns (0-based), up to $top_n rows (col i, slot 0.., value, events, max_ts NULL): slot 0 is the most
--   frequent value, ties by smaller value; NULL values (sku without properties) are never ranked. Ordered by col, slot.
WITH
{% for c in columns %}
top_{{ c }} AS (
    SELECT {{ c }} AS value, count(*) AS events
    FROM relevant_{{ event }}
    WHERE {{ c }} IS NOT NULL
    GROUP BY {{ c }}
    ORDER BY events DESC, value ASC
    LIMIT $top_n
),
{% endfor %}
head AS (
    SELECT count(*) AS events, max(timestamp) AS max_ts FROM relevant_{{ event }}
)
SELECT -1 AS col, CAST(-1 AS BIGINT) AS slot, CAST(NULL AS BIGINT) AS value, events, max_ts FROM head
{% for c in columns %}
UNION ALL
SELECT {{ loop.index0 }} AS col, row_number() OVER (ORDER BY events DESC, value ASC) - 1 AS slot, value, events,
       CAST(NULL AS TIMESTAMP) AS max_ts
FROM top_{{ c }}
{% endfor %}
ORDER BY col, slot
