-- Per column, the most frequent values among relevant clients' events of one type; plus the type's event count and latest timestamp.
-- $top_n BIGINT  how many values to keep per column (the top-N)
-- @event "product_buy"  event view to read
-- @columns ["sku", "category", "price"]  columns to rank, in block order; category and price come from product_properties
-- returns: a row (col 0, slot 0, value NULL, events = all relevant events, max_ts = latest of them) and, for column i (1-based), up to $top_n rows (col i, slot 1.., value, events): slot 1 is the most frequent value, ties by smaller value; NULL values (sku without properties) are never ranked.
WITH ev AS (
    SELECT e.timestamp
    {% for c in columns %}
        , {{ 'p' if c in ['category', 'price'] else 'e' }}.{{ c }}
    {% endfor %}
    FROM {{ event }} AS e
    SEMI JOIN relevant_clients AS r ON r.client_id = e.client_id
    {% if 'category' in columns or 'price' in columns %}
    LEFT JOIN product_properties AS p ON p.sku = e.sku
    {% endif %}
),
grouped AS (
    SELECT
        CASE
        {% for c in columns %}
            WHEN GROUPING({{ c }}) = 0 THEN {{ loop.index }}
        {% endfor %}
            ELSE 0
        END AS col,
        COALESCE({{ columns | join(', ') }}) AS value,
        count(*) AS events,
        max(timestamp) AS max_ts
    FROM ev
    GROUP BY GROUPING SETS ((){% for c in columns %}, ({{ c }}){% endfor %})
),
ranked AS (
    SELECT col, value, events, max_ts,
           CASE WHEN col = 0 THEN 0
                ELSE row_number() OVER (PARTITION BY col ORDER BY events DESC, value ASC) END AS slot
    FROM grouped
    WHERE col = 0 OR value IS NOT NULL
)
SELECT col, slot, value, events, CASE WHEN col = 0 THEN max_ts END AS max_ts
FROM ranked
WHERE slot <= $top_n
ORDER BY col, slot
