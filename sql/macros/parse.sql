{#- Parsing of published encodings, shared by the typed views (macros/views.sql) and the
    split's input chunks (split/input_chunk.sql). -#}

{#- A timestamp published as text YYYY-MM-DD HH:MM:SS. CAST is about 30% cheaper than
    strptime; it runs only on 19-character text (the published shape; a 'T' separator also
    passes), the rest goes through strptime, which rejects it. A bad value fails either way
    and the error names it. The Spark body is what ubm.data.dialect makes of the DuckDB one
    (tests/data/test_dialect.py holds the two together); templates keep the default and are
    transpiled whole. -#}
{% macro timestamp_from_text(column, dialect="duckdb") -%}
{% if dialect == "spark" -%}
CASE WHEN LENGTH({{ column }}) = 19 THEN CAST({{ column }} AS TIMESTAMP_NTZ) ELSE TO_TIMESTAMP({{ column }}, 'yyyy-M-d H:m:s') END
{%- else -%}
CASE WHEN length({{ column }}) = 19 THEN CAST({{ column }} AS TIMESTAMP) ELSE strptime({{ column }}, '%Y-%m-%d %H:%M:%S') END
{%- endif %}
{%- endmacro %}
