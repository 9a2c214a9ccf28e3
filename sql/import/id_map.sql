-- The dense int64 id of every distinct original id of one kind: integers in numeric order first, then other text in text order.
-- @tables ["product_buy"]  staging tables holding the keys (kept rows have dropped NULL)
-- @column "client_id"      the key column in them
-- @with_null false         also give an id to "no value" (original NULL, the last id)
-- returns: one row per distinct key (id BIGINT 0..n-1, original VARCHAR)
SELECT CAST(row_number() OVER (ORDER BY TRY_CAST(original AS HUGEINT) NULLS LAST, original NULLS LAST) - 1 AS BIGINT) AS id,
       original
FROM (
{% for t in tables %}
    {% if not loop.first %}UNION{% endif %}
    SELECT DISTINCT {{ column }} AS original FROM {{ t }} WHERE dropped IS NULL AND {{ column }} IS NOT NULL
{% endfor %}
{% if with_null %}
    UNION SELECT CAST(NULL AS VARCHAR)
{% endif %}
)
