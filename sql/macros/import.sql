{#- Shared pieces of the import templates (sql/import/*.sql, docs/import.md). -#}

{#- The table function reading a source: every value (files, delimiter, encoding, the columns
    read as text) is a bound parameter; only the format picks the function. -#}
{% macro table(csv, json, typed) -%}
{% if csv -%}
read_csv($paths, delim = $delimiter, header = $header, encoding = $encoding, quote = $quote, nullstr = $nullstr{% if typed %}, types = $text_columns{% endif %})
{%- elif json -%}
read_json($paths, format = 'newline_delimited')
{%- else -%}
read_parquet($paths)
{%- endif %}
{%- endmacro %}

{#- A source as rows: its table function, and with joins (sources.<name>.join) each joined
    source's table (join_<name>, one row per key) LEFT JOINed on the trimmed key text, taken
    from the source's own file or an earlier join (j.left: base_, j1, ...), so a line without
    its header keeps its own columns and lacks the joined ones; joined_1_, joined_2_ ... say
    whether it found its row (for the report's reasons). -#}
{% macro reader(csv, json, typed, joins=[]) -%}
{% if joins -%}
(SELECT base_.*, base_.filename AS filename{% for j in joins %}, j{{ loop.index }}.* EXCLUDE ({{ j.key }}),
        j{{ loop.index }}.{{ j.key }} IS NOT NULL AS joined_{{ loop.index }}_{% endfor %}
 FROM {{ table(csv, json, typed) }} AS base_
{%- for j in joins %}
 LEFT JOIN {{ j.table }} AS j{{ loop.index }} ON trim(CAST({{ j.left }}.{{ j.key }} AS VARCHAR)) = trim(CAST(j{{ loop.index }}.{{ j.key }} AS VARCHAR))
{%- endfor %})
{%- else -%}
{{ table(csv, json, typed) }}
{%- endif %}
{%- endmacro %}

{#- A value as text without the blanks around it: spaces, tabs, line breaks and no-break
    spaces (trim alone takes only spaces; a tab-only id is no id). trim with a character list
    costs twice plain trim, so it runs only on values holding such a character. -#}
{% macro text(column) -%}
{% set v = "CAST(" ~ column ~ " AS VARCHAR)" -%}
CASE WHEN contains({{ v }}, chr(9)) OR contains({{ v }}, chr(10)) OR contains({{ v }}, chr(13)) OR contains({{ v }}, chr(160))
     THEN trim({{ v }}, ' ' || chr(9) || chr(10) || chr(13) || chr(160)) ELSE trim({{ v }}) END
{%- endmacro %}

{#- An original id as a map key: trimmed text; a number whose fraction is only zeros
    (17850.0, as float columns print) is the same id as the integer; empty text is no id. The
    regular expression runs only on text with a dot: most ids have none, and it is the cost. -#}
{% macro key(column) -%}
{% set t = text(column) -%}
nullif(CASE WHEN contains({{ t }}, '.') THEN regexp_replace({{ t }}, '^(-?[0-9]+)\.0+$', '\1') ELSE {{ t }} END, '')
{%- endmacro %}

{#- A source time in UTC. ts_unit 0: text parsed with $ts_format (aware: the format reads an
    offset or zone, %z / %Z, so the text names its own instant); -1: a timestamp or date
    column, or ISO text; 1 / 1000 / 1000000: epoch seconds / ms / us (UTC by definition).
    Text and native times without an offset are wall times of $timezone, converted to UTC;
    ISO text that ends in an offset or zone ('Z', '+02:00', '-0500', ' UTC', ' Europe/Paris'),
    and a TIMESTAMP WITH TIME ZONE column (cast to text with its offset), name their instant.
    local false: $timezone is UTC, so DuckDB's TIMESTAMPTZ cast (naive text as UTC, offsets and
    zones honoured) is the whole rule and the offset test is skipped. -#}
{% macro utc(column, ts_unit, aware=false, local=true) -%}
{% if ts_unit == 0 and aware -%}
timezone('UTC', try_strptime(CAST({{ column }} AS VARCHAR), $ts_format))
{%- elif ts_unit == 0 and not local -%}
try_strptime(CAST({{ column }} AS VARCHAR), $ts_format)
{%- elif ts_unit == 0 -%}
timezone('UTC', timezone($timezone, try_strptime(CAST({{ column }} AS VARCHAR), $ts_format)))
{%- elif ts_unit == -1 and not local -%}
timezone('UTC', TRY_CAST(trim(CAST({{ column }} AS VARCHAR)) AS TIMESTAMPTZ))
{%- elif ts_unit == -1 -%}
CASE WHEN regexp_matches(trim(CAST({{ column }} AS VARCHAR)), '[0-9]:[0-9]{2}(\.[0-9]*)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?|[A-Za-z][A-Za-z_]*(/[A-Za-z_+-]+)*)$')
     THEN timezone('UTC', TRY_CAST(trim(CAST({{ column }} AS VARCHAR)) AS TIMESTAMPTZ))
     ELSE timezone('UTC', timezone($timezone, TRY_CAST({{ column }} AS TIMESTAMP))) END
{%- else -%}
timezone('UTC', to_timestamp(TRY_CAST({{ column }} AS DOUBLE) / {{ ts_unit }}))
{%- endif %}
{%- endmacro %}

{#- A product property of a long table (one property a row): the value where the row holds
    it (when: a checked predicate such as property = 'categoryid'), else NULL. -#}
{% macro held(value, when) -%}
{% if when -%}
CASE WHEN coalesce({{ when }}, false) THEN {{ value }} END
{%- else -%}
{{ value }}
{%- endif %}
{%- endmacro %}

{#- A time that parsed but lies outside 1980-01-01 .. 2100-01-01 is a unit or format mistake
    (epoch ms read as seconds land in the year 47000, seconds read as ms in January 1970): NULL,
    so that it is counted as a time that does not parse (docs/import.md §4). -#}
{% macro plausible(ts) -%}
CASE WHEN {{ ts }} >= TIMESTAMP '1980-01-01' AND {{ ts }} < TIMESTAMP '2100-01-01' THEN {{ ts }} END
{%- endmacro %}

{#- A price as a number. A number column is used as it is; text (price_text) loses every
    character but digits, '.', ',' and '-' (currency signs, spaces: '$3.10', '7,50 EUR'), then
    with comma false '.' is the decimal point and ',' may only group thousands ('1,234.50');
    with comma true ',' is the decimal point and '.' may only group thousands ('1.234,50').
    What is still not a number is NULL, counted in the report (docs/import.md §5). -#}
{% macro price(column, price_text, comma) -%}
{% if not price_text -%}
TRY_CAST({{ column }} AS DOUBLE)
{%- else -%}
{% set t = "regexp_replace(CAST(" ~ column ~ " AS VARCHAR), '[^0-9.,-]', '', 'g')" -%}
{% if comma -%}
TRY_CAST(replace(CASE WHEN regexp_matches({{ t }}, '^-?[0-9]{1,3}([.][0-9]{3})+(,[0-9]*)?$') THEN replace({{ t }}, '.', '') ELSE {{ t }} END, ',', '.') AS DOUBLE)
{%- else -%}
TRY_CAST(CASE WHEN regexp_matches({{ t }}, '^-?[0-9]{1,3}(,[0-9]{3})+([.][0-9]*)?$') THEN replace({{ t }}, ',', '') ELSE {{ t }} END AS DOUBLE)
{%- endif %}
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

{#- The stage's columns, its reason as `dropped`: with joins, a row dropped for a missing id,
    time or value, or by a filter that was NULL ('null i'), whose join j found nothing, is
    counted as 'join j', its root cause (the reader's joined_j_ columns are left out). -#}
{% macro dropped(joins) -%}
* EXCLUDE (reason{% for j in joins %}, joined_{{ loop.index }}_{% endfor %}),
{% if joins %}
       CASE
{% for j in joins %}
         WHEN (reason LIKE 'null %' OR reason IN ('client_id', 'timestamp', 'value', 'sku')) AND NOT joined_{{ loop.index }}_
           THEN 'join {{ loop.index }}'
{% endfor %}
         ELSE regexp_replace(reason, '^null ', '')
       END AS dropped
{%- else %}
       reason AS dropped
{%- endif %}
{%- endmacro %}

{#- Per row filter i: keep_i (the filter held; NULL counts as false) and, with joins, null_i
    (it was NULL, so the report can blame a join miss); the joins' joined_j_ flags. Each ends
    with a comma: the select list goes on after them. -#}
{% macro filter_flags(filters, joins) -%}
{% for f in filters %}
coalesce(({{ f }}), false) AS keep_{{ loop.index }},{% if joins %} ({{ f }}) IS NULL AS null_{{ loop.index }},{% endif %}
{% endfor %}
{%- for j in joins %} joined_{{ loop.index }}_,{% endfor %}
{%- endmacro %}
