-- Client x item interaction weights for the learned block: weighted event counts per (relevant client, item), items numbered densely.
-- @events {"product_buy": 4, "add_to_cart": 2, "remove_from_cart": 1}  event views and the weight of one event of each
-- @column "sku"  item column: sku or url (the event's own column) or category or price (via product_properties)
-- returns: (pos, item, weight, value) with item the 0-based rank of the value among the values present (value: the item's own id, which a profile model keeps), ordered by pos, item.
{% import "macros/shapes.sql" as m %}
WITH ev AS (
{% call(item, i) m.union_all(events.items()) %}
{{ m.event_values(item[0], column, "e.client_id, " ~ item[1] ~ " AS w") }}
{% endcall %}
),
pairs AS (
    SELECT r.pos, ev.value, sum(ev.w) AS weight
    FROM ev JOIN relevant_clients r USING (client_id)
    GROUP BY r.pos, ev.value
),
items AS (
    SELECT value, CAST(row_number() OVER (ORDER BY value) - 1 AS BIGINT) AS item
    FROM (SELECT DISTINCT value FROM pairs)
)
SELECT p.pos, i.item, CAST(p.weight AS DOUBLE) AS weight, CAST(value AS BIGINT) AS value
FROM pairs p JOIN items i USING (value)
ORDER BY p.pos, i.item
