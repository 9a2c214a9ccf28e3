-- The most recent sku events (buy, cart, remove) of the learned recipe's clients before an end instant.
-- $end TIMESTAMP  exclusive end: events with timestamp < end count; ages are measured from here
-- $lo BIGINT  first learned_clients position of this chunk
-- $hi BIGINT  one past the last position of this chunk
-- $length BIGINT  most events kept per client (the latest ones)
-- @events ["product_buy", "add_to_cart", "remove_from_cart"]  sku event views; event code = 1-based index here
-- requires: features/learned/profile_clients
-- returns: (pos, rank, event, sku, age) for clients with lo <= pos < hi, rank 0 = latest event, age in days
--   before end; ties in timestamp broken by event code then sku; ordered by pos, rank.
{% import "macros/shapes.sql" as m %}
WITH chunk AS (
    SELECT pos, client_id FROM learned_clients WHERE pos >= $lo AND pos < $hi
),
ev AS (
{% call(event, code) m.union_all(events) %}
    SELECT client_id, timestamp, {{ code }} AS event, sku FROM {{ event }}
    WHERE timestamp < $end AND client_id IN (SELECT client_id FROM chunk)
{% endcall %}
),
ranked AS (
    SELECT c.pos, ev.event, ev.sku, (epoch($end) - epoch(ev.timestamp)) / 86400.0 AS age,
           row_number() OVER (PARTITION BY c.pos ORDER BY ev.timestamp DESC, ev.event, ev.sku) - 1 AS rank
    FROM ev JOIN chunk c USING (client_id)
)
SELECT pos, rank, event, sku, age FROM ranked
WHERE rank < $length
ORDER BY pos, rank
