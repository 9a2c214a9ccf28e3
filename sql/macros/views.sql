{#- The typed views of a data directory (docs/data.md §2), one body per engine under one name:
    ubm/data/views.py plans each column's form from its raw type, these macros write the SQL.
    Forms: id (an integer), ts_native (a timestamp or date), ts_text (text YYYY-MM-DD HH:MM:SS),
    vec_list (a list of 16 integers), vec_text (text like '[ 12 201 ...]'). Column names are
    contract names (ubm.contract.TABLE_COLUMNS), never user text. -#}
{% import "macros/parse.sql" as p %}

{% macro quoted(column, dialect) -%}
{% if dialect == "spark" %}`{{ column }}`{% else %}"{{ column }}"{% endif %}
{%- endmacro %}

{#- The numbers of a text vector as a list of text: brackets, commas and any whitespace split.
    In DuckDB translate + string_split is about 1.5-2x faster than a regexp split at scale. -#}
{% macro vector_tokens(q, dialect) -%}
{% if dialect == "spark" -%}
filter(split(translate({{ q }}, '[],\n\t\r', '      '), ' '), x -> x <> '')
{%- else -%}
list_filter(string_split(translate({{ q }}, '[],' || chr(10) || chr(9) || chr(13), '      '), ' '), lambda x: x <> '')
{%- endif %}
{%- endmacro %}

{#- A Spark name/query vector as ARRAY<SMALLINT>; anything not 16 integers 0..255 raises an
    error naming the value (the rule of DuckDB's cast to UTINYINT[16]). -#}
{% macro spark_vector(q, text, n) -%}
{% set arr = "transform(" ~ (vector_tokens(q, "spark") if text else q) ~ ", x -> try_cast(x AS SMALLINT))" -%}
(SELECT CASE WHEN {{ q }} IS NULL THEN NULL WHEN size(a) = {{ n }} AND NOT exists(a, x -> x IS NULL OR x < 0 OR x > 255) THEN a ELSE raise_error(concat('ubm-bad-vector: ', {{ q if text else "to_json(" ~ q ~ ")" }})) END FROM (SELECT {{ arr }} AS a))
{%- endmacro %}

{#- One raw column cast to its contract type, as itself. -#}
{% macro typed_column(column, form, dialect, n) -%}
{% set q = quoted(column, dialect) -%}
{% if form == "id" -%}
CAST({{ q }} AS BIGINT)
{%- elif form == "ts_native" -%}
CAST({{ q }} AS TIMESTAMP)
{%- elif form == "ts_text" -%}
{{ p.timestamp_from_text(q, dialect) }}
{%- elif dialect == "spark" -%}
{{ spark_vector(q, form == "vec_text", n) }}
{%- elif form == "vec_list" -%}
CAST({{ q }} AS UTINYINT[{{ n }}])
{%- else -%}
CAST({{ vector_tokens(q, dialect) }} AS UTINYINT[{{ n }}])
{%- endif %} AS {{ q }}
{%- endmacro %}

{#- The typed view <view> over raw_<view>; plan: (column, form) pairs. -#}
{% macro typed_view(view, plan, dialect, n) -%}
CREATE OR REPLACE {{ "TEMPORARY" if dialect == "spark" else "TEMP" }} VIEW {{ view }} AS SELECT
{%- for column, form in plan %} {{ typed_column(column, form, dialect, n) }}{{ "," if not loop.last }}{% endfor %} FROM raw_{{ view }}
{%- endmacro %}

{#- The first raw value of one column that its typed view cannot cast (as text), or nothing
    when the engine's own error already names the value (a Spark list vector). -#}
{% macro first_unparseable(view, column, form, dialect, n) -%}
{% set q = quoted(column, dialect) -%}
{% set shown = q %}
{% if dialect == "spark" and form == "ts_text" %}
{% set test = "try_to_timestamp(" ~ q ~ ", 'yyyy-MM-dd HH:mm:ss') IS NULL" %}
{% elif dialect == "spark" and form == "vec_text" %}
{% set arr = "transform(" ~ vector_tokens(q, dialect) ~ ", x -> try_cast(x AS SMALLINT))" %}
{% set test = "size(" ~ arr ~ ") <> " ~ n ~ " OR exists(" ~ arr ~ ", x -> x IS NULL OR x < 0 OR x > 255)" %}
{% elif dialect == "spark" %}
{% set test = "" %}
{% elif form == "ts_text" %}
{% set test = "try_strptime(" ~ q ~ ", '%Y-%m-%d %H:%M:%S') IS NULL" %}
{% elif form == "vec_text" %}
{#- A too-short/long list casts to NULL; a bad element (300, 'x') to a NULL element. -#}
{% set parsed = "TRY_CAST(" ~ vector_tokens(q, dialect) ~ " AS UTINYINT[" ~ n ~ "])" %}
{% set test = parsed ~ " IS NULL OR len(list_filter(CAST(" ~ parsed ~ " AS UTINYINT[]), lambda v: v IS NULL)) > 0" %}
{% else %}
{% set parsed = "TRY_CAST(" ~ q ~ " AS UTINYINT[])" %}
{% set test = "len(" ~ q ~ ") <> " ~ n ~ " OR " ~ parsed ~ " IS NULL OR len(list_filter(" ~ parsed ~ ", lambda v: v IS NULL)) > 0 OR len(list_filter(" ~ q ~ ", lambda v: v IS NULL)) > 0" %}
{% set shown = "CAST(" ~ q ~ " AS VARCHAR)" %}
{% endif %}
{% if test %}SELECT {{ shown }} AS value FROM raw_{{ view }} WHERE {{ q }} IS NOT NULL AND ({{ test }}) LIMIT 1{% endif %}
{%- endmacro %}
