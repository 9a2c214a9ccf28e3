{#- Shared pieces of the import templates (sql/import/*.sql, docs/import.md). -#}

{#- The table function reading a source: every value (files, delimiter, encoding, the columns
    read as text) is a bound parameter; only the format picks the function. -#}
{% macro reader(csv, json, typed) -%}
{% if csv -%}
read_csv($paths, delim = $delimiter, header = $header, encoding = $encoding, quote = $quote{% if typed %}, types = $text_columns{% endif %})
{%- elif json -%}
read_json($paths, format = 'newline_delimited')
{%- else -%}
read_parquet($paths)
{%- endif %}
{%- endmacro %}

{#- An original id as a map key: trimmed text; a number whose fraction is only zeros
    (17850.0, as float columns print) is the same id as the integer; empty text is no id. -#}
{% macro key(column) -%}
nullif(regexp_replace(trim(CAST({{ column }} AS VARCHAR)), '^(-?[0-9]+)\.0+$', '\1'), '')
{%- endmacro %}

{#- A source time in UTC. ts_unit 0: text parsed with $ts_format; -1: a timestamp or date
    column, or ISO text; 1 / 1000 / 1000000: epoch seconds / ms / us (UTC by definition).
    Text and native times are wall times of $timezone, converted to UTC. -#}
{% macro utc(column, ts_unit) -%}
{% if ts_unit == 0 -%}
timezone('UTC', timezone($timezone, try_strptime(CAST({{ column }} AS VARCHAR), $ts_format)))
{%- elif ts_unit == -1 -%}
timezone('UTC', timezone($timezone, TRY_CAST({{ column }} AS TIMESTAMP)))
{%- else -%}
timezone('UTC', to_timestamp(TRY_CAST({{ column }} AS DOUBLE) / {{ ts_unit }}))
{%- endif %}
{%- endmacro %}

{#- Free text as 16 integers 0..255 (feature hashing, docs/import.md §5): lower-cased text is
    split into tokens on every run of characters that are neither letters nor digits; token t
    goes to dimension (first byte of md5(t)) mod 16 with sign +1 when the second byte is below
    128, else -1; each dimension is 128 + 32 * (its signed count), clipped to 0..255. -#}
{% macro text_vector(column) -%}
list_transform(range(16), lambda d: greatest(0, least(255, 128 + 32 * coalesce(list_sum(list_transform(
    list_filter(regexp_split_to_array(lower(coalesce(CAST({{ column }} AS VARCHAR), '')), '[^\p{L}\p{N}]+'), lambda t: t <> ''),
    lambda t: CASE WHEN CAST(('0x' || substr(md5(t), 1, 2)) AS INTEGER) % 16 = d
                   THEN CASE WHEN CAST(('0x' || substr(md5(t), 3, 2)) AS INTEGER) < 128 THEN 1 ELSE -1 END
                   ELSE 0 END)), 0))))
{%- endmacro %}

{#- 16 integers as the published text: numpy's print of a uint8 vector, '[ 12 201   3 ...]'. -#}
{% macro vector_text(vec) -%}
'[' || substr(array_to_string(list_transform({{ vec }}, lambda x: lpad(CAST(x AS VARCHAR), 4, ' ')), ''), 2) || ']'
{%- endmacro %}
