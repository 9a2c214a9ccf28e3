-- No rows: the columns of a source as its reader sees them, to check a mapping before any work.
-- $paths VARCHAR[]  the source's files (globs already expanded by the importer)
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (ids, text times, free text)
-- @csv true     the source is CSV
-- @json false   the source is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @joins []             sources joined by key: [{"table": "join_orders", "key": "\"order_id\""}]
-- @filters []   row filters to bind against the columns (checked boolean expressions)
-- returns: no rows; the source's columns with their types
{% import "macros/import.sql" as m %}
SELECT *{% for f in filters %}, ({{ f }}) AS filter_{{ loop.index }}{% endfor %}

FROM {{ m.reader(csv, json, typed, joins) }}
LIMIT 0
