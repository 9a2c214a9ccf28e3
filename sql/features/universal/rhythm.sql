-- Daily and weekly rhythm of every relevant client: shares of its events by hour of day and by ISO day of week.
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views counted together
-- returns: one row per relevant client in relevant_clients order: pos, hour_0..hour_23, dow_1..dow_7 (Monday = 1);
--   each group sums to 1 for a client with events and is all zeros otherwise.
{% import "macros/shapes.sql" as m %}
WITH ev AS (
{% call(event, i) m.union_all(events) %}
    SELECT client_id, timestamp FROM {{ event }}
{% endcall %}
)
SELECT r.pos,
{% for h in range(24) %}
       coalesce(count(ev.timestamp) FILTER (WHERE hour(ev.timestamp) = {{ h }}) / nullif(count(ev.timestamp), 0), 0) AS hour_{{ h }},
{% endfor %}
{% for d in range(1, 8) %}
       coalesce(count(ev.timestamp) FILTER (WHERE isodow(ev.timestamp) = {{ d }}) / nullif(count(ev.timestamp), 0), 0) AS dow_{{ d }}{{ "," if not loop.last }}
{% endfor %}
FROM relevant_clients r
LEFT JOIN ev USING (client_id)
GROUP BY r.pos
ORDER BY r.pos
