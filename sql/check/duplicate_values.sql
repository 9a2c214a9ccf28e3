-- Values of one id column listed more than once (skus in product_properties must be unique).
-- @table "product_properties"  (structure: the typed view to read)
-- @column "sku"                (structure: the column that must be unique)
-- returns: one row: duplicated (distinct values listed more than once), extra_rows, example (the smallest).
SELECT count(*) AS duplicated, coalesce(sum(copies - 1), 0) AS extra_rows, min(value) AS example
FROM (
    SELECT "{{ column }}" AS value, count(*) AS copies
    FROM {{ table }}
    WHERE "{{ column }}" IS NOT NULL
    GROUP BY ALL
    HAVING count(*) > 1
)
