{#- Parsing of published encodings, shared by the typed views (ubm/data/io.py) and the
    split's input chunks (split/input_chunk.sql). -#}

{#- A timestamp published as text YYYY-MM-DD HH:MM:SS. CAST is about 30% cheaper than
    strptime; it runs only on 19-character text (the published shape; a 'T' separator also
    passes), the rest goes through strptime, which rejects it. A bad value fails either way
    and the error names it. -#}
{% macro timestamp_from_text(column) -%}
CASE WHEN length({{ column }}) = 19 THEN CAST({{ column }} AS TIMESTAMP) ELSE strptime({{ column }}, '%Y-%m-%d %H:%M:%S') END
{%- endmacro %}
