-- The sequence block's input: each learned_clients client's latest events of every type before an end instant.
-- $end TIMESTAMP  exclusive end: events with timestamp < end count (the input window; never a target window)
-- $lo BIGINT  first learned_clients position of this chunk
-- $hi BIGINT  one past the last position of this chunk
-- $length BIGINT  most events kept per client (the latest ones)
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views; event code = 1-based index here
-- @sku_events ["product_buy", "add_to_cart", "remove_from_cart"]  views whose events carry a sku
-- @bits 8  query summary: the high bit of the query vector's first `bits` numbers
-- requires: features/learned/profile_clients
--   (the learned_clients(pos, client_id) view it registers, or one registered like it)
-- returns: (pos, rank, event, sku, category, price, url, query, age, gap) for clients with lo <= pos < hi
--   and rank < length; rank 0 = latest event; sku -1 unless an sku event (category and price NULL for
--   a sku without properties); url -1 unless a page visit; query 0 unless a search, else 1 + the
--   number whose bit i is query[i + 1] >= 128 (a sign hash: 1 .. 2^bits); age: days before end;
--   gap: seconds since the client's previous event (NULL for its first). Ties in timestamp are broken
--   by event code, sku, url, query (rows still tied are equal in every column returned but gap, and
--   their gaps are then 0 and the one older gap, in either order); ordered by pos, rank.
{% import "macros/shapes.sql" as m %}
{% set order %}ev.timestamp DESC, ev.event, ev.sku, ev.url, ev.query{% endset %}
WITH chunk AS (
    SELECT pos, client_id FROM learned_clients WHERE pos >= $lo AND pos < $hi
),
ev AS (
{% call(event, code) m.union_all(events) %}
    SELECT client_id, timestamp, {{ code }} AS event,
           {{ "sku" if event in sku_events else "CAST(-1 AS BIGINT)" }} AS sku,
           {{ "url" if event == "page_visit" else "CAST(-1 AS BIGINT)" }} AS url,
{% if event == "search_query" %}
           1{% for i in range(bits) %} + CASE WHEN query[{{ i + 1 }}] >= 128 THEN {{ 2 ** i }} ELSE 0 END{% endfor %} AS query
{% else %}
           0 AS query
{% endif %}
    FROM {{ event }}
    WHERE timestamp < $end AND client_id IN (SELECT client_id FROM chunk)
{% endcall %}
),
ranked AS (
    SELECT c.pos, ev.event, ev.sku, ev.url, ev.query,
           (epoch($end) - epoch(ev.timestamp)) / 86400.0 AS age,
           epoch(ev.timestamp) - epoch(lead(ev.timestamp) OVER (PARTITION BY c.pos ORDER BY {{ order }})) AS gap,
           row_number() OVER (PARTITION BY c.pos ORDER BY {{ order }}) - 1 AS rank
    FROM ev JOIN chunk c USING (client_id)
)
SELECT r.pos, r.rank, r.event, r.sku, p.category, p.price, r.url, r.query, r.age, r.gap
FROM ranked r
LEFT JOIN product_properties p ON p.sku = r.sku
WHERE r.rank < $length
ORDER BY r.pos, r.rank
