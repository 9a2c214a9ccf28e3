-- One event type's rows read from its source: the original ids as map keys, the time in UTC, and why a row is dropped.
-- $paths VARCHAR[]  the source's files (globs already expanded by the importer)
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (ids, text times, free text)
-- $ts_format VARCHAR  strptime format of a text time (ts_unit 0)
-- $timezone VARCHAR  the source's time zone (text and native times)
-- $event_values VARCHAR[]  values of the event column that select this event type
-- @csv true             the source is CSV
-- @json false           the source is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @joins []             sources joined by key: [{"table": "join_orders", "key": "\"order_id\""}]
-- @client "client_id"   the client id column (a quoted identifier checked against the source)
-- @ts "timestamp"       the time column
-- @value "sku"          the column of the event's value (sku, url or query text)
-- @vector false         the value is free text turned into 16 integers (search_query), not an id
-- @ts_unit 0            0 text with $ts_format, -1 native or ISO, 1/1000/1000000 epoch s/ms/us
-- @ts_local true       the source's time zone is not UTC (naive times are converted)
-- @ts_aware false       ts_unit 0: the format reads an offset or zone (%z, %Z)
-- @event_column false   the column whose values select the event type (false: every row)
-- @filters []           row filters: checked boolean expressions over the source's columns
--   (with joins, a row dropped for a missing id, time or value, or by a filter that was NULL,
--   whose join i found nothing, is counted as 'join i', its root cause; a row kept apart from
--   a join miss, a line whose product has no catalogue row, is kept)
-- returns: one row per selected source row (client_key, ts, value_key, dropped, bad_time, file:
--   the source file of a time that does not parse, else NULL);
--   dropped is NULL for a kept row, else 1..n for the filter that failed, or 'client_id',
--   'timestamp', 'value' for a missing one, 'bad_time' for a time that does not parse or
--   lies outside 1980..2099 (a unit mistake)
{% import "macros/import.sql" as m %}
SELECT {{ m.dropped(joins) }}
FROM (
SELECT client_key, ts, value_key,
       CASE
{% for f in filters %}
         WHEN NOT keep_{{ loop.index }} THEN {% if joins %}CASE WHEN null_{{ loop.index }} THEN 'null {{ loop.index }}' ELSE '{{ loop.index }}' END{% else %}'{{ loop.index }}'{% endif %}
{% endfor %}
         WHEN client_key IS NULL THEN 'client_id'
         WHEN ts_raw IS NULL THEN 'timestamp'
         WHEN value_key IS NULL THEN 'value'
         WHEN ts IS NULL THEN 'bad_time'
       END AS reason,
       CASE WHEN ts IS NULL THEN ts_raw END AS bad_time,
       CASE WHEN ts IS NULL THEN file END AS file{% for j in joins %}, joined_{{ loop.index }}_{% endfor %} 
FROM (
    SELECT {{ m.key(client) }} AS client_key,
           nullif({{ m.text(ts) }}, '') AS ts_raw,
           {{ m.plausible(m.utc(ts, ts_unit, ts_aware, ts_local)) }} AS ts,
{% if vector %}
           nullif({{ m.text(value) }}, '') AS value_key,
{% else %}
           {{ m.key(value) }} AS value_key,
{% endif %}
           {{ m.filter_flags(filters, joins) }}
           filename AS file
    FROM {{ m.reader(csv, json, typed, joins) }}
{% if event_column %}
    WHERE list_contains($event_values, {{ m.text(event_column) }})
{% endif %}
)
)
