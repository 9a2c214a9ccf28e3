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
    (17850.0, as float columns print) is the same id as the integer; empty text is no id. The
    regular expression runs only on text with a dot: most ids have none, and it is the cost. -#}
{% macro key(column) -%}
{% set text = "trim(CAST(" ~ column ~ " AS VARCHAR))" -%}
nullif(CASE WHEN contains({{ text }}, '.') THEN regexp_replace({{ text }}, '^(-?[0-9]+)\.0+$', '\1') ELSE {{ text }} END, '')
{%- endmacro %}

{#- A source time in UTC. ts_unit 0: text parsed with $ts_format; -1: a timestamp or date
    column, or ISO text; 1 / 1000 / 1000000: epoch seconds / ms / us (UTC by definition).
    Text and native times are wall times of $timezone, converted to UTC; in_utc: the zone is
    UTC, so they are taken as they are (the two conversions cost more than the parse). -#}
{% macro utc(column, ts_unit, in_utc) -%}
{% if ts_unit == 0 and in_utc -%}
try_strptime(CAST({{ column }} AS VARCHAR), $ts_format)
{%- elif ts_unit == 0 -%}
timezone('UTC', timezone($timezone, try_strptime(CAST({{ column }} AS VARCHAR), $ts_format)))
{%- elif ts_unit == -1 and in_utc -%}
TRY_CAST({{ column }} AS TIMESTAMP)
{%- elif ts_unit == -1 -%}
timezone('UTC', timezone($timezone, TRY_CAST({{ column }} AS TIMESTAMP)))
{%- else -%}
timezone('UTC', to_timestamp(TRY_CAST({{ column }} AS DOUBLE) / {{ ts_unit }}))
{%- endif %}
{%- endmacro %}

{#- Free text as the signed codes of its tokens (docs/import.md §5): lower-cased text is
    split into tokens, the runs of letters and digits; token t goes to dimension d = (first
    byte of md5(t)) mod 16 with sign +1 when the second byte is below 128, else -1; its code
    is d + 1 for +1 and -(d + 1) for -1. md5 is taken once per token, and the codes are a
    column of their own so that codes_text reads them sixteen times without recomputing. -#}
{% macro text_codes(column) -%}
list_transform(list_transform(regexp_extract_all(lower(coalesce(CAST({{ column }} AS VARCHAR), '')), '[\p{L}\p{N}]+'),
    lambda t: CAST(('0x' || substr(md5(t), 1, 4)) AS INTEGER)),
    lambda h: CASE WHEN h % 256 < 128 THEN 1 ELSE -1 END * ((h // 256) % 16 + 1))
{%- endmacro %}

{#- The 16 integers of a list of token codes as the published text, numpy's print of a uint8
    vector '[ 12 201   3 ...]': dimension d is 128 + 32 * (its signed count), clipped to
    0..255 (no token: 128). Unrolled per dimension: a lambda nested in a lambda runs row by
    row, sixteen flat ones run over whole vectors (ten times faster on 16-token queries). -#}
{% macro codes_text(codes) -%}
'[' || substr(
{%- for d in range(16) %}
    {% if not loop.first %}|| {% endif %}lpad(CAST(greatest(0, least(255, 128 + 32 * coalesce(list_sum(list_transform({{ codes }},
        lambda h: CASE WHEN h = {{ d + 1 }} THEN 1 WHEN h = {{ -d - 1 }} THEN -1 ELSE 0 END)), 0))) AS VARCHAR), 4, ' ')
{%- endfor %}, 2) || ']'
{%- endmacro %}
