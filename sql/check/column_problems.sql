-- Per column of one published table: NULL values and values that do not parse as their contract type.
-- @table "product_properties"        (structure: reads raw_<table>, the file as stored)
-- @plain ["sku", "category", "price"]  (structure: columns checked for NULLs only: ids, native timestamps)
-- @text_timestamps []                 (structure: text columns that must be YYYY-MM-DD HH:MM:SS)
-- @text_vectors ["name"]              (structure: text columns that must be '[ 16 integers 0..255 ]')
-- @list_vectors []                    (structure: list columns that must hold 16 integers 0..255)
-- returns: one row: n_rows, then per column <col>_null (NULL count), and for parsed columns
--   <col>_bad (unparseable count) and <col>_example (one unparseable value, as text).
{% macro tokens(c) -%}
list_filter(string_split(translate("{{ c }}", '[],' || chr(10) || chr(9) || chr(13), '      '), ' '), lambda x: x <> '')
{%- endmacro %}
{% macro bad_list(expr) -%}
(len({{ expr }}) <> 16 OR len(list_filter(TRY_CAST({{ expr }} AS UTINYINT[]), lambda v: v IS NULL)) > 0)
{%- endmacro %}
{% macro bad_timestamp_text(c) -%}
((CASE WHEN strlen("{{ c }}") = 19 THEN TRY_CAST("{{ c }}" AS TIMESTAMP)
  ELSE try_strptime("{{ c }}", '%Y-%m-%d %H:%M:%S') END) IS NULL)
{%- endmacro %}
{% macro counted(c, test) -%}
, count(*) FILTER (WHERE "{{ c }}" IS NOT NULL AND {{ test }}) AS "{{ c }}_bad"
, any_value(CAST("{{ c }}" AS VARCHAR)) FILTER (WHERE "{{ c }}" IS NOT NULL AND {{ test }}) AS "{{ c }}_example"
{%- endmacro %}
SELECT count(*) AS n_rows
{% for c in plain + text_timestamps + text_vectors + list_vectors %}
, count(*) - count("{{ c }}") AS "{{ c }}_null"
{% endfor %}
{% for c in text_timestamps %}
{{ counted(c, bad_timestamp_text(c)) }}
{% endfor %}
{% for c in text_vectors %}
{{ counted(c, bad_list(tokens(c))) }}
{% endfor %}
{% for c in list_vectors %}
{{ counted(c, bad_list('"' ~ c ~ '"')) }}
{% endfor %}
FROM raw_{{ table }}
