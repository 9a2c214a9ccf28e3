-- Activity of every relevant client for one event type: counts, active days and distinct values per window, recency, tenure and trend.
-- $ref TIMESTAMP  end of the input; a window of d days holds events with timestamp >= ref - d days
-- $start TIMESTAMP  first instant of the input; a client without events gets recency = days(ref - start) + 1
-- @event "product_buy"  event view
-- @value "sku"  column whose distinct values are counted (sku, url or query)
-- @categories true  also count distinct categories (sku events only, via product_properties)
-- @windows [7, 30, 90]  window lengths in days, ascending
-- returns: one row per relevant client in relevant_clients order: pos, n_all, n_<d>, days_all, days_<d>,
--   distinct_all, distinct_<d>, [categories_all, categories_<d>], recency, tenure (days since first event, 0 if none),
--   trend_<d1>_<d2> = n_<d1> / n_<d2> for consecutive windows and trend_<dlast>_all (0 when the denominator is 0).
-- Distinct counts use no DISTINCT aggregate (they scale to 150 M page visits): a value (day, category) counts in a
--   window when its latest event with this client falls in it, after one GROUP BY per (client, value).
WITH ev AS (
    SELECT e.client_id, e.timestamp, e.{{ value }} AS v
{% if categories %}
         , p.category AS c
{% endif %}
    FROM {{ event }} e
{% if categories %}
    LEFT JOIN product_properties p ON p.sku = e.sku
{% endif %}
    WHERE e.client_id IN (SELECT client_id FROM relevant_clients)
),
counts AS (
    SELECT client_id, count(*) AS n_all,
{% for d in windows %}
           count(*) FILTER (WHERE timestamp >= $ref - INTERVAL '{{ d }}' DAY) AS n_{{ d }},
{% endfor %}
           (epoch($ref) - epoch(max(timestamp))) / CAST(86400 AS DOUBLE) AS recency,
           (epoch($ref) - epoch(min(timestamp))) / CAST(86400 AS DOUBLE) AS tenure
    FROM ev GROUP BY client_id
)
{% for part, expr in [("days", "CAST(timestamp AS DATE)"), ("distinct", "v"), ("categories", "c")] %}
{% if part != "categories" or categories %}
, {{ part }}_last AS (
    SELECT client_id, max(timestamp) AS last_ts FROM ev
{% if part == "categories" %}
    WHERE c IS NOT NULL
{% endif %}
    GROUP BY client_id, {{ expr }}
),
{{ part }}_agg AS (
    SELECT client_id, count(*) AS {{ part }}_all,
{% for d in windows %}
           count(*) FILTER (WHERE last_ts >= $ref - INTERVAL '{{ d }}' DAY) AS {{ part }}_{{ d }}{{ "," if not loop.last }}
{% endfor %}
    FROM {{ part }}_last GROUP BY client_id
)
{% endif %}
{% endfor %}
SELECT r.pos,
{% for part in ["n", "days", "distinct"] + (["categories"] if categories else []) %}
       coalesce({{ part }}_all, 0) AS {{ part }}_all,
{% for d in windows %}
       coalesce({{ part }}_{{ d }}, 0) AS {{ part }}_{{ d }},
{% endfor %}
{% endfor %}
       coalesce(recency, (epoch($ref) - epoch($start)) / CAST(86400 AS DOUBLE) + 1) AS recency,
       coalesce(tenure, 0) AS tenure,
{% for d in windows %}
{% if not loop.last %}
       coalesce(n_{{ d }} / nullif(n_{{ windows[loop.index0 + 1] }}, 0), 0) AS trend_{{ d }}_{{ windows[loop.index0 + 1] }},
{% else %}
       coalesce(n_{{ d }} / nullif(n_all, 0), 0) AS trend_{{ d }}_all
{% endif %}
{% endfor %}
FROM relevant_clients r
LEFT JOIN counts c ON c.client_id = r.client_id
LEFT JOIN days_agg d ON d.client_id = r.client_id
LEFT JOIN distinct_agg v ON v.client_id = r.client_id
{% if categories %}
LEFT JOIN categories_agg k ON k.client_id = r.client_id
{% endif %}
ORDER BY r.pos
