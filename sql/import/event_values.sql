-- The most frequent values of a mixed source's event column, for the warning given when an event type's event_values match no row.
-- $paths VARCHAR[]  the source's files (globs already expanded by the importer)
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (ids, text times, free text)
-- @csv true             the source is CSV
-- @json false           the source is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @joins []             sources joined by key: [{"table": "join_orders", "key": "\"order_id\""}]
-- @event_column "sku"  the event column (a quoted identifier checked against the source; the default only renders it)
-- returns: up to 6 rows (value VARCHAR trimmed as the stage compares it, rows BIGINT), most frequent first
{% import "macros/import.sql" as m %}
SELECT {{ m.text(event_column) }} AS value, count(*) AS rows
FROM {{ m.reader(csv, json, typed, joins) }}
GROUP BY 1
ORDER BY rows DESC, value NULLS LAST
LIMIT 6
