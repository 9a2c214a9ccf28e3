-- One event table in the published layout: kept staged rows with ids from the maps and the time as UTC text.
-- @stage "product_buy"     the staging table of the event type
-- @value_map "sku"         the map table of the value's ids (sku or url)
-- @value "sku"             the value column's published name (sku, url or query)
-- @vector false            the value is free text, written as 16 integers (search_query)
-- returns: client_id BIGINT, timestamp VARCHAR 'YYYY-MM-DD HH:MM:SS' (UTC), and the value
--   (BIGINT id, or the vector text '[ 12 201 ...]')
{% import "macros/import.sql" as m %}
SELECT c.id AS client_id,
       strftime(date_trunc('second', s.ts), '%Y-%m-%d %H:%M:%S') AS timestamp,
{% if vector %}
       {{ m.codes_text("s.codes") }} AS {{ value }}
FROM (SELECT *, {{ m.text_codes("value_key") }} AS codes FROM {{ stage }} WHERE dropped IS NULL) AS s
{% else %}
       v.id AS {{ value }}
FROM {{ stage }} AS s
{% endif %}
JOIN map_client_id AS c ON c.original = s.client_key
{% if not vector %}
JOIN {{ value_map }} AS v ON v.original = s.value_key
{% endif %}
WHERE s.dropped IS NULL
