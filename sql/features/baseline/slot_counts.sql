-- Relevant clients' events of one type, counted per client, time bucket and top-N slot of each column (a long table to pivot).
-- $max_ts TIMESTAMP  latest timestamp of this type among relevant clients' events; windows end here
-- $top_sku BIGINT[]  the top-N skus, slot order (only when sku is a column); read as table list_top_sku(slot, value)
-- $top_category BIGINT[]  the top-N categories, slot order; table list_top_category
-- $top_price BIGINT[]  the top-N price buckets, slot order; table list_top_price
-- $top_url BIGINT[]  the top-N urls, slot order; table list_top_url
-- @event "product_buy"  event type; reads temp table relevant_<event> (see relevant_events)
-- @columns ["sku", "category", "price"]  columns with a top-N list
-- @windows [1, 7, 30]  window lengths in days, ascending and distinct
-- requires: features/baseline/relevant_events
-- returns: one row per (pos, bucket, slot_<column>...) with events = how many events fall there; bucket i (0-based) means the smallest window holding the event is windows[i] (timestamp >= max_ts - windows[i] days), NULL outside every window; slot_<column> is the value's 0-based top-N slot or NULL. Summing events per pos gives the client's total.
SELECT
    e.pos,
    CASE
    {% for d in windows %}
        WHEN e.timestamp >= $max_ts - INTERVAL '{{ d }}' DAY THEN {{ loop.index0 }}
    {% endfor %}
    END AS bucket,
    {% for c in columns %}
    l_{{ c }}.slot AS slot_{{ c }},
    {% endfor %}
    count(*) AS events
FROM relevant_{{ event }} AS e
{% for c in columns %}
LEFT JOIN list_top_{{ c }} AS l_{{ c }} ON l_{{ c }}.value = e.{{ c }}
{% endfor %}
GROUP BY
    e.pos,
    CASE
    {% for d in windows %}
        WHEN e.timestamp >= $max_ts - INTERVAL '{{ d }}' DAY THEN {{ loop.index0 }}
    {% endfor %}
    END
    {% for c in columns %}
    , l_{{ c }}.slot
    {% endfor %}
