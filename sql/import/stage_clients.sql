-- The client ids of a list file (clients.rule = 'file'), as map keys.
-- $paths VARCHAR[]  the list's files
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (ids, text times, free text)
-- @csv true             the list is CSV
-- @json false           the list is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @joins []             sources joined by key: [{"table": "join_orders", "key": "\"order_id\""}]
-- @client "client_id"   the client id column (a quoted identifier checked against the file)
-- returns: one row per distinct listed client (client_key, dropped NULL)
{% import "macros/import.sql" as m %}
SELECT DISTINCT {{ m.key(client) }} AS client_key, CAST(NULL AS VARCHAR) AS dropped
FROM {{ m.reader(csv, json, typed, joins) }}
WHERE {{ m.key(client) }} IS NOT NULL
