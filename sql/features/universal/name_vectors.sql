-- Mean and spread of the 16-int name vectors of a client's products (sku events) or of its search queries.
-- @event "product_buy"  event view
-- @vector "name"  name (the event sku's product name, via product_properties) or query (search_query only)
-- returns: one row per relevant client in relevant_clients order: pos, n (vectors averaged), mean_0..mean_15,
--   std_0..std_15 (population standard deviation); zeros when the client has no such event.
WITH ev AS (
{% if vector == "name" %}
    SELECT e.client_id, p.name AS v
    FROM {{ event }} e JOIN product_properties p ON p.sku = e.sku
{% else %}
    SELECT e.client_id, e.query AS v
    FROM {{ event }} e
{% endif %}
    WHERE e.client_id IN (SELECT client_id FROM relevant_clients)
)
SELECT r.pos, count(ev.v) AS n,
{% for i in range(16) %}
       coalesce(avg(ev.v[{{ i + 1 }}]), 0) AS mean_{{ i }},
{% endfor %}
{% for i in range(16) %}
       coalesce(stddev_pop(ev.v[{{ i + 1 }}]), 0) AS std_{{ i }}{{ "," if not loop.last }}
{% endfor %}
FROM relevant_clients r
LEFT JOIN ev USING (client_id)
GROUP BY r.pos
ORDER BY r.pos
