-- Per-client event counts for each value of a given list (a propensity label list or a top-K list), long format: non-zero cells only.
-- $values BIGINT[]  the listed values, read as table list_values(slot, value); slot = 0-based position in the list
-- $ref TIMESTAMP  end of the input; a window of d days holds events with timestamp >= ref - d days
-- @event "product_buy"  event view
-- @column "sku"  sku or url (the event's own column) or category or price (via product_properties)
-- @windows [30]  window lengths in days
-- returns: (pos, slot, n_all, n_<d>...) for relevant clients with at least one such event, ordered by pos, slot.
{% import "macros/shapes.sql" as m %}
WITH ev AS (
{{ m.event_values(event, column, "e.client_id, e.timestamp") }}
)
SELECT r.pos, l.slot,
{% for d in windows %}
       count(*) FILTER (WHERE ev.timestamp >= $ref - INTERVAL '{{ d }}' DAY) AS n_{{ d }},
{% endfor %}
       count(*) AS n_all
FROM ev
JOIN list_values l USING (value)
JOIN relevant_clients r USING (client_id)
GROUP BY r.pos, l.slot
ORDER BY r.pos, l.slot
