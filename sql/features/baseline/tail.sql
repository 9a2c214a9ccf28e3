-- The old events a later refresh still needs: those in the widest window that hold a value of a top-N list (the rest only count in a client's total, which is kept apart).
-- $max_ts TIMESTAMP  the windows' end (latest relevant event of this type); a later refresh's end is never earlier, so an event before the widest window now is outside every later window
-- $top_sku BIGINT[]  the top-N skus (only when sku is a column); read as table list_top_sku(slot, value)
-- $top_category BIGINT[]  the top-N categories; table list_top_category
-- $top_price BIGINT[]  the top-N price buckets; table list_top_price
-- $top_url BIGINT[]  the top-N urls; table list_top_url
-- @event "product_buy"  event type; reads relevant_<event> (a build's table or a refresh's view)
-- @columns ["sku", "category", "price"]  columns with a top-N list
-- @widest 30  the widest window in days
-- requires: features/baseline/relevant_events
-- returns: rows (pos, timestamp, columns...) of relevant_<event>, in no set order (a refresh only counts them).
SELECT
    e.pos, e.timestamp
    {% for c in columns %}
    , e.{{ c }}
    {% endfor %}
FROM relevant_{{ event }} AS e
WHERE e.timestamp >= $max_ts - INTERVAL '{{ widest }}' DAY
  AND (
    {% for c in columns %}
    {{ 'OR ' if not loop.first }}e.{{ c }} IN (SELECT value FROM list_top_{{ c }})
    {% endfor %}
  )
