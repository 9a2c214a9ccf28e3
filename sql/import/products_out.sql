-- product_properties in the published layout: one row per mapped sku, properties picked per sku, prices in 100 quantile buckets, names as 16 integers.
-- @pick_latest false   pick each property's latest value (by ts); else its most frequent; ties to the smallest value
-- returns: sku, category, price (bucket 0..99), name (vector text); a sku without a price gets
--   bucket 0, without a category the "no category" id, without a name the vector of empty text
{% import "macros/import.sql" as m %}
{% macro picked(column) -%}
    SELECT sku_key, first({{ column }} ORDER BY {% if pick_latest %}ts DESC NULLS LAST{% else %}n DESC{% endif %}, {{ column }}) AS {{ column }}
    FROM (SELECT sku_key, {{ column }}, {% if pick_latest %}max(ts) AS ts{% else %}count(*) AS n{% endif %}
          FROM stage_products WHERE dropped IS NULL AND {{ column }} IS NOT NULL GROUP BY sku_key, {{ column }})
    GROUP BY sku_key
{%- endmacro %}
WITH pick_category AS (
{{ picked("category_key") }}
), pick_price AS (
{{ picked("price") }}
), pick_name AS (
{{ picked("name_text") }}
), props AS (
    SELECT s.id AS sku, c.category_key, p.price, n.name_text
    FROM map_sku AS s
    LEFT JOIN pick_category AS c ON c.sku_key = s.original
    LEFT JOIN pick_price AS p ON p.sku_key = s.original
    LEFT JOIN pick_name AS n ON n.sku_key = s.original
), ranked AS (
    SELECT *, rank() OVER (ORDER BY price NULLS LAST) AS price_rank, count(price) OVER () AS priced,
           {{ m.text_codes("name_text") }} AS name_codes
    FROM props
)
SELECT r.sku,
       c.id AS category,
       CAST(CASE WHEN r.price IS NULL THEN 0 ELSE floor(100 * (r.price_rank - 1) / r.priced) END AS BIGINT) AS price,
       {{ m.codes_text("r.name_codes") }} AS name
FROM ranked AS r
JOIN map_category AS c ON c.original IS NOT DISTINCT FROM r.category_key
