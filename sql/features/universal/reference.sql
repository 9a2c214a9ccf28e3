-- Reference instants of the events: the latest timestamp (where every feature window ends) and the earliest.
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views to scan
-- returns: one row (ref_ts, first_ts); NULLs when there are no events at all.
{% import "macros/shapes.sql" as m %}
SELECT max(ts_max) AS ref_ts, min(ts_min) AS first_ts FROM (
{% call(event, i) m.union_all(events) %}
    SELECT max(timestamp) AS ts_max, min(timestamp) AS ts_min FROM {{ event }}
{% endcall %}
)
