-- The product rows of the product source: sku key, category key, price, name text and time, with why a row is dropped.
-- $paths VARCHAR[]  the source's files (globs already expanded by the importer)
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (ids, text times, free text)
-- $ts_format VARCHAR  strptime format of a text time (ts_unit 0)
-- $timezone VARCHAR  the source's time zone
-- @csv true             the source is CSV
-- @json false           the source is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @sku "sku"            the sku column (a quoted identifier checked against the source)
-- @category false       the category column (false: none)
-- @price false          the price column (false: none)
-- @name false           the free-text name column (false: none)
-- @ts false             the time column ordering rows for pick = latest (false: none)
-- @ts_unit 0            as in import/stage_events
-- @in_utc false         the source's time zone is UTC: text and native times need no conversion
-- @filters []           row filters: checked boolean expressions over the source's columns
-- returns: one row per source row (sku_key, category_key, price DOUBLE, name_text, ts, dropped)
{% import "macros/import.sql" as m %}
SELECT sku_key, category_key, price, name_text, ts,
       CASE
{% for f in filters %}
         WHEN NOT keep_{{ loop.index }} THEN '{{ loop.index }}'
{% endfor %}
         WHEN sku_key IS NULL THEN 'sku'
       END AS dropped
FROM (
    SELECT {{ m.key(sku) }} AS sku_key,
           {% if category %}{{ m.key(category) }}{% else %}CAST(NULL AS VARCHAR){% endif %} AS category_key,
           {% if price %}TRY_CAST({{ price }} AS DOUBLE){% else %}CAST(NULL AS DOUBLE){% endif %} AS price,
           {% if name %}nullif(trim(CAST({{ name }} AS VARCHAR)), ''){% else %}CAST(NULL AS VARCHAR){% endif %} AS name_text,
           {% if ts %}{{ m.utc(ts, ts_unit, in_utc) }}{% else %}CAST(NULL AS TIMESTAMP){% endif %} AS ts,
{% for f in filters %}
           coalesce(({{ f }}), false) AS keep_{{ loop.index }},
{% endfor %}
           1 AS one
    FROM {{ m.reader(csv, json, typed) }}
)
