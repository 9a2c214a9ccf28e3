-- Events per type: rows, distinct clients, first and last timestamp.
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views to summarise
-- $pattern VARCHAR  only event types matching this LIKE pattern ('%' for all)
-- returns: one row per event type (event_type, events, clients, first_ts, last_ts), in the order given.
{% import "macros/shapes.sql" as m %}
SELECT event_type, events, clients, first_ts, last_ts FROM (
{% call(event, i) m.union_all(events) %}
    SELECT {{ i }} AS ord, '{{ event }}' AS event_type, count(*) AS events,
           count(DISTINCT client_id) AS clients, min(timestamp) AS first_ts, max(timestamp) AS last_ts
    FROM {{ event }}
{% endcall %}
) WHERE event_type LIKE $pattern
ORDER BY ord
