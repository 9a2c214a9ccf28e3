-- Per id column of one table: values outside the contract's range (docs/data.md §4), read from the file as stored.
-- $id_max BIGINT     highest id allowed (2^63-1: what fits a signed 64-bit integer)
-- $price_max BIGINT  highest price bucket allowed (99)
-- @table "product_properties"       (structure: reads raw_<table>, before the cast to BIGINT)
-- @ids ["sku", "category"]          (structure: columns that must lie in 0..$id_max)
-- @prices ["price"]                 (structure: columns that must lie in 0..$price_max)
-- returns: one row: per column <col>_out (count of values outside) and <col>_example (the smallest, as text).
SELECT count(*) AS n_rows
{% for c in ids + prices %}
{% set high = "$price_max" if c in prices else "$id_max" %}
, count(*) FILTER (WHERE "{{ c }}" < 0 OR "{{ c }}" > {{ high }}) AS "{{ c }}_out"
, CAST(min("{{ c }}") FILTER (WHERE "{{ c }}" < 0 OR "{{ c }}" > {{ high }}) AS VARCHAR) AS "{{ c }}_example"
{% endfor %}
FROM raw_{{ table }}
