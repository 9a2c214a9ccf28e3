-- The rows of a source that another source joins by key (an order header for its lines): one row per key, the smallest, every column as the reader gives it (CSV: all text).
-- $paths VARCHAR[]  the joined source's files
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (here: all of them)
-- @csv true             the source is CSV
-- @json false           the source is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @joins []             always empty: a joined source joins nothing itself
-- @key "sku"            the key column (a quoted identifier checked against the source; the default only renders it)
-- returns: one row per distinct trimmed key (NULL keys left out), the source's columns
{% import "macros/import.sql" as m %}
SELECT *
FROM {{ m.reader(csv, json, typed, joins) }} AS row_
WHERE nullif(trim(CAST({{ key }} AS VARCHAR)), '') IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY trim(CAST({{ key }} AS VARCHAR)) ORDER BY row_) = 1
