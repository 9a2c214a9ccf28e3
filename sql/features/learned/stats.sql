-- Compact activity statistics of the learned recipe's clients, from their events before an end instant.
-- $end TIMESTAMP  exclusive end: events with timestamp < end count; windows and recency end here
-- $lo BIGINT  first learned_clients position of this chunk
-- $hi BIGINT  one past the last position of this chunk
-- @events ["product_buy", "add_to_cart", "remove_from_cart", "page_visit", "search_query"]  event views
-- @windows [7, 30]  window lengths in days
-- requires: features/learned/profile_clients
-- returns: one row per client with lo <= pos < hi, ordered by pos: pos, then per event e: <e>_n_all,
--   <e>_n_<d>, <e>_recency (days since its last event, NULL if none), <e>_tenure (days since its first, NULL if none);
--   then q_0..q_15, the mean search-query vector (NULL without queries).
WITH chunk AS (
    SELECT pos, client_id FROM learned_clients WHERE pos >= $lo AND pos < $hi
),
{% for event in events %}
s_{{ event }} AS (
    SELECT client_id, count(*) AS n_all,
{% for d in windows %}
           count(*) FILTER (WHERE timestamp >= $end - INTERVAL '{{ d }}' DAY) AS n_{{ d }},
{% endfor %}
           (epoch($end) - epoch(max(timestamp))) / 86400.0 AS recency,
           (epoch($end) - epoch(min(timestamp))) / 86400.0 AS tenure
    FROM {{ event }}
    WHERE timestamp < $end AND client_id IN (SELECT client_id FROM chunk)
    GROUP BY client_id
),
{% endfor %}
q AS (
    SELECT client_id,
{% for i in range(16) %}
           avg(query[{{ i + 1 }}]) AS q_{{ i }}{{ "," if not loop.last }}
{% endfor %}
    FROM search_query
    WHERE timestamp < $end AND client_id IN (SELECT client_id FROM chunk)
    GROUP BY client_id
)
SELECT c.pos,
{% for event in events %}
       coalesce({{ event }}.n_all, 0) AS {{ event }}_n_all,
{% for d in windows %}
       coalesce({{ event }}.n_{{ d }}, 0) AS {{ event }}_n_{{ d }},
{% endfor %}
       {{ event }}.recency AS {{ event }}_recency,
       {{ event }}.tenure AS {{ event }}_tenure,
{% endfor %}
       q.* EXCLUDE (client_id)
FROM chunk c
{% for event in events %}
LEFT JOIN s_{{ event }} AS {{ event }} ON {{ event }}.client_id = c.client_id
{% endfor %}
LEFT JOIN q ON q.client_id = c.client_id
ORDER BY c.pos
