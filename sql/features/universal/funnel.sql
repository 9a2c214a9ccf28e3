-- Cart funnel of every relevant client: cart conversion (buys / adds) and abandonment (removes / adds), over the whole input and recent windows.
-- $ref TIMESTAMP  end of the input; a window of d days holds events with timestamp >= ref - d days
-- @windows [30]  window lengths in days
-- returns: one row per relevant client in relevant_clients order: pos, conversion_all, abandonment_all,
--   conversion_<d>, abandonment_<d>; a ratio is 0 when the client added nothing to the cart in that window.
WITH ev AS (
    SELECT client_id, timestamp, 'b' AS kind FROM product_buy
    UNION ALL SELECT client_id, timestamp, 'a' FROM add_to_cart
    UNION ALL SELECT client_id, timestamp, 'r' FROM remove_from_cart
),
agg AS (
    SELECT r.pos,
{% for d in windows %}
           count(*) FILTER (WHERE ev.kind = 'b' AND ev.timestamp >= $ref - INTERVAL '{{ d }}' DAY) AS b_{{ d }},
           count(*) FILTER (WHERE ev.kind = 'a' AND ev.timestamp >= $ref - INTERVAL '{{ d }}' DAY) AS a_{{ d }},
           count(*) FILTER (WHERE ev.kind = 'r' AND ev.timestamp >= $ref - INTERVAL '{{ d }}' DAY) AS r_{{ d }},
{% endfor %}
           count(*) FILTER (WHERE ev.kind = 'b') AS b_all,
           count(*) FILTER (WHERE ev.kind = 'a') AS a_all,
           count(*) FILTER (WHERE ev.kind = 'r') AS r_all
    FROM relevant_clients r
    LEFT JOIN ev USING (client_id)
    GROUP BY r.pos
)
SELECT pos,
       coalesce(b_all / nullif(a_all, 0), 0) AS conversion_all,
       coalesce(r_all / nullif(a_all, 0), 0) AS abandonment_all,
{% for d in windows %}
       coalesce(b_{{ d }} / nullif(a_{{ d }}, 0), 0) AS conversion_{{ d }},
       coalesce(r_{{ d }} / nullif(a_{{ d }}, 0), 0) AS abandonment_{{ d }}{{ "," if not loop.last }}
{% endfor %}
FROM agg
ORDER BY pos
