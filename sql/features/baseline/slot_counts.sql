-- Relevant clients' events of one type, counted per client, time bucket and top-N slot of each column (a long table to pivot).
-- $max_ts TIMESTAMP  latest timestamp of this type among relevant clients' events; windows end here
-- $top_sku BIGINT[]  the top-N skus, slot order (only when sku is a column)
-- $top_category BIGINT[]  the top-N categories, slot order
-- $top_price BIGINT[]  the top-N price buckets, slot order
-- $top_url BIGINT[]  the top-N urls, slot order
-- @event "product_buy"  event type; reads temp table relevant_<event> (see relevant_events)
-- @columns ["sku", "category", "price"]  columns with a top-N list
-- @windows [1, 7, 30]  window lengths in days, ascending and distinct
-- requires: features/baseline/relevant_events
-- returns: one row per (pos, bucket, slot_<column>...) with events = how many events fall there; bucket i (0-based) means the smallest window holding the event is windows[i] (timestamp >= max_ts - windows[i] days), NULL outside every window; slot_<column> is the value's 1-based top-N slot or NULL. Summing events per pos gives the client's total.
SELECT
    pos,
    CASE
    {% for d in windows %}
        WHEN timestamp >= $max_ts - INTERVAL {{ d }} DAY THEN {{ loop.index0 }}
    {% endfor %}
    END AS bucket,
    {% for c in columns %}
    list_position($top_{{ c }}, {{ c }}) AS slot_{{ c }},
    {% endfor %}
    count(*) AS events
FROM relevant_{{ event }}
GROUP BY ALL
