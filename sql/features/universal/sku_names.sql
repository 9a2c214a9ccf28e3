-- Name vectors of listed skus, in list order, and the catalogue's mean name vector (to centre before cosines).
-- $values BIGINT[]  listed skus, read as table list_values(slot, value); slot = 0-based position in the list
-- returns: (slot, name_0..name_15) for listed skus found in product_properties, ordered by slot,
--   plus one row with slot = -1 holding the mean name over the whole catalogue.
SELECT CAST(-1 AS BIGINT) AS slot,
{% for i in range(16) %}
       avg(name[{{ i + 1 }}]) AS name_{{ i }}{{ "," if not loop.last }}
{% endfor %}
FROM product_properties
UNION ALL
SELECT l.slot,
{% for i in range(16) %}
       CAST(p.name[{{ i + 1 }}] AS DOUBLE){{ "," if not loop.last }}
{% endfor %}
FROM list_values l JOIN product_properties p ON p.sku = l.value
ORDER BY slot
