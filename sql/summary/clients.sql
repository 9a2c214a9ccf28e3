-- Relevant clients and how many have events: total, with any event, with a purchase, between two instants.
-- $since TIMESTAMP  count activity from this instant (inclusive)
-- $until TIMESTAMP  to this instant (exclusive)
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views to include
-- returns: one row (relevant_clients, with_events, with_purchase).
{% import "macros/shapes.sql" as m %}
WITH active AS (
{% call(event, i) m.union_all(events) %}
    SELECT client_id, '{{ event }}' AS event_type FROM {{ event }}
    WHERE timestamp >= $since AND timestamp < $until
{% endcall %}
)
SELECT
    (SELECT count(*) FROM relevant_clients) AS relevant_clients,
    (SELECT count(*) FROM relevant_clients SEMI JOIN active USING (client_id)) AS with_events,
    (SELECT count(*) FROM relevant_clients
        SEMI JOIN (SELECT client_id FROM active WHERE event_type = 'product_buy') USING (client_id)) AS with_purchase
