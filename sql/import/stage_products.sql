-- The product rows of the product source: sku key, category key, price, name text and time, with why a row is dropped.
-- $paths VARCHAR[]  the source's files (globs already expanded by the importer)
-- $delimiter VARCHAR  CSV: the field delimiter
-- $header BOOLEAN  CSV: whether the first line names the columns
-- $encoding VARCHAR  CSV: utf-8, utf-16 or latin-1
-- $quote VARCHAR  CSV: the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- $text_columns STRUCT  CSV: columns read as text, {name: 'VARCHAR'} (ids, text times, free text)
-- $ts_format VARCHAR  strptime format of a text time (ts_unit 0)
-- $timezone VARCHAR  the source's time zone
-- @csv true             the source is CSV
-- @json false           the source is JSON lines (neither: parquet)
-- @typed false          CSV: some columns are read as text ($text_columns)
-- @joins []             sources joined by key: [{"table": "join_orders", "key": "\"order_id\""}]
-- @sku "sku"            the sku column (a quoted identifier checked against the source)
-- @category false       the category column (false: none)
-- @price false          the price column (false: none)
-- @price_text false     the price column is text: currency signs and separators are read (macros/import.sql price)
-- @price_comma false    price text has ',' as its decimal point (products.price_decimal)
-- @name false           the free-text name column (false: none)
-- @ts false             the time column ordering rows for pick = latest (false: none)
-- @ts_unit 0            as in import/stage_events
-- @ts_local true       the source's time zone is not UTC (naive times are converted)
-- @ts_aware false       as in import/stage_events
-- @filters []           row filters: checked boolean expressions over the source's columns
-- @category_when false  the rows holding the category (a checked predicate; false: every row), for a long table
-- @price_when false     the rows holding the price, likewise
-- @name_when false      the rows holding the name, likewise
--   (a dropped row whose join i found nothing is counted as 'join i'; see import/stage_events)
-- returns: one row per source row (sku_key, category_key, price DOUBLE, name_text, ts, dropped,
--   bad_price: the price text when it is not a number, else NULL)
{% import "macros/import.sql" as m %}
SELECT {{ m.dropped(joins) }}
FROM (
SELECT sku_key, category_key, price, name_text, ts, CASE WHEN price IS NULL THEN price_raw END AS bad_price,
       CASE
{% for f in filters %}
         WHEN NOT keep_{{ loop.index }} THEN {% if joins %}CASE WHEN null_{{ loop.index }} THEN 'null {{ loop.index }}' ELSE '{{ loop.index }}' END{% else %}'{{ loop.index }}'{% endif %}
{% endfor %}
         WHEN sku_key IS NULL THEN 'sku'
       END AS reason{% for j in joins %}, joined_{{ loop.index }}_{% endfor %} 
FROM (
    SELECT {{ m.key(sku) }} AS sku_key,
           {% if category %}{{ m.held(m.key(category), category_when) }}{% else %}CAST(NULL AS VARCHAR){% endif %} AS category_key,
           {% if price %}{{ m.held(m.price(price, price_text, price_comma), price_when) }}{% else %}CAST(NULL AS DOUBLE){% endif %} AS price,
           {% if price %}{{ m.held("nullif(" ~ m.text(price) ~ ", '')", price_when) }}{% else %}CAST(NULL AS VARCHAR){% endif %} AS price_raw,
           {% if name %}{{ m.held("nullif(" ~ m.text(name) ~ ", '')", name_when) }}{% else %}CAST(NULL AS VARCHAR){% endif %} AS name_text,
           {% if ts %}{{ m.utc(ts, ts_unit, ts_aware, ts_local) }}{% else %}CAST(NULL AS TIMESTAMP){% endif %} AS ts,
           {{ m.filter_flags(filters, joins) }}
           1 AS one
    FROM {{ m.reader(csv, json, typed, joins) }}
)
)
