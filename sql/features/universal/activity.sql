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
WITH ev AS (
    SELECT e.client_id, e.timestamp, CAST(e.timestamp AS DATE) AS day, e.{{ value }} AS v
{% if categories %}
         , p.category AS c
{% endif %}
    FROM {{ event }} e
{% if categories %}
    LEFT JOIN product_properties p ON p.sku = e.sku
{% endif %}
    WHERE e.client_id IN (SELECT client_id FROM relevant_clients)
),
agg AS (
    SELECT r.pos,
           count(ev.timestamp) AS n_all,
{% for d in windows %}
           count(ev.timestamp) FILTER (WHERE ev.timestamp >= $ref - to_days({{ d }})) AS n_{{ d }},
{% endfor %}
           count(DISTINCT ev.day) AS days_all,
{% for d in windows %}
           count(DISTINCT ev.day) FILTER (WHERE ev.timestamp >= $ref - to_days({{ d }})) AS days_{{ d }},
{% endfor %}
           count(DISTINCT ev.v) AS distinct_all,
{% for d in windows %}
           count(DISTINCT ev.v) FILTER (WHERE ev.timestamp >= $ref - to_days({{ d }})) AS distinct_{{ d }},
{% endfor %}
{% if categories %}
           count(DISTINCT ev.c) AS categories_all,
{% for d in windows %}
           count(DISTINCT ev.c) FILTER (WHERE ev.timestamp >= $ref - to_days({{ d }})) AS categories_{{ d }},
{% endfor %}
{% endif %}
           (epoch($ref) - epoch(max(ev.timestamp))) / 86400.0 AS recency,
           (epoch($ref) - epoch(min(ev.timestamp))) / 86400.0 AS tenure
    FROM relevant_clients r
    LEFT JOIN ev USING (client_id)
    GROUP BY r.pos
)
SELECT pos, n_all,
{% for d in windows %}
       n_{{ d }},
{% endfor %}
       days_all,
{% for d in windows %}
       days_{{ d }},
{% endfor %}
       distinct_all,
{% for d in windows %}
       distinct_{{ d }},
{% endfor %}
{% if categories %}
       categories_all,
{% for d in windows %}
       categories_{{ d }},
{% endfor %}
{% endif %}
       coalesce(recency, (epoch($ref) - epoch($start)) / 86400.0 + 1) AS recency,
       coalesce(tenure, 0) AS tenure,
{% for d in windows %}
{% if not loop.last %}
       coalesce(n_{{ d }} / nullif(n_{{ windows[loop.index0 + 1] }}, 0), 0) AS trend_{{ d }}_{{ windows[loop.index0 + 1] }},
{% else %}
       coalesce(n_{{ d }} / nullif(n_all, 0), 0) AS trend_{{ d }}_all
{% endif %}
{% endfor %}
FROM agg
ORDER BY pos
